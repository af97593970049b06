"""Shared pieces of the command-line interface: options, error handling, output streams.

Every command module (``cli`` itself and the ``cmd_*`` plugins) imports from here, never
from ``cli``, so that importing any of them first works: ``cli`` is the only module that
builds the typer app and registers the plugins.

Three mechanisms keep every command's promises in one place:

* **Usage errors** — :class:`CliGroup` is the app's group class.  Whatever typer/click raise
  while parsing (unknown option, missing argument, a value that does not convert) becomes
  *one* line on stderr, ``tcpflow-analyzer: error: <what> (see `tcpflow-analyzer CMD
  --help`)``, with exit code 2, instead of typer's framed box.
* **Option values** — the ``*_value`` parsers (:func:`port_value`, :func:`host_value`,
  :func:`count_value`, :func:`duration_value`, :func:`choice_value`, :func:`output_value`)
  validate a value as it is parsed and raise ``typer.BadParameter`` with a short reason;
  :class:`CliGroup` prefixes the option's name.  Declare a new option with
  ``typer.Option(..., parser=port_value)`` (or one of the ready ``*Opt`` aliases below) and
  it gets the same checks and the same one-line error.
* **Run-time failures** — :func:`run_guarded` runs a command's body: a
  :class:`~.errors.TcpflowError` is one line and exit 2; a closed pipe on stdout is a normal
  end (0); a full disk or a closed stdout is its own one-line error; ``MemoryError`` is "out
  of memory"; SIGINT exits 130 and SIGTERM 143, each with one line, after the ``finally``
  blocks (which remove a half-written output file) have run.  :func:`output_stream` writes
  a result file through a temporary file renamed into place on success, created with the
  permissions the umask allows (or those of the file it replaces).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import ipaddress
import math
import os
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

import typer
from typer.core import TyperGroup

from .anomalies import CATALOGUE
from .errors import ExitCode, TcpflowError
from .render import OutputFormat
from .report import FlowFilter
from .tracker import TrackerConfig

if TYPE_CHECKING:
    from rich.console import Console

PROG = "tcpflow-analyzer"

# typer < 0.20 re-exports click's exceptions, later versions vendor click: take the usage
# error classes from wherever typer's own BadParameter lives.
_click_exc: Any = importlib.import_module(typer.BadParameter.__module__)


# -- one-line messages --------------------------------------------------------------------
def _say(line: str) -> None:
    """Write one line to stderr; a closed or broken stderr must not turn into a traceback."""
    err = sys.stderr
    if err is None:
        return
    with contextlib.suppress(OSError, ValueError):
        err.write(line + "\n")
        err.flush()


def err_console() -> Console:
    """The stderr console for summaries, progress and warnings (honours NO_COLOR)."""
    from ._console import LazyStderrConsole

    return LazyStderrConsole()  # type: ignore[return-value]  # rich only when something prints


def fail(message: str, code: ExitCode = ExitCode.TOOL_ERROR) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    _say(f"{PROG}: error: {message}")
    return typer.Exit(int(code))


# -- usage errors: one line, exit 2 --------------------------------------------------------
def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    text = text.removeprefix("Value error, ")  # pydantic's prefix in newer typer versions
    return text.rstrip(".")


def _command_path(ctx: Any) -> str:
    names: list[str] = []
    while ctx is not None:
        if ctx.parent is not None and ctx.info_name:
            names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join([PROG, *reversed(names)])


def _param_hint(param: Any, ctx: Any) -> str:
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or \
        list(getattr(param, "opts", []))
    if getattr(param, "param_type_name", "") == "argument" or not opts:
        hint = (param.name or "argument").upper()
    else:
        hint = opts[0]
    envvar = getattr(param, "envvar", None)
    if envvar and ctx is not None:
        with contextlib.suppress(Exception):
            source = getattr(ctx.get_parameter_source(param.name), "name", None)
            if source is None:  # click >= 8.2 records the source only once the value is valid
                given = any(a == o or a.startswith(o + "=") for a in _ARGS for o in param.opts)
                source = "ENVIRONMENT" if os.environ.get(envvar) and not given else ""
            if source == "ENVIRONMENT":
                hint += f" (from ${envvar})"
    return hint


_ARGS: list[str] = []
"""The command line being parsed (set by :meth:`CliGroup.main`), for :func:`_param_hint`."""


def usage_message(exc: Any) -> str:
    """The one-line text of a click/typer usage error (no "error:" prefix)."""
    ctx = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    if (isinstance(exc, _click_exc.BadParameter)
            and not isinstance(exc, _click_exc.MissingParameter) and param is not None):
        text = f"{_param_hint(param, ctx)} {_one_line(exc.message)}"
    else:
        text = _one_line(exc.format_message())
    return f"{text} (see `{_command_path(ctx)} --help`)"


class CliGroup(TyperGroup):
    """The app's command group: every usage error of every command is one line on stderr
    with exit code 2, and a closed pipe while printing help is a normal end."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; parse errors become one line (see :func:`usage_message`)."""
        positional = list(args)
        standalone_mode = bool(positional.pop(3) if len(positional) > 3
                               else kwargs.pop("standalone_mode", True))
        if len(positional) < 2:
            kwargs["prog_name"] = kwargs.get("prog_name") or PROG
        given = positional[0] if positional else kwargs.get("args")
        _ARGS[:] = [str(a) for a in (sys.argv[1:] if given is None else given)]
        try:
            kwargs["standalone_mode"] = False
            with _oom_unraisables_folded():  # a Ctrl-C while parsing is not lost either
                rv = super().main(*positional, **kwargs)
            code = rv if isinstance(rv, int) else 0
        except _click_exc.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                _say(exc.format_message().rstrip("\n"))
            else:
                _say(f"{PROG}: error: {usage_message(exc)}")
            code = int(ExitCode.TOOL_ERROR)
        except _click_exc.ClickException as exc:
            _say(f"{PROG}: error: {_one_line(exc.format_message())}")
            code = int(ExitCode.TOOL_ERROR)
        except (KeyboardInterrupt, getattr(_click_exc, "Abort", KeyboardInterrupt),
                typer.Abort):
            remove_temporaries()
            _say(f"{PROG}: interrupted")
            code = int(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            silence_stdout()
            code = int(ExitCode.OK)
        except MemoryError:  # while parsing, before run_guarded
            _say(f"{PROG}: error: {_OUT_OF_MEMORY}")
            code = int(ExitCode.TOOL_ERROR)
        except SystemExit as exc:
            # rich (typer's help) exits 1 on a closed pipe after pointing stdout at
            # /dev/null: that is `--help | head`, a normal end
            code = exc.code if isinstance(exc.code, int) else int(ExitCode.TOOL_ERROR)
            if code == 1 and _stdout_is_devnull():
                code = int(ExitCode.OK)
        if not standalone_mode:
            return code
        sys.exit(code)


# -- option values: validated while parsing ----------------------------------------------
def _bad(message: str) -> NoReturn:
    raise typer.BadParameter(message)


def port_value(text: Any) -> int:
    """A TCP port number, 0-65535."""
    try:
        port = int(str(text).strip(), 10)
    except ValueError:
        _bad(f"{text!r} is not a port number (0-65535)")
    if not 0 <= port <= 65535:
        _bad(f"{port} is not a port number (0-65535)")
    return port


def host_value(text: Any) -> str:
    """An IPv4/IPv6 address or CIDR network (host bits may be set: 10.1.2.3/8 is fine)."""
    value = str(text).strip()
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        _bad(f"{value!r} is not an IP address or CIDR")
    return value


def count_value(minimum: int = 1, maximum: int | None = None,
                what: str = "a whole number") -> Callable[[Any], int]:
    """A parser for an integer in ``minimum..maximum``."""
    span = f"{minimum}-{maximum}" if maximum is not None else f"{minimum} or more"

    def parse(text: Any) -> int:
        try:
            value = int(str(text).strip(), 10)
        except ValueError:
            _bad(f"{text!r} is not {what} ({span})")
        if value < minimum or (maximum is not None and value > maximum):
            _bad(f"{value} is out of range ({span})")
        return value

    return parse


_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}


