"""The tracker's steady-state fast path changes nothing but speed (hypothesis).

``Connection.process`` sends a segment without SYN/FIN/RST between two synchronized
endpoints to ``_steady`` and everything else through ``_general``.  Every report must be
the same as when every segment takes the general path (``tracker.set_fast_path(False)``),
whatever the segments say.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpflow_analyzer import tracker
from tcpflow_analyzer.flowtable import FlowTable
from tcpflow_analyzer.report import FlowReport, build_flow_report
from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN, Segment, SynOptions
from tcpflow_analyzer.tracker import TrackerConfig

from .builders import MASK, make_segment


@contextmanager
def general_path_only() -> Iterator[None]:
    """Make every segment take the general path."""
    saved = tracker.set_fast_path(False)
    try:
        yield
    finally:
        tracker.set_fast_path(saved)


def run(segments: list[Segment], semantics: str) -> list[FlowReport]:
    flows: list[FlowReport] = []
    table = FlowTable(TrackerConfig(semantics=semantics),
                      lambda conn: flows.append(build_flow_report(conn)))
    for seg in segments:
        conn, from_a = table.lookup(seg)
        conn.process(seg, from_a)
    table.flush()
    return flows


# One step after the handshake: (sender is orig, flags, seq offset from the sender's next
# byte, ack offset from the peer's next byte, payload, window, timestamp step)
step = st.tuples(
    st.booleans(),
    st.sampled_from([ACK, ACK, ACK | PSH, ACK | PSH, ACK | FIN, RST | ACK, ACK | SYN, 0]),
    st.sampled_from([0, 0, 0, 0, -1, -100, -1460, 1460, 3000]),
    st.sampled_from([0, 0, 0, -1, -1460, 1460, 5000]),
    st.sampled_from([0, 0, 1, 100, 1460]),
    st.sampled_from([65535, 65535, 0, 1000, 30000]),
    st.sampled_from([0.0, 0.0001, 0.01, 0.2, 3.0]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orig_isn=st.one_of(st.integers(0, MASK), st.integers(MASK - 3000, MASK)),
    resp_isn=st.integers(0, MASK),
    handshake=st.sampled_from(["full", "no_syn", "mid_stream"]),
    steps=st.lists(step, min_size=1, max_size=40),
    semantics=st.sampled_from(["default", "wireshark"]),
    timestamps=st.booleans(),
)
def test_fast_path_reports_equal_the_general_path(
    orig_isn: int, resp_isn: int, handshake: str,
    steps: list[tuple[bool, int, int, int, int, int, float]], semantics: str, timestamps: bool,
) -> None:
    nxt = {True: orig_isn, False: resp_isn}
    segments: list[Segment] = []
    ts = 1000.0
    frame = 0

    def emit(from_orig: bool, flags: int, seq: int, ack: int, plen: int = 0,
             win: int = 65535, opts: SynOptions | None = None) -> None:
        nonlocal frame
        frame += 1
        segments.append(make_segment(
            frame=frame, ts=ts, from_orig=from_orig, seq=seq, ack=ack, flags=flags, plen=plen,
            win=win, syn_opts=opts, tsval=(int(ts * 1000) & MASK) if timestamps else None))

    opts = SynOptions(1460, 7, True, None)
    if handshake == "full":
        emit(True, SYN, orig_isn, 0, opts=opts)
        nxt[True] = (orig_isn + 1) & MASK
    if handshake in ("full", "no_syn"):
        ts += 0.01
        emit(False, SYN | ACK, resp_isn, nxt[True], opts=opts)
        nxt[False] = (resp_isn + 1) & MASK
        ts += 0.01
        emit(True, ACK, nxt[True], nxt[False])
    for from_orig, flags, dseq, dack, plen, win, dt in steps:
        ts += dt
        seq = (nxt[from_orig] + dseq) & MASK
        emit(from_orig, flags, seq, (nxt[not from_orig] + dack) & MASK, plen, win)
        end = (seq + plen + (1 if flags & (SYN | FIN) else 0)) & MASK
        if 0 < (end - nxt[from_orig]) & MASK < 1 << 31:
            nxt[from_orig] = end

    fast = run(segments, semantics)
    with general_path_only():
        general = run(segments, semantics)
    assert fast == general


def test_fast_path_is_taken_between_synchronized_endpoints() -> None:
    """The equivalence above means something only if the fast path really runs."""
    before = tracker.steady_segments()
    segs = [
        make_segment(frame=1, ts=1.0, from_orig=True, seq=100, ack=0, flags=SYN),
        make_segment(frame=2, ts=1.1, from_orig=False, seq=500, ack=101, flags=SYN | ACK),
        make_segment(frame=3, ts=1.2, from_orig=True, seq=101, ack=501, flags=ACK),
        make_segment(frame=4, ts=1.3, from_orig=True, seq=101, ack=501, flags=ACK | PSH,
                     plen=10),
        make_segment(frame=5, ts=1.4, from_orig=False, seq=501, ack=111, flags=ACK),
    ]
    run(segs, "default")
    assert tracker.steady_segments() - before == 2  # frames 4, 5; the handshake is general
