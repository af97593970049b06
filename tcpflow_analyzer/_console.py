"""The stderr console, created on first use: importing rich costs tens of milliseconds.

``analyze -f json`` into a pipe prints nothing on stderr in the common case (no terminal, so
no progress bar; no warnings), so it should never import rich.  :class:`LazyStderrConsole`
answers ``is_terminal`` for a non-terminal stderr without rich, exactly as rich would
(``rich.console.Console.is_terminal``: an explicit ``TTY_COMPATIBLE`` / ``FORCE_COLOR`` wins,
otherwise ``isatty()``), and builds the real ``rich.console.Console`` for everything else.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class LazyStderrConsole:
    """Stands for ``Console(stderr=True, no_color=NO_COLOR, highlight=False)`` until used."""

    def __init__(self) -> None:
        self._console: Any = None

    def real(self) -> Any:
        """The rich Console itself (imports rich the first time)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")),
                                    highlight=False)
        return self._console

    @property
    def is_terminal(self) -> bool:
        """Whether stderr is a terminal, as rich decides it."""
        if self._console is None and "TTY_COMPATIBLE" not in os.environ \
                and "FORCE_COLOR" not in os.environ:
            isatty = getattr(sys.stderr, "isatty", None)
            try:
                if isatty is None or not isatty():
                    return False
            except ValueError:  # a closed stream
                return False
        return bool(self.real().is_terminal)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)