def duration_value(positive: bool = False) -> Callable[[Any], float]:
    """A parser for a duration in seconds (``60``, ``1.5``, ``250ms``, ``2m``): finite, at
    least 0 (more than 0 when ``positive``)."""

    def parse(text: Any) -> float:
        raw = str(text).strip()
        number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = raw[len(number):].lower()
        try:
            value = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            _bad(f"{raw!r} is not a duration (seconds, or a number with ms, s, m or h)")
        if positive and not (math.isfinite(value) and value > 0):
            _bad(f"must be more than 0 seconds, and finite (got {raw!r})")
        if not (math.isfinite(value) and value >= 0):
            _bad(f"must be at least 0 seconds, and finite (got {raw!r})")
        return value

    return parse


def choice_value(choices: Any) -> Callable[[Any], str]:
    """A parser for one of a closed set of words (exact spelling)."""
    allowed = sorted(choices)

    def parse(text: Any) -> str:
        value = str(text)
        if value not in allowed:
            _bad(f"{value!r} is not one of: {', '.join(allowed)}")
        return value

    return parse


def output_value(text: Any) -> str:
    """An output file: ``-`` (stdout), a device, or a file whose directory exists.  Checked
    before any capture is read, so a typo in the path does not cost a whole analysis."""
    path = str(text)
    target = Path(path)
    if target.is_dir():
        _bad(f"{path!r}: cannot write there (it is a directory)")
    if path == "-" or _is_device(path):
        return path
    parent = Path(os.path.realpath(target)).parent
    if not parent.is_dir():
        _bad(f"{path!r}: cannot write there (no such directory {str(parent)!r})")
    return path


