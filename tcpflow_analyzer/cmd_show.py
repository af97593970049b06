"""The ``show`` command: draw connections as ladder diagrams.  Wiring only.

The capture is read through :meth:`Analyzer.feed` with a per-segment callback;
:class:`~.ladder.LadderCollector` records the selected connections,
:func:`~.ladder.build_ladder` builds their ladders and :mod:`.render.ladder` draws them on
stdout and, on request, into SVG and HTML files (written
only when everything succeeded).

:mod:`.cli` imports this module to register it, so the helpers it shares with ``analyze``
are imported when the command runs, not at import time (either module may be imported
first).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .clikit import (
    ChecksumOpt,
    DebugOpt,
    Semantics,
    SemanticsOpt,
    TimeWaitOpt,
    VlanMode,
    VlanOpt,
    count_value,
    output_value,
)
from .errors import TcpflowError
from .ladder import DEFAULT_FOLD, LadderCollector, Selection, TupleSpec, build_ladders, parse_tuple
from .pipeline import analyze_captures
from .render.ladder import (
    MAX_WIDTH,
    PLAIN_WIDTH,
    document_lines,
    export_html,
    export_svg,
    print_lines,
    to_plain,
)

ConnOpt = Annotated[list[int] | None, typer.Option(
    "--conn", "-c", metavar="ID", parser=count_value(1, what="a connection id"),
    help="Draw connection ID (the id `analyze` shows; repeatable).")]
TupleOpt = Annotated[list[str] | None, typer.Option(
    "--tuple", "-t", metavar="A:P-B:P",
    help="Draw the connections of this 4-tuple, either direction, every incarnation; IPv6 "
         "in brackets: [2001:db8::1]:40000-[2001:db8::2]:80 (repeatable).")]
AllOpt = Annotated[bool, typer.Option(
    "--all", "-a", help="Draw every segment: never fold a data phase.")]
FoldOpt = Annotated[int, typer.Option(
    "--fold", metavar="N", parser=count_value(1),
    help="Fold runs of more than N plain data/ACK segments into one line.")]
RawSeqOpt = Annotated[bool, typer.Option(
    "--raw-seq", help="Show absolute seq/ack numbers instead of relative ones.")]
SvgOpt = Annotated[str | None, typer.Option(
    "--svg", metavar="FILE", parser=output_value, help="Also write the drawing to FILE as SVG.")]
HtmlOpt = Annotated[str | None, typer.Option(
    "--html", metavar="FILE", parser=output_value, help="Also write the drawing to FILE as HTML.")]


def _selection(conn: list[int] | None, tuples: list[str] | None) -> Selection:
    specs: list[TupleSpec] = []
    for text in tuples or []:
        try:
            specs.append(parse_tuple(text))
        except ValueError as exc:
            raise TcpflowError(f"--tuple {exc}") from None
    for cid in conn or []:
        if cid < 1:
            raise TcpflowError(f"--conn {cid}: connection ids start at 1")
    return Selection(frozenset(conn or ()), tuple(specs))


def _check_found(selection: Selection, collector: LadderCollector,
                 conn: list[int] | None, tuples: list[str] | None) -> None:
    """Every --conn id must exist and every --tuple must match something."""
    n, ids = collector.n_conns, collector.id_range
    count = f"the capture has {n} connection{'s' if n != 1 else ''}"
    if ids is not None:
        count += f" (ids {ids[0]}-{ids[1]})" if n > 1 else f" (id {ids[0]})"
    missing = sorted(set(conn or ()) - collector.found_ids)
    if missing:
        raise TcpflowError(f"no connection #{missing[0]}: {count}")
    shown = collector.traces
    for text, spec in zip(tuples or [], selection.tuples, strict=True):
        if not any(spec.matches(*_endpoints(t.report)) for t in shown):
            raise TcpflowError(f"no connection matches --tuple {text}: {count}")


def _endpoints(report: dict[str, object]) -> tuple[bytes, int, bytes, int]:
    import ipaddress

    o = report["orig"]
    r = report["resp"]
    assert isinstance(o, dict) and isinstance(r, dict)
    return (ipaddress.ip_address(o["ip"]).packed, int(o["port"]),
            ipaddress.ip_address(r["ip"]).packed, int(r["port"]))


def show(
    capture: Annotated[str, typer.Argument(
        help="Capture file (pcap or pcapng, optionally compressed); - for stdin.")],
    conn: ConnOpt = None,
    tuple_: TupleOpt = None,
    all_segments: AllOpt = False,
    fold: FoldOpt = DEFAULT_FOLD,
    raw_seq: RawSeqOpt = False,
    svg: SvgOpt = None,
    html: HtmlOpt = None,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Draw TCP connections as ladder diagrams: one arrow per segment, the states of both
    endpoints beside it, anomalies where they happen, and a plain-language verdict."""

    from .clikit import (
        err_console,
        make_config,
        output_stream,
        require_stdout,
        run_guarded,
        stdout_console,
    )

    def body() -> int:
        stdout = require_stdout()
        selection = _selection(conn, tuple_)
        config = make_config(checksums, time_wait, semantics, vlan)
        collector = LadderCollector(selection)
        stats = analyze_captures([capture], config, collector.on_flow,
                                 on_segment=collector.on_segment)
        _check_found(selection, collector, conn, tuple_)
        ladders = build_ladders(collector.sorted_traces(), fold=None if all_segments else fold,
                                raw_seq=raw_seq, time_wait_s=config.time_wait_s)
        name = "standard input" if capture == "-" else capture
        heading = None
        if not ladders:
            heading = f"No TCP connections in {name}."
        elif len(ladders) > 1:
            heading = f"{len(ladders)} TCP connections in {name}; showing each."
        term = stdout_console(highlight=False, emoji=False, markup=False)
        styled = term.is_terminal and not os.environ.get("NO_COLOR")
        width = min(term.width, MAX_WIDTH) if term.is_terminal else PLAIN_WIDTH
        lines = document_lines(ladders, width, heading)
        # Exports first: a file that cannot be written fails the run before any output.
        if svg is not None:
            title = f"tcpflow-analyzer show {os.path.basename(capture)}"
            with output_stream(svg) as out:
                out.write(export_svg(lines, width, title))
        if html is not None:
            with output_stream(html) as out:
                out.write(export_html(lines, width))
        if styled:
            print_lines(lines, term)
        else:
            stdout.write(to_plain(lines))
            stdout.flush()
        console = err_console()
        for w in stats.warnings + collector.warnings():
            console.print(f"tcpflow-analyzer: warning: {w}", markup=False)
        return 0

    raise typer.Exit(run_guarded(debug, body))


def register(app: typer.Typer) -> None:
    """Add ``show`` to the CLI (called by :mod:`.cli` at import)."""
    app.command("show")(show)
