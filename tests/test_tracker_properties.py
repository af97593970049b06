"""Property tests: well-formed conversations and arbitrary segment streams (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN
from tcpflow_analyzer.states import LEGAL_EDGES, TcpState

from .builders import MASK, Conv, make_segment

isn = st.one_of(st.integers(min_value=0, max_value=MASK),
                st.integers(min_value=MASK - 5000, max_value=MASK))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orig_isn=isn, resp_isn=isn,
    exchanges=st.lists(st.tuples(st.sampled_from("or"), st.integers(1, 3000)), max_size=12),
    closer=st.sampled_from(["o", "r", "both"]),
    piggyback=st.booleans(),
)
def test_well_formed_conversation_has_no_anomalies_and_closes(
    orig_isn: int, resp_isn: int, exchanges: list[tuple[str, int]], closer: str,
    piggyback: bool,
) -> None:
    c = Conv(orig_isn=orig_isn, resp_isn=resp_isn)
    c.handshake()
    for who, n in exchanges:
        c.data(who, n)
        c.ack("r" if who == "o" else "o")
    if closer == "both":
        o_before = c.r.nxt
        c.fin("o")
        c.send("r", FIN | ACK, ack=(c.o.nxt - 1) & MASK)
        c.send("o", ACK, ack=(o_before + 1) & MASK)
        c.ack("r")
        expected = {"simultaneous"}
        tw = ["orig", "resp"]
    else:
        other = "r" if closer == "o" else "o"
        c.fin(closer)
        if piggyback:
            c.fin(other)
            c.ack(closer)
            expected = {"three_way"}
        else:
            c.ack(other)
            c.fin(other)
            c.ack(closer)
            expected = {"four_way"}
        tw = ["orig" if closer == "o" else "resp"]
    (f,) = c.finish()
    assert f["anomalies"] == {}
    assert f["outcome"] == "closed"
    assert f["close"]["pattern"] in expected
    assert sorted(t["endpoint"] for t in f["time_wait"]) == sorted(tw)
    assert f["zeek"]["conn_state"] == "SF"
    assert f["handshake"]["status"] == "complete"


flag_sets = st.sampled_from([SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, FIN,
                             SYN | FIN, FIN | RST, 0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(
    st.tuples(st.booleans(), flag_sets, st.integers(0, MASK), st.integers(0, MASK),
              st.integers(0, 2000), st.integers(0, 65535), st.floats(0, 400)),
    min_size=1, max_size=40))
# found by hypothesis: a RST after eleven SYNs, then a FIN 5 s later (after the reset
# linger) is a late segment of the reported connection, counted by the flow table
@example([(False, SYN, 0, 0, 0, 0, 0.0)] * 11 + [(False, RST, 0, 0, 0, 0, 0.0),
          (True, FIN, 0, 0, 0, 0, 0.0), (True, FIN, 0, 0, 0, 0, 5.0)])
def test_arbitrary_segments_never_raise_and_move_only_along_legal_edges(
    segs: list[tuple[bool, int, int, int, int, int, float]],
) -> None:
    c = Conv()
    ts = 1000.0
    for i, (from_orig, flags, seq, ack, plen, win, dt) in enumerate(segs, 1):
        ts += dt
        c.feed(make_segment(frame=i, ts=ts, from_orig=from_orig, seq=seq, ack=ack, flags=flags,
                            plen=plen, win=win))
    flows = c.finish()
    # every segment is in exactly one report, or counted as a late segment of a connection
    # already reported (the flow table's tombstones), or of one cut short by the cap
    counted = sum(f["packets"]["orig"] + f["packets"]["resp"] for f in flows)
    assert counted + c.table.late_segments + c.table.cut_segments == len(segs)
    for f in flows:
        for t in f["transitions"]:
            a, b = TcpState(t["from"]), TcpState(t["to"])
            assert b in LEGAL_EDGES[a], f"illegal edge {a} -> {b}"
        assert f["zeek"]["conn_state"] in {"S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR",
                                           "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}


def test_syn_flood_is_bounded_by_max_active_and_warned() -> None:
    from tcpflow_analyzer.pipeline import Analyzer
    from tcpflow_analyzer.tracker import TrackerConfig

    flows: list[dict] = []
    an = Analyzer(TrackerConfig(max_active=100), flows.append)
    frames = []
    for i in range(1000):  # 1000 SYNs from different ports within one second
        seg = make_segment(frame=i + 1, ts=1000 + i / 1000, from_orig=True, seq=i, ack=0,
                           flags=SYN)
        seg.sport = 1024 + i
        frames.append(seg)
    for seg in frames:
        conn, from_a = an.table.lookup(seg)
        conn.process(seg, from_a)
        assert len(an.table.active) <= 101
    stats = an.finish()
    assert len(flows) == 1000
    assert any("reported before they ended" in w for w in stats.warnings)
