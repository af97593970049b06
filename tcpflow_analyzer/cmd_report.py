"""The ``report`` command: one self-contained HTML file about one or more captures.

Wiring only: :func:`~tcpflow_analyzer.pipeline.analyze_captures` replays the captures with
:class:`~tcpflow_analyzer.reportdata.ReportCollector` (rows, timeline, the choice of the
most telling connections and their records; a second replay records those only when the
active connections held too many records, and never from standard input) and
:class:`~tcpflow_analyzer.listeners.ListenerView` (the listener table) attached;
:func:`~tcpflow_analyzer.reportdata.build_report_data` makes the plain data and
:func:`~tcpflow_analyzer.render.htmlreport.render_report` the page, written only when
everything succeeded.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from .clikit import ChecksumOpt, DebugOpt, Semantics, SemanticsOpt, TimeWaitOpt, VlanMode, VlanOpt
from .errors import TcpflowError
from .reportdata import DEFAULT_LIVE_BUDGET, DEFAULT_MAX_DETAIL, DEFAULT_MAX_SEGMENTS

ReportOutOpt = Annotated[str, typer.Option(
    "--output", "-o", metavar="FILE.html", help="Where to write the report (HTML).")]
DetailOpt = Annotated[int, typer.Option(
    "--detail", metavar="N", min=0,
    help="Carry the ladder and graphs of at most N connections, the most telling first "
         "(errors, failures, warnings, notes, then the largest); every connection has a table "
         "row.")]
MaxSegmentsOpt = Annotated[int, typer.Option(
    "--max-segments", metavar="N", min=10,
    help="Record at most N segments of one connection for its ladder and graphs.")]


class _Sink:
    """Passes tracker events to the listener view and tells the collector each new file."""

    def __init__(self, view: Any, collector: Any) -> None:
        self.view = view
        self.collector = collector

    def bind(self, table: Any, path: str | None = None) -> None:
        self.view.bind(table, path)
        self.collector.start_file(path or "")

    def append(self, event: Any) -> None:
        self.view.append(event)


#: Allocations between two young-generation collections while the report records (the
#: interpreter's default is 700).
_YOUNG_THRESHOLD = 10_000


@contextmanager
def _fewer_young_collections() -> Iterator[None]:
    """Collect the young generation less often while recording.  Each recorded segment
    is one more tracked allocation, so at the default threshold the young collections ran
    ten times as often as in ``analyze``, promoted the tracker's connections to the old
    generation and set off full collections, each walking every live connection (a fifth
    of the report's CPU on the 200k-packet slice).  Peak memory is unchanged: the
    connections' cycles are still collected, in bigger batches."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], _YOUNG_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def report(
    captures: Annotated[list[str], typer.Argument(
        help="Capture files (pcap or pcapng, optionally compressed); - for stdin.")],
    output: ReportOutOpt,
    detail: DetailOpt = DEFAULT_MAX_DETAIL,
    max_segments: MaxSegmentsOpt = DEFAULT_MAX_SEGMENTS,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Write one self-contained HTML report: capture summary, listener table, timeline of
    connection starts and failures, a sortable and filterable connections table, and the
    ladder and graphs of the most telling connections.  Opens offline, fetches nothing."""
    from .clikit import err_console, make_config, output_stream, print_warnings, run_guarded

    def body() -> int:
        if os.path.splitext(output)[1].lower() not in (".html", ".htm"):
            raise TcpflowError(f"--output {output!r}: the name must end in .html")
        from .listeners import ListenerView
        from .pipeline import analyze_captures
        from .render.htmlreport import render_report
        from .reportdata import ReportCollector, build_report_data

        config = make_config(checksums, time_wait, semantics, vlan)
        view = ListenerView()
        # Record while choosing (one replay); a file can be read twice, so there the
        # records of active connections are bounded and a second replay records the
        # chosen connections if that bound was reached.
        one_pass = "-" in captures
        collector = ReportCollector(max_detail=detail, max_segments=max_segments,
                                    live_budget=None if one_pass else DEFAULT_LIVE_BUDGET)

        def on_flow(f: Any) -> None:
            view.add_flow(f)
            collector.on_flow(f)

        with _fewer_young_collections():
            stats = analyze_captures(captures, config, on_flow, sink=_Sink(view, collector),
                                     on_segment=collector.on_segment if detail else None)
            if collector.needs_detail_pass and not one_pass and collector.chosen_ids():
                collector.start_detail_pass()
                analyze_captures(captures, config, collector.on_flow,
                                 on_segment=collector.on_segment)
        data = build_report_data(collector, stats.to_dict(), view.to_list(),
                                 time_wait_s=config.time_wait_s)
        names = ", ".join("standard input" if c == "-" else os.path.basename(c)
                          for c in captures[:3])
        more = f" and {len(captures) - 3} more" if len(captures) > 3 else ""
        page = render_report(data, f"TCP connections in {names}{more}")
        with output_stream(output) as out:
            out.write(page)
        print_warnings(err_console(), stats.warnings)
        return 0

    raise typer.Exit(run_guarded(debug, body))


def register(app: typer.Typer) -> None:
    """Add ``report`` to the CLI (called by :mod:`.cli` at import)."""
    app.command("report")(report)
