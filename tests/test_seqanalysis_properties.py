"""Properties of :mod:`tcpflow_analyzer.seqanalysis` (hypothesis).

* Arbitrary segment streams never raise, in either semantics, and ``finish`` /
  ``measurements`` always work afterwards.
* A well-formed conversation -- any ISNs (near 2**32 included), any sizes, every segment
  delivered once, in order, within the receiver's window, and acknowledged -- gives no
  anomaly at all in the default semantics.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN, Segment, SynOptions
from tcpflow_analyzer.seqanalysis import SeqAnalysis
from tcpflow_analyzer.tracker import TrackerConfig

from .test_seqanalysis_default import FakeConn, Talk

u32 = st.integers(0, 0xFFFFFFFF)
segments = st.lists(st.tuples(
    st.booleans(), u32, u32, st.integers(0, 0xFF), st.integers(0, 0xFFFF),
    st.integers(0, 3000), st.integers(-1, 0xFFFF), st.integers(0, 3),
    st.one_of(st.none(), u32),
    st.one_of(st.none(), st.lists(st.tuples(u32, u32), min_size=1, max_size=4).map(tuple)),
    st.one_of(st.none(), st.integers(0, 14)), st.floats(0, 2)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(segments, st.sampled_from(["default", "wireshark"]))
def test_arbitrary_segments_never_raise(segs: list[tuple], semantics: str) -> None:
    conn = FakeConn()
    sa = SeqAnalysis(TrackerConfig(semantics=semantics))
    ts = 1000.0
    for frame, (from_a, seq, ack, flags, win, plen, ip_id, csum, tsval, sack, ws, dt) in \
            enumerate(segs, 1):
        ts += dt
        opts = SynOptions(1460, ws, True, None) if flags & SYN else None
        seg = Segment(frame, ts, (), 4 if ip_id >= 0 else 6, b"\x01" * 4, b"\x02" * 4, 1, 2,
                      seq, ack, flags, win, plen, True, ip_id, csum, tsval, tsval, sack, opts)
        conn.last_ts = ts
        sa.process(conn, seg, from_a)  # type: ignore[arg-type]
    m = sa.measurements(conn)  # type: ignore[arg-type]
    sa.finish(conn)  # type: ignore[arg-type]
    assert set(m) == {"window_scale", "orig", "resp"}


exchange = st.lists(st.tuples(st.sampled_from("or"), st.integers(1, 4000)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(u32, u32, exchange, st.booleans(), st.booleans())
@example(0, 0, [("o", 1000)], False, False)  # filled the old 1000-byte SYN-ACK window
def test_well_formed_conversations_have_no_anomalies(
        isn_o: int, isn_r: int, steps: list[tuple[str, int]], wscale: bool, orig_closes: bool,
) -> None:
    opts = SynOptions(1460, 7 if wscale else None, True, None)
    win = 1000 if wscale else 65000  # 128000 / 65000 bytes: always more than in flight
    t = Talk(isn_o=isn_o, isn_r=isn_r)
    # a SYN's window is never scaled (RFC 7323 §2.2): 65000 bytes, more than any step sends
    # before the peer's next ACK (a 1000-byte SYN-ACK window filled by 1000 bytes of data is
    # a true window_full)
    t.tx("o", SYN, opts=opts, win=65000)
    t.tx("r", SYN | ACK, opts=opts, dt=40, win=65000)
    t.tx("o", ACK, win=win, dt=0.05)
    for who, n in steps:
        other = "r" if who == "o" else "o"
        sent = 0
        while sent < n:
            chunk = min(1448, n - sent)
            t.tx(who, ACK | PSH, chunk, win=win, dt=0.1)
            sent += chunk
        t.tx(other, ACK, win=win, dt=40)
    first, second = ("o", "r") if orig_closes else ("r", "o")
    t.tx(first, FIN | ACK, win=win, dt=1)
    t.tx(second, FIN | ACK, win=win, dt=40)
    t.tx(first, ACK, win=win, dt=0.05)
    assert t.finish() == []
    m = t.measure()
    total = sum(n for _, n in steps)
    assert m["orig"]["data_bytes"] + m["resp"]["data_bytes"] == total
    assert m["orig"]["retransmitted_segments"] == m["resp"]["retransmitted_segments"] == 0


def test_rst_segments_are_accepted() -> None:
    t = Talk()
    t.handshake()
    t.tx("r", RST | ACK, dt=10)
    t.tx("o", RST, dt=10)
    assert t.finish() == []
