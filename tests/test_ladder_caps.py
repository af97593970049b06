"""The ladder collector (``show``, ``graph``, ``report``) is bounded whatever the capture
holds: segments per connection, finished traces and the segments they hold, listed ids, and
no table entry left behind by the connections it does not draw."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpflow_analyzer import ladder
from tcpflow_analyzer.graphdata import GraphCollector
from tcpflow_analyzer.ladder import LadderCollector, Selection
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.segment import ACK, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from .capbuild import ORIG4, RESP4, ipv4, pcap_bytes, tcp_segment


def _capture(tmp_path: Path, conns: int, data: int) -> str:
    """``conns`` connections one after another, each a handshake and ``data`` segments."""
    packets = []
    t = 0.0

    def pkt(port: int, from_orig: bool, seq: int, ack: int, flags: int, plen: int = 0) -> None:
        nonlocal t
        t += 0.001
        src, dst = (ORIG4, RESP4) if from_orig else (RESP4, ORIG4)
        sport, dport = (port, 80) if from_orig else (80, port)
        seg = tcp_segment(src, dst, sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                          payload=b"x" * plen)
        packets.append((1_700_000_000 + int(t), round(t % 1 * 1e6), ipv4(seg, src=src, dst=dst)))

    for n in range(conns):
        port = 40000 + n
        pkt(port, True, 1000, 0, SYN)
        pkt(port, False, 9000, 1001, SYN | ACK)
        pkt(port, True, 1001, 9001, ACK)
        for i in range(data):
            pkt(port, True, 1001 + 10 * i, 9001, ACK | PSH, 10)
    path = tmp_path / "caps.pcap"
    path.write_bytes(pcap_bytes(packets, linktype=101))
    return str(path)


def _collect(path: str, collector: LadderCollector | GraphCollector) -> None:
    analyze_captures([path], TrackerConfig(), collector.on_flow,
                     on_segment=collector.on_segment)


def test_unselected_connections_leave_no_entry_behind(tmp_path: Path) -> None:
    c = LadderCollector(Selection(conn_ids=frozenset({2})))
    _collect(_capture(tmp_path, 50, 0), c)
    assert [t.report["id"] for t in c.traces] == [2]
    assert c._selected == {} and c._records == {} and c._states == {}


def test_one_connection_is_drawn_up_to_its_cap(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ladder, "MAX_CONN_RECORDS", 5)
    g = GraphCollector()
    _collect(_capture(tmp_path, 1, 9), g)  # 12 segments
    (t,) = g.traces
    assert [r.frame for r in t.records] == [1, 2, 3, 4, 5]
    assert g.ladder.warnings() == [
        "1 connections drawn only up to 5 segments each: #1 after 5 (7 more)"]
    assert g.ladder._unrecorded == {}


def test_finished_traces_are_capped_in_number_and_segments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _capture(tmp_path, 10, 0)  # 3 segments each
    monkeypatch.setattr(ladder, "MAX_TRACES", 3)
    g = GraphCollector()
    _collect(path, g)
    assert [t.report["id"] for t in g.traces] == [1, 2, 3]
    assert g.ladder.not_drawn == 7
    assert sorted(g.extras) == [1, 2, 3]  # no graph data kept for the others
    assert g.ladder.warnings() == [
        "7 selected connections not drawn: the drawing holds at most 3 connections and "
        "1,000,000 segments (choose some with --conn or --tuple)"]
    monkeypatch.setattr(ladder, "MAX_TRACES", 100)
    monkeypatch.setattr(ladder, "MAX_HELD_RECORDS", 7)
    c = LadderCollector()
    _collect(path, c)
    assert [t.report["id"] for t in c.traces] == [1, 2]
    assert c.not_drawn == 8


def test_ids_are_counted_exactly_and_listed_up_to_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tcpflow_analyzer.cmd_show import _check_found
    from tcpflow_analyzer.errors import TcpflowError

    monkeypatch.setattr(ladder, "MAX_LISTED_IDS", 4)
    sel = Selection(conn_ids=frozenset({9, 11}))
    c = LadderCollector(sel)
    _collect(_capture(tmp_path, 10, 0), c)
    assert (c.all_ids, c.n_conns, c.id_range, c.found_ids) == ([1, 2, 3, 4], 10, (1, 10), {9})
    with pytest.raises(TcpflowError, match=r"no connection #11: the capture has 10 "
                                           r"connections \(ids 1-10\)"):
        _check_found(sel, c, [9, 11], None)
    _check_found(Selection(conn_ids=frozenset({9})), c, [9], None)
