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

if not cython.compiled:  # compiled, _ingest.pxd cimports it (C-level access)
    from .segment import Segment

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (the flow table uses it only then)."""

_SYN = cython.declare(cython.int, 0x02)  # segment.SYN
_SYN_ACK_RST = cython.declare(cython.int, 0x02 | 0x10 | 0x04)  # segment.SYN | ACK | RST


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

    def __call__(self, seg: Segment) -> tuple[Any, bool]:
        """The connection ``seg`` belongs to and whether endpoint a sent it (see
        ``FlowTable.lookup``)."""
        sport: cython.int = seg.sport
        dport: cython.int = seg.dport
        vlan: tuple = () if self._vlan_free else seg.vlan
        if sport < dport or (sport == dport and seg.src <= seg.dst):  # flowtable._index_key
            key = (seg.src, sport, seg.dst, dport, vlan)
        else:
            key = (seg.dst, dport, seg.src, sport, vlan)
        ts: cython.double = seg.ts
        if (seg.flags & _SYN_ACK_RST == _SYN
                or (ts >= self._table.next_sweep and not self._wireshark)):
            return self._slow(seg)  # a plain SYN may open an incarnation; a sweep is due
        conn = self._index.get(key)
        if conn is None or conn.prev is not None:
            return self._slow(seg)  # new (or cut, or late), or an earlier incarnation lives
        last_ts: cython.double = conn.last_ts
        if ts - last_ts >= self._min_timeout:
            return self._slow(seg)  # idle long enough to have expired, maybe
        a = conn.a
        aport: cython.int = a.port
        from_a: cython.bint = sport == aport and seg.src == a.addr
        return conn, from_a


def count_frames(frames: Iterable[tuple[int, float, int, bytes]], decoder: Any) -> tuple[int, int]:
    """Decode every frame and look its 4-tuple (plus VLAN ids) up in a dict, entering both
    directions of a new one; (frames, TCP segments)."""
    index: dict = {}
    decode = decoder.decode
    n: cython.longlong = 0
    segs: cython.longlong = 0
    s: Segment
    for frame, ts, linktype, data in frames:
        n += 1
        seg = decode(frame, ts, linktype, data)
        if seg is None:
            continue
        s = seg
        segs += 1
        key = (s.src, s.sport, s.dst, s.dport, s.vlan)
        if key not in index:
            index[key] = segs
            index[(s.dst, s.dport, s.src, s.sport, s.vlan)] = segs
    return n, segs
