"""Renderers for ``check`` results: readable text, JSON and GitHub Actions annotations.

All three write plain text (never rich): rule names, IPv6 brackets and ``[...]`` must reach CI
logs verbatim.  JUnit XML lives in :mod:`tcpflow_analyzer.render.junit`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TextIO

from ..checks import CaptureResult, CheckReport, RuleResult, Severity

#: Version of the ``check --format json`` document.
CHECK_SCHEMA_VERSION = 1

_RESET = "\x1b[0m"
_COLORS = {"PASS": "\x1b[32m", "FAIL": "\x1b[1;31m", "WARN": "\x1b[33m"}


class CheckFormat(StrEnum):
    """Output formats of ``check``."""

    TEXT = "text"
    JSON = "json"
    GITHUB = "github"
    JUNIT = "junit"


def status_label(result: RuleResult) -> str:
    """``PASS``, ``FAIL`` (a failed error rule) or ``WARN`` (a failed warning rule)."""
    if not result.failed:
        return "PASS"
    return "FAIL" if result.rule.severity is Severity.ERROR else "WARN"


def listed(result: RuleResult, limit: int) -> tuple[list[str], int]:
    """The offender lines to show (at most ``limit``; 0 = all) and how many are left out."""
    lines = [o.line for o in result.offenders]
    if limit <= 0 or len(lines) <= limit:
        return lines, 0
    return lines[:limit], len(lines) - limit


def summary_line(report: CheckReport) -> str:
    """``check: 6 rule evaluations on 2 captures: 4 passed, 1 failed, 1 warning``."""
    c = report.counts()
    n = len(report.captures)
    return (f"check: {c['evaluated']} rule evaluation{'s' * (c['evaluated'] != 1)} on {n} "
            f"capture{'s' * (n != 1)}: {c['passed']} passed, {c['failed']} failed, "
            f"{c['warnings']} warning{'s' * (c['warnings'] != 1)}")


def capture_text(capture: CaptureResult, limit: int = 20, color: bool = False) -> str:
    """The readable block for one capture: a header, then each rule's status and message,
    with offending connections indented below a failed rule."""
    out = [f"capture {capture.capture}: {capture.connections} "
           f"connection{'s' * (capture.connections != 1)}"]
    width = max((len(r.rule.name) for r in capture.results), default=0)
    for r in capture.results:
        label = status_label(r)
        shown = f"{_COLORS[label]}{label}{_RESET}" if color else label
        scope = "" if r.rule.selector.is_empty else f" [{r.rule.selector.describe()}]"
        out.append(f"  {shown}  {r.rule.name:<{width}}  {r.message}{scope}")
        lines, more = listed(r, limit)
        out += [f"        {line}" for line in lines]
        if more:
            out.append(f"        ... and {more} more")
    return "\n".join(out) + "\n"


def render_check_text(report: CheckReport, out: TextIO, limit: int = 20,
                      color: bool = False) -> None:
    """Write the readable summary: one block per capture, then the totals line."""
    for capture in report.captures:
        out.write(capture_text(capture, limit, color))
        out.write("\n")
    out.write(summary_line(report) + "\n")


def render_check_json(report: CheckReport, out: TextIO) -> None:
    """Write the results as one JSON document (every offender, no limit)."""
    doc = {"schema_version": CHECK_SCHEMA_VERSION, **report.to_dict()}
    json.dump(doc, out, indent=2)
    out.write("\n")


def _escape_data(text: str) -> str:
    """Escape an annotation message (GitHub's ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape an annotation property value (GitHub's ``escapeProperty``)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(capture: CaptureResult, result: RuleResult, limit: int = 20) -> str:
    """One ``::error``/``::warning`` workflow command for a failed rule on one capture.

    A rule from a policy file points at its line (``file=``/``line=``), so GitHub shows the
    annotation on the policy; the message lists the offending connections, one per line.
    """
    level = "error" if result.rule.severity is Severity.ERROR else "warning"
    props = []
    if result.rule.file is not None:
        props.append(f"file={_escape_property(result.rule.file)}")
        if result.rule.line:
            props.append(f"line={result.rule.line}")
    props.append(f"title={_escape_property(f'{result.rule.name} ({capture.capture})')}")
    lines, more = listed(result, limit)
    body = [result.message, *lines] + ([f"... and {more} more"] if more else [])
    return f"::{level} {','.join(props)}::{_escape_data(chr(10).join(body))}"


def render_check_github(report: CheckReport, out: TextIO, limit: int = 20) -> None:
    """Write one workflow annotation per failed rule and capture, then the totals line
    (a plain log line).  Passing rules print nothing."""
    for capture in report.captures:
        for result in capture.results:
            if result.failed:
                out.write(github_annotation(capture, result, limit) + "\n")
    out.write(summary_line(report) + "\n")
