"""Rule semantics against the sample captures: every rule seen passing and failing."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpflow_analyzer.checks import (
    CheckReport,
    ConditionKind,
    Rule,
    Selector,
    Severity,
    Status,
    evaluate,
    evaluate_rule,
    exit_code,
    percentile,
)
from tcpflow_analyzer.errors import ExitCode
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.policy import parse_inline_rule, parse_policy
from tcpflow_analyzer.tracker import TrackerConfig

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

Flow = dict[str, Any]


@functools.cache
def _flows(name: str) -> tuple[Flow, ...]:
    return tuple(analyze_to_report([str(SAMPLES / name)], TrackerConfig())["connections"])


def flows(name: str) -> list[Flow]:
    """Fresh copies of a sample's flow reports (tests may modify them)."""
    return copy.deepcopy(list(_flows(name)))


def truncated(tmp_path: Path, sample: str, keep: int) -> str:
    """A copy of a sample with only its first ``keep`` frames (connections left open)."""
    out = tmp_path / f"first{keep}-{sample}"
    with open(SAMPLES / sample, "rb") as src, open(out, "wb") as dst:
        reader = dpkt.pcap.Reader(src)
        writer = dpkt.pcap.Writer(dst, linktype=reader.datalink())
        for i, (ts, buf) in enumerate(reader):
            if i == keep:
                break
            writer.writepkt(buf, ts)
    return str(out)


def rule(kind: str, spec: str) -> Rule:
    return parse_inline_rule(ConditionKind(kind), spec)


def policy_rule(body: str) -> Rule:
    (r,) = parse_policy("[rules.r]\n" + body + "\n", "p.toml")
    return r


def outcome(r: Rule, fl: list[Flow]) -> tuple[Status, list[str]]:
    result = evaluate_rule(r, fl)
    return result.status, [o.line for o in result.offenders]


PASS = Status.PASS
FAIL = Status.FAIL
GOOD = "handshake-basic.pcap"
CONN = "conn #1 192.0.2.1:40000 -> 198.51.100.2:80"


# -- each rule, failing on the sample that shows the behaviour and passing on a clean one --------


@pytest.mark.parametrize(("kind", "spec", "bad_sample", "offender"), [
    ("max", "rst_abort=0", "rst-by-resp.pcap", f"{CONN} reset by resp at frame 7"),
    ("max", "reset=0", "rst-by-orig.pcap", f"{CONN} reset by orig at frame 7"),
    ("max", "refused=0", "refused.pcap",
     f"{CONN} refused: RST from resp at frame 2 answered the SYN"),
    ("max", "no_synack=0", "syn-timeout.pcap", f"{CONN} SYN never answered (frames 1, 2, 3, 4)"),
    ("max", "handshake_incomplete=0", "synack-unacked.pcap",
     f"{CONN} handshake incomplete: SYN-ACK at frame 2 never acknowledged"),
    ("require", "handshake=complete", "syn-timeout.pcap",
     f"{CONN} handshake no_answer: SYN never answered (frames 1, 2, 3, 4)"),
    ("require", "conn_state=SF", "rst-by-resp.pcap",
     f"{CONN} Zeek conn_state RSTR (history ShADdr)"),
    ("forbid", "close=one_fin_only", "rst-after-fin.pcap",
     f"{CONN} only orig sent a FIN (frame 5): one_fin_only"),
    ("forbid", "anomaly=rst_in_time_wait", "time-wait-assassination.pcap",
     f"{CONN} rst_in_time_wait x1 (first at frame 12)"),
    ("forbid", "reset_by=resp", "rst-by-resp.pcap", f"{CONN} reset by resp at frame 7"),
    ("forbid", "outcome=refused,reset", "kernel-refused.pcap",
     "conn #1 10.203.0.1:40000 -> 10.203.0.2:81 refused: RST from resp at frame 2 answered "
     "the SYN"),
    ("max", "anomaly.syn_retransmission=2", "syn-timeout.pcap",
     f"{CONN} syn_retransmission x3 (first at frame 2)"),
    ("max", "handshake_rtt_p95=10ms", GOOD,
     f"{CONN} handshake RTT 20.1 ms (SYN frame 1, ACK frame 3)"),
    ("max", "handshake_rtt_max=20ms", "rst-by-resp.pcap",
     f"{CONN} handshake RTT 20.1 ms (SYN frame 1, ACK frame 3)"),
    ("max", "duration_max=5s", "syn-timeout.pcap", f"{CONN} lasted 7 s (frames 1-4)"),
    ("max", "duration_p50=1s", "rst-by-orig.pcap", f"{CONN} lasted 2.04 s (frames 1-7)"),
])
def test_rule_fails_on_the_sample_showing_the_behaviour_and_lists_the_connection(
        kind: str, spec: str, bad_sample: str, offender: str) -> None:
    r = rule(kind, spec)
    assert outcome(r, flows(bad_sample)) == (FAIL, [offender])
    # every synthetic sample has a 20 ms handshake RTT; the kernel one's is 45 us
    clean = "kernel-basic.pcap" if spec.startswith("handshake_rtt") else GOOD
    assert outcome(r, flows(clean)) == (PASS, [])


