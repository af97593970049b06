"""JSON document and NDJSON stream renderers (plain ``json``, never rich)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..report import SCHEMA_VERSION, FlowReport


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
        self.out.write(json.dumps({"record": "connection", **flow}, separators=(",", ":")))
        self.out.write("\n")

    def event(self, event: dict[str, Any]) -> None:
        """Write one live event (``sniff``)."""
        self.out.write(json.dumps({"record": "event", **event}, separators=(",", ":")))
        self.out.write("\n")

    def finish(self, capture: dict[str, Any], summary: dict[str, Any]) -> None:
        """Write the closing summary line."""
        line = {"record": "summary", "schema_version": SCHEMA_VERSION, "capture": capture,
                "summary": summary}
        self.out.write(json.dumps(line, separators=(",", ":")))
        self.out.write("\n")
        self.out.flush()
