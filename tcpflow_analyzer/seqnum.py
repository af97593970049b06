"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4, RFC 1982).

This module is the only place that compares or subtracts raw TCP sequence numbers.  Every
other module goes through these helpers, so ISNs near 2**32 and connections that move more
than 4 GiB work everywhere.
"""

from __future__ import annotations

MOD = 1 << 32
HALF = 1 << 31
MASK = MOD - 1


def seq_add(a: int, n: int) -> int:
    """Return ``a + n`` modulo 2**32."""
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in sequence space, in ``[-2**31, 2**31)``."""
    d = (a - b) & MASK
    return d - MOD if d >= HALF else d


def seq_lt(a: int, b: int) -> bool:
    """True when ``a`` comes strictly before ``b`` in sequence space."""
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    """True when ``a`` comes before or equals ``b`` in sequence space."""
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    """True when ``a`` comes strictly after ``b`` in sequence space."""
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    """True when ``a`` comes after or equals ``b`` in sequence space."""
    return seq_diff(a, b) >= 0


def seq_max(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return a if seq_diff(a, b) >= 0 else b


def in_window(seq: int, left: int, size: int) -> bool:
    """True when ``left <= seq < left + size`` in sequence space (``size`` >= 0)."""
    return 0 <= ((seq - left) & MASK) < size


def unwrap(seq: int, ref_abs: int) -> int:
    """Unwrap a 32-bit ``seq`` to the 64-bit offset nearest to ``ref_abs``.

    ``ref_abs`` is an already-unwrapped offset (for instance the highest one seen so far).
    The result is the unique value congruent to ``seq`` modulo 2**32 within 2**31 of it.
    """
    return ref_abs + seq_diff(seq, ref_abs & MASK)
