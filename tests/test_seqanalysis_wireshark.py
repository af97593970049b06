"""``semantics == "wireshark"``: the tcp.analysis rules of tshark 4.0.17, pinned by probes.

Each probe is a tiny conversation whose tshark 4.0.17 labels were observed (``tshark -2``)
while reverse-engineering the rules the Wireshark sources we had did not settle (the
ACKed-unseen rule, the order of the spurious / out-of-order tests, window-full during the
handshake, FIN retransmissions).  The expectations are fixed here, so the engine is
checked without tshark; when tshark 4.0 is installed, the same probes are also written as
pcaps and tshark is asked again, so the expectations cannot drift from the real thing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import dpkt
import pytest

from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN, Segment, SynOptions
from tcpflow_analyzer import seqanalysis
from tcpflow_analyzer.seqanalysis import SeqAnalysis
from tcpflow_analyzer.tracker import TrackerConfig

from .test_seqanalysis_default import FakeConn

ISN = {"a": 1_000_000, "b": 5_000_000}
FLAG = {"S": SYN, "A": ACK, "F": FIN, "R": RST, "P": PSH}
#: tshark field names in the order tshark prints them
FIELDS = ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
          "lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window",
          "zero_window_probe", "zero_window_probe_ack", "window_full", "window_update",
          "keep_alive", "keep_alive_ack")
HANDSHAKE = ["0 a S 0 0 0", "10 b SA 0 1 0", "10 a A 1 1 0"]

# name -> (wscale on the SYNs or None, lines "dt_ms who flags rel_seq rel_ack len [win]",
#          {frame: tshark 4.0.17 flags})
PROBES: dict[str, tuple[int | None, list[str], dict[int, set[str]]]] = {
    "ack_lost_then_quiet_until_the_other_side_moves": (None, HANDSHAKE + [
        "1 a PA 1 1 100", "10 b A 1 301 0", "1 b A 1 401 0", "1 b A 1 401 0",
        "1 a PA 401 1 100", "10 b A 1 501 0", "1 b A 1 601 0", "1 a PA 501 1 100",
        "1 a PA 601 1 100", "10 b A 1 701 0"],
        {5: {"ack_lost_segment"}, 7: {"duplicate_ack"}, 8: {"lost_segment"},
         9: {"ack_lost_segment"}, 11: {"retransmission", "spurious_retransmission"}}),
    "ack_lost_closes_a_hole_then_reports_once": (None, HANDSHAKE + [
        "1 b PA 1 1 100", "1 b PA 301 1 100", "10 a A 1 301 0", "1 a A 1 501 0",
        "1 a A 1 601 0", "1 b PA 601 1 100", "10 a A 1 801 0", "1 a A 1 901 0"],
        {5: {"lost_segment"}, 6: {"ack_lost_segment"}, 7: {"ack_lost_segment"},
         9: {"lost_segment"}, 10: {"ack_lost_segment"}}),
    "ack_lost_alternates_while_holes_remain": (None, HANDSHAKE + [
        "1 b PA 1 1 100", "1 b PA 201 1 100", "10 a A 1 201 0", "1 a A 1 301 0",
        "1 a A 1 401 0", "1 a A 1 501 0"],
        {5: {"lost_segment"}, 6: {"ack_lost_segment"}, 8: {"ack_lost_segment"}}),
    "ack_lost_inside_a_hole_once": (None, HANDSHAKE + [
        "1 b PA 1 1 100", "1 b PA 201 1 100", "10 a A 1 250 0", "1 a A 1 260 0",
        "1 a A 1 270 0"],
        {5: {"lost_segment"}, 6: {"ack_lost_segment"}}),
    "spurious_is_tested_before_out_of_order": (None, HANDSHAKE + [
        "100 a PA 1 1 100", "0.1 a PA 101 1 100", "0.1 a PA 201 1 100", "0.1 b A 1 201 0",
        "0.1 a PA 101 1 100"],
        {8: {"retransmission", "spurious_retransmission"}}),
    "window_full_uses_the_unscaled_synack_window": (7, [
        "0 a S 0 0 0", "10 b SA 0 1 0 100", "10 a A 1 1 0", "1 a PA 1 1 100"],
        {4: {"window_full"}}),
    "fin_retransmission_is_not_out_of_order": (None, HANDSHAKE + [
        "100 a FA 1 1 0", "1 a FA 1 1 0"],
        {5: {"retransmission"}}),
    # a RST far ahead (one answering a stray ACK takes its ack as seq), then the same SYN
    # again: tshark restores nextseq, so the retried attempt's data and FIN are new
    "syn_again_with_the_base_seq_restores_nextseq": (None, [
        "0 a S 0 0 0", "1 a R 100000 0 0", "1000 a S 0 0 0", "10 b SA 0 1 0",
        "10 a A 1 1 0", "1 a PA 1 1 100", "1 a FA 101 1 0"],
        {3: {"retransmission"}}),
}


def _segments(wscale: int | None, lines: list[str]) -> list[tuple[Segment, bool]]:
    out = []
    t = 1_700_000_000.0
    for frame, line in enumerate(lines, 1):
        f = line.split()
        t += float(f[0]) / 1000
        who, other = f[1], "b" if f[1] == "a" else "a"
        flags = 0
        for ch in f[2]:
            flags |= FLAG[ch]
        win = int(f[6]) if len(f) > 6 else 1000
        opts = SynOptions(None, wscale, False, None) if flags & SYN else None
        seg = Segment(frame, t, (), 4, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 1111, 80,
                      (ISN[who] + int(f[3])) & 0xFFFFFFFF,
                      (ISN[other] + int(f[4])) & 0xFFFFFFFF if flags & ACK else 0,
                      flags, win, int(f[5]), True, frame, frame, None, None, None, opts)
        out.append((seg, who == "a"))
    return out


def _ours(wscale: int | None, lines: list[str]) -> dict[int, set[str]]:
    conn = FakeConn()
    sa = SeqAnalysis(TrackerConfig(semantics="wireshark"))
    for seg, from_a in _segments(wscale, lines):
        sa.process(conn, seg, from_a)  # type: ignore[arg-type]
    got: dict[int, set[str]] = {}
    for code, frame, _who, _detail in conn.events:
        got.setdefault(frame, set()).add(code)
        if code in ("fast_retransmission", "spurious_retransmission"):
            got[frame].add("retransmission")
    return got


@pytest.fixture(autouse=True)
def _tshark_ack_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqanalysis, "WS_ACK_LOST", True)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_matches_tshark_4_0(name: str) -> None:
    wscale, lines, want = PROBES[name]
    assert _ours(wscale, lines) == want


def test_wireshark_mode_silences_the_default_reading() -> None:
    wscale, lines, _ = PROBES["ack_lost_then_quiet_until_the_other_side_moves"]
    conn = FakeConn()
    sa = SeqAnalysis(TrackerConfig(semantics="wireshark"))
    for seg, from_a in _segments(wscale, lines):
        sa.process(conn, seg, from_a)  # type: ignore[arg-type]
    sa.finish(conn)  # type: ignore[arg-type]
    codes = {e[0] for e in conn.events}
    assert "lost_segment" in codes and "sack" not in codes
    # the default reading still ran: the measurements are there
    assert sa.measurements(conn)["orig"]["data_bytes"] == 400  # type: ignore[arg-type]


def test_ack_lost_is_left_to_the_tracker_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqanalysis, "WS_ACK_LOST", False)
    wscale, lines, _ = PROBES["ack_lost_inside_a_hole_once"]
    assert _ours(wscale, lines) == {5: {"lost_segment"}}


def test_zero_window_family_and_keep_alive() -> None:
    lines = HANDSHAKE + [
        "1 a PA 1 1 100", "10 b A 1 101 0 0",  # b closes its window
        "200 a A 101 1 1", "10 b A 1 101 0 0",  # 1-byte probe, probe ACK
        "100 b A 1 101 0 500",  # window update
        "1 a PA 101 1 100", "10 b A 1 201 0 500",
        "60000 a A 200 1 0", "10 b A 1 201 0 500",  # keep-alive and its ACK
    ]
    got = _ours(None, lines)
    assert got == {5: {"zero_window"}, 6: {"zero_window_probe"},
                   7: {"zero_window", "zero_window_probe_ack"}, 8: {"window_update"},
                   11: {"keep_alive"}, 12: {"keep_alive_ack"}}


def test_fast_retransmission_within_20_ms_of_the_third_duplicate_ack() -> None:
    lines = HANDSHAKE + [
        "1 a A 1 1 100", "0.1 a A 201 1 100", "0.1 a A 301 1 100",
        "10 b A 1 101 0", "0.1 b A 1 101 0", "0.1 b A 1 101 0",
        "5 a A 101 1 100",
    ]
    got = _ours(None, lines)
    assert got[5] == {"lost_segment"}
    assert 7 not in got  # the first ACK of 101 is new, not a duplicate
    assert got[8] == got[9] == {"duplicate_ack"}
    assert got[10] == {"fast_retransmission", "retransmission"}


def _tshark_version() -> str:
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split()[2] if out.stdout.startswith("TShark") else ""


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_expectations_are_what_tshark_says(name: str, tmp_path: Path) -> None:
    if not _tshark_version().startswith("4.0."):
        pytest.skip("the probes pin tshark 4.0 behaviour")
    wscale, lines, want = PROBES[name]
    path = tmp_path / f"{name}.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for seg, from_a in _segments(wscale, lines):
            opts = b""
            if seg.flags & SYN and wscale is not None:
                opts = b"\x01\x03\x03" + bytes([wscale])
            tcp = dpkt.tcp.TCP(sport=1111 if from_a else 80, dport=80 if from_a else 1111,
                               seq=seg.seq, ack=seg.ack, flags=seg.flags, win=seg.win,
                               off=(20 + len(opts)) // 4, opts=opts, data=b"x" * seg.plen)
            src, dst = ("10.0.0.1", "10.0.0.2") if from_a else ("10.0.0.2", "10.0.0.1")
            ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, ttl=64,
                            id=seg.frame, data=tcp)
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x800, data=ip)
            writer.writepkt(bytes(eth), ts=seg.ts)
    cmd = ["tshark", "-2", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"]
    for name_ in FIELDS:
        cmd += ["-e", f"tcp.analysis.{name_}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    got: dict[int, set[str]] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        flags = {n for n, v in zip(FIELDS, cols[1:], strict=True) if v}
        if flags:
            got[int(cols[0])] = flags
    assert got == want
