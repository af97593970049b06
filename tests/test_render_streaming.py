"""Every ``analyze`` format streams: memory follows the connections active at once, never
the connections in the capture; the sorted formats spool to disk and come out in order."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import random
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tcpflow_analyzer import listeners
from tcpflow_analyzer.cli import app
from tcpflow_analyzer.render import base
from tcpflow_analyzer.render.base import SortedSpool
from tcpflow_analyzer.render.jsonout import JsonWriter, NdjsonWriter
from tcpflow_analyzer.render.terminal import TerminalWriter
from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN
from tcpflow_analyzer.sources import pcapfile

from .capbuild import RESP4, ether, pcap_bytes, tcp4

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
runner = CliRunner()
FORMATS = ("json", "ndjson", "csv", "zeek", "terminal")


def _short_connections(n: int) -> bytes:
    """``n`` one-request connections, one every 2 s, each closed by FINs; every tenth is
    reset instead.  A few are active (or in the 5 s close linger) at once whatever ``n`` is,
    and the flow table's tombstones (kept for the 300 s idle timeout) stop growing after 150
    connections: past that, nothing the table holds grows with ``n``."""
    packets = []
    for i in range(n):
        sport = 10_000 + i % 50_000
        src = bytes([192, 0, 2 + i // 50_000, 1])
        t = i * 2_000_000  # microseconds
        o, r = 1000, 5000
        seq = [
            (0, SYN, o, 0, b""), (1, SYN | ACK, r, o + 1, b""), (0, ACK, o + 1, r + 1, b""),
            (0, PSH | ACK, o + 1, r + 1, b"GET / HTTP/1.1\r\n\r\n"),
            (1, ACK, r + 1, o + 19, b""),
        ]
        if i % 10 == 9:
            seq.append((1, RST | ACK, r + 1, o + 19, b""))
        else:
            seq += [(0, FIN | ACK, o + 19, r + 1, b""), (1, FIN | ACK, r + 1, o + 20, b""),
                    (0, ACK, o + 20, r + 2, b"")]
        for k, (d, flags, s, a, payload) in enumerate(seq):
            ip_src, ip_dst, sp, dp = (src, RESP4, sport, 80) if d == 0 else (RESP4, src, 80, sport)
            frame = ether(tcp4(src=ip_src, dst=ip_dst, sport=sp, dport=dp, seq=s, ack=a,
                               flags=flags, payload=payload))
            us = t + k * 1000
            packets.append((us // 1_000_000, us % 1_000_000, frame))
    return pcap_bytes(packets)


def _peak_bytes(capture: Path, fmt: str, out: Path) -> int:
    """Peak traced memory of one ``analyze`` run (the capture's bytes are on disk)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base_now = tracemalloc.get_traced_memory()[0]
        res = runner.invoke(app, ["analyze", str(capture), "-f", fmt, "-o", str(out)])
        peak = tracemalloc.get_traced_memory()[1] - base_now
    finally:
        tracemalloc.stop()
    assert res.exit_code == 0, res.output
    return peak


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("many")
    small, big = d / "n.pcap", d / "4n.pcap"
    small.write_bytes(_short_connections(250))
    big.write_bytes(_short_connections(1000))
    return small, big


@pytest.mark.parametrize("fmt", FORMATS)
def test_memory_does_not_grow_with_total_connections_in_any_format(
    fmt: str, captures: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # small in-memory shares, so that both captures spool to disk in several runs and are
    # merged in passes: only then are both runs at their memory bound
    monkeypatch.setattr(base, "SPOOL_MEMORY", 16 << 10)
    monkeypatch.setattr(base, "MERGE_MEMORY", 32 << 10)
    monkeypatch.setattr(base, "WRITE_BATCH", 8 << 10)
    # and a small read chunk, so that both captures are read in full chunks
    monkeypatch.setattr(pcapfile, "CHUNK", 32 << 10)
    # and the listener view's exact handshake RTTs (then a histogram) past their bound too
    monkeypatch.setattr(listeners, "RTT_EXACT", 64)
    small, big = captures
    # imports and first-use caches (rich's bounded string caches fill with either capture's)
    _peak_bytes(small, fmt, tmp_path / "warm")
    _peak_bytes(big, fmt, tmp_path / "warm")
    n = _peak_bytes(small, fmt, tmp_path / "n.out")
    four_n = _peak_bytes(big, fmt, tmp_path / "4n.out")
    # 750 more connections: holding even 250 bytes of each would add 187 KB
    assert four_n - n < 187_500, (fmt, n, four_n)
    if fmt != "terminal":
        assert (tmp_path / "4n.out").stat().st_size > 3 * (tmp_path / "n.out").stat().st_size


def test_spooled_csv_rows_come_out_in_id_order(
    captures: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "SPOOL_MEMORY", 16 << 10)
    res = runner.invoke(app, ["analyze", str(captures[1]), "-f", "csv",
                              "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "x.csv").read_text())))
    assert [int(r["id"]) for r in rows] == list(range(1, 1001))
    assert [r["outcome"] for r in rows].count("reset") == 100


def test_spool_merges_runs_in_key_order_and_leaves_no_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    keys = [(float(rng.randrange(50)), i) for i in range(3000)]
    rng.shuffle(keys)
    spool = SortedSpool(str(tmp_path), memory=20_000)
    for ts, i in keys:
        # some records much longer than a read chunk
        spool.add((ts, i), f"{ts}:{i}:".encode() + b"x" * (20_000 if i % 500 == 0 else i % 97))
    assert len(spool._runs) > 20
    got = [rec.split(b":")[:2] for rec in spool.drain()]
    assert got == [[str(ts).encode(), str(i).encode()] for ts, i in sorted(keys)]
    assert os.listdir(tmp_path) == []


def test_spool_with_more_runs_than_merge_buffers_merges_in_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8 KiB of merge buffers per run and 32 KiB in all: at most 4 runs merged at once
    monkeypatch.setattr(base, "MERGE_MEMORY", 32 << 10)
    rng = random.Random(11)
    keys = [(float(rng.randrange(1000)), i) for i in range(5000)]
    spool = SortedSpool(str(tmp_path), memory=4_000)
    for ts, i in keys:
        spool.add((ts, i), f"{ts}:{i}".encode())
    assert len(spool._runs) > 50
    got = [tuple(rec.split(b":")) for rec in spool.drain()]
    assert got == [(str(ts).encode(), str(i).encode()) for ts, i in sorted(keys)]
    assert os.listdir(tmp_path) == []


def test_spool_that_fits_in_memory_never_writes(tmp_path: Path) -> None:
    spool = SortedSpool(str(tmp_path))
    for i in (3, 1, 2):
        spool.add((0.0, i), str(i).encode())
    assert list(spool.drain()) == [b"1", b"2", b"3"] and spool._file is None


def _report(n: int) -> list[dict[str, Any]]:
    capture = SAMPLES / "time-wait-reuse.pcap"
    res = runner.invoke(app, ["analyze", str(capture), "-f", "json"])
    flows: list[dict[str, Any]] = json.loads(res.stdout)["connections"]
    out = []
    for i in range(n):
        f = dict(flows[i % len(flows)])
        f["id"] = i + 1
        out.append(f)
    return out


def test_json_document_is_orjson_indented_with_sections_after_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "SPOOL_MEMORY", 4 << 10)
    flows = _report(40)
    capture = {"files": ["é.pcap"], "frames": 1}
    summary = {"connections": 40}
    sections = {"listeners": [{"port": 80, "count": 2}]}
    out = io.StringIO()
    writer = JsonWriter(out, str(tmp_path))
    for f in reversed(flows):
        writer.flow(f)
    writer.finish(capture, summary, sections)
    want = {"schema_version": 1, "capture": capture, "summary": summary,
            "connections": flows, **sections}
    assert out.getvalue() == orjson.dumps(want, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert list(json.loads(out.getvalue())) == list(want)


def test_json_document_with_no_connection_is_valid() -> None:
    out = io.StringIO()
    JsonWriter(out).finish({"frames": 0}, {"connections": 0})
    assert json.loads(out.getvalue())["connections"] == []


def test_names_orjson_refuses_are_still_written_as_json() -> None:
    # a file name that is not UTF-8 reaches Python as lone surrogates
    flow = {"id": 1, "file": "cap\udcff.pcap", "big": 1 << 70}
    out = io.StringIO()
    NdjsonWriter(out).flow(flow)
    assert json.loads(out.getvalue()) == {"record": "connection", **flow}
    doc = io.StringIO()
    w = JsonWriter(doc)
    w.flow(flow)
    w.finish({"files": ["cap\udcff.pcap"]}, {})
    assert json.loads(doc.getvalue())["connections"] == [flow]


def _flow(i: int, outcome: str = "closed", anomalies: dict[str, int] | None = None,
          ) -> dict[str, Any]:
    return {
        "id": i, "orig": {"ip": "192.0.2.1", "port": 1000 + i},
        "resp": {"ip": "198.51.100.2", "port": 80}, "outcome": outcome,
        "handshake": {"status": "complete", "rtt_s": {"total": 0.001}},
        "close": {"pattern": "four_way", "first_fin_by": "orig"}, "reset": None,
        "time_wait": [], "packets": {"orig": 4, "resp": 3}, "first_frame": 1,
        "last_frame": 7, "zeek": {"conn_state": "SF", "history": "ShADadFf"},
        "anomalies": anomalies or {},
    }


def test_terminal_lists_the_most_eventful_connections_and_counts_the_rest() -> None:
    console = Console(file=io.StringIO(), no_color=True, width=200)
    writer = TerminalWriter(console, limit=3)
    flows = [_flow(i) for i in range(1, 1001)]
    flows[500] = _flow(501, "closed", {"retransmission": 2})
    flows[700] = _flow(701, "refused")
    flows[900] = _flow(901, "open")
    for f in flows:
        writer.flow(f)
    summary = {"connections": 1000, "outcomes": {"closed": 998, "open": 1, "refused": 1},
               "close_patterns": {}, "with_time_wait": 0, "anomalies": {}}
    writer.finish({"tcp_segments": 7000, "frames": 7000, "warnings": []}, summary)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("│")]
    assert listed == ["501", "701", "901"]
    assert "the 3 most eventful of 1000 connections" in text
    assert "… 997 more not listed: closed 997 (use --format json" in text
