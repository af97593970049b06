"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4, RFC 1982).

This module is the only place that compares or subtracts raw TCP sequence numbers.  Every
other module goes through these helpers, so ISNs near 2**32 and connections that move more
than 4 GiB work everywhere.

It is typed for Cython 3 in pure Python mode (STYLE §8): compiled, every helper is a C
function on 64-bit integers; interpreted, the same lines run as Python.  The two engines
agree bit for bit because nothing relies on a C type's width to wrap: every sum and
difference is masked with ``& _MASK`` explicitly, and the C constants are declared (an
undeclared literal above 2**31 - 1 would make the masking a Python-object operation).
The helpers are ``noexcept nogil``: the compiler rejects any hidden Python operation.
Arguments are 64-bit signed integers: a raw 32-bit ``seq`` or an unwrapped offset
(|value| < 2**62); anything outside that range raises ``OverflowError`` when compiled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

# Public Python objects (other modules import these) ...
MOD = 1 << 32
HALF = 1 << 31
MASK = MOD - 1

# ... and the same values as C constants for the arithmetic below.
_MOD = cython.declare(cython.longlong, 0x100000000)
_HALF = cython.declare(cython.longlong, 0x80000000)
_MASK = cython.declare(cython.longlong, 0xFFFFFFFF)

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_add(a: cython.longlong, n: cython.longlong) -> cython.longlong:
    """Return ``a + n`` modulo 2**32."""
    return (a + n) & _MASK


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_diff(a: cython.longlong, b: cython.longlong) -> cython.longlong:
    """Signed distance ``a - b`` in sequence space, in ``[-2**31, 2**31)``."""
    d: cython.longlong = (a - b) & _MASK
    return d - _MOD if d >= _HALF else d


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_lt(a: cython.longlong, b: cython.longlong) -> cython.bint:
    """True when ``a`` comes strictly before ``b`` in sequence space."""
    return seq_diff(a, b) < 0


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_le(a: cython.longlong, b: cython.longlong) -> cython.bint:
    """True when ``a`` comes before or equals ``b`` in sequence space."""
    return seq_diff(a, b) <= 0


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_gt(a: cython.longlong, b: cython.longlong) -> cython.bint:
    """True when ``a`` comes strictly after ``b`` in sequence space."""
    return seq_diff(a, b) > 0


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_ge(a: cython.longlong, b: cython.longlong) -> cython.bint:
    """True when ``a`` comes after or equals ``b`` in sequence space."""
    return seq_diff(a, b) >= 0


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def seq_max(a: cython.longlong, b: cython.longlong) -> cython.longlong:
    """The later of two sequence numbers."""
    return a if seq_diff(a, b) >= 0 else b


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def in_window(seq: cython.longlong, left: cython.longlong, size: cython.longlong) -> cython.bint:
    """True when ``left <= seq < left + size`` in sequence space (``size`` >= 0)."""
    off: cython.longlong = (seq - left) & _MASK
    return 0 <= off < size


@cython.ccall
@cython.exceptval(check=False)
@cython.nogil
def unwrap(seq: cython.longlong, ref_abs: cython.longlong) -> cython.longlong:
    """Unwrap a 32-bit ``seq`` to the 64-bit offset nearest to ``ref_abs``.

    ``ref_abs`` is an already-unwrapped offset (for instance the highest one seen so far).
    The result is the unique value congruent to ``seq`` modulo 2**32 within 2**31 of it.
    """
    return ref_abs + seq_diff(seq, ref_abs & _MASK)
