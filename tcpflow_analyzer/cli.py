"""Command-line interface (typer).  Wiring only: logic lives in pipeline, report, render.

Commands: ``analyze`` (the main job), ``anomalies`` (the catalogue), and the commands other
modules register (``check``, ``show``, ``sniff``).  A tool error is one line on stderr and
exit code 2; the traceback only with ``--debug``.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import __version__
from .anomalies import CATALOGUE
from .clikit import (
    PROG,
    AnomalyOpt,
    ChecksumOpt,
    CliGroup,
    CloseOpt,
    DebugOpt,
    FormatOpt,
    HostOpt,
    OutcomeOpt,
    OutputOpt,
    PortOpt,
    Semantics,
    SemanticsOpt,
    TimeWaitOpt,
    VlanMode,
    VlanOpt,
    _Progress,
    build_filter,
    err_console,
    make_config,
    output_stream,
    print_warnings,
    require_stdout,
    run_guarded,
)
from .listeners import ListenerView
from .pipeline import analyze_captures
from .render import OutputFormat, to_writer
from .report import FlowReport, Summary

_PLUGINS: dict[str, tuple[str, ...]] = {
    "cmd_check": ("check",),
    "cmd_show": ("show",),
    "cmd_sniff": ("sniff",),
    "cmd_graph": ("graph",),
    "cmd_report": ("report",),
    "cmd_listeners": ("listeners",),
}
"""Command modules (each has ``register(app)``) and the commands they add.  They are imported
only when one of their commands runs, or for ``--help``: ``analyze`` never pays for them.
A module listed with no command names is loaded whenever an unknown name is asked for."""


def _load_plugin(group: TyperGroup, mod: str) -> None:
    """Import one command module and add its commands to the click group."""
    import importlib

    try:
        module = importlib.import_module(f"tcpflow_analyzer.{mod}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tcpflow_analyzer.{mod}":
            raise
        return
    import typer.main

    sub = typer.Typer()
    module.register(sub)
    for name, cmd in typer.main.get_group(sub).commands.items():
        group.add_command(cmd, name)


class _LazyGroup(CliGroup):
    """The root command group: plugin modules load on first use (see ``_PLUGINS``)."""

    _pending: dict[str, tuple[str, ...]]

    def _load(self, mods: list[str]) -> None:
        if not hasattr(self, "_pending"):
            self._pending = dict(_PLUGINS)
        for mod in mods:
            if self._pending.pop(mod, None) is not None:
                _load_plugin(self, mod)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._load([m for m, names in _PLUGINS.items() if cmd_name in names])
            cmd = super().get_command(ctx, cmd_name)
        if cmd is None:  # a command of a module not listed with its names, or a typo
            self._load(list(_PLUGINS))
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        self._load(list(_PLUGINS))
        return super().list_commands(ctx)


app = typer.Typer(
    name="tcpflow-analyzer",
    cls=_LazyGroup,  # lazy plugins; one-line usage errors for every command (CliGroup)
    help="A precise, readable account of every TCP connection in a packet capture.",
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


@app.command()
def analyze(
    captures: Annotated[list[str], typer.Argument(
        help="Capture files (pcap or pcapng, optionally gzip/bzip2/xz compressed); - for stdin.")],
    fmt: FormatOpt = OutputFormat.TERMINAL,
    output: OutputOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    outcome: OutcomeOpt = None,
    close: CloseOpt = None,
    anomaly: AnomalyOpt = None,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Reconstruct every TCP connection in the captures and report how each opened and closed."""

    def body() -> int:
        flt = build_filter(host, port, outcome, close, anomaly)
        config = make_config(checksums, time_wait, semantics, vlan)
        console = err_console()
        progress = _Progress(console, enabled=True)
        # no terminal, no bar: then the frames need no progress wrapper either
        on_progress = progress.update if progress.enabled else None
        summary = Summary()
        everything = flt.is_empty
        listeners = ListenerView()
        with output_stream(output) as out:
            # every format streams: a writer keeps no report (see render/base.py)
            writer = to_writer(fmt, out, _spool_dir(output))

            def on_flow(f: FlowReport) -> None:
                listeners.add_flow(f)
                if everything or flt.matches(f):
                    summary.add(f)
                    writer.flow(f)

            # NDJSON of every connection: each line written straight from the record (the
            # same bytes, without the report dict; ndjson.py), the summary and the listener
            # view fed from the few report fields they read
            lines = writer.direct_lines() if everything and fmt is OutputFormat.NDJSON \
                else None
            on_record = None
            if lines is not None:
                write_line = lines.write

                def on_record(conn: Any, file: str | None) -> None:
                    f = write_line(conn, file)
                    listeners.add_flow(f)
                    summary.add(f)

            # what start-up made lives to the end: out of the collector's way, so that its
            # collections (and the one at exit) traverse only the analysis's own objects
            gc.freeze()
            # Every connection leaves a few tracked objects for its lifetime, so with the
            # default gen-0 threshold (700) the collector ran ~540 times on a 1M-packet
            # capture for 7 % of the CPU time (0.25 s), finding almost nothing.  Rarer
            # automatic collections still reclaim any cycle, 0.07 s in all (docs/engine.md).
            gc.set_threshold(100_000, 50, 100)
            try:
                stats = analyze_captures(captures, config, on_flow, on_progress,
                                         sink=listeners, on_record=on_record)
            finally:
                progress.stop()
                if lines is not None:
                    lines.flush()  # the lines gathered, even when the analysis failed
            writer.finish(stats.to_dict(), summary.to_dict(),
                          {"listeners": listeners.to_list()})
        if fmt is not OutputFormat.TERMINAL or output is not None:
            print_warnings(console, stats.warnings)
        return 0

    raise typer.Exit(run_guarded(debug, body))


def _spool_dir(output: str | None) -> str | None:
    """Where sorted formats spool: beside the output file (the space it will need anyway),
    else ``$TMPDIR``."""
    if output is None or output == "-" or (os.path.exists(output) and not os.path.isfile(output)):
        return None
    return os.path.dirname(os.path.abspath(output))


@app.command()
def anomalies() -> None:
    """List every anomaly the analyzer reports, with its severity and meaning."""

    def body() -> int:
        out = require_stdout()
        width = max(len(k) for k in CATALOGUE)
        for code, (sev, meaning) in CATALOGUE.items():
            out.write(f"{code:<{width}}  {sev.value:<7}  {meaning}\n")
        out.flush()
        return 0

    raise typer.Exit(run_guarded(False, body))


@app.command("ingest-bench", hidden=True)
def ingest_bench(capture: str) -> None:
    """Benchmark helper: decode every frame and look up its flow; print the frame count."""
    from .pipeline import count_ingest

    def body() -> int:
        frames, _segments = count_ingest(capture)
        sys.stdout.write(f"{frames}\n")
        return 0

    raise typer.Exit(run_guarded(False, body))


def _version(value: bool) -> None:
    if value:
        from ._engine import describe

        sys.stdout.write(f"{PROG} {__version__} ({describe()})\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """A precise, readable account of every TCP connection in a packet capture."""


def main() -> None:
    """Console-script entry point (errors and exit codes: :class:`~.clikit.CliGroup`)."""
    app(prog_name=PROG)
