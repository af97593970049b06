"""Capture timestamps outside what :mod:`datetime` can hold (a pcapng can name year 10000,
a negative time through ``if_tsoffset``, or 2^64-1 units): every command and renderer
copes, and calendar text continues the proleptic Gregorian calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.render.junit import junit_timestamp
from tcpflow_analyzer.render.timefmt import clock_text, utc_text
from tcpflow_analyzer.segment import ACK, FIN, SYN

from .capbuild import ORIG4, RESP4, ether, png_epb, png_idb, png_shb, tcp4

runner = CliRunner()

YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z


def _conversation() -> list[tuple[int, bytes]]:
    """(offset in µs, frame): a handshake, a byte of data and a three-way close."""
    o, r = {"src": ORIG4, "dst": RESP4}, {"src": RESP4, "dst": ORIG4, "sport": 80,
                                          "dport": 40000}
    return [
        (0, ether(tcp4(**o, seq=1000, flags=SYN))),
        (10, ether(tcp4(**r, seq=5000, ack=1001, flags=SYN | ACK))),
        (20, ether(tcp4(**o, seq=1001, ack=5001, flags=ACK))),
        (30, ether(tcp4(**o, seq=1001, ack=5001, flags=ACK, payload=b"x"))),
        (40, ether(tcp4(**o, seq=1002, ack=5001, flags=FIN | ACK))),
        (50, ether(tcp4(**r, seq=5001, ack=1003, flags=FIN | ACK))),
        (60, ether(tcp4(**o, seq=1003, ack=5002, flags=ACK))),
    ]


def _pcapng(tmp_path: Path, name: str, start_units: int, *, tsresol: int = 6,
            tsoffset: int | None = None) -> str:
    step = 10 ** (tsresol - 6)  # one µs in the interface's units
    blocks = [png_shb(), png_idb(1, tsresol=tsresol, tsoffset=tsoffset)]
    for off, frame in _conversation():
        blocks.append(png_epb(0, min(start_units + off * step, 2**64 - 1), frame))
    path = tmp_path / f"{name}.pcapng"
    path.write_bytes(b"".join(blocks))
    return str(path)


CASES = {
    # name: (start in interface units, if_tsresol, if_tsoffset, the first frame's calendar
    # time, from datetime on the timestamp shifted by whole 400-year Gregorian cycles)
    "year-10000": (YEAR_10000 * 10**6, 6, None, "10000-01-01 00:00:00"),
    "negative": (0, 6, -(10**11), "-1199-02-15 14:13:20"),
    "1e19-ns": (10**19, 9, None, "2286-11-20 17:46:40"),
    "2^64-units": (2**64 - 61, 6, None, "586524-01-19 08:01:49"),
    "huge-offset": (0, 6, 2**62, "146138514283-06-19 07:45:04"),
}
CYCLE_S = 146097 * 86400  # 400 Gregorian years: the calendar repeats exactly


@pytest.fixture(params=sorted(CASES))
def capture(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    start, tsresol, tsoffset, calendar = CASES[request.param]
    return _pcapng(tmp_path, request.param, start, tsresol=tsresol, tsoffset=tsoffset), calendar


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("fmt", ["terminal", "json", "ndjson", "csv", "zeek"])
def test_analyze_copes_in_every_format(capture: tuple[str, str], fmt: str) -> None:
    code, out, _ = _run("analyze", capture[0], "-f", fmt)
    assert code == 0 and out
    if fmt == "json":
        assert json.loads(out)["connections"][0]["close"]["pattern"] == "three_way"


def test_show_draws_the_connection_with_its_calendar_date(
        capture: tuple[str, str], tmp_path: Path) -> None:
    svg, html = tmp_path / "l.svg", tmp_path / "l.html"
    code, out, err = _run("show", capture[0], "--svg", str(svg), "--html", str(html))
    assert (code, err) == (0, "")
    assert f"{capture[1]}." in out and " UTC" in out
    assert capture[1] in html.read_text() and svg.read_text().startswith("<svg")


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_check_copes_in_every_format_and_with_junit(
        capture: tuple[str, str], tmp_path: Path, fmt: str) -> None:
    junit = tmp_path / "tcp.xml"
    code, out, _ = _run("check", capture[0], "--max", "rst_abort=0", "--min", "connections=2",
                        "-f", fmt, "--junit", str(junit))
    assert code == 1 and out  # the connections=2 rule fails: the verdict still counts
    assert f'timestamp="{capture[1].replace(" ", "T")}"' in junit.read_text()


@pytest.mark.parametrize("ts", [YEAR_10000 + 0.5, -(10.0**11), 1e10, 2.0**64 / 1e6, 9.2e18,
                                -1e-7, 1e-7, 1.9999999])
def test_calendar_text_agrees_with_datetime_where_datetime_can_say(ts: float) -> None:
    try:
        expected = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    except (OverflowError, ValueError, OSError):
        cycles, rest = divmod(ts, CYCLE_S)
        moved = datetime.fromtimestamp(rest, tz=UTC)
        year = moved.year + 400 * int(cycles)
        expected = f"{'-' if year < 0 else ''}{abs(year):04d}" + moved.strftime(
            "-%m-%d %H:%M:%S.%f")
    assert utc_text(ts) == expected
    assert junit_timestamp(ts) == utc_text(ts, sep="T", micro=False)
    assert len(clock_text(ts)) == 15


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), float("-inf")])
def test_a_timestamp_that_is_not_a_number_has_no_date(ts: float) -> None:
    assert utc_text(ts) == "?" and clock_text(ts) == "?"
    assert junit_timestamp(ts) == "1970-01-01T00:00:00"
