"""The progress bar: only on a terminal, only after half a second, never on stdout."""

from __future__ import annotations

import io

from rich.console import Console

from tcpflow_analyzer import clikit as cli


def test_progress_appears_on_a_terminal_after_half_a_second(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80)
    clock = iter([100.0, 100.1, 100.7, 100.8, 101.0, 101.2, 101.4])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    p = cli._Progress(console, enabled=True)
    p.update(10, 1000)          # 0.1 s: too early, nothing drawn
    assert p.bar is None
    p.update(500, 1000)         # 0.7 s: the bar starts
    assert p.bar is not None
    p.stop()
    assert buf.getvalue()  # something was drawn on the (stderr) console


def test_no_progress_when_not_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False)
    p = cli._Progress(console, enabled=True)
    p.start -= 10  # long past the half second
    p.update(500, 1000)
    p.stop()
    assert p.bar is None and buf.getvalue() == ""
