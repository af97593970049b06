"""Command-line interface (typer).  Wiring only: logic lives in pipeline, report, render.

Commands: ``analyze`` (the main job), ``anomalies`` (the catalogue), and the commands other
modules register (``check``, ``show``, ``sniff``).  A tool error is one line on stderr and
exit code 2; the traceback only with ``--debug``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console

from . import __version__
from .anomalies import CATALOGUE
from .errors import ExitCode, TcpflowError
from .pipeline import analyze_captures
from .render import OutputFormat
from .report import FlowFilter, FlowReport, summarize
from .tracker import TrackerConfig

app = typer.Typer(
    name="tcpflow-analyzer",
    help="A precise, readable account of every TCP connection in a packet capture.",
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)

PROG = "tcpflow-analyzer"


def err_console() -> Console:
    """The stderr console for summaries, progress and warnings (honours NO_COLOR)."""
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def fail(message: str, code: ExitCode = ExitCode.TOOL_ERROR) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return typer.Exit(int(code))


def run_guarded(debug: bool, body: Callable[[], int]) -> int:
    """Run a command body, turning every failure into one line and exit code 2."""
    try:
        return body()
    except TcpflowError as exc:
        if debug:
            raise
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return int(ExitCode.OK)
    except typer.Exit:
        raise
    except Exception as exc:
        if debug:
            raise
        raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)") from None


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[TextIO]:
    """stdout, or a temporary file renamed onto ``path`` only when everything succeeded."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        # /dev/null, a FIFO, a terminal: write straight into it, never rename over it
        try:
            with target.open("w", encoding="utf-8", newline="") as fh:
                yield fh
        except OSError as exc:
            raise TcpflowError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tcpflow-", dir=directory)
    except OSError as exc:
        raise TcpflowError(f"cannot write {path}: {exc.strerror or exc}") from None
    ok = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        ok = True
    finally:
        if ok:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                os.unlink(tmp)
                raise TcpflowError(f"cannot write {path}: {exc.strerror or exc}") from None
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class _Progress:
    """A transient progress bar on stderr, shown only on a terminal and only when the
    analysis takes more than half a second."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self.start = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < 0.5:
                return
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
            )

            cols: list[Any] = [BarColumn(), DownloadColumn()] if total else [MofNCompleteColumn()]
            self.bar = Progress(*cols, TimeElapsedColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("reading", total=total)
        self.bar.update(self.task, completed=done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


FormatOpt = Annotated[OutputFormat, typer.Option(
    "--format", "-f", envvar="TCPFLOW_FORMAT", case_sensitive=False,
    help="terminal (rich view), json, ndjson (one connection per line as it ends), csv, zeek "
         "(conn.log).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", help="Write results to FILE (written only when the analysis succeeds).")]
HostOpt = Annotated[list[str] | None, typer.Option(
    "--host", help="Only connections with an endpoint in this address or CIDR (repeatable).")]
PortOpt = Annotated[list[int] | None, typer.Option(
    "--port", help="Only connections with this port on either side (repeatable).")]
OutcomeOpt = Annotated[list[str] | None, typer.Option(
    "--outcome", help="Only these outcomes: closed, reset, refused, no_synack, "
                      "handshake_incomplete, open (repeatable).")]
CloseOpt = Annotated[list[str] | None, typer.Option(
    "--close", help="Only these close patterns: four_way, three_way, simultaneous, half_close, "
                    "one_fin_only, none (repeatable).")]
AnomalyOpt = Annotated[list[str] | None, typer.Option(
    "--anomaly", help="Only connections with this anomaly (repeatable; see `anomalies`).")]
ChecksumOpt = Annotated[str, typer.Option(
    "--checksums", help="auto: drop bad-checksum segments unless a host's are all bad "
                        "(offload); strict: always drop; off: do not verify.")]
TimeWaitOpt = Annotated[float, typer.Option(
    "--time-wait", help="2MSL in seconds for TIME-WAIT and reuse judgements.", min=0.0)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]

_OUTCOMES = {"closed", "reset", "refused", "no_synack", "handshake_incomplete", "open"}
_CLOSES = {"four_way", "three_way", "simultaneous", "half_close", "one_fin_only", "none"}


def build_filter(host: list[str] | None, port: list[int] | None, outcome: list[str] | None,
                 close: list[str] | None, anomaly: list[str] | None) -> FlowFilter:
    """Validate the selection options and build the filter (bad values are errors)."""
    for name, values, allowed in (("--outcome", outcome, _OUTCOMES), ("--close", close, _CLOSES),
                                  ("--anomaly", anomaly, set(CATALOGUE))):
        for v in values or []:
            if v not in allowed:
                raise TcpflowError(f"{name} {v!r} is not one of: {', '.join(sorted(allowed))}")
    try:
        return FlowFilter(host, port, outcome, close, anomaly)
    except ValueError as exc:
        raise TcpflowError(f"--host: {exc}") from None


def make_config(checksums: str, time_wait: float) -> TrackerConfig:
    """Tracker configuration from CLI options."""
    if checksums not in ("auto", "strict", "off"):
        raise TcpflowError(f"--checksums {checksums!r} is not one of: auto, strict, off")
    return TrackerConfig(checksums=checksums, time_wait_s=time_wait)


def emit_report(fmt: OutputFormat, report: dict[str, Any], out: TextIO, console: Console) -> None:
    """Render a finished report in a non-streaming format."""
    from .render.csvout import render_csv
    from .render.jsonout import render_json
    from .render.zeeklog import render_zeek

    if fmt is OutputFormat.JSON:
        render_json(report, out)
    elif fmt is OutputFormat.CSV:
        render_csv(report["connections"], out)
    elif fmt is OutputFormat.ZEEK:
        render_zeek(report["connections"], out)
    else:
        from .render.terminal import render_terminal

        term = Console(file=out, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
        if not term.is_terminal:
            term = Console(file=out, no_color=True, highlight=False, width=160)
        render_terminal(report, term)


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
    debug: DebugOpt = False,
) -> None:
    """Reconstruct every TCP connection in the captures and report how each opened and closed."""

    def body() -> int:
        flt = build_filter(host, port, outcome, close, anomaly)
        config = make_config(checksums, time_wait)
        console = err_console()
        progress = _Progress(console, enabled=True)
        flows: list[FlowReport] = []
        if fmt is OutputFormat.NDJSON:
            from .render.jsonout import NdjsonWriter

            with output_stream(output) as out:
                writer = NdjsonWriter(out)

                def on_flow(f: FlowReport) -> None:
                    if flt.matches(f):
                        flows.append(_summary_view(f))
                        writer.flow(f)

                try:
                    stats = analyze_captures(captures, config, on_flow, progress.update)
                finally:
                    progress.stop()
                writer.finish(stats.to_dict(), summarize(flows))
            _print_warnings(console, stats.warnings)
            return 0

        def collect(f: FlowReport) -> None:
            if flt.matches(f):
                flows.append(f)

        try:
            stats = analyze_captures(captures, config, collect, progress.update)
        finally:
            progress.stop()
        flows.sort(key=lambda f: f["id"])
        report = {"capture": stats.to_dict(), "summary": summarize(flows), "connections": flows}
        with output_stream(output) as out:
            emit_report(fmt, report, out, console)
        if fmt is not OutputFormat.TERMINAL or output is not None:
            _print_warnings(console, stats.warnings)
        return 0

    raise typer.Exit(run_guarded(debug, body))


def _summary_view(f: FlowReport) -> FlowReport:
    """The few fields the NDJSON summary needs (keeps memory flat while streaming)."""
    return {"outcome": f["outcome"], "close": {"pattern": f["close"]["pattern"]},
            "handshake": {"status": f["handshake"]["status"]}, "anomalies": f["anomalies"],
            "time_wait": f["time_wait"]}


def _print_warnings(console: Console, warnings: list[str]) -> None:
    for w in warnings:
        console.print(f"{PROG}: warning: {w}", markup=False, soft_wrap=True)


@app.command()
def anomalies() -> None:
    """List every anomaly the analyzer reports, with its severity and meaning."""
    width = max(len(k) for k in CATALOGUE)
    for code, (sev, meaning) in CATALOGUE.items():
        sys.stdout.write(f"{code:<{width}}  {sev.value:<7}  {meaning}\n")


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
        sys.stdout.write(f"{PROG} {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """A precise, readable account of every TCP connection in a packet capture."""


def _register_plugins() -> None:
    """Commands that live in their own modules register themselves here."""
    import importlib

    for mod in ("cmd_check", "cmd_show", "cmd_sniff"):
        try:
            module = importlib.import_module(f"tcpflow_analyzer.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tcpflow_analyzer.{mod}":
                raise
            continue
        module.register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        sys.exit(0)
