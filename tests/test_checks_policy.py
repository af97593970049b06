"""Policy parsing: TOML policies, inline rules, units, and errors that name their line."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from tcpflow_analyzer.checks import (
    ConditionKind,
    Direction,
    Membership,
    MetricKind,
    Severity,
    Threshold,
    resolve_metric,
)
from tcpflow_analyzer.errors import PolicyError
from tcpflow_analyzer.policy import locate_keys, parse_inline_rule, parse_limit, parse_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "tests" / "data" / "policies"


def _policy_error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policy.toml")
    return str(info.value)


# -- valid policies ------------------------------------------------------------------------------


def test_policy_rules_keep_name_severity_selector_condition_and_line() -> None:
    text = (
        "version = 1\n"
        "\n"
        "[rules.api-never-resets]\n"
        'description = "the API never aborts"\n'
        'severity = "warning"\n'
        'select = { hosts = ["10.0.0.0/8"], ports = [8080], direction = "inbound" }\n'
        "max = { rst_abort = 0 }\n"
        "\n"
        "[rules.leaks]\n"
        'forbid = { outcome = ["open", "handshake_incomplete"] }\n'
    )
    first, second = parse_policy(text, "gate.toml")
    assert (first.name, first.severity, first.description, first.source) == (
        "api-never-resets", Severity.WARNING, "the API never aborts", "gate.toml:3")
    assert [str(n) for n in first.selector.hosts] == ["10.0.0.0/8"]
    assert (first.selector.ports, first.selector.direction) == (
        frozenset({8080}), Direction.INBOUND)
    assert isinstance(first.condition, Threshold)
    assert first.condition.text == "max rst_abort=0"
    assert (second.name, second.severity, second.source) == ("leaks", Severity.ERROR,
                                                              "gate.toml:9")
    assert isinstance(second.condition, Membership)
    assert second.condition.values == ("open", "handshake_incomplete")


def test_dotted_and_quoted_metric_keys_name_the_same_metric() -> None:
    text = (
        "[rules.a]\nmax.anomaly.zero_window = 0\n"
        '[rules.b]\nmax = { "anomaly.zero_window" = 0 }\n'
        "[rules.c]\nmax = { anomaly.zero_window = 0 }\n"
    )
    rules = parse_policy(text, "p.toml")
    assert [r.condition.text for r in rules] == ["max anomaly.zero_window=0"] * 3
    assert [r.line for r in rules] == [1, 3, 5]


def test_example_policy_in_tests_data_parses() -> None:
    rules = parse_policy((POLICIES / "ci-gate.toml").read_text(), "ci-gate.toml")
    assert len(rules) == 9
    assert {r.severity for r in rules} == {Severity.ERROR, Severity.WARNING}


def test_every_toml_block_in_docs_check_md_is_a_valid_policy() -> None:
    doc = (ROOT / "docs" / "check.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert blocks, "docs/check.md shows no policy"
    for block in blocks:
        assert parse_policy(block, "docs/check.md")


# -- errors name the line ------------------------------------------------------------------------


def test_unknown_rule_key_names_its_line_and_suggests_the_right_key() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy((POLICIES / "unknown-key.toml").read_text(), "unknown-key.toml")
    message = str(info.value)
    assert message.startswith("unknown-key.toml:6: rule 'no-resets': unknown key 'severty'")
    assert "did you mean 'severity'?" in message


def test_unknown_selector_key_inside_an_inline_table_names_its_line() -> None:
    message = _policy_error((POLICIES / "unknown-select-key.toml").read_text())
    assert message.startswith("policy.toml:3: rule 'no-resets': select: unknown key 'hots'")


def test_unknown_top_level_table_names_its_line() -> None:
    message = _policy_error('# old syntax\n\n[[rule]]\nname = "x"\n')
    assert message.startswith("policy.toml:3: policy: unknown key 'rule'")


def test_unknown_metric_names_its_line_and_suggests() -> None:
    message = _policy_error((POLICIES / "unknown-metric.toml").read_text())
    assert message.startswith("policy.toml:6: rule 'no-resets': unknown metric 'rst_abrt'")
    assert "did you mean 'rst_abort'?" in message


def test_bad_unit_names_its_line() -> None:
    message = _policy_error((POLICIES / "bad-unit.toml").read_text())
    assert message.startswith("policy.toml:3: rule 'fast-handshakes': unknown unit 'msec'")


@pytest.mark.parametrize(("condition", "fragment", "line"), [
    ('max = { handshake_rtt_p95 = 200 }', "is a duration: give a unit", 3),
    ('max = { handshake_rtt_p95 = "5%" }', "is a duration: give a unit", 3),
    ('max = { retransmission_rate = 0.01 }', "is a rate: write it as a percentage", 3),
    ('max = { rst_abort = "1.5" }', "is not a whole number", 3),
    ('max = { rst_abort = "2s" }', "is not a duration", 3),
    ('max = { rst_abort = "150%" }', "is more than 100%", 3),
    ('max = { anomaly.zero_window = "5%" }', "counts occurrences", 3),
    ('max = { rst_abort = -1 }', "is not a non-negative number", 3),
    ('max = { rst_abort = true }', "must be a number or a string", 3),
    ('forbid = { outcome = "leaked" }', "outcome has no value 'leaked'", 3),
    ('forbid = { anomaly = "zero_windw" }', "did you mean 'zero_window'?", 3),
    ('forbid = { outcom = "open" }', "unknown field 'outcom'; did you mean 'outcome'?", 3),
    ('forbid = { outcome = 3 }', "takes a value or a list of values", 3),
    ('max = { rst_abort = 0, refused = 0 }', "must name exactly one metric (got 2)", 3),
    ('max = 0', "max must be a table such as max = { rst_abort = 0 }", 3),
    ('\nseverity = "fatal"\nmax = { rst_abort = 0 }', "severity 'fatal' is not one of", 4),
    ('description = 3\nmax = { rst_abort = 0 }', "description must be a string", 3),
    ('select = { hosts = ["10.0.0.300"] }\nmax = { rst_abort = 0 }', "not an IP address", 3),
    ('select = { ports = [70000] }\nmax = { rst_abort = 0 }', "not a port number", 3),
    ('select = { ports = [80], direction = "in" }\nmax = { rst_abort = 0 }',
     "direction 'in' is not one of: any, inbound, outbound", 3),
    ('select = { direction = "inbound" }\nmax = { rst_abort = 0 }', "needs hosts or ports", 3),
    ('select = { initiator = "client" }\nmax = { rst_abort = 0 }', "initiator 'client'", 3),
    ('select = [80]\nmax = { rst_abort = 0 }', "select must be a table", 3),
    # rule-level problems are reported on the line of the rule's table header
    ('max = { rst_abort = 0 }\nmin = { connections = 1 }', "exactly one condition", 2),
    ('description = "no condition"', "exactly one condition: max, min, require or forbid", 2),
])
def test_invalid_rule_is_an_error_on_the_offending_line(condition: str, fragment: str,
                                                        line: int) -> None:
    message = _policy_error("# a comment\n[rules.r]\n" + condition + "\n")
    assert fragment in message
    assert message.startswith(f"policy.toml:{line}: rule 'r': "), message


def test_invalid_toml_reports_tomllib_position() -> None:
    message = _policy_error("[rules.r]\nmax = { rst_abort = }\n")
    assert message.startswith("policy.toml: invalid TOML: ")
    assert "line 2" in message


@pytest.mark.parametrize("text", ["", "version = 1\n", "[rules]\n"])
def test_policy_without_rules_is_an_error(text: str) -> None:
    assert "policy defines no rules" in _policy_error(text)


def test_unsupported_version_is_an_error() -> None:
    assert _policy_error("version = 2\n[rules.r]\nmax = { rst_abort = 0 }\n").startswith(
        "policy.toml:1: policy: version 2 is not supported")


def test_rules_as_array_is_an_error_naming_its_line() -> None:
    assert _policy_error('\nrules = ["a"]\n').startswith(
        "policy.toml:2: policy: rules must be tables")


# -- locating keys -------------------------------------------------------------------------------


def test_locate_keys_skips_strings_comments_and_multiline_arrays() -> None:
    text = (
        '# max = { fake = 1 }\n'                     # 1
        'version = 1 # trailing\n'                    # 2
        '[rules."with.dot"]\n'                        # 3
        'description = """\n'                         # 4
        'severity = "not a key"\n'                    # 5
        '"""\n'                                       # 6
        "select = { hosts = ['a', \"b\"], ports = [\n"  # 7
        '  80,  # comment ] }\n'                      # 8
        '  443 ] }\n'                                 # 9 (an array spanning lines)
        'max.anomaly.zero_window = 0\n'               # 10
    )
    lines = locate_keys(text)
    assert lines[("version",)] == 2
    assert lines[("rules", "with.dot")] == 3
    assert lines[("rules", "with.dot", "description")] == 4
    assert ("rules", "with.dot", "severity") not in lines
    assert ("max", "fake") not in lines
    assert lines[("rules", "with.dot", "select", "ports")] == 7
    assert lines[("rules", "with.dot", "max", "anomaly", "zero_window")] == 10


