"""A capture clock that steps back inside a connection (one flipped timestamp bit, a clock
stepped by NTP): each connection keeps a monotonic clock, so nothing in the report is a
negative duration, RTT, gap or rate, and the step is counted (``clock_went_back``)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "handshake-basic.pcap"
runner = CliRunner()


def _records(data: bytes) -> list[int]:
    offs, o = [], 24
    while o < len(data):
        offs.append(o)
        o += 16 + struct.unpack_from("<I", data, o + 8)[0]
    return offs


def _negatives(x: Any, path: str = "") -> list[tuple[str, float]]:
    """Every negative number in the report, but absolute timestamps (keys ending in ts)."""
    if isinstance(x, dict):
        return [n for k, v in x.items() if not str(k).endswith("ts")
                for n in _negatives(v, f"{path}.{k}")]
    if isinstance(x, list):
        return [n for i, v in enumerate(x) for n in _negatives(v, f"{path}[{i}]")]
    if isinstance(x, int | float) and not isinstance(x, bool) and x < 0:
        return [(path, x)]
    return []


@pytest.mark.parametrize("record", range(1, 11))
def test_a_timestamp_flipped_256_s_back_gives_no_negative_time(tmp_path: Path,
                                                              record: int) -> None:
    # the fuzz case of issue 12: bit 8 of one record's seconds flipped, that segment 256 s
    # before its predecessor (frame 2 gave duration_s -255.98, frame 3 an RTT of -256 s)
    data = bytearray(SAMPLE.read_bytes())
    off = _records(bytes(data))[record]
    sec = struct.unpack_from("<I", data, off)[0]
    assert sec & 256
    struct.pack_into("<I", data, off, sec ^ 256)
    cap = tmp_path / "flipped.pcap"
    cap.write_bytes(bytes(data))
    res = runner.invoke(app, ["analyze", str(cap), "-f", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert _negatives(doc) == []
    (conn,) = doc["connections"]  # still one connection, not split by the step
    assert conn["anomalies"].get("clock_went_back") == 1
    assert 0 <= conn["duration_s"] <= 0.06225
    assert any("clock went back on 1 segments" in w for w in doc["capture"]["warnings"])


def test_a_steady_clock_reports_no_step(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", str(SAMPLE), "-f", "json"])
    doc = json.loads(res.stdout)
    assert "clock_went_back" not in doc["connections"][0]["anomalies"]
    assert not any("clock went back" in w for w in doc["capture"]["warnings"])
