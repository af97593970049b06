"""``show`` command line: selection, errors (exit 2, one line), numbering and colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["show", *args])
    return result.exit_code, result.stdout, result.stderr


def headings(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("Connection #")]


def assert_one_line_error(code: int, stdout: str, stderr: str, *fragments: str) -> None:
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("tcpflow-analyzer: error: ")
    for fragment in fragments:
        assert fragment in stderr


def test_without_selection_every_connection_is_shown_with_a_count() -> None:
    code, out, err = run(str(SAMPLES / "time-wait-reuse.pcap"))
    assert code == 0 and err == ""
    assert out.startswith("2 TCP connections in ")
    assert [h.split(":")[0] for h in headings(out)] == ["Connection #1", "Connection #2"]


def test_conn_selects_one_connection() -> None:
    code, out, _ = run(str(SAMPLES / "time-wait-reuse.pcap"), "--conn", "2")
    assert code == 0
    assert [h.split(":")[0] for h in headings(out)] == ["Connection #2"]
    assert "TCP connections in" not in out
    assert "reuses the 4-tuple of connection #1" in out


def test_tuple_matches_either_direction_and_every_incarnation() -> None:
    for spec in ("192.0.2.1:40000-198.51.100.2:80", "198.51.100.2:80-192.0.2.1:40000"):
        code, out, _ = run(str(SAMPLES / "time-wait-reuse.pcap"), "--tuple", spec)
        assert code == 0
        assert len(headings(out)) == 2


def test_tuple_accepts_ipv6_in_brackets() -> None:
    code, out, _ = run(str(SAMPLES / "ipv6-basic.pcap"), "--tuple",
                       "[2001:db8::1]:40000-[2001:db8::2]:80")
    assert code == 0
    assert headings(out) == ["Connection #1: orig [2001:db8::1]:40000 → resp [2001:db8::2]:80"]


def test_unknown_conn_id_is_a_one_line_error() -> None:
    assert_one_line_error(*run(str(SAMPLES / "handshake-basic.pcap"), "--conn", "7"),
                          "no connection #7", "1 connection")


@pytest.mark.parametrize(("spec", "reason"), [
    ("192.0.2.1-198.51.100.2:80", "is not ADDR:PORT-ADDR:PORT"),
    ("192.0.2.1:40000", "is not ADDR:PORT-ADDR:PORT"),
    ("2001:db8::1:40000-2001:db8::2:80", "IPv6 addresses must be in brackets"),
    ("192.0.2.1:99999-198.51.100.2:80", "out of range"),
    ("example.com:1-198.51.100.2:80", "is not an IP address"),
    ("192.0.2.1:1-[2001:db8::2]:80", "mixes an IPv4 and an IPv6 address"),
])
def test_malformed_tuple_is_a_one_line_error(spec: str, reason: str) -> None:
    assert_one_line_error(*run(str(SAMPLES / "handshake-basic.pcap"), "--tuple", spec),
                          "--tuple", reason)


def test_tuple_without_a_match_is_an_error() -> None:
    assert_one_line_error(*run(str(SAMPLES / "handshake-basic.pcap"), "--tuple",
                               "192.0.2.9:1-198.51.100.2:80"), "no connection matches")


def test_unreadable_capture_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(*run(str(tmp_path / "missing.pcap")), "missing.pcap")
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    assert_one_line_error(*run(str(junk)))


def test_relative_numbers_by_default_and_raw_on_request() -> None:
    _, rel, _ = run(str(SAMPLES / "handshake-basic.pcap"))
    assert "SYN seq=0 " in rel and "SYN+ACK seq=0 ack=1 " in rel
    _, raw, _ = run(str(SAMPLES / "handshake-basic.pcap"), "--raw-seq")
    isn_o, isn_r = 0x6F3A1C20, 0x2B94E7C1
    assert f"SYN seq={isn_o} " in raw
    assert f"SYN+ACK seq={isn_r} ack={isn_o + 1} " in raw
    assert "absolute (raw)" in raw


def test_plain_output_has_no_escape_codes_and_no_color_is_honoured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = run(str(SAMPLES / "handshake-basic.pcap"))
    assert "\x1b[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    _, again, _ = run(str(SAMPLES / "handshake-basic.pcap"))
    assert again == out


def test_capture_without_tcp_says_so(tmp_path: Path) -> None:
    import dpkt

    empty = tmp_path / "empty.pcap"
    with empty.open("wb") as fh:
        dpkt.pcap.Writer(fh)
    code, out, err = run(str(empty))
    assert code == 0 and err == ""
    assert out.startswith("No TCP connections in ")


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["show", "--help"])
    assert result.exit_code == 0
    for option in ("--conn", "--tuple", "--all", "--fold", "--raw-seq", "--svg", "--html"):
        assert option in result.stdout
