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
    from .decode import Decoder
    from .record import ConnRecord, Endpoint
    from .segment import Segment
    from .tracker import Connection

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
        conn = self._find(seg)
        return conn, self._from_a

    @cython.cfunc
    def _find(self, seg: Segment) -> object:
        """:meth:`__call__` without the tuple: the connection (or None), ``_from_a`` set."""
        ts: cython.double = seg.ts
        answer: tuple
        if (seg.flags & _SYN_ACK_RST == _SYN
                or (ts >= self._next_sweep and not self._wireshark)):
            answer = self._by_table(seg)  # a plain SYN may open an incarnation; a sweep is due
            self._from_a = answer[1]
            return answer[0]
        found = self._index.get(_index_key(seg, self._vlan_free))
        if found is not None:
            conn: ConnRecord = found
            # not when an earlier incarnation lives, or when idle long enough to have
            # expired, maybe
            if conn.prev is None and ts - conn.last_ts < self._min_timeout:
                a: Endpoint = conn.a
                self._from_a = seg.sport == a.port and seg.src == a.addr
                return conn
        answer = self._by_table(seg)  # new (or cut, or late), or one of the cases above
        self._from_a = answer[1]
        return answer[0]


def feed(an: Any, frames: Iterable[Any], on_segment: Any, max_hosts: cython.Py_ssize_t) -> None:
    """``Analyzer.feed``'s loop (pipeline.py, which documents it): each segment through the
    flow lookup, the checksum rule and the tracker.  Compiled, the lookup, the segment's
    and the connection's fields and ``Connection.process`` are C calls and reads; the rest
    (rare: a clock step back, a bad checksum) calls back into the analyzer.  ``max_hosts``
    caps the hosts remembered for the checksum rule."""
    lookup = an.table.lookup
    fast: FlowLookup = None
    if cython.compiled and isinstance(lookup, FlowLookup):
        fast = lookup
    strict: cython.bint = an.config.checksums == "strict"
    host_good: dict = an._host_good
    decoder: Decoder = an.decoder
    cut: cython.longlong = decoder.payload_truncated  # payloads the snap length cut
    n: cython.longlong = 0
    segs: cython.longlong = 0
    seg: Segment
    conn: Connection
    from_a: cython.bint
    for item in segments(frames, decoder):  # compiled: decoded in the read buffer
        n += 1
        if item is None:
            continue
        seg = item
        segs += 1
        if fast is not None:
            found = fast._find(seg)
            from_a = fast._from_a
        else:
            found, from_a = lookup(seg)
        if found is None:  # of a connection already reported, cut short by the cap
            continue
        conn = found
        if seg.ts < conn.last_ts:
            an._clock_went_back(conn, seg, from_a)
        ok = seg.csum_ok
        if ok is False:
            if strict or host_good.get(seg.src, 0):
                an.stats.bad_checksums += 1
                conn.bad_checksum(seg, from_a)
                if on_segment is not None:
                    on_segment(conn, seg, from_a, False)
                continue
            an._note_offload(seg.src)
        elif ok:
            if seg.src not in host_good and len(host_good) < max_hosts:
                host_good[seg.src] = 1  # beyond the cap a host's bad checksums read as offload
        elif decoder.payload_truncated != cut:
            cut = decoder.payload_truncated
            conn.payload_uncaptured(seg, from_a)
        elif strict:  # whole, but the checksum is only the pseudo-header sum (offload)
            conn.zeek_checksum_drop(seg, from_a)
            if on_segment is not None:
                on_segment(conn, seg, from_a, True)
            continue
        conn.process(seg, from_a)
        if on_segment is not None:
            on_segment(conn, seg, from_a, True)
    an.stats.frames += n
    an.stats.tcp_segments += segs


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