# -- run-time failures ----------------------------------------------------------------------
class Terminated(BaseException):  # noqa: N818  (a signal, like KeyboardInterrupt)
    """SIGTERM arrived: unwind (``finally`` blocks remove temporary files) and exit 143."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """While the body runs, SIGTERM raises :class:`Terminated` instead of killing outright."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (embedded use): keep the default
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Dropped:
    """A signal whose exception Python dropped (see :func:`_oom_unraisables_folded`)."""

    pending: int | None = None  # its number, until its exception is raised
    in_hook = False  # the unraisable hook is running: no exception may be raised there
    alarm: Any = None  # SIGALRM's handler before ours, given back once the exception is out


def _raise_dropped(signum: int) -> NoReturn:
    """Stop the redelivery timer, give SIGALRM back, raise ``signum``'s exception."""
    _Dropped.pending = None
    with contextlib.suppress(AttributeError, OSError, ValueError, TypeError):
        signal.setitimer(signal.ITIMER_REAL, 0)
        if _Dropped.alarm is not None:
            signal.signal(signal.SIGALRM, _Dropped.alarm)
    _Dropped.alarm = None
    _raise_for(signum)


_REDELIVERY_S = 0.001


def _raise_for(signum: int) -> NoReturn:
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


def _on_redelivery(signum: int, frame: FrameType | None) -> None:
    """SIGALRM, armed by :func:`_redeliver`: raise the dropped signal's exception here, at
    an ordinary instruction of the command (a blocking read is interrupted as by the
    signal itself), or try again a moment later while the hook still runs."""
    dropped = _Dropped.pending
    if dropped is None:
        return
    if _Dropped.in_hook or (frame is not None and frame.f_code.co_name == "hook"):
        signal.setitimer(signal.ITIMER_REAL, _REDELIVERY_S)
        return
    _raise_dropped(dropped)


