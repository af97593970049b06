"""The direct NDJSON writer (ndjson.py) writes exactly the dict path's bytes.

``analyze -f ndjson`` with no filter writes each connection's line straight from its
record; the contract is byte identity with ``{"record":"connection",`` + orjson's encoding
of :func:`~tcpflow_analyzer.report.build_flow_report` + newline, on every connection of
every sample and corpus trace (both semantics, whichever engine runs the suite: run_ci.py
runs it compiled and interpreted), for the encoders on generated values, and for the
CLI's whole output, trailer lines included.
"""

from __future__ import annotations

import io
import math
import os
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tcpflow_analyzer import ndjson
from tcpflow_analyzer.cli import app
from tcpflow_analyzer.clikit import make_config
from tcpflow_analyzer.errors import TcpflowError
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.render.jsonout import NdjsonWriter
from tcpflow_analyzer.rounding import round_ns, round_us

ROOT = Path(__file__).resolve().parent.parent
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".gz", ".bz2", ".xz")
HEAD = b'{"record":"connection",'
DIGEST_SAME = ("id", "outcome", "handshake", "close", "reset", "anomaly_events", "time_wait",
               "initiator")


# rarer sections and spellings the captures must exercise
SECTIONS = (b'"reset":{', b'"time_wait":[{', b'"anomaly_events":[{', b'"port_reuse":{',
            b'"rows":[', b'"vlan":[1', b'"initiator":"both"', b'"initiator":"unknown"',
            b'"anomalies":{"')


def _captures() -> list[str]:
    found = [p for d in ("samples", "tests/data/zeek-corpus")
             for p in sorted((ROOT / d).rglob("*")) if p.is_file()
             and p.name.endswith(CAPTURE_SUFFIXES)]
    return [str(p.relative_to(ROOT)) for p in found]


def _both_ways(paths: list[str], semantics: str) -> tuple[list[bytes], list[bytes],
                                                         list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """(dict-path lines, direct lines, reports, digests) of one analysis each way."""
    reports: list[dict[str, Any]] = []
    analyze_captures(paths, make_config("auto", 60.0, semantics), reports.append)
    expected = [HEAD + orjson.dumps(f)[1:] + b"\n" for f in reports]
    chunks: list[bytes] = []
    lines = ndjson.Lines(chunks.append)
    digests: list[dict[str, Any]] = []

    def on_record(conn: Any, file: str | None) -> None:
        digests.append(lines.write(conn, file))

    def no_flow(f: Any) -> None:
        raise AssertionError("on_record takes every connection")

    analyze_captures(paths, make_config("auto", 60.0, semantics), no_flow,
                     on_record=on_record)
    lines.flush()
    assert not lines.fell_back
    got = b"".join(chunks).splitlines(keepends=True)
    return expected, got, reports, digests


def _check_digests(reports: list[dict[str, Any]], digests: list[dict[str, Any]]) -> None:
    """The digest carries what Summary.add and ListenerView.add_flow read, equal."""
    assert len(digests) == len(reports)
    for f, d in zip(reports, digests, strict=True):
        for k in DIGEST_SAME:
            assert d[k] == f[k], k
        assert dict(sorted((d["anomalies"] or {}).items())) == f["anomalies"]
        assert d["resp"] == f["resp"]
        assert d["data_packets"]["orig"] == f["data_packets"]["orig"]


@pytest.mark.parametrize("semantics", ["default", "wireshark"])
def test_every_connection_of_every_capture_is_written_as_orjson_writes_its_report(
        semantics: str) -> None:
    paths = _captures()
    assert len(paths) > 100  # the samples and the corpus are really there
    n = 0
    seen = set()
    for path in paths:
        try:
            expected, got, reports, digests = _both_ways([path], semantics)
        except TcpflowError:
            continue  # a capture the tool refuses (each way alike)
        assert got == expected, path
        _check_digests(reports, digests)
        n += len(got)
        seen.update(k for k in SECTIONS for line in got if k in line)
    assert n > 200
    assert seen == set(SECTIONS)  # every rarer section was written at least once


def test_several_captures_give_each_line_its_file() -> None:
    paths = [str(ROOT / "samples" / "handshake-basic.pcap"),
             str(ROOT / "samples" / "half-close.pcap")]
    expected, got, reports, digests = _both_ways(paths, "default")
    assert got == expected
    assert b'"file":' in got[-1]
    _check_digests(reports, digests)


def test_a_value_orjson_refuses_falls_back_to_the_dict_path() -> None:
    # a file name that is not valid UTF-8 (a lone surrogate): orjson refuses it, the
    # standard library encodes it (NdjsonWriter); the direct writer gives that line too
    path = str(ROOT / "samples" / "handshake-basic.pcap")
    odd = "capture-\udcff.pcap"
    reports: list[dict[str, Any]] = []
    analyze_captures([path], make_config("auto", 60.0, "default"), reports.append)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    writer = NdjsonWriter(out)
    for f in reports:
        f["file"] = odd
        writer.flow(f)
    expected = out.buffer.getvalue()  # type: ignore[attr-defined]
    chunks: list[bytes] = []
    lines = ndjson.Lines(chunks.append)
    analyze_captures([path], make_config("auto", 60.0, "default"), reports.append,
                     on_record=lambda conn, file: lines.write(conn, odd))
    lines.flush()
    assert lines.fell_back
    assert b"".join(chunks) == expected
    assert b"\\udcff" in expected


# -- the encoders ----------------------------------------------------------------------------
def _next_down(x: float) -> float:
    return struct.unpack("<d", struct.pack("<q", struct.unpack("<q", struct.pack("<d", x))[0]
                                           - 1))[0]


EDGES = [0.0, -0.0, 1.0, -1.0, 1e-5, _next_down(1e-5), 1e-6, 1e16, _next_down(1e16),
         2.0 ** 33, _next_down(2.0 ** 33), 2.0 ** 22, _next_down(2.0 ** 22), 2.0 ** 53,
         5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan, 0.1, 0.30000000000000004,
         1700000000.002196, 0.000066996, 0.120754004, 123456.789, 9.5e-6, 1e21, 1e22]


@pytest.mark.parametrize("x", EDGES + [-x for x in EDGES])
def test_edge_floats_are_spelt_as_orjson_spells_them(x: float) -> None:
    assert ndjson.encode(x) == orjson.dumps(x)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(
    st.floats(),
    st.floats(-2e9, 2e9).map(round_us),
    st.floats(-1e7, 1e7).map(round_ns),
    st.floats(0, 1e-3).map(round_us),
    st.integers(-(10 ** 15), 10 ** 15).map(lambda k: k / 1e6),
    st.integers(-(10 ** 15), 10 ** 15).map(lambda k: k / 1e9),
))
def test_floats_are_spelt_as_orjson_spells_them(x: float) -> None:
    assert ndjson.encode(x) == orjson.dumps(x)


