"""Algebraic laws of the mod-2^32 helpers (RFC 1982 serial arithmetic)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpflow_analyzer.seqnum import (
    HALF,
    MASK,
    in_window,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_le,
    seq_lt,
    seq_max,
    unwrap,
)

u32 = st.integers(min_value=0, max_value=MASK)
small = st.integers(min_value=-(HALF - 1), max_value=HALF - 1)


@given(u32, small)
def test_add_then_diff_roundtrips(a: int, n: int) -> None:
    assert seq_diff(seq_add(a, n), a) == n


@given(u32, u32)
def test_diff_is_antisymmetric_except_at_half(a: int, b: int) -> None:
    d = seq_diff(a, b)
    if d != -HALF:
        assert seq_diff(b, a) == -d


@given(u32, st.integers(min_value=1, max_value=HALF - 1))
def test_order_survives_wrap(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert seq_lt(a, b) and seq_le(a, b) and seq_gt(b, a) and seq_ge(b, a)
    assert seq_max(a, b) == b


@given(u32, st.integers(min_value=0, max_value=1 << 30),
       st.integers(min_value=1, max_value=1 << 30))
def test_in_window_matches_offset(left: int, off: int, size: int) -> None:
    assert in_window(seq_add(left, off), left, size) == (off < size)


@given(st.integers(min_value=0, max_value=1 << 50), small)
def test_unwrap_recovers_nearby_offsets(ref: int, delta: int) -> None:
    target = ref + delta
    if target >= 0:
        assert unwrap(target & MASK, ref) == target


def test_wrap_boundary_examples() -> None:
    assert seq_lt(0xFFFFFFF0, 0x10)
    assert seq_diff(0x10, 0xFFFFFFF0) == 0x20