def test_open_connection_at_end_of_capture_fails_forbid_outcome_open(tmp_path: Path) -> None:
    cut = analyze_to_report([truncated(tmp_path, GOOD, 5)], TrackerConfig())["connections"]
    expected = (FAIL, [f"{CONN} still open at the end of the capture (last frame 5, "
                       f"orig ESTABLISHED, resp ESTABLISHED)"])
    assert outcome(rule("forbid", "outcome=open"), cut) == expected
    assert outcome(rule("max", "leaked=0"), cut) == expected
    assert outcome(rule("max", "open=0"), cut) == expected
    assert outcome(rule("forbid", "outcome=open"), flows(GOOD)) == (PASS, [])


def test_require_accepts_any_of_several_values() -> None:
    sim = flows("simultaneous-open.pcap")
    assert outcome(rule("require", "handshake=complete"), sim)[0] is FAIL
    assert outcome(rule("require", "handshake=complete,simultaneous_open"), sim) == (PASS, [])


def test_anomaly_count_is_occurrences_not_connections() -> None:
    timeout = flows("syn-timeout.pcap")
    assert outcome(rule("max", "anomaly.syn_retransmission=3"), timeout) == (PASS, [])
    result = evaluate_rule(rule("max", "anomaly.syn_retransmission=2"), timeout)
    assert (result.observed, result.observed_text) == (3.0, "3")


def test_reset_by_ignores_a_rst_after_a_completed_close() -> None:
    # time-wait-assassination: resp's RST hits TIME-WAIT after a clean close (outcome closed)
    assert outcome(rule("forbid", "reset_by=resp"), flows("time-wait-assassination.pcap")) == (
        PASS, [])


def test_min_connections_fails_on_an_empty_selection_and_passes_otherwise() -> None:
    r = rule("min", "connections=1")
    assert outcome(r, []) == (FAIL, [])
    assert outcome(r, flows(GOOD)) == (PASS, [])
    assert outcome(rule("max", "connections=1"), flows("time-wait-reuse.pcap"))[0] is FAIL


# -- rates, shares, percentiles ------------------------------------------------------------------


def _with_retransmissions(n: int) -> list[Flow]:
    fl = flows(GOOD)
    fl[0]["anomalies"]["retransmission"] = n
    fl[0]["anomaly_events"].append(
        {"name": "retransmission", "frame": 6, "ts": 0.0, "endpoint": "resp", "detail": ""})
    return fl