# -- inline rules and limits ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "spec", "text"), [
    (ConditionKind.MAX, "rst_abort=0", "max rst_abort=0"),
    (ConditionKind.MAX, " retransmission_rate = 1% ", "max retransmission_rate=1%"),
    (ConditionKind.MAX, "handshake_rtt_p95=200ms", "max handshake_rtt_p95=200ms"),
    (ConditionKind.MIN, "connections=1", "min connections=1"),
    (ConditionKind.REQUIRE, "handshake=complete", "require handshake=complete"),
    (ConditionKind.FORBID, "outcome=open,refused", "forbid outcome=open,refused"),
    (ConditionKind.FORBID, "anomaly=zero_window", "forbid anomaly=zero_window"),
])
def test_inline_rule_is_named_after_its_condition(kind: ConditionKind, spec: str,
                                                  text: str) -> None:
    rule = parse_inline_rule(kind, spec)
    assert (rule.name, rule.condition.text, rule.severity, rule.source) == (
        text, text, Severity.ERROR, "command line")


@pytest.mark.parametrize(("kind", "spec", "fragment"), [
    (ConditionKind.MAX, "rst_abort", "expected METRIC=VALUE"),
    (ConditionKind.MAX, "=3", "expected METRIC=VALUE"),
    (ConditionKind.FORBID, "outcome", "expected FIELD=VALUE"),
    (ConditionKind.MAX, "rst_abrt=0", "unknown metric 'rst_abrt'"),
    (ConditionKind.MAX, "handshake_rtt_p95=200", "is a duration"),
    (ConditionKind.MAX, "handshake_rtt_p100=2s", "unknown metric"),
    (ConditionKind.REQUIRE, "handshake=done", "handshake has no value 'done'"),
])
def test_bad_inline_rule_is_a_policy_error_quoting_the_option(
        kind: ConditionKind, spec: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_inline_rule(kind, spec)
    assert str(info.value).startswith(f"--{kind.value} {spec!r}: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize(("metric", "raw", "value", "share"), [
    ("handshake_rtt_p95", "200ms", Fraction(1, 5), False),
    ("handshake_rtt_p95", "1.5s", Fraction(3, 2), False),
    ("handshake_rtt_p95", "250us", Fraction(1, 4000), False),
    ("duration_max", "2min", Fraction(120), False),
    ("retransmission_rate", "1%", Fraction(1, 100), False),
    ("retransmission_rate", "0.1%", Fraction(1, 1000), False),
    ("rst_abort", 3, Fraction(3), False),
    ("rst_abort", "10%", Fraction(1, 10), True),
    ("anomaly.zero_window", 0, Fraction(0), False),
])
def test_limits_are_exact_in_base_units(metric: str, raw: object, value: Fraction,
                                        share: bool) -> None:
    m = resolve_metric(metric)
    assert m is not None
    limit = parse_limit(raw, m)
    assert (limit.value, limit.share) == (value, share)