def _redeliver(signum: int) -> None:
    """Raise ``signum``'s exception again a millisecond from now, out of the weakref
    callback or ``__del__`` that dropped it; :func:`raise_dropped_signal` is the backstop
    where no interval timer exists."""
    _Dropped.pending = signum
    with contextlib.suppress(AttributeError, OSError, ValueError):
        previous = signal.signal(signal.SIGALRM, _on_redelivery)
        if _Dropped.alarm is None and previous is not _on_redelivery:
            _Dropped.alarm = previous
        signal.setitimer(signal.ITIMER_REAL, _REDELIVERY_S)


def raise_dropped_signal() -> None:
    """Raise the exception of a signal that arrived during the work and was dropped, if
    one is still pending: the work must not end as if it had not come."""
    dropped = _Dropped.pending
    if dropped is not None:
        _raise_dropped(dropped)


@contextlib.contextmanager
def _oom_unraisables_folded() -> Iterator[None]:
    """While a command runs, a ``MemoryError`` that Python can only report as "Exception
    ignored in ..." (a generator closed while the stack unwinds from the first one) is
    not printed: the command's own one-line "out of memory" says it.

    A signal's exception (``KeyboardInterrupt`` for SIGINT, :class:`Terminated` for SIGTERM)
    is not lost there either: Python runs a signal handler at whatever instruction comes
    next, and when that is inside a weakref callback (an import's module lock is released
    through one), a ``__del__`` or the garbage collector, the exception it raises cannot
    propagate and is dropped with an "Exception ignored" report, and the command would go on
    to the end and exit 0.  The exception is raised again instead (:func:`_redeliver`), so
    that it lands in the command itself.  Any other unraisable exception is reported as
    usual."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        _Dropped.in_hook = True
        try:
            exc = unraisable.exc_value
            if isinstance(exc, MemoryError):
                return
            if isinstance(exc, (KeyboardInterrupt, Terminated)):
                _redeliver(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
                return
            previous(unraisable)
        finally:
            _Dropped.in_hook = False

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


_OUT_OF_MEMORY = "out of memory (the system refused more; raise the limit or split the capture)"

#: errno values that can only come from writing (the output), never from reading a capture.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's final flush of what is still
    buffered cannot fail again (a second BrokenPipeError would exit 120)."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _stdout_is_devnull() -> bool:
    try:
        return os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except OSError:
        return False


def _write_failure(what: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {what}: {reason} (the disk is full)"
    return f"cannot write {what}: {reason}"


def require_stdout(hint: str = "") -> TextIO:
    """``sys.stdout``, or a one-line error when the process was started without one."""
    out = sys.stdout
    if out is None or getattr(out, "closed", False):
        raise TcpflowError(f"standard output is closed{hint}")
    return out


def run_guarded(debug: bool, body: Callable[[], int]) -> int:
    """Run a command body, turning every failure into one line and its exit code."""
    try:
        with terminate_on_sigterm(), _oom_unraisables_folded():
            code = body()
            raise_dropped_signal()
            return code
    except TcpflowError as exc:
        if debug:
            raise
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        remove_temporaries()
        _say(f"{PROG}: interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Terminated:
        remove_temporaries()
        _say(f"{PROG}: terminated")
        raise typer.Exit(int(ExitCode.TERMINATED)) from None
    except BrokenPipeError:
        # the reader went away (`| head`): a normal end, as for every Unix filter
        silence_stdout()
        return int(ExitCode.OK)
    except MemoryError as exc:
        if debug:
            raise
        exc.__traceback__ = None  # free the analysis' frames before printing
        del exc
        raise fail(_OUT_OF_MEMORY) from None
    except OSError as exc:
        if debug:
            raise
        if exc.errno in _WRITE_ERRNOS or exc.errno == errno.EBADF:
            # written outside output_stream (show, anomalies): it can only be stdout
            silence_stdout()
            raise fail(_write_failure("standard output", exc)) from None
        raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)") from None
    except typer.Exit:
        raise
    except Exception as exc:
        if debug:
            raise
        raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)") from None


# -- result files -------------------------------------------------------------------------
def _is_device(path: str) -> bool:
    """Write straight into it, never through a temporary file: /dev/null, /dev/stdout, a
    FIFO, a terminal (anything that exists and is not a regular file)."""
    if path.startswith(("/dev/", "/proc/")):
        return True
    p = Path(path)
    return p.exists() and not p.is_file()


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(target: Path) -> int:
    """The mode a result file gets: that of the regular file it replaces, else 0666 less
    the umask (what ``>`` in a shell gives)."""
    with contextlib.suppress(OSError):
        st = os.stat(target)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[TextIO]:
    """stdout, or a temporary file renamed onto ``path`` only when everything succeeded."""
    if path is None or path == "-":
        out = require_stdout(" (nowhere to write the results; give -o FILE)")
        try:
            yield out
            out.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            if exc.errno not in _WRITE_ERRNOS and exc.errno != errno.EBADF:
                raise
            silence_stdout()
            raise TcpflowError(_write_failure("standard output", exc)) from None
        return
    if _is_device(path):
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                yield fh
        except OSError as exc:
            raise TcpflowError(_write_failure(path, exc)) from None
        return
    # Through a symlink, replace the file it points to, not the link.
    target = Path(os.path.realpath(path))
    mode = new_file_mode(target)
    # A signal handled between the file's creation and its registration would leave it
    # behind: hold SIGINT/SIGTERM until it is registered (remove_temporaries then removes
    # it wherever the signal lands, even inside the ``finally`` below)
    held = _hold_signals()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tcpflow-", dir=target.parent)
        _TEMPORARIES.add(tmp)
    except OSError as exc:
        _release_signals(held)
        raise TcpflowError(_write_failure(path, exc)) from None
    ok = False
    try:
        _release_signals(held)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        raise_dropped_signal()  # an interrupted report is not renamed into place
        ok = True
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise TcpflowError(_write_failure(path, exc)) from None
    finally:
        if ok:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise TcpflowError(_write_failure(path, exc)) from None
            finally:
                _TEMPORARIES.discard(tmp)
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _TEMPORARIES.discard(tmp)


#: temporary output files not yet renamed into place or removed (see :func:`output_stream`)
_TEMPORARIES: set[str] = set()
_HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def remove_temporaries() -> None:
    """Remove every temporary output file still there: a signal's exception can surface
    anywhere, also where :func:`output_stream`'s own clean-up has not been reached."""
    for tmp in list(_TEMPORARIES):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _TEMPORARIES.discard(tmp)