def test_retransmission_rate_falls_back_to_all_packets_without_data_packets() -> None:
    fl = _with_retransmissions(1)  # handshake-basic has 11 packets
    del fl[0]["data_packets"]  # reports written before the field existed
    fl[0]["anomalies"]["fast_retransmission"] = 1
    fl[0]["anomalies"]["spurious_retransmission"] = 1
    result = evaluate_rule(rule("max", "retransmission_rate=28%"), fl)
    assert result.status is PASS and result.observed == pytest.approx(3 / 11)
    failed = evaluate_rule(rule("max", "retransmission_rate=27%"), fl)
    assert failed.status is FAIL
    assert [o.line for o in failed.offenders] == [
        f"{CONN} 3 retransmissions in 11 packets, first at frame 6"]
    assert outcome(rule("max", "retransmission_rate=0%"), flows(GOOD)) == (PASS, [])


def test_retransmission_rate_uses_data_packets_when_the_report_has_them() -> None:
    fl = _with_retransmissions(1)
    fl[0]["data_packets"] = {"orig": 1, "resp": 1}
    assert evaluate_rule(rule("max", "retransmission_rate=50%"), fl).status is PASS
    assert evaluate_rule(rule("max", "retransmission_rate=49%"), fl).status is FAIL


def test_percentage_on_a_connection_count_is_a_share_of_the_selection() -> None:
    mixed = flows("rst-by-resp.pcap") + flows(GOOD)
    mixed[1]["id"] = 2
    assert outcome(rule("max", "rst_abort=50%"), mixed) == (PASS, [])
    status, offenders = outcome(rule("max", "rst_abort=49%"), mixed)
    assert (status, len(offenders)) == (FAIL, 1)
    assert evaluate_rule(rule("max", "rst_abort=49%"), mixed).observed_text == "50%"
    # min with a share lists the connections that do not count
    status, offenders = outcome(rule("min", "closed=100%"), mixed)
    assert (status, offenders) == (FAIL, [f"{CONN} reset by resp at frame 7"])


def test_share_of_no_connections_has_no_value_so_max_holds_and_min_fails() -> None:
    assert evaluate_rule(rule("max", "rst_abort=0%"), []).status is PASS
    assert evaluate_rule(rule("min", "closed=50%"), []).status is FAIL


def test_percentile_without_any_measured_rtt_passes_max_and_fails_min() -> None:
    timeout = flows("syn-timeout.pcap")  # the SYN was never answered: no RTT
    passed = evaluate_rule(rule("max", "handshake_rtt_p95=1ms"), timeout)
    assert (passed.status, passed.observed, passed.observed_text) == (PASS, None, "n/a")
    assert evaluate_rule(rule("min", "handshake_rtt_p50=1ms"), timeout).status is FAIL


def test_duration_limit_compares_against_the_reported_seconds() -> None:
    # handshake-basic lasts 0.06225 s exactly as reported
    assert evaluate_rule(rule("max", "duration_max=62.25ms"), flows(GOOD)).status is PASS
    assert evaluate_rule(rule("max", "duration_max=62.24ms"), flows(GOOD)).status is FAIL
    assert evaluate_rule(rule("min", "duration_min=62.26ms"), flows(GOOD)).status is FAIL


def test_nearest_rank_percentile_picks_an_observed_value() -> None:
    values = [float(v) for v in range(20, 0, -1)]
    assert [percentile(values, p) for p in (0, 1, 50, 95, 99, 100)] == [
        1.0, 1.0, 10.0, 19.0, 20.0, 20.0]
    assert percentile([], 50) is None


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.integers(0, 100))
def test_percentile_covers_at_least_its_share_of_values(values: list[float], pct: int) -> None:
    p = percentile(values, pct)
    assert p in values
    # at least pct% of the values are <= p, and fewer than pct% are < p (p is the smallest such)
    assert sum(v <= p for v in values) * 100 >= pct * len(values)
    assert pct == 0 or sum(v < p for v in values) * 100 < pct * len(values)


