"""The pure ladder model (:mod:`tcpflow_analyzer.ladder`): collection, numbering, folding,
notes, verdicts and the small parsers and formatters."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tcpflow_analyzer.ladder import (
    Arrow,
    ConnectionTrace,
    Fold,
    LadderCollector,
    Selection,
    build_ladder,
    format_bytes,
    format_duration,
    parse_tuple,
)
from tcpflow_analyzer.pipeline import Analyzer
from tcpflow_analyzer.sources.pcapfile import open_capture
from tcpflow_analyzer.tracker import TrackerConfig

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def traces(sample: str, selection: Selection | None = None) -> list[ConnectionTrace]:
    collector = LadderCollector(selection)
    analyzer = Analyzer(TrackerConfig(), collector.on_flow)
    analyzer.feed(open_capture(str(SAMPLES / sample)), collector.on_segment)
    analyzer.finish()
    return collector.sorted_traces()


def only(sample: str) -> ConnectionTrace:
    (trace,) = traces(sample)
    return trace


def row_shape(rows: tuple[Arrow | Fold, ...]) -> list[object]:
    return [(r.first_frame, r.last_frame) if isinstance(r, Fold) else r.frame for r in rows]


# -- collection ------------------------------------------------------------------------------
def test_collector_records_every_segment_with_the_states_entered() -> None:
    trace = only("handshake-basic.pcap")
    assert [r.frame for r in trace.records] == list(range(1, 12))
    entered = [(r.frame, r.states_a, r.states_b) for r in trace.records if r.states_a
               or r.states_b]
    assert entered == [
        (1, ("SYN-SENT",), ()), (2, ("ESTABLISHED",), ("SYN-RECEIVED",)),
        (3, (), ("ESTABLISHED",)), (8, ("FIN-WAIT-1",), ()),
        (9, ("FIN-WAIT-2",), ("CLOSE-WAIT",)), (10, (), ("LAST-ACK",)),
        (11, ("TIME-WAIT",), ("CLOSED",)),
    ]
    assert trace.orig_is_a


def test_collector_keeps_only_the_selected_connections() -> None:
    got = traces("time-wait-reuse.pcap", Selection(frozenset({2})))
    assert [t.report["id"] for t in got] == [2]
    assert got[0].records[0].frame == 12


def test_selection_by_tuple_either_direction() -> None:
    a = ipaddress.ip_address("192.0.2.1").packed
    b = ipaddress.ip_address("198.51.100.2").packed
    sel = Selection(tuples=(parse_tuple("198.51.100.2:80-192.0.2.1:40000"),))
    assert sel.matches(9, a, 40000, b, 80)
    assert sel.matches(9, b, 80, a, 40000)
    assert not sel.matches(9, a, 40001, b, 80)
    assert Selection().matches(1, a, 1, b, 2)
    assert Selection(frozenset({3})).matches(3, a, 1, b, 2)
    assert not Selection(frozenset({3})).matches(4, a, 1, b, 2)


def test_parse_tuple_ipv6() -> None:
    spec = parse_tuple("[2001:db8::1]:40000-[2001:db8::2]:80")
    assert spec.a_addr == ipaddress.ip_address("2001:db8::1").packed and spec.a_port == 40000
    assert spec.b_addr == ipaddress.ip_address("2001:db8::2").packed and spec.b_port == 80
    with pytest.raises(ValueError, match="brackets"):
        parse_tuple("2001:db8::1:40000-2001:db8::2:80")


# -- numbering -------------------------------------------------------------------------------
def test_relative_numbers_keep_growing_across_the_wrap() -> None:
    ladder = build_ladder(only("seq-wrap.pcap"), fold=None)
    data = [(a.seq, a.plen) for a in ladder.arrows if a.sender == "orig" and a.plen]
    assert data == [(1, 200), (201, 55), (256, 100)]
    assert ladder.arrows[5].raw_seq == 0  # the segment that starts at seq 0 after 2**32
    acks = [a.ack for a in ladder.arrows if a.sender == "resp" and a.ack is not None]
    assert acks == sorted(acks) and acks[-1] == 357


def test_raw_numbers() -> None:
    ladder = build_ladder(only("handshake-basic.pcap"), raw_seq=True)
    syn, synack = ladder.arrows[:2]
    assert syn.seq == 0x6F3A1C20 and syn.ack is None
    assert synack.seq == 0x2B94E7C1 and synack.ack == 0x6F3A1C21
    assert ladder.numbering == "seq/ack are absolute (raw) numbers"


def test_mid_stream_numbers_start_at_the_first_seen() -> None:
    ladder = build_ladder(only("missing-syn.pcap"), fold=None)
    first, second = ladder.arrows[:2]
    assert (first.seq, first.ack, first.plen) == (0, 0, 200)
    assert (second.seq, second.ack) == (0, 200)
    assert "first numbers seen" in ladder.numbering


# -- folding ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("fold", "shape"), [
    (None, list(range(1, 12))),
    (1, [1, 2, 3, (4, 7), 8, 9, 10, 11]),
    (3, [1, 2, 3, (4, 7), 8, 9, 10, 11]),
    (4, list(range(1, 12))),
])
def test_fold_threshold(fold: int | None, shape: list[object]) -> None:
    ladder = build_ladder(only("handshake-basic.pcap"), fold=fold)
    assert row_shape(ladder.rows) == shape
    assert ladder.segments == 11


def test_fold_counts_bytes_per_side() -> None:
    ladder = build_ladder(only("handshake-basic.pcap"), fold=1)
    (fold,) = [r for r in ladder.rows if isinstance(r, Fold)]
    assert (fold.segments, fold.orig_segments, fold.resp_segments) == (4, 2, 2)
    assert (fold.orig_bytes, fold.resp_bytes) == (120, 600)
    assert fold.duration_s == pytest.approx(0.02055, abs=1e-6)


def test_state_changes_and_handshake_never_fold() -> None:
    ladder = build_ladder(only("simultaneous-close.pcapng"), fold=1)
    # frames 4-6 are the data phase; 7-10 carry FINs or state changes
    assert row_shape(ladder.rows) == [1, 2, 3, (4, 6), 7, 8, 9, 10]


def test_mid_stream_and_half_close_data_phases_fold() -> None:
    mid = build_ladder(only("missing-syn.pcap"), fold=1)
    assert row_shape(mid.rows) == [1, (2, 5), 6, 7, 8, 9]
    half = build_ladder(only("half-close.pcap"), fold=1)
    assert row_shape(half.rows) == [1, 2, 3, 4, 5, 6, (7, 12), 13, 14]


def test_anomalies_are_never_folded() -> None:
    ladder = build_ladder(only("syn-timeout.pcap"), fold=1)
    assert row_shape(ladder.rows) == [1, 2, 3, 4]
    assert [n.code for a in ladder.arrows for n in a.notes] == ["syn_retransmission"] * 3


# -- notes -----------------------------------------------------------------------------------
def test_rst_note_carries_its_judgement_and_codes() -> None:
    ladder = build_ladder(only("time-wait-assassination.pcap"))
    rst = ladder.arrows[-1]
    assert rst.sender == "resp" and rst.frame == 12
    (note,) = rst.notes
    assert note.kind == "reset"
    assert "RST by resp in CLOSED (to orig in TIME-WAIT)" in note.text
    assert "valid" in note.text and "[rst_in_time_wait]" in note.text
    tw = [n for a in ladder.arrows for n in a.notes if n.kind == "time_wait"]
    assert [n.text for n in tw] == ["orig enters TIME-WAIT"]


def test_reuse_note_on_the_first_arrow() -> None:
    ladder = build_ladder(traces("time-wait-reuse.pcap")[1], time_wait_s=60)
    first = ladder.arrows[0]
    assert [n.kind for n in first.notes] == ["reuse"]
    assert "acceptable by RFC 6191" in first.notes[0].text


def test_roles_follow_the_final_report() -> None:
    trace = only("kernel-server-closes.pcap")
    ladder = build_ladder(trace)
    fin = next(a for a in ladder.arrows if a.orig_states == () and "FIN-WAIT-1" in a.resp_states)
    assert fin.sender == "resp"


# -- verdicts --------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir()
                                          if p.suffix in (".pcap", ".pcapng")))
def test_every_sample_gets_a_verdict_ending_in_the_outcome(sample: str) -> None:
    for trace in traces(sample):
        ladder = build_ladder(trace)
        assert ladder.verdict
        outcome = [v for v in ladder.verdict if v.startswith("Outcome: ")]
        assert outcome and trace.report["outcome"].replace("_", " ") in outcome[0]
        # every recorded transition appears on the drawing, in order
        drawn = [(a.frame, "orig", s) for a in build_ladder(trace, fold=None).arrows
                 for s in a.orig_states]
        drawn += [(a.frame, "resp", s) for a in build_ladder(trace, fold=None).arrows
                  for s in a.resp_states]
        expected = [(t["frame"], t["endpoint"], t["to"]) for t in trace.report["transitions"]]
        assert sorted(drawn) == sorted(expected)


# -- formatting ------------------------------------------------------------------------------
@pytest.mark.parametrize(("seconds", "text"), [
    (0.00005, "50 µs"), (0.0009999, "1.0 ms"), (0.02, "20.0 ms"), (1.0, "1 s"),
    (1.25, "1.250 s"), (60.0, "60 s"), (312.4, "312 s"), (-0.002, "-2.0 ms"),
    (3599.4, "3599 s"), (3599.6, "1.0 h"), (5400.0, "1.5 h"), (172_799.0, "48.0 h"),
    (95_234_196.0, "1102.2 d"),  # the span of seven samples recorded years apart
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (9999, "9999 B"), (10_000, "10.0 kB"), (1_234_567, "1.2 MB"),
    (3_400_000_000, "3.4 GB"),
])
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text
