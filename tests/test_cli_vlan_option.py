"""``--vlan auto|key|ignore`` means the same in every command that reads a capture (issue 11):
on a capture whose orig side is tagged VLAN 10 and whose resp side is not, ``auto`` and
``ignore`` see one connection and ``key`` two (each direction alone)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.sources.live import CaptureInfo, KernelStats

from .capbuild import pcap_dpkt, write
from .test_flowtable_vlan import _conversation

ONE_WAY = _conversation((10,), ())


@pytest.fixture
def capture(tmp_path: Path) -> str:
    return write(tmp_path, "one-way-vlan.pcap",
                 pcap_dpkt((1000 + i * 0.01, f) for i, f in enumerate(ONE_WAY)))


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(("vlan", "expected"), [
    ("auto", ["complete"]),
    ("key", ["synack_not_captured", "syn_not_captured"]),
    ("ignore", ["complete"]),
])
def test_analyze_vlan_option(capture: str, vlan: str, expected: list[str]) -> None:
    res = _run("analyze", capture, "-f", "json", "--vlan", vlan)
    assert res.exit_code == 0, res.stderr
    assert [c["handshake"]["status"] for c in json.loads(res.stdout)["connections"]] == expected


@pytest.mark.parametrize(("vlan", "code"), [("auto", 0), ("key", 1), ("ignore", 0)])
def test_check_vlan_option_decides_whether_every_handshake_completed(
        capture: str, vlan: str, code: int) -> None:
    res = _run("check", capture, "--require", "handshake=complete", "--vlan", vlan)
    assert res.exit_code == code, res.stdout + res.stderr
    assert ("0 of 1 connection" if code == 0 else "2 of 2 connections") in res.stdout


@pytest.mark.parametrize(("vlan", "code"), [("auto", 2), ("key", 0), ("ignore", 2)])
def test_show_vlan_option_decides_whether_a_second_connection_exists(
        capture: str, vlan: str, code: int) -> None:
    res = _run("show", capture, "--conn", "2", "--vlan", vlan)
    assert res.exit_code == code, res.stdout + res.stderr
    if code == 0:
        assert "40000" in res.stdout and "80" in res.stdout


@pytest.mark.parametrize(("vlan", "code"), [("auto", 2), ("key", 0), ("ignore", 2)])
def test_graph_vlan_option_decides_whether_a_second_connection_exists(
        tmp_path: Path, capture: str, vlan: str, code: int) -> None:
    out = tmp_path / "g.html"
    res = _run("graph", capture, "--conn", "2", "-o", str(out), "--vlan", vlan)
    assert res.exit_code == code, res.stdout + res.stderr
    assert out.exists() == (code == 0)


@pytest.mark.parametrize(("vlan", "rows"), [("auto", 1), ("key", 2), ("ignore", 1)])
def test_report_vlan_option_changes_the_connection_rows(
        tmp_path: Path, capture: str, vlan: str, rows: int) -> None:
    out = tmp_path / "r.html"
    res = _run("report", capture, "-o", str(out), "--vlan", vlan)
    assert res.exit_code == 0, res.stderr
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                  out.read_text(encoding="utf-8"), re.S)
    assert m is not None
    assert len(json.loads(m.group(1))["rows"]["id"]) == rows


@pytest.mark.parametrize(("vlan", "rtts"), [("auto", 1), ("key", 0), ("ignore", 1)])
def test_listeners_vlan_option_decides_whether_the_handshake_rtt_is_measured(
        capture: str, vlan: str, rtts: int) -> None:
    res = _run("listeners", capture, "-f", "json", "--vlan", vlan)
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(res.stdout)["listeners"]
    assert (row["port"], row["handshake_rtt_s"]["count"]) == (80, rtts)


class _FakeLiveCapture:
    """Stands in for LiveCapture: returns ONE_WAY as captured frames, then finishes."""

    def __init__(self, interfaces: list[str], bpf: str, **_kw: object) -> None:
        self.info = CaptureInfo(interfaces=["fake0"], filter=bpf, method="recvmsg")
        self.kernel = KernelStats()
        self.writer = None
        self.frames = 0
        self.finished = False

    @property
    def linktype(self) -> int:
        return self.info.linktype

    def open(self) -> None:
        pass

    def read(self, _timeout: float, _limit: int | None, _until: float | None
             ) -> list[tuple[int, float, int, bytes]]:
        self.finished = True
        self.frames = len(ONE_WAY)
        return [(i, 1000 + i * 0.01, 1, f) for i, f in enumerate(ONE_WAY, 1)]

    def drain(self, _limit: int | None, _until: float | None) -> list[Any]:
        return []

    def update_stats(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("vlan", "expected"), [
    ("auto", ["complete"]),
    ("key", ["synack_not_captured", "syn_not_captured"]),
    ("ignore", ["complete"]),
])
def test_sniff_vlan_option(monkeypatch: pytest.MonkeyPatch, vlan: str,
                           expected: list[str]) -> None:
    monkeypatch.setattr("tcpflow_analyzer.sources.live.LiveCapture", _FakeLiveCapture)
    res = _run("sniff", "-i", "fake0", "--format", "json", "--vlan", vlan)
    assert res.exit_code == 0, res.stderr
    conns = json.loads(res.stdout)["connections"]
    assert [c["handshake"]["status"] for c in conns] == expected


@pytest.mark.parametrize("command", ["analyze", "check", "show", "graph", "report",
                                     "listeners", "sniff"])
def test_every_capture_command_rejects_an_unknown_vlan_mode_in_one_line(
        capture: str, command: str) -> None:
    args = [command] if command == "sniff" else [command, capture]
    res = _run(*args, "--vlan", "maybe")
    assert res.exit_code == 2
    assert "--vlan" in res.stderr and len(res.stderr.strip().splitlines()) == 1