def _hold_signals() -> set[int | signal.Signals] | None:
    """Block SIGINT and SIGTERM (they stay pending); the previous mask, to restore."""
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        return None


def _release_signals(held: set[int | signal.Signals] | None) -> None:
    """Restore the mask :func:`_hold_signals` saved: a signal that came meanwhile is
    handled now."""
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def stdout_console(**kwargs: Any) -> Console:
    """A rich console on stdout whose closed pipe raises ``BrokenPipeError`` (rich's own
    default exits 1), so that ``| head`` ends the command with exit code 0."""
    return _pipe_console_class()(**kwargs)


_PIPE_CONSOLE: list[type[Console]] = []


def _pipe_console_class() -> type[Console]:
    if not _PIPE_CONSOLE:
        from rich.console import Console  # rich only once something prints to stdout

        class _PipeConsole(Console):
            def on_broken_pipe(self) -> None:
                self.quiet = True
                raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        _PIPE_CONSOLE.append(_PipeConsole)
    return _PIPE_CONSOLE[0]


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


_OUTCOMES = ("closed", "reset", "refused", "no_synack", "handshake_incomplete", "open")
_CLOSES = ("four_way", "three_way", "simultaneous", "half_close", "one_fin_only", "none")

FormatOpt = Annotated[OutputFormat, typer.Option(
    "--format", "-f", envvar="TCPFLOW_FORMAT", case_sensitive=False,
    help="terminal (rich view), json, ndjson (one connection per line as it ends), csv, zeek "
         "(conn.log).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="FILE", parser=output_value,
    help="Write results to FILE (written only when the analysis succeeds).")]