def test_metric_kinds_decide_units() -> None:
    kinds = {name: m.kind for name in ("rst_abort", "leaked", "anomaly.sack",
                                       "retransmission_rate", "duration_p50", "close.four_way")
             if (m := resolve_metric(name)) is not None}
    assert kinds == {
        "rst_abort": MetricKind.CONNECTIONS, "leaked": MetricKind.CONNECTIONS,
        "anomaly.sack": MetricKind.EVENTS, "retransmission_rate": MetricKind.RATIO,
        "duration_p50": MetricKind.DURATION, "close.four_way": MetricKind.CONNECTIONS,
    }
    assert resolve_metric("anomaly.no_such_thing") is None
    assert resolve_metric("outcome.leaked") is None


def test_every_suggested_metric_name_resolves_and_is_documented() -> None:
    from tcpflow_analyzer.checks import FIELDS, OUTCOME_ALIASES, metric_names

    doc = (ROOT / "docs" / "check.md").read_text()
    for name in metric_names():
        assert resolve_metric(name) is not None, name
    for name in [*OUTCOME_ALIASES, *FIELDS, "retransmission_rate", "retransmissions",
                 "handshake_rtt_p50", "duration_p50", "connections"]:
        assert f"`{name}" in doc, f"docs/check.md does not mention {name}"
