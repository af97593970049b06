"""Flow table and VLAN ids (issue 11): a tag on one direction only is one connection, two
VLANs that each carry the same 4-tuple are two, and ``--vlan key|ignore`` picks either."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from .capbuild import (
    ETH_8021Q,
    ORIG4,
    ORIG_MAC,
    ORIG_PORT,
    RESP4,
    RESP_MAC,
    RESP_PORT,
    ether,
    pcap_dpkt,
    tcp4,
    write,
)

ISN_O, ISN_R = 1000, 5000


def _conversation(tags_o: tuple[int, ...], tags_r: tuple[int, ...], isn_o: int = ISN_O
                  ) -> list[bytes]:
    """SYN, SYN-ACK, ACK, 10 bytes and their ACK; orig's frames carry VLAN ids ``tags_o``,
    resp's ``tags_r``."""
    def o(seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        return ether(tcp4(seq=seq, ack=ack, flags=flags, payload=payload),
                     tags=[(ETH_8021Q, v) for v in tags_o])

    def r(seq: int, ack: int, flags: int) -> bytes:
        return ether(tcp4(src=RESP4, dst=ORIG4, sport=RESP_PORT, dport=ORIG_PORT, seq=seq,
                          ack=ack, flags=flags), tags=[(ETH_8021Q, v) for v in tags_r],
                     src=RESP_MAC, dst=ORIG_MAC)

    return [o(isn_o, 0, SYN), r(ISN_R, isn_o + 1, SYN | ACK), o(isn_o + 1, ISN_R + 1, ACK),
            o(isn_o + 1, ISN_R + 1, ACK | PSH, b"0123456789"), r(ISN_R + 1, isn_o + 11, ACK)]


def _analyze(tmp_path: Path, frames: list[bytes], vlan: str = "auto") -> dict:
    path = write(tmp_path, "vlan.pcap", pcap_dpkt((1000 + i * 0.01, f)
                                                  for i, f in enumerate(frames)))
    return analyze_to_report([path], TrackerConfig(vlan=vlan))


def _conns(report: dict) -> list[tuple]:
    return [(c["vlan"], c["handshake"]["status"], c["packets"]["orig"], c["packets"]["resp"])
            for c in report["connections"]]


def test_vlan_tag_on_one_direction_only_is_one_connection_with_a_warning(
        tmp_path: Path) -> None:
    rep = _analyze(tmp_path, _conversation((10,), ()))
    assert _conns(rep) == [([10], "complete", 3, 2)]
    (w,) = [w for w in rep["capture"]["warnings"] if "VLAN" in w]
    assert "VLAN 10 one way and no VLAN tag the other" in w


def test_untagged_first_then_tagged_reply_is_one_connection(tmp_path: Path) -> None:
    rep = _analyze(tmp_path, _conversation((), (20, 30)))
    assert _conns(rep) == [([], "complete", 3, 2)]
    assert any("no VLAN tag one way and VLAN 20/30 the other" in w
               for w in rep["capture"]["warnings"])


def test_two_vlans_each_carrying_the_same_4_tuple_stay_two_connections(
        tmp_path: Path) -> None:
    a = _conversation((10,), (10,))
    b = _conversation((20,), (20,), isn_o=90_000)
    frames = [f for pair in zip(a, b, strict=True) for f in pair]  # interleaved
    rep = _analyze(tmp_path, frames)
    assert _conns(rep) == [([10], "complete", 3, 2), ([20], "complete", 3, 2)]
    assert not [w for w in rep["capture"]["warnings"] if "VLAN" in w]


@pytest.mark.parametrize(("vlan", "expected"), [
    ("key", [([10], "synack_not_captured", 3, 0), ([], "syn_not_captured", 0, 2)]),
    ("ignore", [([10], "complete", 3, 2)]),
])
def test_vlan_option_key_keeps_directions_apart_ignore_merges(
        tmp_path: Path, vlan: str, expected: list[tuple]) -> None:
    rep = _analyze(tmp_path, _conversation((10,), ()), vlan)
    assert _conns(rep) == expected
    assert not [w for w in rep["capture"]["warnings"] if "VLAN" in w]


def test_cli_vlan_option_is_validated_and_wired(tmp_path: Path) -> None:
    path = write(tmp_path, "v.pcap", pcap_dpkt((1000 + i * 0.01, f) for i, f in
                                               enumerate(_conversation((10,), ()))))
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", path, "-f", "json", "--vlan", "key"])
    assert res.exit_code == 0
    assert res.stdout.count('"handshake"') == 2
    bad = runner.invoke(app, ["analyze", path, "--vlan", "maybe"])
    assert bad.exit_code == 2
