"""The ``graph`` command: one connection's time-sequence, throughput, RTT or window graph.

Wiring only: the capture is replayed through :class:`~tcpflow_analyzer.pipeline.Analyzer`
with :class:`~tcpflow_analyzer.graphdata.GraphCollector` recording the selected connection
(as ``show`` does), :func:`~tcpflow_analyzer.graphdata.build_graph_data` makes the data and
:mod:`.render.graphs` draws it with matplotlib.  The file is written only when everything
succeeded; its format comes from the name (``.svg`` or ``.png`` from matplotlib, ``.html``
from the report's uPlot drawing, which needs no extra).
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from .clikit import ChecksumOpt, DebugOpt, Semantics, SemanticsOpt, TimeWaitOpt, VlanMode, VlanOpt
from .cmd_show import ConnOpt, RawSeqOpt, TupleOpt, _check_found, _selection
from .errors import TcpflowError
from .graphdata import GRAPH_KINDS

KindOpt = Annotated[str, typer.Option(
    "--kind", "-k", metavar="KIND",
    help="tseq (sequence numbers over time, tcptrace style), throughput (bytes/s per "
         "direction), rtt (each Karn-valid sample) or window (advertised window and bytes "
         "in flight).")]
GraphOutOpt = Annotated[str, typer.Option(
    "--output", "-o", metavar="FILE.svg|FILE.png|FILE.html",
    help="Where to write the graph: .svg (hover text names each frame), .png, or .html "
         "(interactive: zoom, and the legend names the frame under the cursor).")]
DataOpt = Annotated[str | None, typer.Option(
    "--data", metavar="FILE.json", help="Also write the graph's data points as JSON.")]


def graph(
    capture: Annotated[str, typer.Argument(
        help="Capture file (pcap or pcapng, optionally compressed); - for stdin.")],
    output: GraphOutOpt,
    conn: ConnOpt = None,
    tuple_: TupleOpt = None,
    kind: KindOpt = "tseq",
    raw_seq: RawSeqOpt = False,
    data: DataOpt = None,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Draw one connection as a graph: tseq, throughput, rtt or window, into an SVG or PNG
    file (needs the graphs extra: pip install 'tcpflow-analyzer\\[graphs]') or an
    interactive HTML page (needs nothing more)."""
    from .clikit import err_console, make_config, output_stream, print_warnings, run_guarded

    def body() -> int:
        if kind not in GRAPH_KINDS:
            raise TcpflowError(f"--kind {kind!r} is not one of: {', '.join(GRAPH_KINDS)}")
        ext = os.path.splitext(output)[1].lower()
        if ext not in (".svg", ".png", ".html"):
            raise TcpflowError(f"--output {output!r}: the name must end in .svg, .png or .html")
        if ext != ".html":
            from .render.graphs import _mpl

            _mpl()  # fail before reading the capture when matplotlib is missing
        selection = _selection(conn, tuple_)
        config = make_config(checksums, time_wait, semantics, vlan)
        from .graphdata import GraphCollector, build_graph_data
        from .pipeline import analyze_captures

        collector = GraphCollector(selection)
        stats = analyze_captures([capture], config, collector.on_flow,
                                 on_segment=collector.on_segment)
        _check_found(selection, collector.ladder, conn, tuple_)
        traces = collector.traces
        if not traces:
            raise TcpflowError(f"no TCP connection in {capture}")
        if len(traces) > 1:
            ids = ", ".join(str(t.report["id"]) for t in traces[:10])
            raise TcpflowError(f"{len(traces)} connections match (ids {ids}"
                               f"{', ...' if len(traces) > 10 else ''}): a graph shows one, "
                               "choose it with --conn ID")
        trace = traces[0]
        points = build_graph_data(trace, collector.extras.get(trace.report["id"]),
                                  raw_seq=raw_seq)
        if ext == ".html":
            from .render.htmlreport import render_graph_page

            title = f"connection #{points['conn_id']}: {points['orig']} → {points['resp']} · {kind}"
            image = render_graph_page(points, kind, title).encode("utf-8")
        else:
            from .render.graphs import draw_graph

            image = draw_graph(points, kind, ext[1:])
        if data is not None:
            with output_stream(data) as out:
                json.dump(points, out, indent=1)
                out.write("\n")
        with output_stream(output) as out:
            out.flush()
            out.buffer.write(image) if hasattr(out, "buffer") else out.write(image.decode())
        print_warnings(err_console(), stats.warnings + collector.ladder.warnings())
        return 0

    raise typer.Exit(run_guarded(debug, body))


def register(app: typer.Typer) -> None:
    """Add ``graph`` to the CLI (called by :mod:`.cli` at import)."""
    app.command("graph")(graph)
