"""Exact decimal rounding of the times a report prints: ``round(x, 6)`` and ``round(x, 9)``
bit for bit, at a fraction of their cost.

``round(x, k)`` writes ``x`` as a correctly rounded decimal (half to even, on the exact
value of the double) and parses that back.  Here ``y = x * 10**k`` is rounded to an
integer ``n`` instead: ``n / 10**k`` is the double nearest to the exact quotient (``n`` and
``10**k`` are exact doubles, and IEEE division rounds correctly), which is what ``round``
parses back too.  The two agree when ``n`` is also the nearest integer to the *exact*
product ``p = x * 10**k``, with no tie.  ``y`` is ``p`` rounded to a double, and rounding
is monotonic: below 2**52 the half-integers ``n ± 1/2`` are doubles, so ``p >= n + 1/2``
would give ``y >= n + 1/2``.  Hence ``|y - n| < 1/2`` (``y - n`` is exact there) proves
that ``p`` lies strictly within 1/2 of ``n``: only a ``y`` that is exactly a half-integer
leaves the exact decimal undecided.  A zero, of either sign, is its own rounding; the
rest (a tiny value that rounds to a signed zero, an exact half-integer ``y``, huge, inf,
nan) goes to ``round`` itself.
``tests/test_report_rounding.py`` checks both against ``round``.

Typed for Cython 3 in pure Python mode (the bottom of the report's floor: the sequence
analysis, the verdict and the report builder cimport :func:`round_us` and
:func:`round_ns` as C functions, ``rounding.pxd``); interpreted, the same functions.
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

if not cython.compiled:  # compiled, rounding.pxd cimports libc's rint
    rint = round  # libc's rint rounds half to even, as round() does

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

#: below this, the half-integers and ``y - n`` are exact doubles (module docstring)
_EXACT_LIMIT = cython.declare(cython.double, 2.0**52)


@cython.cfunc
def _round(x: cython.double, scale: cython.double, digits: cython.int) -> cython.double:
    """Exactly ``round(x, digits)``, ``scale`` being ``10 ** digits``."""
    y: cython.double = x * scale
    n: cython.double
    if y == 0:  # x is a zero (of either sign), which rounds to itself
        return x
    if -_EXACT_LIMIT < y < _EXACT_LIMIT:
        n = rint(y)
        if n != 0 and -0.5 < y - n < 0.5:
            return n / scale
    return round(x, digits)


@cython.ccall
def round_us(x: cython.double) -> cython.double:
    """Exactly ``round(x, 6)``: to the microsecond."""
    return _round(x, 1e6, 6)


@cython.ccall
def round_ns(x: cython.double) -> cython.double:
    """Exactly ``round(x, 9)``: to the nanosecond."""
    return _round(x, 1e9, 9)
