"""Compiled, the decoder fills the Segment it made last again when nothing but the decoder
refers to it any more (``decode._new_segment``): the ingestion loops drop each segment
before the next frame, so a packet costs no allocation.  A segment anybody still holds, in
any way, must never be touched: these tests keep some of them in every way the callers do
and compare them with a decode in which every segment is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tcpflow_analyzer._records import segments
from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.sources.pcapfile import open_capture

from . import capbuild as cb

FIELDS = ("frame", "ts", "vlan", "ipver", "src", "dst", "sport", "dport", "seq", "ack",
          "flags", "win", "plen", "csum_ok", "ip_id", "tcp_csum", "sack", "syn_opts",
          "link_pad", "tsval", "tsecr")


def _capture(tmp_path: Path) -> str:
    data = cb.pcap_header()
    for n in range(300):
        opts = cb.opt_timestamps(n, n + 1) if n % 3 else b""
        frame = cb.ether(cb.tcp4(sport=1000 + n % 7, seq=n * 100, ack=n, flags=cb.ACK,
                                 options=opts, payload=bytes(n % 50)),
                         tags=[(0x8100, n % 5)] if n % 4 == 0 else ())
        data += cb.pcap_record(1_700_000_000, n, frame)
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    return str(path)


def _fields(seg: Any) -> tuple[object, ...]:
    return tuple(getattr(seg, f) for f in FIELDS)


def _all_kept(path: str) -> list[tuple[object, ...]]:
    reader = open_capture(path)
    kept = [s for s in segments(reader, Decoder()) if s is not None]  # every one held
    reader.close()
    return [_fields(s) for s in kept]


def test_segments_a_caller_still_holds_are_never_filled_again(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    expected = _all_kept(path)
    reader = open_capture(path)
    held: list[tuple[int, Any]] = []
    in_dict: dict[int, Any] = {}
    last: Any = None
    for n, seg in enumerate(s for s in segments(reader, Decoder()) if s is not None):
        if n % 2:
            held.append((n, seg))  # in a list
        elif n % 5 == 0:
            in_dict[n] = seg  # in a dict
        if n % 7 == 0:
            last = (n, seg)  # in a local, replaced later
        del seg
        if last is not None and last[0] + 3 == n:
            assert _fields(last[1]) == expected[last[0]]
    reader.close()
    assert len(held) + len(in_dict) > 150
    for n, seg in held:
        assert _fields(seg) == expected[n], n
    for n, seg in in_dict.items():
        assert _fields(seg) == expected[n], n


def test_a_dropped_segment_decodes_the_next_frame_whole(tmp_path: Path) -> None:
    """Every field of a refilled segment is the new frame's (none left from the last)."""
    path = _capture(tmp_path)
    expected = _all_kept(path)
    reader = open_capture(path)
    got = [_fields(s) for s in segments(reader, Decoder()) if s is not None]
    reader.close()
    assert got == expected
