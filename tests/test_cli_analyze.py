"""CLI: `analyze` exit codes, stdout/stderr separation, every format, filters and -o."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

from .conformance.zeek import read_conn_log

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_json_report_has_capture_summary_and_connections() -> None:
    code, out, err = run("analyze", str(SAMPLES / "handshake-basic.pcap"), "-f", "json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["schema_version"] == 1
    assert doc["capture"]["frames"] == 11
    assert doc["summary"]["outcomes"] == {"closed": 1}
    assert doc["connections"][0]["close"]["pattern"] == "four_way"


def test_ndjson_streams_connections_then_a_summary_line() -> None:
    code, out, _ = run("analyze", str(SAMPLES / "time-wait-reuse.pcap"), "-f", "ndjson")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0
    assert [x["record"] for x in lines] == ["connection", "connection", "summary"]
    assert lines[-1]["summary"]["connections"] == 2


def test_csv_has_one_row_per_connection() -> None:
    code, out, _ = run("analyze", str(SAMPLES / "time-wait-reuse.pcap"), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2
    assert rows[0]["time_wait"] == "orig@11"
    assert rows[1]["zeek_conn_state"] == "SF"


def test_zeek_format_is_a_conn_log_zeek_tools_can_read(tmp_path: Path) -> None:
    code, out, _ = run("analyze", str(SAMPLES / "refused.pcap"), "-f", "zeek")
    assert code == 0
    assert out.startswith("#separator \\x09\n")
    log = tmp_path / "conn.log"
    log.write_text(out)
    (row,) = read_conn_log(log)
    assert (row["id.orig_p"], row["id.resp_p"], row["conn_state"], row["history"]) == (
        "40000", "80", "REJ", "Sr")
    fields = out.splitlines()[6].split("\t")[1:]
    types = out.splitlines()[7].split("\t")[1:]
    assert len(fields) == len(types) == len(out.splitlines()[8].split("\t"))


def test_terminal_view_when_piped_is_plain_text() -> None:
    code, out, _ = run("analyze", str(SAMPLES / "simultaneous-close.pcapng"))
    assert code == 0
    assert "1 TCP connections" in out
    assert "simultaneous" in out and "resp@9, orig@10" in out
    assert "\x1b[" not in out


def test_filters_select_connections_in_every_format() -> None:
    caps = [str(SAMPLES / n) for n in ("refused.pcap", "handshake-basic.pcap",
                                          "rst-by-resp.pcap")]
    _, out, _ = run("analyze", *caps, "-f", "json", "--outcome", "reset")
    doc = json.loads(out)
    assert [c["outcome"] for c in doc["connections"]] == ["reset"]
    assert doc["connections"][0]["file"].endswith("rst-by-resp.pcap")
    _, out, _ = run("analyze", *caps, "-f", "csv", "--close", "four_way")
    assert len(list(csv.DictReader(io.StringIO(out)))) == 1
    _, out, _ = run("analyze", *caps, "-f", "ndjson", "--host", "198.51.100.0/24",
                    "--outcome", "refused")
    assert [json.loads(x)["record"] for x in out.splitlines()] == ["connection", "summary"]
    _, out, _ = run("analyze", *caps, "-f", "json", "--host", "203.0.113.9")
    assert json.loads(out)["connections"] == []
    _, out, _ = run("analyze", *caps, "-f", "json", "--port", "81")
    assert json.loads(out)["connections"] == []


def test_multiple_files_are_separate_captures_with_unique_ids() -> None:
    _, out, _ = run("analyze", str(SAMPLES / "handshake-basic.pcap"),
                    str(SAMPLES / "handshake-basic.pcap"), "-f", "json")
    doc = json.loads(out)
    assert [c["id"] for c in doc["connections"]] == [1, 2]
    assert all(c["port_reuse"] is None for c in doc["connections"])
    assert doc["capture"]["frames"] == 22


def test_output_file_is_written_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, _ = run("analyze", str(SAMPLES / "refused.pcap"), "-f", "json", "-o", str(target))
    assert code == 0 and out == "" and json.loads(target.read_text())["connections"]
    bad = tmp_path / "never.json"
    code, _, err = run("analyze", str(tmp_path / "missing.pcap"), "-f", "json", "-o", str(bad))
    assert code == 2 and not bad.exists()
    assert list(tmp_path.iterdir()) == [target]  # no temporary files left behind


@pytest.mark.parametrize("args, needle", [
    (["analyze", "/nonexistent/x.pcap"], "cannot open capture"),
    (["analyze", str(SAMPLES)], "is a directory"),
    (["analyze", str(SAMPLES / "README.md")], "not a pcap or pcapng capture"),
    (["analyze", str(SAMPLES / "refused.pcap"), "--outcome", "bogus"], "--outcome 'bogus'"),
    (["analyze", str(SAMPLES / "refused.pcap"), "--host", "not-an-ip"], "--host"),
    (["analyze", str(SAMPLES / "refused.pcap"), "--checksums", "maybe"], "--checksums"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args: list[str], needle: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    code, _, err = run("analyze", str(empty))
    assert code == 2 and "empty file" in err


def test_damaged_capture_still_reports_the_good_part_with_a_warning(tmp_path: Path) -> None:
    data = (SAMPLES / "handshake-basic.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])
    code, out, err = run("analyze", str(cut), "-f", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["capture"]["frames"] == 10
    assert doc["connections"][0]["packets"]["orig"] + doc["connections"][0]["packets"]["resp"] == 10
    assert "cut off inside frame 11" in err
    assert doc["capture"]["warnings"]


def test_anomalies_command_lists_the_catalogue() -> None:
    code, out, _ = run("anomalies")
    assert code == 0
    assert out.splitlines()[0].split()[0] == "retransmission"
    assert "premature_reuse" in out


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("tcpflow-analyzer ")


def test_stdin_dash_reads_a_pipe() -> None:
    data = (SAMPLES / "half-close.pcap").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "tcpflow_analyzer", "analyze", "-", "-f", "json"],
                          input=data, capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["connections"][0]["close"]["pattern"] == "half_close"


def test_broken_pipe_is_not_a_traceback() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m tcpflow_analyzer analyze {SAMPLES / 'time-wait-reuse.pcap'} "
        "-f ndjson | head -c 10", shell=True, capture_output=True, check=False, timeout=60,
        env=dict(os.environ))
    assert b"Traceback" not in proc.stderr


def test_output_to_a_device_writes_into_it_and_never_replaces_it() -> None:
    import stat

    before = os.stat(os.devnull)
    code, out, _ = run("analyze", str(SAMPLES / "refused.pcap"), "-f", "json", "-o", os.devnull)
    after = os.stat(os.devnull)
    assert code == 0 and out == ""
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
