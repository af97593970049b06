"""Renderers: turn plain-data reports into text.  Machine formats never go through rich."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """Output formats of ``analyze`` (and ``sniff``)."""

    TERMINAL = "terminal"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    ZEEK = "zeek"
