"""Renderers: turn plain-data reports into text.  Machine formats never go through rich."""

from __future__ import annotations

from enum import Enum


class OutputFormat(str, Enum):
    """Output formats of ``analyze`` (and ``sniff``)."""

    TERMINAL = "terminal"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    ZEEK = "zeek"
