"""JUnit XML output, validated against two published JUnit schemas (see tests/data/junit/)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.checks import CheckReport, ConditionKind, evaluate
from tcpflow_analyzer.cli import app
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.policy import parse_inline_rule, parse_policy
from tcpflow_analyzer.render.junit import render_junit
from tcpflow_analyzer.tracker import TrackerConfig

xmlschema = pytest.importorskip("xmlschema")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SCHEMAS = ROOT / "tests" / "data" / "junit"
SCHEMA_FILES = ["JUnit.xsd", "jenkins-junit-10.xsd"]

POLICY = """
[rules.no-resets]
description = "the service never aborts a connection"
max = { rst_abort = 0 }

[rules.slow-handshakes]
severity = "warning"
max = { handshake_rtt_p95 = "1ms" }

[rules.complete-handshakes]
require = { handshake = "complete" }
"""


@pytest.fixture(scope="module", params=SCHEMA_FILES)
def schema(request: pytest.FixtureRequest) -> object:
    return xmlschema.XMLSchema(str(SCHEMAS / request.param))


def report_for(*samples: str, policy: str = POLICY) -> CheckReport:
    rules = parse_policy(policy, "policy.toml")
    captures = []
    for s in samples:
        flows = analyze_to_report([str(SAMPLES / s)], TrackerConfig())["connections"]
        captures.append((f"samples/{s}", flows))
    return evaluate(rules, captures, warnings=["a capture warning <with> & markup [x]"])


def junit(report: CheckReport) -> str:
    out = io.StringIO()
    render_junit(report, out, hostname="ci-runner", fallback_ts=1_700_000_000.0)
    return out.getvalue()


def test_output_is_valid_against_the_published_schema(schema: object) -> None:
    text = junit(report_for("rst-by-resp.pcap", "handshake-basic.pcap", "syn-timeout.pcap"))
    schema.validate(text)  # type: ignore[attr-defined]


def test_output_for_a_capture_without_connections_is_valid(schema: object) -> None:
    report = evaluate([parse_inline_rule(ConditionKind.MIN, "connections=1")], [("empty", [])])
    text = junit(report)
    schema.validate(text)  # type: ignore[attr-defined]
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None and suite.get("timestamp") == "2023-11-14T22:13:20"


def test_schemas_reject_a_document_that_breaks_them(schema: object) -> None:
    # guards against a schema that accepts anything: a testcase without its name
    bad = junit(report_for("handshake-basic.pcap")).replace('testcase name="no-resets" ',
                                                             "testcase ")
    assert not schema.is_valid(bad)  # type: ignore[attr-defined]


def test_one_suite_per_capture_and_one_case_per_rule() -> None:
    root = ET.fromstring(junit(report_for("rst-by-resp.pcap", "handshake-basic.pcap")))
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("id"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("samples/rst-by-resp.pcap", "0", "3", "1"),
        ("samples/handshake-basic.pcap", "1", "3", "0"),
    ]
    cases = suites[0].findall("testcase")
    assert [(c.get("name"), c.get("classname")) for c in cases] == [
        ("no-resets", "tcpflow-analyzer.rst-by-resp_pcap"),
        ("slow-handshakes", "tcpflow-analyzer.rst-by-resp_pcap"),
        ("complete-handshakes", "tcpflow-analyzer.rst-by-resp_pcap"),
    ]
    assert suites[0].get("timestamp") == "2023-11-14T22:13:20"  # first packet, UTC
    assert suites[0].get("hostname") == "ci-runner"


def test_failure_lists_the_offending_connections() -> None:
    root = ET.fromstring(junit(report_for("rst-by-resp.pcap")))
    failures = root.findall("testsuite/testcase/failure")
    assert len(failures) == 1
    (failure,) = failures
    assert failure.get("message") == "rst_abort = 1 of 1 connection (max 0)"
    assert failure.get("type") == "max rst_abort=0"
    assert failure.text is not None
    assert failure.text.splitlines()[-1] == (
        "conn #1 192.0.2.1:40000 -> 198.51.100.2:80 reset by resp at frame 7")
    assert "the service never aborts a connection" in failure.text


def test_failed_warning_rule_is_no_junit_failure_but_appears_in_system_out() -> None:
    root = ET.fromstring(junit(report_for("rst-by-resp.pcap")))
    slow = root.find("testsuite/testcase[@name='slow-handshakes']")
    assert slow is not None and list(slow) == []
    out = root.findtext("testsuite/system-out")
    assert out is not None and "WARN  slow-handshakes" in out
    assert root.findtext("testsuite/system-err") == (
        "warning: a capture warning <with> & markup [x]\n")


def test_control_characters_in_a_description_do_not_break_the_xml(schema: object) -> None:
    policy = '[rules.x]\ndescription = "bell \\u0007 here"\nmax = { rst_abort = 0 }\n'
    text = junit(report_for("rst-by-resp.pcap", policy=policy))
    schema.validate(text)  # type: ignore[attr-defined]
    assert "\x07" not in text


def test_cli_junit_file_is_valid(tmp_path: Path, schema: object) -> None:
    target = tmp_path / "junit.xml"
    result = CliRunner().invoke(app, [
        "check", str(SAMPLES / "rst-by-resp.pcap"), str(SAMPLES / "refused.pcap"),
        "--forbid", "outcome=refused", "--max", "rst_abort=0", "--junit", str(target)])
    assert result.exit_code == 1
    schema.validate(str(target))  # type: ignore[attr-defined]
    root = ET.parse(target).getroot()
    assert len(root.findall("testsuite")) == 2
    assert len(root.findall("testsuite/testcase/failure")) == 2
