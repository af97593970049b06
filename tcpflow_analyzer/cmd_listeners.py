"""The ``listeners`` command: the listener's view on its own, as a table, JSON or CSV.

``analyze`` already carries the view (JSON ``listeners``, NDJSON ``listener`` lines, the
terminal table under the connections); this command is for the CSV (a table of its own)
and for looking at listeners alone.  Wiring only.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from .clikit import (
    ChecksumOpt,
    DebugOpt,
    OutputOpt,
    Semantics,
    SemanticsOpt,
    TimeWaitOpt,
    VlanMode,
    VlanOpt,
)


class ListenerFormat(StrEnum):
    """Output formats of ``listeners``."""

    TERMINAL = "terminal"
    JSON = "json"
    CSV = "csv"


ListenerFormatOpt = Annotated[ListenerFormat, typer.Option(
    "--format", "-f", case_sensitive=False, help="terminal (table), json or csv.")]


def listeners(
    captures: Annotated[list[str], typer.Argument(
        help="Capture files (pcap or pcapng, optionally compressed); - for stdin.")],
    fmt: ListenerFormatOpt = ListenerFormat.TERMINAL,
    output: OutputOpt = None,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Per server endpoint (the side that received the SYN): connections attempted,
    established, refused, unanswered; handshake RTT; retransmitted SYNs and SYN-ACKs; the
    peak of half-open connections; resets; full-accept-queue and SYN-flood signatures."""
    from .clikit import err_console, make_config, output_stream, print_warnings, run_guarded

    def body() -> int:
        from .listeners import ListenerView
        from .pipeline import analyze_captures
        from .render.listeners import render_listeners_csv, render_listeners_terminal

        view = ListenerView()
        stats = analyze_captures(captures, make_config(checksums, time_wait, semantics, vlan),
                                 view.add_flow, sink=view)
        entries = view.to_list()
        with output_stream(output) as out:
            if fmt is ListenerFormat.JSON:
                json.dump({"listeners": entries}, out, indent=2)
                out.write("\n")
            elif fmt is ListenerFormat.CSV:
                render_listeners_csv(entries, out)
            else:
                from rich.console import Console

                term = Console(file=out, highlight=False)
                if not term.is_terminal:
                    term = Console(file=out, no_color=True, highlight=False, width=160)
                if not entries:
                    term.print("No listener: no SYN or SYN-ACK was captured.")
                render_listeners_terminal(entries, term)
        print_warnings(err_console(), stats.warnings)
        return 0

    raise typer.Exit(run_guarded(debug, body))


def register(app: typer.Typer) -> None:
    """Add ``listeners`` to the CLI (called by :mod:`.cli` at import)."""
    app.command("listeners")(listeners)
