"""The report's recording of segments: cheap per segment, one replay, the same report.

``report`` used to replay every capture twice (rows first, then the chosen connections'
segments) and, while recording, rebuilt the tracker's transition list three times per
segment.  It now records while it chooses, and replays only when the active connections
held more records than the live budget; these tests pin that down and check that every way
of getting the detail gives the same report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer import pipeline
from tcpflow_analyzer.cli import app
from tcpflow_analyzer.ladder import LadderCollector
from tcpflow_analyzer.listeners import ListenerView
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.reportdata import ReportCollector, build_report_data
from tcpflow_analyzer.tracker import TrackerConfig

ROOT = Path(__file__).resolve().parents[1]
CAPTURE_SUFFIXES = (".pcap", ".pcapng")
SAMPLES = [str(ROOT / p) for p in (
    "samples/handshake-basic.pcap", "samples/refused.pcap", "samples/syn-timeout.pcap",
    "samples/time-wait-reuse.pcap", "samples/anomalies/kernel-loss-sender-side.pcap",
    "samples/anomalies/kernel-zero-window.pcap", "samples/rst-by-resp.pcap")]


def _captures() -> list[str]:
    return [str(p) for d in ("samples", "tests/data/zeek-corpus")
            for p in sorted((ROOT / d).rglob("*"))
            if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)]


def _report_data(collector: ReportCollector, captures: list[str]) -> dict[str, Any]:
    """What cmd_report does, with a given collector."""
    config = TrackerConfig()
    view = ListenerView()

    def on_flow(f: Any) -> None:
        view.add_flow(f)
        collector.on_flow(f)

    stats = analyze_captures(captures, config, on_flow, sink=view,
                             on_segment=collector.on_segment)
    if collector.needs_detail_pass and collector.chosen_ids():
        collector.start_detail_pass()
        analyze_captures(captures, config, collector.on_flow, on_segment=collector.on_segment)
    return build_report_data(collector, stats.to_dict(), view.to_list())


def test_one_pass_two_passes_and_giving_up_midway_make_the_same_report() -> None:
    one = _report_data(ReportCollector(max_detail=5, segment_budget=200), SAMPLES)
    two = _report_data(ReportCollector(max_detail=5, segment_budget=200, record=False),
                       SAMPLES)
    # a live budget smaller than one connection: recording stops at the first segments
    gave_up = ReportCollector(max_detail=5, segment_budget=200, live_budget=30)
    late = _report_data(gave_up, SAMPLES)
    assert gave_up.needs_detail_pass
    assert len(one["detail"]) == 5
    assert one == two == late


def test_report_replays_a_capture_only_when_the_records_overflow(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[int] = []
    real = pipeline.analyze_captures

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "analyze_captures", counting)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", *SAMPLES, "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    assert len(calls) == 1
    monkeypatch.setattr("tcpflow_analyzer.cmd_report.DEFAULT_LIVE_BUDGET", 10)
    calls.clear()
    res = CliRunner().invoke(app, ["report", *SAMPLES, "-o", str(tmp_path / "r2.html")])
    assert res.exit_code == 0, res.stderr
    assert len(calls) == 2
    # the same page either way
    assert (tmp_path / "r2.html").read_text() == out.read_text()


def test_ladder_reads_the_transition_list_only_when_an_endpoint_moved() -> None:
    reads = [0]

    class Counting:
        """The connection as the collector sees it, counting its reads of ``transitions``
        (the compiled record's class cannot be patched)."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def __getattr__(self, name: str) -> Any:
            if name == "transitions":
                reads[0] += 1
            return getattr(self._conn, name)

    moved = [0]
    before: dict[int, tuple[Any, Any]] = {}
    collector = LadderCollector()

    def on_segment(conn: Any, seg: Any, from_a: bool, processed: bool) -> None:
        now = (conn.a.state, conn.b.state)
        if before.get(conn.id, (conn.a.initial, conn.b.initial)) != now:
            moved[0] += 1
        before[conn.id] = now
        collector.on_segment(Counting(conn), seg, from_a, processed)

    analyze_captures(SAMPLES, TrackerConfig(), collector.on_flow, on_segment=on_segment)
    segments = sum(len(t.records) for t in collector.traces)
    assert segments > 100
    assert reads[0] == moved[0] < segments / 3


def test_no_endpoint_returns_to_its_state_within_one_segment() -> None:
    """The ladder's shortcut (both states as they were -> no transition in this segment)
    holds on every sample and corpus trace."""
    for path in _captures():
        seen: dict[int, int] = {}
        before: dict[int, tuple[Any, Any]] = {}
        undone: list[tuple[int, int]] = []

        def on_segment(conn: Any, seg: Any, from_a: bool, processed: bool,
                       seen: dict[int, int] = seen, before: dict[int, tuple[Any, Any]] = before,
                       undone: list[tuple[int, int]] = undone) -> None:
            trans = conn.transitions
            new = trans[seen.get(conn.id, 0):]
            seen[conn.id] = len(trans)
            if conn.id not in before:
                before[conn.id] = (conn.a.initial, conn.b.initial)
            now = (conn.a.state, conn.b.state)
            if new and now == before[conn.id]:
                undone.append((conn.id, seg.frame))
            before[conn.id] = now

        analyze_captures([path], TrackerConfig(), lambda f: None, on_segment=on_segment)
        assert not undone, (path, undone[:5])
