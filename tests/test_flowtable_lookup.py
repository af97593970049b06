"""The flow lookup's shortcuts never change an answer: cases that only the rules the
compiled lookup defers to the table's method decide (tests/test_engine_differential.py
compares the two on generated streams)."""

from __future__ import annotations

from tcpflow_analyzer.flowtable import FlowTable
from tcpflow_analyzer.segment import ACK, RST, SYN, Segment
from tcpflow_analyzer.tracker import Connection, TrackerConfig

A = bytes([192, 0, 2, 1])
B = bytes([198, 51, 100, 2])


def _seg(frame: int, ts: float, src: bytes, sport: int, dst: bytes, dport: int, flags: int,
         seq: int, ack: int) -> Segment:
    return Segment(frame, ts, (), 4, src, dst, sport, dport, seq, ack, flags, 65535, 0, True,
                   0, 0, None, None, None, None)


def test_reset_connection_idle_past_its_linger_between_sweeps_is_replaced() -> None:
    table = FlowTable(TrackerConfig(), lambda _c: None)
    stream = [
        (1000.0, A, 40000, B, 80, SYN, 100, 0),
        (1000.01, B, 80, A, 40000, SYN | ACK, 500, 101),
        (1000.02, A, 40000, B, 80, ACK, 101, 501),
        (1003.0, A, 40000, B, 80, RST | ACK, 101, 501),
        (1005.5, A, 40001, B, 80, SYN, 900, 0),  # another connection: a sweep runs here,
    ]                                            # 2.5 s after the reset (linger 5 s)
    seen: list[Connection] = []
    for i, (ts, src, sport, dst, dport, flags, seq, ack) in enumerate(stream, 1):
        seg = _seg(i, ts, src, sport, dst, dport, flags, seq, ack)
        conn, from_a = table.lookup(seg)
        assert conn is not None
        conn.process(seg, from_a)
        seen.append(conn)
    reset = seen[0]
    assert seen[:4] == [reset] * 4 and table.next_sweep > 1008.5
    # 5.5 s after the reset, before the next sweep: past the linger, so a new connection
    late = _seg(6, 1008.5, A, 40000, B, 80, ACK, 101, 501)
    conn, from_a = table.lookup(late)
    assert (conn is not reset, conn is not None and conn.id, from_a) == (True, 3, True)
