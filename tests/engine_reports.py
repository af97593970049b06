"""Print every capture's JSON report, under both --semantics, as one JSON document.

Run as a subprocess by ``test_engine_differential.py``, once with the compiled engine and
once with ``TCPFLOW_ANALYZER_PURE=1``: the two outputs must be byte-identical.  The first
line names the engine that ran, so a comparison of two interpreted runs cannot pass by
accident.
"""

from __future__ import annotations

import io
import json
import sys

from tcpflow_analyzer._engine import engine
from tcpflow_analyzer.clikit import make_config
from tcpflow_analyzer.errors import TcpflowError
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.render.jsonout import render_json


def main(paths: list[str]) -> None:
    """One line with the engine's name, then ``{path: {semantics: report text}}``."""
    out: dict[str, dict[str, str]] = {}
    for path in paths:
        out[path] = {}
        for semantics in ("default", "wireshark"):
            buf = io.StringIO()
            try:
                render_json(analyze_to_report([path], make_config("auto", 60.0, semantics)), buf)
            except TcpflowError as exc:
                buf.write(f"error: {exc}")
            out[path][semantics] = buf.getvalue()
    sys.stdout.write(engine() + "\n")
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
