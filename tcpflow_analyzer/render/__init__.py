"""Renderers: turn plain-data reports into text.  Machine formats never go through rich.

:func:`to_writer` gives the streaming writer (:class:`~.base.FlowWriter`) of a format; each
renderer module is imported only when its format is asked for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .base import FlowWriter


class OutputFormat(StrEnum):
    """Output formats of ``analyze`` (and ``sniff``)."""

    TERMINAL = "terminal"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    ZEEK = "zeek"


def to_writer(fmt: OutputFormat, out: TextIO, spool_dir: str | None = None) -> FlowWriter:
    """The streaming writer of ``fmt`` on ``out``.  Sorted formats (json, csv, zeek) spool
    encoded connections beyond a bounded amount of memory to ``spool_dir`` (default
    ``$TMPDIR``)."""
    if fmt is OutputFormat.NDJSON:
        from .jsonout import NdjsonWriter

        return NdjsonWriter(out)
    if fmt is OutputFormat.JSON:
        from .jsonout import JsonWriter

        return JsonWriter(out, spool_dir)
    if fmt is OutputFormat.CSV:
        from .csvout import CsvWriter

        return CsvWriter(out, spool_dir)
    if fmt is OutputFormat.ZEEK:
        from .zeeklog import ZeekWriter

        return ZeekWriter(out, spool_dir)
    from .terminal import TerminalWriter, terminal_console

    return TerminalWriter(terminal_console(out))
