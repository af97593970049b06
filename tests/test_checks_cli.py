"""``tcpflow-analyzer check`` end to end: exit codes, stdout and stderr kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
POLICIES = ROOT / "tests" / "data" / "policies"
GOOD = str(SAMPLES / "handshake-basic.pcap")
RESET = str(SAMPLES / "rst-by-resp.pcap")
CONN = "conn #1 192.0.2.1:40000 -> 198.51.100.2:80"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_passing_rules_exit_0_with_the_summary_on_stdout_and_nothing_on_stderr() -> None:
    code, out, err = run(GOOD, "--max", "rst_abort=0", "--forbid", "outcome=open")
    assert code == 0
    assert err == ""
    assert "PASS  max rst_abort=0" in out
    assert "PASS  forbid outcome=open" in out
    assert out.endswith("check: 2 rule evaluations on 1 capture: 2 passed, 0 failed, "
                        "0 warnings\n")


def test_failing_error_rule_exits_1_and_names_the_connection_and_frame() -> None:
    code, out, err = run(RESET, "--max", "rst_abort=0")
    assert code == 1
    assert err == ""
    assert "FAIL  max rst_abort=0  rst_abort = 1 of 1 connection (max 0)" in out
    assert f"        {CONN} reset by resp at frame 7\n" in out


def test_exit_zero_forces_0_but_still_reports_the_failure() -> None:
    code, out, err = run(RESET, "--max", "rst_abort=0", "--exit-zero")
    assert (code, err) == (0, "")
    assert "FAIL  max rst_abort=0" in out


def test_exit_zero_never_hides_a_policy_error(tmp_path: Path) -> None:
    policy = str(POLICIES / "unknown-key.toml")
    code, out, err = run(GOOD, "--policy", policy, "--exit-zero")
    assert code == 2
    assert out == ""
    assert err == (f"tcpflow-analyzer: error: {policy}:6: rule 'no-resets': unknown key "
                   f"'severty'; did you mean 'severity'? (allowed: description, severity, "
                   f"select, max, min, require, forbid)\n")


def test_exit_zero_never_hides_an_unreadable_capture(tmp_path: Path) -> None:
    code, out, err = run(str(tmp_path / "missing.pcap"), "--max", "rst_abort=0", "--exit-zero")
    assert (code, out) == (2, "")
    assert err.startswith("tcpflow-analyzer: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(("args", "fragment"), [
    ((), "no rules: give --policy FILE or inline rules"),
    (("--max", "rst_abrt=0"), "--max 'rst_abrt=0': unknown metric 'rst_abrt'"),
    (("--max", "handshake_rtt_p95=200"), "is a duration: give a unit"),
    (("--policy", "/nonexistent/policy.toml"), "cannot read policy /nonexistent/policy.toml"),
    (("--max", "rst_abort=0", "--host", "10.0.0.999"), "--host '10.0.0.999' is not an IP"),
])
def test_rule_and_option_errors_exit_2_with_one_line_on_stderr(
        args: tuple[str, ...], fragment: str) -> None:
    code, out, err = run(GOOD, *args)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and fragment in err


def test_policy_and_inline_rules_combine(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "[rules.no-refused]\nmax = { refused = 0 }\n")
    code, out, _err = run(RESET, "--policy", policy, "--min", "connections=1")
    assert code == 0
    assert "PASS  no-refused " in out and "PASS  min connections=1" in out


def test_duplicate_rule_names_are_an_error(tmp_path: Path) -> None:
    code, _out, err = run(GOOD, "--max", "rst_abort=0", "--max", "rst_abort=0")
    assert code == 2 and "rule 'max rst_abort=0' is defined twice" in err


def test_failing_warning_rule_exits_0_and_is_shown_as_warn(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, '[rules.resets]\nseverity = "warning"\n'
                                    'max = { rst_abort = 0 }\n')
    code, out, err = run(RESET, "--policy", policy)
    assert (code, err) == (0, "")
    assert "WARN  resets" in out
    assert out.endswith("0 passed, 0 failed, 1 warning\n")


def test_each_capture_is_checked_on_its_own() -> None:
    code, out, _err = run(GOOD, RESET, "--max", "rst_abort=0")
    assert code == 1
    good_block, reset_block = out.split("\n\n")[:2]
    assert good_block.startswith(f"capture {GOOD}: 1 connection") and "PASS" in good_block
    assert reset_block.startswith(f"capture {RESET}: 1 connection") and "FAIL" in reset_block
    # connection ids are numbered per capture, as in `analyze` and `show CAPTURE --conn N`
    assert "conn #1 192.0.2.1:40000 -> 198.51.100.2:80 reset by resp at frame 7" in reset_block


def test_show_capture_conn_n_draws_the_connection_check_named_among_several() -> None:
    reuse = str(SAMPLES / "time-wait-reuse.pcap")
    code, out, _err = run(GOOD, RESET, reuse, "--max", "rst_abort=0",
                          "--max", "anomaly.reused_ports=0", "-f", "json")
    assert code == 1
    named = [(c["capture"], o) for c in json.loads(out)["captures"] for r in c["results"]
             for o in r["offenders"]]
    assert [(cap, o["id"], o["frame"]) for cap, o in named] == [(RESET, 1, 7), (reuse, 2, 12)]
    for capture, offender in named:
        drawn = CliRunner().invoke(app, ["show", capture, "--conn", str(offender["id"])])
        assert drawn.exit_code == 0, drawn.stderr
        heading = drawn.stdout.splitlines()[0]
        assert heading == (f"Connection #{offender['id']}: orig {offender['orig']} → resp "
                           f"{offender['resp']}")
        frames = [line.split()[0] for line in drawn.stdout.splitlines()
                  if line.strip()[:1].isdigit()]
        assert str(offender["frame"]) in frames


def test_port_option_narrows_every_rule() -> None:
    code, out, _err = run(RESET, "--max", "rst_abort=0", "--port", "443")
    assert code == 0
    assert f"capture {RESET}: 0 connections" in out


def test_empty_capture_warns_on_stderr_and_min_connections_catches_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    with open(empty, "wb") as fh:
        dpkt.pcap.Writer(fh)
    code, _out, err = run(str(empty), "--max", "rst_abort=0")
    assert code == 0
    assert "no TCP connection to check" in err
    code, out, _err = run(str(empty), "--min", "connections=1")
    assert code == 1 and "connections = 0 of 0 connections (min 1)" in out


def test_json_format_lists_results_and_offenders() -> None:
    code, out, err = run(RESET, "--max", "rst_abort=0", "--require", "handshake=complete",
                         "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert (doc["schema_version"], doc["passed"]) == (1, False)
    assert doc["summary"] == {"evaluated": 2, "passed": 1, "failed": 1, "warnings": 0}
    failed, passed = doc["captures"][0]["results"]
    assert (failed["rule"], failed["status"], failed["observed"]) == ("max rst_abort=0", "fail", 1)
    assert '"observed": 1,' in out  # counts stay integers
    assert failed["offenders"] == [{"id": 1, "orig": "192.0.2.1:40000",
                                    "resp": "198.51.100.2:80", "frame": 7,
                                    "detail": "reset by resp at frame 7"}]
    assert (passed["status"], passed["offenders"]) == ("pass", [])


def test_github_format_prints_one_annotation_per_failed_rule(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, (
        "[rules.no-resets]\nmax = { rst_abort = 0 }\n\n"
        '[rules."slow, handshake"]\nseverity = "warning"\nmax = { handshake_rtt_p95 = "1ms" }\n'
        "\n[rules.fine]\nmax = { refused = 0 }\n"))
    code, out, err = run(RESET, "--policy", policy, "--format", "github")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == (f"::error file={policy},line=1,title=no-resets ({RESET})::"
                        f"rst_abort = 1 of 1 connection (max 0)%0A{CONN} reset by resp at "
                        f"frame 7")
    assert lines[1].startswith(f"::warning file={policy},line=4,title=slow%2C handshake (")
    assert len(lines) == 3 and lines[2].startswith("check: 3 rule evaluations")


def test_github_annotation_escapes_percent_signs() -> None:
    _code, out, _err = run(RESET, "--max", "rst_abort=0%", "--format", "github")
    assert "(100%25) (max 0%25)" in out.splitlines()[0]


def test_list_limit_caps_the_offenders_shown() -> None:
    code, out, _err = run(GOOD, RESET, "--require", "outcome=refused", "--list-limit", "1")
    assert code == 1
    assert out.count("conn #") == 2  # one per capture: each capture has one offender


def test_output_file_receives_the_results_and_stdout_stays_empty(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    code, out, _err = run(RESET, "--max", "rst_abort=0", "-f", "json", "-o", str(target))
    assert (code, out) == (1, "")
    assert json.loads(target.read_text())["passed"] is False


def test_junit_option_writes_xml_besides_the_text_summary(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    code, out, _err = run(RESET, "--max", "rst_abort=0", "--junit", str(target))
    assert code == 1
    assert "FAIL  max rst_abort=0" in out
    assert target.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>')


def test_check_appears_in_the_cli_help() -> None:
    result = CliRunner().invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    for option in ("--policy", "--max", "--min", "--require", "--forbid", "--junit",
                   "--exit-zero", "--format"):
        assert option in result.stdout
