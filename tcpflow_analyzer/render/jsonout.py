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
    """Write the whole report as one JSON document (``json.dump(doc, out, indent=2)``'s
    bytes, about twice as fast: see :func:`write_indented`)."""
    doc = {"schema_version": SCHEMA_VERSION, **report}
    write_indented(doc, out)
    out.write("\n")


def write_indented(obj: Any, out: TextIO) -> None:
    """Write exactly what ``json.dump(obj, out, indent=2)`` writes.

    The standard library has no C encoder for indented output; its Python one yields and
    writes every token separately.  This one appends to a list and writes it in pieces
    (bounded memory for a long ``connections`` list), with the same rules: strings through
    json's own C escaper (``ensure_ascii``), floats by ``repr`` (``NaN``, ``Infinity``),
    bools and None as literals, keys as json converts them.  Anything json could not
    encode raises TypeError as json would.
    """
    parts: list[str] = []
    _indented(obj, "\n", parts, out)
    out.write("".join(parts))


_FLUSH_PARTS = 1 << 14


def _indented(o: Any, nl: str, parts: list[str], out: TextIO) -> None:
    """Append the encoding of ``o``; ``nl`` is a newline plus the current indentation."""
    t = type(o)
    if t is str:
        parts.append(_escape(o))
    elif t is int:
        parts.append(int.__repr__(o))
    elif t is float:
        parts.append(_float(o))
    elif t is dict or (t is not list and t is not tuple and isinstance(o, dict)):
        if not o:
            parts.append("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        for k, v in o.items():
            parts.append(sep)
            parts.append(_escape(k if type(k) is str else _key(k)))
            parts.append(": ")
            _indented(v, inner, parts, out)
            sep = "," + inner
        parts.append(nl + "}")
    elif t is list or t is tuple or isinstance(o, (list, tuple)):
        if not o:
            parts.append("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        for v in o:
            parts.append(sep)
            _indented(v, inner, parts, out)
            sep = "," + inner
            if len(parts) > _FLUSH_PARTS:
                out.write("".join(parts))
                parts.clear()
        parts.append(nl + "]")
    elif o is None:
        parts.append("null")
    elif o is True:
        parts.append("true")
    elif o is False:
        parts.append("false")
    elif isinstance(o, str):
        parts.append(_escape(o))
    elif isinstance(o, int):
        parts.append(int.__repr__(o))
    elif isinstance(o, float):
        parts.append(_float(o))
    else:
        raise TypeError(f"Object of type {t.__name__} is not JSON serializable")


def _float(x: float) -> str:
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    return float.__repr__(x)


def _key(k: Any) -> str:
    """A dict key as json turns it into a string."""
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _float(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


_INF = float("inf")
_escape = json.encoder.encode_basestring_ascii


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