HostOpt = Annotated[list[str] | None, typer.Option(
    "--host", metavar="ADDR|CIDR", parser=host_value,
    help="Only connections with an endpoint in this address or CIDR (repeatable).")]
PortOpt = Annotated[list[int] | None, typer.Option(
    "--port", metavar="PORT", parser=port_value,
    help="Only connections with this port on either side (repeatable).")]
OutcomeOpt = Annotated[list[str] | None, typer.Option(
    "--outcome", metavar="OUTCOME", parser=choice_value(_OUTCOMES),
    help="Only these outcomes: closed, reset, refused, no_synack, handshake_incomplete, open "
         "(repeatable).")]
CloseOpt = Annotated[list[str] | None, typer.Option(
    "--close", metavar="PATTERN", parser=choice_value(_CLOSES),
    help="Only these close patterns: four_way, three_way, simultaneous, half_close, "
         "one_fin_only, none (repeatable).")]
AnomalyOpt = Annotated[list[str] | None, typer.Option(
    "--anomaly", metavar="CODE", parser=choice_value(CATALOGUE),
    help="Only connections with this anomaly (repeatable; see `anomalies`).")]
ChecksumOpt = Annotated[str, typer.Option(
    "--checksums", metavar="auto|strict|off", parser=choice_value(("auto", "strict", "off")),
    help="auto: drop bad-checksum segments unless a host's are all bad (offload); strict: "
         "always drop; off: do not verify.")]
TimeWaitOpt = Annotated[float, typer.Option(
    "--time-wait", metavar="SECONDS", parser=duration_value(),
    help="2MSL in seconds for TIME-WAIT and reuse judgements.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def build_filter(host: list[str] | None, port: list[int] | None, outcome: list[str] | None,
                 close: list[str] | None, anomaly: list[str] | None) -> FlowFilter:
    """Validate the selection options and build the filter (bad values are errors; the
    option parsers above catch them first on the command line)."""
    for name, values, allowed in (("--outcome", outcome, _OUTCOMES), ("--close", close, _CLOSES),
                                  ("--anomaly", anomaly, tuple(CATALOGUE))):
        for v in values or []:
            if v not in allowed:
                raise TcpflowError(f"{name} {v!r} is not one of: {', '.join(sorted(allowed))}")
    for p in port or []:
        if not 0 <= p <= 65535:
            raise TcpflowError(f"--port {p} is not a port number (0-65535)")
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


class VlanMode(StrEnum):
    """Whether VLAN ids tell connections apart (see the README's "What it reports")."""

    AUTO = "auto"
    KEY = "key"
    IGNORE = "ignore"


VlanOpt = Annotated[VlanMode, typer.Option(
    "--vlan", case_sensitive=False,
    help="auto: VLAN ids tell connections apart, but a 4-tuple tagged on one direction only "
         "is one connection (warned); key: always apart; ignore: VLAN ids never count.")]


def make_config(checksums: str, time_wait: float,
                semantics: str = Semantics.DEFAULT, vlan: str = VlanMode.AUTO) -> TrackerConfig:
    """Tracker configuration from CLI options."""
    if checksums not in ("auto", "strict", "off"):
        raise TcpflowError(f"--checksums {checksums!r} is not one of: auto, strict, off")
    if not (math.isfinite(time_wait) and time_wait >= 0):
        raise TcpflowError(f"--time-wait {time_wait!r} is out of range (a finite duration of "
                           "at least 0 s)")
    return TrackerConfig(checksums=checksums, time_wait_s=time_wait, semantics=str(semantics),
                         vlan=str(vlan))


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
        from .render.terminal import render_terminal

        term = stdout_console(file=out, no_color=bool(os.environ.get("NO_COLOR")),
                              highlight=False)
        if not term.is_terminal:
            term = stdout_console(file=out, no_color=True, highlight=False, width=160)
        render_terminal(report, term)


def print_warnings(console: Console, warnings: list[str]) -> None:
    """Each warning as one line on the stderr console."""
    for w in warnings:
        console.print(f"{PROG}: warning: {w}", markup=False, soft_wrap=True)
