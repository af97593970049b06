"""Reports round times with ``verdict.round_us`` / ``_round_ns``: bit for bit ``round()``."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.verdict import _round_ns, round_us


def _same(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_round_us_is_round_to_six_places(x: float) -> None:
    assert _same(round_us(x), round(x, 6))


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_round_ns_is_round_to_nine_places(x: float) -> None:
    assert _same(_round_ns(x), round(x, 9))


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 4_000_000_000), st.integers(0, 999_999_999))
def test_capture_timestamps_round_like_round(sec: int, nsec: int) -> None:
    ts = sec + nsec * 1e-9  # how the reader builds a nanosecond timestamp
    assert _same(round_us(ts), round(ts, 6))
    assert _same(round_us(ts - 1_700_000_000.5), round(ts - 1_700_000_000.5, 6))


@pytest.mark.parametrize("x", [
    0.0, -0.0, 0.5e-6, -0.5e-6, 1.5e-6, 2.5e-6, 0.0000005, 1e-7, 123.4567895, 2.675e-6,
    1e300, -1e300, 2.0**52 / 1e6, 4503599627.370495, math.inf, -math.inf, math.nan,
])
def test_round_us_edge_cases(x: float) -> None:
    assert _same(round_us(x), round(x, 6))


@settings(max_examples=3000, deadline=None)
@given(st.integers(1_000_000_000, 4_000_000_000), st.integers(0, 999_999_999),
       st.integers(0, 2_000_000_000))
def test_differences_of_capture_timestamps_round_like_round(sec: int, nsec: int,
                                                           gap_ns: int) -> None:
    """An RTT is the difference of two epoch timestamps: its float noise sits anywhere
    between two nanoseconds, so it is rounded near a half far more often than a
    timestamp is."""
    t0 = sec + nsec * 1e-9
    t1 = t0 + gap_ns * 1e-9
    assert _same(_round_ns(t1 - t0), round(t1 - t0, 9))
    assert _same(round_us(t1 - t0), round(t1 - t0, 6))


@pytest.mark.parametrize("x", [
    # products within a hair of a half: the exact decimal decides, not the product
    0.0000015, 0.0000025, 1.0000005, 2.5e-9, 0.1234565, 1e-7 + 5e-13, 0.5e-9,
    1234.5678905, 4503599627.3704995,
])
def test_near_half_edge_cases(x: float) -> None:
    assert _same(round_us(x), round(x, 6))
    assert _same(_round_ns(x), round(x, 9))
