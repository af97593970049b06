"""Shared pieces of the command-line interface: options, error handling, output streams.

Every command module (``cli`` itself and the ``cmd_*`` plugins) imports from here, never
from ``cli``, so that importing any of them first works: ``cli`` is the only module that
builds the typer app and registers the plugins.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from .anomalies import CATALOGUE
from .errors import ExitCode, TcpflowError
from .render import OutputFormat
from .report import FlowFilter
from .tracker import TrackerConfig

if TYPE_CHECKING:
    from rich.console import Console

PROG = "tcpflow-analyzer"


def err_console() -> Console:
    """The stderr console for summaries, progress and warnings (honours NO_COLOR)."""
    from ._console import LazyStderrConsole

    return LazyStderrConsole()  # type: ignore[return-value]  # rich only when something prints


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
            console = getattr(self.console, "real", lambda: self.console)()
            self.bar = Progress(*cols, TimeElapsedColumn(), console=console, transient=True)
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


class Semantics(StrEnum):
    """How sequence/ACK anomalies are labelled (see the README's "Anomalies")."""

    DEFAULT = "default"
    WIRESHARK = "wireshark"


SemanticsOpt = Annotated[Semantics, typer.Option(
    "--semantics", case_sensitive=False,
    help="default: label what really happened; wireshark: reproduce tshark's tcp.analysis "
         "labels, for comparing with Wireshark.")]


def make_config(checksums: str, time_wait: float,
                semantics: str = Semantics.DEFAULT) -> TrackerConfig:
    """Tracker configuration from CLI options."""
    if checksums not in ("auto", "strict", "off"):
        raise TcpflowError(f"--checksums {checksums!r} is not one of: auto, strict, off")
    return TrackerConfig(checksums=checksums, time_wait_s=time_wait, semantics=str(semantics))


def emit_report(fmt: OutputFormat, report: dict[str, Any], out: TextIO) -> None:
    """Render a finished report in a non-streaming format."""
    # each renderer is imported only when it is used
    if fmt is OutputFormat.JSON:
        from .render.jsonout import render_json

        render_json(report, out)
    elif fmt is OutputFormat.CSV:
        from .render.csvout import render_csv

        render_csv(report["connections"], out)
    elif fmt is OutputFormat.ZEEK:
        from .render.zeeklog import render_zeek

        render_zeek(report["connections"], out)
    else:
        from rich.console import Console

        from .render.terminal import render_terminal

        term = Console(file=out, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
        if not term.is_terminal:
            term = Console(file=out, no_color=True, highlight=False, width=160)
        render_terminal(report, term)


def print_warnings(console: Console, warnings: list[str]) -> None:
    """Each warning as one line on the stderr console."""
    for w in warnings:
        console.print(f"{PROG}: warning: {w}", markup=False, soft_wrap=True)
