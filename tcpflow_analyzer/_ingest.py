"""Typed pieces of the per-packet ingestion path: the flow lookup's common case and the
ingestion benchmark's loop (read, decode, checksum, flow lookup; STYLE §8).

* :class:`FlowLookup` is what a compiled :class:`~tcpflow_analyzer.flowtable.FlowTable`
  answers ``lookup(seg)`` with.  It builds the index key from the Segment's C fields and
  settles the common case itself: a segment of a connection the index holds, that is not a
  plain SYN, whose connection has no live earlier incarnation and has not been idle for as
  long as the shortest timeout (so it cannot have expired), when no sweep is due.  Every
  other segment goes to the table's own ``lookup`` (the Python method), which decides it
  by every rule of the module docstring; the answer is the same either way
  (``tests/test_flowtable_*.py`` run on whichever engine is built, and
  ``tests/test_engine_differential.py`` compares the two on generated segment streams).
* :func:`count_frames` is ``pipeline.count_ingest``'s loop (``ingest-bench``): decode every
  frame and look its 4-tuple up in a dict.

Interpreted, the table keeps its plain ``lookup`` (this C-style class would only add a
call), and :func:`count_frames` is the plain loop it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

from ._records import segments

if not cython.compiled:  # compiled, _ingest.pxd cimports them (C-level access)
    from .record import ConnRecord, Endpoint
    from .segment import Segment

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (the flow table uses it only then)."""

_SYN = cython.declare(cython.int, 0x02)  # segment.SYN
_SYN_ACK_RST = cython.declare(cython.int, 0x02 | 0x10 | 0x04)  # segment.SYN | ACK | RST

# Compiled, the ports of the index keys are shared int objects, one per port number met
# (at most 65,536): no int is made per packet, and comparing the keys of a dict probe finds
# the very same objects.  (Only the compiled lookup uses it: interpreted, it stays empty.)
_PORTS = cython.declare(list, [None] * 65536 if cython.compiled else [])


@cython.cfunc
@cython.boundscheck(False)  # the index is checked first
@cython.wraparound(False)
def _port(port: cython.int) -> object:
    """``port`` as an int object, the same object for the same port."""
    if port < 0 or port >= len(_PORTS):  # a test's segment, or interpreted: no sharing
        return port
    obj = _PORTS[port]
    if obj is None:
        obj = port
        _PORTS[port] = obj
    return obj


@cython.ccall  # a C call from the lookup; visible to the tests
def _index_key(seg: Segment, vlan_free: cython.bint) -> tuple:
    """``flowtable._index_key`` of ``seg``'s 4-tuple (and VLAN ids, unless ``vlan_free``),
    its ports shared."""
    sport: cython.int = seg.sport
    dport: cython.int = seg.dport
    src: bytes = seg.src
    dst: bytes = seg.dst
    vlan: tuple = () if vlan_free else seg.vlan
    if sport < dport or (sport == dport and src <= dst):
        return (src, _port(sport), dst, _port(dport), vlan)
    return (dst, _port(dport), src, _port(sport), vlan)


@cython.cclass
class FlowLookup:
    """``lookup(seg) -> (connection or None, from_a)`` for one flow table: the common case
    here, every other one by ``slow`` (the table's own ``lookup``)."""

    def __init__(self, table: Any, slow: Callable[[Segment], tuple[Any, bool]]) -> None:
        self._table = table
        self._index = table.index
        self._slow = slow
        self._vlan_free = table.vlan_free
        self._wireshark = table.wireshark
        self._min_timeout = table._min_timeout
        self._next_sweep = table.next_sweep

    @cython.cfunc
    def _by_table(self, seg: Segment) -> tuple:
        """The table's own answer; its sweep (run only from there) may have moved
        ``next_sweep``."""
        answer: tuple = self._slow(seg)
        self._next_sweep = self._table.next_sweep
        return answer

    def __call__(self, seg: Segment) -> tuple[Any, bool]:
        """The connection ``seg`` belongs to and whether endpoint a sent it (see
        ``FlowTable.lookup``)."""
        ts: cython.double = seg.ts
        if (seg.flags & _SYN_ACK_RST == _SYN
                or (ts >= self._next_sweep and not self._wireshark)):
            return self._by_table(seg)  # a plain SYN may open an incarnation; a sweep is due
        found = self._index.get(_index_key(seg, self._vlan_free))
        if found is None:
            return self._by_table(seg)  # new (or cut, or late)
        conn: ConnRecord = found
        if conn.prev is not None:
            return self._by_table(seg)  # an earlier incarnation lives
        if ts - conn.last_ts >= self._min_timeout:
            return self._by_table(seg)  # idle long enough to have expired, maybe
        a: Endpoint = conn.a
        from_a: cython.bint = seg.sport == a.port and seg.src == a.addr
        return conn, from_a


def count_frames(frames: Iterable[tuple[int, float, int, bytes]], decoder: Any) -> tuple[int, int]:
    """Decode every frame and look its flow up in a dict, under the flow index's key (the
    4-tuple, lower port first, and the VLAN ids), entering a new one; (frames, TCP
    segments)."""
    index: dict = {}
    n: cython.longlong = 0
    segs: cython.longlong = 0
    for seg in segments(frames, decoder):  # as Analyzer.feed reads them
        n += 1
        if seg is None:
            continue
        segs += 1
        key = _index_key(seg, False)
        if key not in index:
            index[key] = segs
    return n, segs