@settings(max_examples=1000, deadline=None)
@given(st.text())
def test_strings_are_escaped_as_orjson_escapes_them(s: str) -> None:
    assert ndjson.encode(s) == orjson.dumps(s)


def test_every_control_character_and_the_specials_are_escaped_as_orjson_does() -> None:
    s = "".join(chr(c) for c in range(0x80)) + "\u00e9\u2028\U0001f600"
    assert ndjson.encode(s) == orjson.dumps(s)


def test_a_lone_surrogate_is_refused_as_orjson_refuses_it() -> None:
    with pytest.raises(TypeError):
        orjson.dumps("\ud800")
    with pytest.raises(UnicodeEncodeError):
        ndjson.encode("\ud800")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_nested_values_are_encoded_as_orjson_encodes_them(v: Any) -> None:
    assert ndjson.encode(v) == orjson.dumps(v)


def test_what_orjson_refuses_is_refused() -> None:
    for v in (1 << 63, -(1 << 63) - 1, {1: 2}, {"a": {1}}, object()):
        with pytest.raises((ndjson.Refused, OverflowError)):
            ndjson.encode(v)


# -- the CLI ---------------------------------------------------------------------------------
@pytest.mark.parametrize("names", [
    ["kernel-basic.pcap"], ["kernel-refused.pcap"],
    ["handshake-basic.pcap", "close-three-way.pcap", "ipv6-basic.pcap"],
])
def test_analyze_ndjson_output_is_the_same_with_and_without_the_direct_writer(
        names: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caps = [str(ROOT / "samples" / n) for n in names]
    taken: list[bool] = []
    original = NdjsonWriter.direct_lines

    def spy(self: NdjsonWriter) -> Any:
        lines = original(self)
        taken.append(lines is not None)
        return lines

    monkeypatch.setattr(NdjsonWriter, "direct_lines", spy)
    runner = CliRunner()
    outs = []
    for via_dict in ("1", "0"):
        monkeypatch.setenv(ndjson.VIA_DICT_ENV, via_dict)
        out = tmp_path / f"out-{via_dict}.ndjson"
        res = runner.invoke(app, ["analyze", *caps, "-f", "ndjson", "-o", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
    assert taken == [False, True]
    assert outs[0] == outs[1]
    last = outs[1].splitlines()[-1]
    assert last.startswith(b'{"record":"summary"') and b'"listeners":' in last
    # a filter keeps the dict path (the direct writer serves the unfiltered output only)
    taken.clear()
    res = runner.invoke(app, ["analyze", *caps, "-f", "ndjson", "--port", "80",
                              "-o", os.devnull])
    assert res.exit_code == 0, res.output
    assert taken == []
