"""Every option of every command is validated while the command line is parsed, and every
usage error is one line on stderr with exit code 2 (never typer's framed box), before any
capture is read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "samples" / "handshake-basic.pcap")
runner = CliRunner()

BAD = [
    # (command line, what the one line must say)
    (["analyze", SAMPLE, "--port", "99999"], "--port 99999 is not a port number (0-65535)"),
    (["analyze", SAMPLE, "--port", "-1"], "--port -1 is not a port number (0-65535)"),
    (["analyze", SAMPLE, "--port", "http"], "--port 'http' is not a port number"),
    (["check", SAMPLE, "--max", "rst_abort=0", "--port", "65536"], "--port 65536 is not a port"),
    (["sniff", "--port", "99999"], "--port 99999 is not a port number"),
    (["analyze", SAMPLE, "--host", "10.0.0.300"], "--host '10.0.0.300' is not an IP address"),
    (["check", SAMPLE, "--max", "rst_abort=0", "--host", "h"], "--host 'h' is not an IP address"),
    (["analyze", SAMPLE, "--outcome", "fine"], "--outcome 'fine' is not one of: closed,"),
    (["analyze", SAMPLE, "--close", "two_way"], "--close 'two_way' is not one of: four_way"),
    (["analyze", SAMPLE, "--anomaly", "nope"], "--anomaly 'nope' is not one of:"),
    (["analyze", SAMPLE, "--checksums", "maybe"], "--checksums 'maybe' is not one of: auto"),
    (["analyze", SAMPLE, "--time-wait", "-1"], "--time-wait must be at least 0 seconds"),
    (["show", SAMPLE, "--time-wait", "inf"], "--time-wait 'inf' is not a duration"),
    (["show", SAMPLE, "--time-wait", "1e400"], "--time-wait must be at least 0 seconds"),
    (["show", SAMPLE, "--time-wait", "nan"], "--time-wait 'nan' is not a duration"),
    (["analyze", SAMPLE, "--time-wait", "soon"], "--time-wait 'soon' is not a duration"),
    (["analyze", SAMPLE, "-f", "xml"], "--format 'xml' is not one of"),
    (["analyze", SAMPLE, "--semantics", "bsd"], "--semantics 'bsd' is not one of"),
    (["check", SAMPLE, "--max", "rst_abort=0", "--list-limit", "-1"], "--list-limit -1 is out"),
    (["show", SAMPLE, "--conn", "0"], "--conn 0 is out of range (1 or more)"),
    (["show", SAMPLE, "--conn", "x"], "--conn 'x' is not a connection id"),
    (["show", SAMPLE, "--fold", "0"], "--fold 0 is out of range (1 or more)"),
    (["sniff", "--count", "0"], "--count 0 is out of range (1 or more)"),
    (["sniff", "--duration", "0"], "--duration must be more than 0 seconds"),
    (["sniff", "--duration", "-5"], "--duration must be more than 0 seconds"),
    (["sniff", "--buffer-size", "5000"], "--buffer-size 5000 is out of range (1-4096)"),
    (["analyze", SAMPLE, "-o", "/nonexistent-dir/r.json"], "no such directory"),
    (["check", SAMPLE, "--max", "rst_abort=0", "--junit", "/"], "it is a directory"),
    (["show", SAMPLE, "--svg", "/nonexistent-dir/l.svg"], "no such directory"),
    (["sniff", "-w", "/nonexistent-dir/c.pcap"], "no such directory"),
    # click 8.1 (typer's vendored copy) and click 8.2+ word these two slightly differently
    (["analyze", SAMPLE, "--bogus"], re.compile(r"no such option(: |\s')--bogus")),
    (["analyze"], re.compile(r"missing argument 'captures")),
    (["bogus"], "No such command 'bogus'"),
    (["analyze", SAMPLE, "--port"], "Option '--port' requires an argument"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=lambda v: " ".join(v)[-40:]
                         if isinstance(v, list) else "")
def test_a_bad_option_is_one_line_and_exit_2(args: list[str], needle: str | re.Pattern[str]) -> None:
    res = runner.invoke(app, args)
    assert (res.exit_code, res.stdout) == (2, "")
    err = res.stderr
    assert err.count("\n") == 1 and err.startswith("tcpflow-analyzer: error: "), err
    if isinstance(needle, re.Pattern):
        assert needle.search(err.lower()), err
    else:
        assert needle.lower() in err.lower(), err
    assert err.rstrip().endswith("--help`)") and not any(c in err for c in "╭│╰")


def test_a_bad_value_from_the_environment_names_the_variable() -> None:
    res = runner.invoke(app, ["analyze", SAMPLE], env={"TCPFLOW_FORMAT": "xml"})
    assert res.exit_code == 2
    assert res.stderr.startswith("tcpflow-analyzer: error: --format (from $TCPFLOW_FORMAT) "
                                 "'xml' is not one of")


@pytest.mark.parametrize(("args", "expected"), [
    (["--port", "80"], 1), (["--port", "0080"], 1), (["--port", "443"], 0),
    (["--host", "192.0.2.0/24"], 1), (["--host", "192.0.2.1/8"], 1), (["--host", "2001:db8::1"], 0),
    (["--time-wait", "250ms"], 1), (["--time-wait", "2m"], 1), (["--time-wait", "0"], 1),
    (["--outcome", "closed"], 1), (["--anomaly", "zero_window"], 0),
])
def test_good_values_are_accepted(args: list[str], expected: int) -> None:
    res = runner.invoke(app, ["analyze", SAMPLE, "-f", "ndjson", *args])
    assert (res.exit_code, res.stderr) == (0, "")
    assert res.stdout.count("\n") == expected + 1  # the connections and the summary line


def test_help_piped_into_a_closed_pipe_exits_0() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        res = subprocess.run([sys.executable, "-m", "tcpflow_analyzer", "analyze", "--help"],
                             stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                             cwd=REPO, check=False)
    finally:
        os.close(write_end)
    assert (res.returncode, res.stderr) == (0, "")
