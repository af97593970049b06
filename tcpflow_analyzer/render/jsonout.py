"""JSON document and NDJSON stream renderers (plain ``json``, never rich)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..report import SCHEMA_VERSION, FlowReport

# One encoder for every line, with ``json.dumps(..., separators=(",", ":"))``'s output:
# ``dumps`` would build a new one per call.  Reports are trees of fresh dicts and lists
# (never cyclic), so the cycle check is skipped.
_encode_line = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_CONNECTION_HEAD = '{"record":"connection",'


def render_json(report: dict[str, Any], out: TextIO) -> None:
    """Write the whole report as one JSON document."""
    doc = {"schema_version": SCHEMA_VERSION, **report}
    json.dump(doc, out, indent=2)
    out.write("\n")


class NdjsonWriter:
    """Streams one JSON object per line: each connection as it ends, then a summary line.

    Every line has a ``record`` field: ``connection`` or ``summary``.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def flow(self, flow: FlowReport) -> None:
        """Write one finished connection."""
        if not flow or "record" in flow:
            self.out.write(_encode_line({"record": "connection", **flow}))
            self.out.write("\n")
            return
        # the ``record`` field goes first: put it in front of the encoded report rather
        # than copying the report into a new dict
        self.out.write(f"{_CONNECTION_HEAD}{_encode_line(flow)[1:]}\n")

    def event(self, event: dict[str, Any]) -> None:
        """Write one live event (``sniff``)."""
        self.out.write(_encode_line({"record": "event", **event}))
        self.out.write("\n")

    def finish(self, capture: dict[str, Any], summary: dict[str, Any]) -> None:
        """Write the closing summary line."""
        line = {"record": "summary", "schema_version": SCHEMA_VERSION, "capture": capture,
                "summary": summary}
        self.out.write(_encode_line(line))
        self.out.write("\n")
        self.out.flush()
