"""JUnit XML for ``check`` results: one ``<testsuite>`` per capture, one ``<testcase>`` per rule.

The document is valid against both published JUnit schemas the tests carry (Windy Road's
``JUnit.xsd`` for Apache Ant, the strictest, and the Jenkins xUnit plugin's ``junit-10.xsd``):

* ``<testsuites>`` carries no attributes (Ant's schema allows none); each ``<testsuite>`` has
  ``name`` (the capture), ``package``, ``id``, ``timestamp`` (the capture's first connection,
  UTC, no zone), ``hostname``, ``tests``, ``failures``, ``errors`` and ``time``, then
  ``<properties>``, the test cases, ``<system-out>`` and ``<system-err>`` in that order.
* A ``<failure>`` appears exactly for the rules that make ``check`` exit 1 (failed ``error``
  rules).  A failed ``warning`` rule is a passing test case; the warning and its connections
  are in the suite's ``<system-out>``, which holds the whole readable report of the capture.
* Times are 0: rules take no measurable time, and the output stays reproducible.

Written with ``xml.etree`` as plain text, never through rich.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import PurePath
from typing import TextIO

from ..checks import CaptureResult, CheckReport, RuleResult
from .checkout import capture_text, listed
from .timefmt import utc_text

PACKAGE = "tcpflow-analyzer.check"

# Characters XML 1.0 cannot carry at all (ElementTree would write them unescaped).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _token(text: str) -> str:
    """An ``xs:token`` value: no tabs/newlines, no leading/trailing or double spaces."""
    return " ".join(_clean(text).split()) or "-"


def junit_timestamp(ts: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC, without a zone (the Ant schema's pattern); any year
    (xs:dateTime allows 10000 and negative years), 1970 for a timestamp that is not finite."""
    text = utc_text(ts, sep="T", micro=False)
    return text if text != "?" else "1970-01-01T00:00:00"


def classname(capture: str) -> str:
    """``tcpflow-analyzer.<file name with dots as underscores>``: CI UIs split classnames at
    the last dot, so the capture's own dots must not look like packages."""
    return f"tcpflow-analyzer.{PurePath(capture).name.replace('.', '_') or 'capture'}"


def _failure_text(result: RuleResult, limit: int) -> str:
    rule = result.rule
    lines, more = listed(result, limit)
    head = [result.message,
            f"rule {rule.name} ({rule.source}), severity {rule.severity.value}, "
            f"condition {rule.condition.text}, selection: {rule.selector.describe()}"]
    if rule.description:
        head.append(rule.description)
    tail = [f"... and {more} more"] if more else []
    return "\n".join(head + lines + tail)


def _testcase(parent: ET.Element, capture: CaptureResult, result: RuleResult,
              limit: int) -> None:
    case = ET.SubElement(parent, "testcase", {
        "name": _token(result.rule.name), "classname": _token(classname(capture.capture)),
        "time": "0",
    })
    if result.blocking:
        failure = ET.SubElement(case, "failure", {
            "message": _clean(result.message), "type": _clean(result.rule.condition.text),
        })
        failure.text = _clean(_failure_text(result, limit))


def _testsuite(parent: ET.Element, index: int, capture: CaptureResult, hostname: str,
               fallback_ts: float | None, warnings: tuple[str, ...], limit: int) -> None:
    ts = capture.start_ts if capture.start_ts is not None else fallback_ts
    suite = ET.SubElement(parent, "testsuite", {
        "name": _token(capture.capture), "package": PACKAGE, "id": str(index),
        "timestamp": junit_timestamp(ts or 0.0), "hostname": _token(hostname),
        "tests": str(len(capture.results)), "failures": str(capture.failures),
        "errors": "0", "time": "0",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("capture", capture.capture), ("connections", str(capture.connections)),
                        ("warnings", str(capture.warnings))):
        ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    for result in capture.results:
        _testcase(suite, capture, result, limit)
    ET.SubElement(suite, "system-out").text = _clean(capture_text(capture, limit))
    ET.SubElement(suite, "system-err").text = _clean("".join(f"warning: {w}\n"
                                                             for w in warnings))


def render_junit(report: CheckReport, out: TextIO, *, hostname: str = "localhost",
                 fallback_ts: float | None = None, limit: int = 20) -> None:
    """Write the JUnit XML document.  ``hostname`` and ``fallback_ts`` (the timestamp of a
    capture without connections, normally the time of the run) come from the caller, so
    this stays a pure function of its inputs."""
    root = ET.Element("testsuites")
    for index, capture in enumerate(report.captures):
        _testsuite(root, index, capture, hostname, fallback_ts, report.warnings, limit)
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