# -- selectors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("select", "selected"), [
    ("{ ports = [80] }", 1),
    ("{ ports = [80], direction = \"inbound\" }", 1),
    ("{ ports = [80], direction = \"outbound\" }", 0),
    ("{ ports = [40000], direction = \"outbound\" }", 1),
    ("{ hosts = [\"198.51.100.0/24\"], direction = \"inbound\" }", 1),
    ("{ hosts = [\"198.51.100.0/24\"], direction = \"outbound\" }", 0),
    ("{ hosts = [\"2001:db8::/32\"] }", 0),
    # hosts and ports must match the same endpoint: orig's address with resp's port is no match
    ("{ hosts = [\"192.0.2.1\"], ports = [80] }", 0),
    ("{ hosts = [\"192.0.2.1\"], ports = [40000] }", 1),
    ("{ initiator = \"orig\" }", 1),
    ("{ initiator = [\"unknown\", \"both\"] }", 0),
])
def test_selector_decides_which_connections_a_rule_sees(select: str, selected: int) -> None:
    r = policy_rule(f"select = {select}\nmax = {{ rst_abort = 0 }}")
    result = evaluate_rule(r, flows("rst-by-resp.pcap"))
    assert result.selected == selected
    assert result.status is (FAIL if selected else PASS)


def test_initiator_selector_excludes_connections_seen_midstream() -> None:
    r = policy_rule('select = { initiator = "orig" }\nforbid = { outcome = "reset" }')
    assert outcome(r, flows("lone-rst.pcap")) == (PASS, [])
    assert outcome(rule("forbid", "outcome=reset"), flows("lone-rst.pcap"))[0] is FAIL


def test_command_line_scope_narrows_every_rule() -> None:
    scope = Selector(ports=frozenset({443}))
    report = evaluate([rule("max", "rst_abort=0")], [("c", flows("rst-by-resp.pcap"))], scope)
    (capture,) = report.captures
    assert (capture.connections, capture.results[0].selected, report.passed) == (0, 0, True)


# -- captures, severities, exit codes ------------------------------------------------------------


def test_aggregates_are_computed_per_capture() -> None:
    report = evaluate([rule("max", "rst_abort=0")],
                      [("a", flows("rst-by-resp.pcap")), ("b", flows(GOOD))])
    assert [(c.capture, c.results[0].status) for c in report.captures] == [
        ("a", FAIL), ("b", PASS)]
    assert report.counts() == {"evaluated": 2, "passed": 1, "failed": 1, "warnings": 0}


def test_failed_warning_rule_is_reported_but_does_not_fail_the_build() -> None:
    warn = policy_rule('severity = "warning"\nmax = { rst_abort = 0 }')
    report = evaluate([warn], [("a", flows("rst-by-resp.pcap"))])
    (result,) = report.results
    assert (result.failed, result.blocking, report.passed) == (True, False, True)
    assert report.counts()["warnings"] == 1
    assert exit_code(report) is ExitCode.OK


@pytest.mark.parametrize(("sample", "exit_zero", "expected"), [
    (GOOD, False, ExitCode.OK),
    ("rst-by-resp.pcap", False, ExitCode.CHECKS_FAILED),
    ("rst-by-resp.pcap", True, ExitCode.OK),
])
def test_exit_code_follows_error_rules(sample: str, exit_zero: bool, expected: ExitCode) -> None:
    report: CheckReport = evaluate([rule("max", "rst_abort=0")], [("c", flows(sample))])
    assert exit_code(report, exit_zero) is expected


def test_rule_severity_defaults_to_error() -> None:
    assert rule("max", "rst_abort=0").severity is Severity.ERROR


@pytest.mark.parametrize(("select", "text"), [
    ("{}", "all connections"),
    ('{ ports = [8080, 80], direction = "inbound" }', "inbound to ports 80,8080"),
    ('{ hosts = ["10.0.0.0/8"], direction = "outbound", initiator = "orig" }',
     "outbound from hosts 10.0.0.0/8 initiator orig"),
    ('{ hosts = ["2001:db8::1"], ports = [443] }', "hosts 2001:db8::1/128 ports 443"),
])
def test_selector_describes_itself_for_the_output(select: str, text: str) -> None:
    assert policy_rule(f"select = {select}\nmax = {{ rst_abort = 0 }}").selector.describe() == text
