"""JSON document and NDJSON stream writers, encoded by orjson (never rich).

Both stream: NDJSON writes each connection as it ends; the JSON document keeps each
connection only as its encoded text, in a :class:`~.base.SortedSpool` (bounded memory, the
rest sorted on disk), and writes the document at the end with the connections in id order
after the ``capture`` and ``summary`` sections, as it always has.

orjson writes UTF-8 (``json``'s ``ensure_ascii`` escaped every non-ASCII character) and
spells some floats differently (``1e-7`` for ``1e-07``); the values are the same.  An
object orjson refuses (a file name that is not valid UTF-8, an integer beyond 64 bits) is
encoded by the standard library instead, so that nothing a capture holds can stop a report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

import orjson

from ..report import SCHEMA_VERSION, FlowReport, reserve
from .base import BinaryOut, SortedSpool

_INDENT = orjson.OPT_INDENT_2
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_CONNECTION_HEAD = b'{"record":"connection",'
# a connection sits two levels deep in the document: 4 more spaces on each of its lines
_NL = b"\n"
_ROOM = 1 << 16  # bytes; a connection's JSON is a few KB
_NL_IN_CONNECTIONS = b"\n    "


def dumps(obj: Any, indent: bool = False, newline: bool = False) -> bytes:
    """``obj`` as UTF-8 JSON: orjson's, or the standard library's where orjson refuses;
    ``newline`` ends it with ``\n`` (written by orjson in place, not by a copy)."""
    # orjson does not survive an allocation failure (a segmentation fault where Python
    # would raise MemoryError): make room it will reuse first, so running out of memory is
    # a MemoryError here, and the CLI's one-line error (tests/test_cli_exits.py).  Compiled,
    # a malloc/free that touches no byte (a zero-filled bytearray cost 6 % of a run)
    reserve(_ROOM)
    try:
        if indent:
            return orjson.dumps(obj, option=_INDENT)
        return orjson.dumps(obj, option=_NEWLINE) if newline else orjson.dumps(obj)
    except TypeError:
        if indent:
            return json.dumps(obj, indent=2).encode("ascii")
        text = json.dumps(obj, separators=(",", ":")).encode("ascii")
        return text + _NL if newline else text


class JsonWriter:
    """``--format json``: one document, ``{"schema_version", "capture", "summary",
    "connections": [... in id order], <sections>}``, indented by two spaces."""

    def __init__(self, out: TextIO, spool_dir: str | None = None) -> None:
        self.out = out
        self.spool = SortedSpool(spool_dir)

    def flow(self, flow: FlowReport) -> None:
        """Encode one finished connection and keep its text until :meth:`finish`."""
        text = dumps(flow, indent=True).replace(_NL, _NL_IN_CONNECTIONS)
        self.spool.add((0.0, flow["id"]), text)

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Write the whole document."""
        out = BinaryOut(self.out)
        head = dumps({"schema_version": SCHEMA_VERSION, "capture": capture,
                      "summary": summary}, indent=True)
        out.write(head[:-2] + b',\n  "connections": [')
        n = out.write_all(self.spool.drain(), sep=b",\n    ", first=b"\n    ")
        out.write(b"\n  ]" if n else b"]")
        if sections:
            out.write(b"," + dumps(dict(sections), indent=True)[1:-2])
        out.write(b"\n}\n")
        out.flush()


def render_json(report: dict[str, Any], out: TextIO) -> None:
    """Write a whole report (``capture``, ``summary``, ``connections``, then any further
    sections) as one JSON document."""
    writer = JsonWriter(out)
    for f in report["connections"]:
        writer.flow(f)
    rest = {k: v for k, v in report.items() if k not in ("capture", "summary", "connections")}
    writer.finish(report["capture"], report["summary"], rest)


class NdjsonWriter:
    """Streams one JSON object per line: each connection as it ends, then a summary line.

    Every line has a ``record`` field: ``connection``, ``event`` (``sniff``) or ``summary``.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._bin = BinaryOut(out)
        self._write = self._bin.write

    def flow(self, flow: FlowReport) -> None:
        """Write one finished connection."""
        if not flow or "record" in flow:
            self._write(dumps({"record": "connection", **flow}, newline=True))
            return
        # the ``record`` field goes first: put it in front of the encoded report rather
        # than copying the report into a new dict (one copy of the text, not two)
        self._write(_CONNECTION_HEAD + dumps(flow, newline=True)[1:])

    def direct_lines(self) -> Any:
        """A :class:`~tcpflow_analyzer.ndjson.Lines` writing connection lines straight from
        their records to this stream (flush it before :meth:`finish`), or None when
        ``TCPFLOW_ANALYZER_NDJSON_VIA_DICT`` asks for the report dicts (tests compare)."""
        from ..ndjson import Lines, via_dict

        return None if via_dict() else Lines(self._write)

    def event(self, event: dict[str, Any]) -> None:
        """Write one live event (``sniff``)."""
        self._write(dumps({"record": "event", **event}, newline=True))

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Write the closing summary line (extra ``sections`` become fields of it)."""
        line = {"record": "summary", "schema_version": SCHEMA_VERSION, "capture": capture,
                "summary": summary, **(sections or {})}
        self._write(dumps(line, newline=True))
        self._bin.flush()
