"""The TCP checksum (RFC 9293 §3.1, RFC 1071): verify a captured segment.

One source, two engines (STYLE §8).  Compiled by Cython, :func:`tcp_checksum_verdict` sums
the segment's 16-bit big-endian words in a C loop straight from the frame's bytes (no slice
is built).  Interpreted, a loop would cost microseconds per packet, so the same function
takes the arithmetic shortcut instead: the ones'-complement sum of 16-bit big-endian words
is congruent to the big-endian integer value of the bytes modulo 65535 (because
65536 = 1 mod 65535), so the whole check is one ``int.from_bytes`` and one modulo in C.
Both give the same verdict for every input; ``tests/test_engine_differential.py`` checks it.

A correct checksum makes the folded sum 0xFFFF, i.e. 0 modulo 65535 (an all-zero sum is
impossible: the protocol word is 6).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:
    memcpy: Any = None  # libc's, cimported by checksum.pxd: only _ld32 calls it (compiled)

# The compiled sum loads 4-byte words in the machine's own byte order (no byte swap): the
# sum of little-endian 16-bit words times 256 is congruent modulo 65535 to the sum of the
# big-endian ones (256 * (b0 + 256 b1) = 256 b0 + 65536 b1 = 256 b0 + b1), RFC 1071's
# "byte order independence".
_NATIVE_LE = cython.declare(cython.bint, sys.byteorder == "little")

# (the compiled modulo 0xFFFF takes the literal, which the C compiler turns into a multiply
# and shifts; a declared constant is a C variable, and its ``%`` a 64-bit division, tens of
# cycles each, five a segment)

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
def _ld32(p: cython.p_const_uchar) -> cython.uint:
    """The 32-bit word at ``p`` in the machine's byte order (one unaligned load)."""
    w: cython.uint = 0
    memcpy(cython.address(w), p, 4)
    return w


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
@cython.cdivision(True)  # unsigned operands: C's % is Python's, minus the zero check
def _sum_words(p: cython.p_const_uchar, n: cython.Py_ssize_t) -> cython.ulonglong:
    """A number below 65535 congruent modulo 65535 to the sum of the big-endian 16-bit
    words of ``p[0:n]`` (an odd last byte padded with 0).

    It adds the 32-bit words in the machine's byte order into a 64-bit sum: each word's
    value is congruent to the sum of its two 16-bit words in that order (65536 = 1 mod
    65535), and no carry is lost (a segment has far fewer than 2**32 words), so the loop
    has no carry to chain and the C compiler runs it on vector registers, 16 bytes a step
    (RFC 1071's "deferred carries").  On a little-endian machine that sum times 256 is
    the big-endian one (see _NATIVE_LE).  The last 3 bytes or fewer are read big-endian.
    """
    s: cython.ulonglong = 0
    words: cython.Py_ssize_t = n >> 2
    k: cython.Py_ssize_t
    for k in range(words):  # a counted loop with one sum: vectorised
        s += _ld32(p + 4 * k)
    i: cython.Py_ssize_t = words << 2
    s = s % 0xFFFF  # room for the last few bytes
    if _NATIVE_LE:  # little-endian words: times 256 makes the big-endian sum (see above)
        s = (s << 8) % 0xFFFF
    if i + 1 < n:
        s += (cython.cast(cython.ulonglong, p[i]) << 8) | p[i + 1]
        i += 2
    if i < n:
        s += cython.cast(cython.ulonglong, p[i]) << 8
    return s % 0xFFFF


@cython.cfunc
@cython.exceptval(check=False)
@cython.nogil
@cython.cdivision(True)  # unsigned operands: C's % is Python's, minus the zero check
def tcp_verdict(seg: cython.p_const_uchar, seglen: cython.Py_ssize_t,
                addrs: cython.p_const_uchar, alen: cython.Py_ssize_t,
                field: cython.uint) -> cython.int:
    """:func:`tcp_checksum_verdict` on C pointers, for the compiled decoder (``cimport``
    through ``checksum.pxd``): 1 correct, 0 incorrect, -1 not computed (offload)."""
    pseudo: cython.ulonglong = _sum_words(addrs, alen) + 6 + seglen
    total: cython.ulonglong = pseudo + _sum_words(seg, seglen)
    if total % 0xFFFF == 0:
        return 1
    partial: cython.ulonglong = pseudo % 0xFFFF
    if partial == 0:
        partial = 0xFFFF
    return -1 if field == partial or (field == 0 and partial == 0xFFFF) else 0


def tcp_checksum_ok(segment: bytes | memoryview, pseudo: int) -> bool:
    """Verify a TCP checksum over ``segment`` plus a pseudo-header sum ``pseudo``.

    ``pseudo`` is any integer congruent (mod 65535) to the pseudo-header's word sum, e.g.
    ``int.from_bytes(src + dst, "big") + 6 + len(segment)``.  The reference form of the
    check, for tests and benchmarks; the decoder calls :func:`tcp_checksum_verdict`.
    """
    n = int.from_bytes(segment, "big")
    if len(segment) & 1:
        n <<= 8
    return (n + pseudo) % 0xFFFF == 0


def checksum_verdict(segment: bytes | memoryview, pseudo: int, field: int) -> bool | None:
    """:func:`tcp_checksum_verdict` for a segment already cut out and a pseudo-header sum."""
    if tcp_checksum_ok(segment, pseudo):
        return True
    partial = pseudo % 0xFFFF or 0xFFFF
    return None if field == partial or (field == 0 and partial == 0xFFFF) else False


@cython.ccall
@cython.cdivision(True)  # unsigned operands: C's % is Python's, minus the zero check
def tcp_checksum_verdict(data: bytes | memoryview, start: cython.Py_ssize_t,
                         end: cython.Py_ssize_t, addrs: bytes | memoryview,
                         field: cython.uint) -> bool | None:
    """True/False for a correct/incorrect checksum of ``data[start:end]``; None: never computed.

    ``data[start:end]`` is the whole TCP segment (header and payload, as captured), ``addrs``
    the source and destination addresses (4 + 4 or 16 + 16 bytes) for the pseudo-header, and
    ``field`` the segment's checksum field (0..65535).  A range outside ``data`` is a
    programmer error (``ValueError``) in both engines.

    A host with checksum offload hands its NIC segments whose checksum field holds only the
    folded pseudo-header sum (Linux ``CHECKSUM_PARTIAL``): a capture taken on that host sees
    them so.  That is not corruption, so it is reported as "not verified" rather than bad.
    A correct checksum is checked first, because it can equal the pseudo-header sum.
    """
    seglen: cython.Py_ssize_t = end - start
    if start < 0 or seglen < 0 or end > len(data):
        raise ValueError("the segment lies outside the frame")
    if cython.compiled:
        buf: bytes = data if type(data) is bytes else bytes(data)
        a_buf: bytes = addrs if type(addrs) is bytes else bytes(addrs)
        p: cython.p_const_uchar = buf
        a: cython.p_const_uchar = a_buf
        v: cython.int = tcp_verdict(p + start, seglen, a, len(a_buf), field)
        return True if v == 1 else (False if v == 0 else None)
    else:
        pseudo = int.from_bytes(addrs, "big") + 6 + seglen
        n = int.from_bytes(data[start:end], "big")
        if seglen & 1:
            n <<= 8
        if (n + pseudo) % 0xFFFF == 0:
            return True
        partial = pseudo % 0xFFFF
        if partial == 0:
            partial = 0xFFFF
        return None if field == partial or (field == 0 and partial == 0xFFFF) else False
