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

    memcpy: Any = None  # libc's, cimported by _ingest.pxd: only _ld calls it (compiled)

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


# -- the flow index ----------------------------------------------------------------------------
# An open-addressing hash table with linear probing (see FlowIndex): ``_tags`` holds, per
# slot, 0 (empty), 1 (deleted) or a live entry's tag (32 bits of its key's hash, bit 1 set,
# bit 0 saying which of its connection's keys it is), ``_conns`` the connection.
_M64 = cython.declare(cython.ulonglong, 0xFFFFFFFFFFFFFFFF)
_MIX1 = cython.declare(cython.ulonglong, 0xFF51AFD7ED558CCD)  # MurmurHash3's fmix64
_MIX2 = cython.declare(cython.ulonglong, 0xC4CEB9FE1A85EC53)
_TAG_BITS = cython.declare(cython.uint, 0xFFFFFFFC)
_EMPTY = cython.declare(cython.uint, 0)
_DELETED = cython.declare(cython.uint, 1)
_MIN_SLOTS = cython.declare(cython.Py_ssize_t, 8)
_INLINE = cython.declare(cython.ulonglong, 1 << 32)  # in a slot's second key word


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
def _fmix(h: cython.ulonglong) -> cython.ulonglong:
    """MurmurHash3's 64-bit finaliser (a bijection: every bit of ``h`` moves every bit)."""
    h ^= h >> 33
    h = (h * _MIX1) & _M64
    h ^= h >> 33
    h = (h * _MIX2) & _M64
    return h ^ (h >> 33)


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
def _ld4(p: cython.p_const_uchar) -> cython.uint:
    """The 4 bytes at ``p`` as a number in the machine's byte order (compiled only)."""
    w: cython.uint = 0
    memcpy(cython.address(w), p, 4)
    return w


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
def _ld(p: cython.p_const_uchar, n: cython.Py_ssize_t) -> cython.ulonglong:
    """The ``n`` bytes (at most 8) at ``p`` as a number in the machine's byte order (one
    unaligned load when ``n`` is 8 or 4; compiled only)."""
    w: cython.ulonglong = 0
    if n == 8:
        memcpy(cython.address(w), p, 8)
        return w
    if n == 4:
        return _ld4(p)
    i: cython.Py_ssize_t
    for i in range(n):
        w |= cython.cast(cython.ulonglong, p[i]) << (i * 8)
    return w


@cython.cfunc
def _mix_bytes(h: cython.ulonglong, data: bytes) -> cython.ulonglong:
    """``h`` mixed with ``data``, eight bytes at a time, and its length.

    Compiled, each step is one load from the bytes object's buffer (an IPv4 address: one
    load and one mix); interpreted, the bytes are gathered one by one (a different value:
    each engine's index only compares hashes it made itself)."""
    n: cython.Py_ssize_t = len(data)
    i: cython.Py_ssize_t
    if cython.compiled:
        p: cython.p_const_uchar = data
        i = 0
        while n - i > 8:
            h = _fmix(h ^ _ld(p + i, 8))
            i += 8
        return _fmix(h ^ _ld(p + i, n - i) ^ ((cython.cast(cython.ulonglong, n) << 56) & _M64))
    w: cython.ulonglong = 0
    for i in range(n):
        w |= cython.cast(cython.ulonglong, data[i]) << ((i & 7) * 8)
        if i & 7 == 7:
            h = _fmix(h ^ w)
            w = 0
    return _fmix(h ^ w ^ ((cython.cast(cython.ulonglong, n) << 56) & _M64))


@cython.cfunc
def _mix_pair(h: cython.ulonglong, first: bytes, second: bytes) -> cython.ulonglong:
    """``h`` mixed with ``first`` then ``second``: compiled, two IPv4 addresses are one
    64-bit word and one mix; any other pair, each by :func:`_mix_bytes`."""
    if cython.compiled and len(first) == 4 and len(second) == 4:
        p: cython.p_const_uchar = first
        q: cython.p_const_uchar = second
        return _fmix(h ^ ((_ld(p, 4) << 32) | _ld(q, 4)))
    return _mix_bytes(_mix_bytes(h, first), second)


@cython.cclass
class FlowIndex:
    """The compiled flow table's index: connection by flow-index key (``flowtable._index_key``:
    4-tuple lower port first, and the VLAN ids unless ``vlan_free``), without a key object.

    A dict keyed by the key tuple costs a tuple (80 bytes) and a dict entry per connection,
    and each packet's probe builds a tuple and hashes it.  Here each slot is 28 bytes (a
    32-bit tag, two 64-bit key words and the connection), and the compiled lookup hashes
    the Segment's C fields (:meth:`_find`) and checks a candidate against the key words
    when the key is two IPv4 addresses, their ports and no VLAN ids (an *inline* key: the
    probe reads only the slot arrays, not the connection and its two endpoints, three
    more cache misses a packet on a capture of many connections), else against the
    connection's own endpoints and VLAN ids, so no key object is built or kept.  The hash
    (MurmurHash3's finaliser over the addresses, ports and the VLAN ids' hash, with a
    random seed per index, so that a capture cannot be made to collide) chooses the slot
    by its low bits; the tag is 32 of its high bits.

    An entry under key ``k`` must name a connection whose endpoints are ``k``'s (either
    way round) and whose VLAN ids are ``k``'s: ``conn.vlan`` (or ``()`` when ``vlan_free``)
    or ``conn.vlan_b`` (--vlan auto's second key); :meth:`__setitem__` refuses any other.
    The table grows to keep at most 2/3 of its slots used or deleted, rebuilt at half full
    (smaller, after many deletions): at most 4 slots per entry, so it is bounded by what
    the flow table holds (``max_active``).  Iteration (tests, ``bench/memory.py``) gives the
    keys, rebuilt from the connections, in connection-id order.

    ``hash_mask`` is a test hook: the hash is and-ed with it (0: every key collides).
    """

    def __init__(self, vlan_free: bool = False, hash_mask: int = 0xFFFFFFFFFFFFFFFF,
                 seed: int | None = None) -> None:
        if seed is None:
            import os
            seed = int.from_bytes(os.urandom(8), "little")
        self._seed = seed & _M64
        self._hash_mask = hash_mask & _M64
        self._vlan_free = vlan_free
        self._used = 0
        self._deleted = 0
        self._from_a = False
        self._alloc(_MIN_SLOTS)

    def _alloc(self, slots: cython.Py_ssize_t) -> None:
        from array import array
        self._tags = array("I", bytes(4 * slots))
        self._keys = array("Q", bytes(16 * slots))
        self._conns = [None] * slots
        self._mask = slots - 1

    @property
    def slots(self) -> int:
        """The slots allocated now (each 28 bytes: a 4-byte tag, two 8-byte key words and a
        list entry)."""
        return self._mask + 1

    def __len__(self) -> int:
        return self._used

    # -- hashing and matching ------------------------------------------------------------
    @cython.cfunc
    def _hash(self, src: bytes, sport: cython.int, dst: bytes, dport: cython.int,
              vlan: tuple) -> cython.ulonglong:
        """The hash of the key of a segment from ``src``:``sport`` to ``dst``:``dport``
        (either way round gives the same hash) with ``vlan`` in its key."""
        h: cython.ulonglong = self._seed
        ports: cython.ulonglong
        if sport < dport or (sport == dport and src <= dst):
            h = _mix_pair(h, src, dst)
            ports = (cython.cast(cython.ulonglong, sport & 0xFFFF) << 16) | (dport & 0xFFFF)
        else:
            h = _mix_pair(h, dst, src)
            ports = (cython.cast(cython.ulonglong, dport & 0xFFFF) << 16) | (sport & 0xFFFF)
        if len(vlan):
            ports ^= ((cython.cast(cython.ulonglong, hash(vlan)) & _M64) << 1) & _M64
        return _fmix(h ^ ports) & self._hash_mask

    @cython.cfunc
    def _key_vlan(self, conn: ConnRecord, second: cython.bint) -> tuple:
        """The VLAN ids in ``conn``'s first key (its own, or none when ``vlan_free``) or in
        its second one (``vlan_b``)."""
        if second:
            return conn.vlan_b
        if self._vlan_free:
            return ()
        return conn.vlan

    @cython.cfunc
    def _conn_hash(self, conn: ConnRecord, second: cython.bint) -> cython.ulonglong:
        a: Endpoint = conn.a
        b: Endpoint = conn.b
        return self._hash(a.addr, a.port, b.addr, b.port, self._key_vlan(conn, second))

    @cython.cfunc
    def _matches(self, conn: ConnRecord, second: cython.bint, src: bytes, sport: cython.int,
                 dst: bytes, dport: cython.int, vlan: tuple) -> cython.bint:
        """Whether ``conn``'s first (or ``second``) key is that of a segment from
        ``src``:``sport`` to ``dst``:``dport`` with ``vlan``; ``_from_a`` then says whether
        it is endpoint a's."""
        a: Endpoint = conn.a
        b: Endpoint = conn.b
        if sport == a.port and dport == b.port and src == a.addr and dst == b.addr:
            self._from_a = True
        elif sport == b.port and dport == a.port and src == b.addr and dst == a.addr:
            self._from_a = False
        else:
            return False
        want: tuple = self._key_vlan(conn, second)
        return vlan is want or vlan == want

    @cython.cfunc
    @cython.boundscheck(False)  # i is masked
    @cython.wraparound(False)
    def _probe(self, h: cython.ulonglong, src: bytes, sport: cython.int, dst: bytes,
               dport: cython.int, vlan: tuple) -> cython.Py_ssize_t:
        """The slot of the entry for that key (``_from_a`` set), or -1 - the slot where it
        would go (the first deleted one on its probe sequence, else the empty one that
        ended it)."""
        mask: cython.Py_ssize_t = self._mask
        i: cython.Py_ssize_t = cython.cast(cython.Py_ssize_t, h & cython.cast(cython.ulonglong, mask))
        want: cython.uint = cython.cast(cython.uint, (h >> 32) & _TAG_BITS) | 2
        free: cython.Py_ssize_t = -1
        t: cython.uint
        # an inline key (see _put) is compared in the slot, without reading the connection
        inline: cython.bint = (cython.compiled and len(vlan) == 0 and len(src) == 4
                               and len(dst) == 4 and 0 <= sport <= 0xFFFF
                               and 0 <= dport <= 0xFFFF)
        fwd1: cython.ulonglong = 0
        fwd2: cython.ulonglong = 0
        rev1: cython.ulonglong = 0
        rev2: cython.ulonglong = 0
        k1: cython.ulonglong
        k2: cython.ulonglong
        if inline:
            ps: cython.p_const_uchar = src
            pd: cython.p_const_uchar = dst
            sw: cython.ulonglong = _ld4(ps)
            dw: cython.ulonglong = _ld4(pd)
            fwd1 = (sw << 32) | dw
            rev1 = (dw << 32) | sw
            fwd2 = _INLINE | (cython.cast(cython.ulonglong, sport) << 16) | dport
            rev2 = _INLINE | (cython.cast(cython.ulonglong, dport) << 16) | sport
        while True:
            t = self._tags[i]
            if t == _EMPTY:
                return -1 - (i if free < 0 else free)
            if t == _DELETED:
                if free < 0:
                    free = i
            elif t & ~cython.cast(cython.uint, 1) == want:
                k2 = self._keys[2 * i + 1]
                if inline:  # only an inline entry can have this key
                    if k2 & _INLINE:
                        k1 = self._keys[2 * i]
                        if k1 == fwd1 and k2 == fwd2:
                            self._from_a = True
                            return i
                        if k1 == rev1 and k2 == rev2:
                            self._from_a = False
                            return i
                elif not k2 & _INLINE and self._matches(self._conns[i], t & 1, src, sport,
                                                        dst, dport, vlan):
                    return i
            i = (i + 1) & mask

    @cython.cfunc
    def _find(self, seg: Segment, vlan: tuple) -> object:
        """The connection indexed under ``seg``'s key (with ``vlan`` in it), ``_from_a``
        set; None when there is none."""
        h: cython.ulonglong = self._hash(seg.src, seg.sport, seg.dst, seg.dport, vlan)
        i: cython.Py_ssize_t = self._probe(h, seg.src, seg.sport, seg.dst, seg.dport, vlan)
        if i < 0:
            return None
        return self._conns[i]

    @cython.cfunc
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def _put(self, h: cython.ulonglong, i: cython.Py_ssize_t, conn: ConnRecord,
             second: cython.bint) -> cython.void:
        """Store ``conn`` (``second``: under its second key) with hash ``h`` at slot ``i``
        (a :meth:`_probe` answer: an entry's slot, or -1 - a free slot)."""
        tag: cython.uint = cython.cast(cython.uint, (h >> 32) & _TAG_BITS) | 2 | second
        if i < 0:
            i = -1 - i
            if self._tags[i] == _DELETED:
                self._deleted -= 1
            self._used += 1
        self._tags[i] = tag
        self._conns[i] = conn
        # compiled, a key of two IPv4 addresses and no VLAN ids is kept in the slot too
        # (both addresses as one word, both ports and _INLINE as the other): a probe for
        # it compares words and never reads the connection (one cache miss, not four)
        a: Endpoint = conn.a
        b: Endpoint = conn.b
        k1: cython.ulonglong = 0
        k2: cython.ulonglong = 0
        if (cython.compiled and len(self._key_vlan(conn, second)) == 0 and len(a.addr) == 4
                and len(b.addr) == 4 and 0 <= a.port <= 0xFFFF and 0 <= b.port <= 0xFFFF):
            pa: cython.p_const_uchar = a.addr
            pb: cython.p_const_uchar = b.addr
            k1 = (cython.cast(cython.ulonglong, _ld4(pa)) << 32) | _ld4(pb)
            k2 = _INLINE | (cython.cast(cython.ulonglong, a.port & 0xFFFF) << 16) | (
                b.port & 0xFFFF)
        self._keys[2 * i] = k1
        self._keys[2 * i + 1] = k2

    @cython.cfunc
    def _room(self) -> cython.bint:
        """Make room for one more entry (rebuilding when 2/3 of the slots would be used or
        deleted); whether it rebuilt (the slots moved)."""
        if (self._used + self._deleted + 1) * 3 <= (self._mask + 1) * 2:
            return False
        slots: cython.Py_ssize_t = _MIN_SLOTS
        while slots < (self._used + 1) * 2:
            slots *= 2
        old_tags: cython.uint[::1] = self._tags
        old_conns: list = self._conns
        n: cython.Py_ssize_t = self._mask + 1
        self._alloc(slots)
        self._used = 0
        self._deleted = 0
        i: cython.Py_ssize_t
        t: cython.uint
        h: cython.ulonglong
        j: cython.Py_ssize_t
        for i in range(n):
            t = old_tags[i]
            if t > _DELETED:
                conn: ConnRecord = old_conns[i]
                h = self._conn_hash(conn, t & 1)
                j = cython.cast(cython.Py_ssize_t, h & cython.cast(cython.ulonglong, self._mask))
                while self._tags[j] != _EMPTY:
                    j = (j + 1) & self._mask
                self._put(h, -1 - j, conn, t & 1)
        return True

    @cython.cfunc
    def _add(self, h: cython.ulonglong, i: cython.Py_ssize_t, seg: Segment, vlan: tuple,
             conn: ConnRecord) -> cython.void:
        """Enter ``conn`` under ``seg``'s key (its first key), where :meth:`_probe` found
        none (answer ``i``, for hash ``h``)."""
        if self._room():
            i = self._probe(h, seg.src, seg.sport, seg.dst, seg.dport, vlan)
        self._put(h, i, conn, False)

    # -- the mapping, for the flow table's Python code -----------------------------------
    @cython.cfunc
    def _slot(self, key: tuple) -> cython.Py_ssize_t:
        src: bytes = key[0]
        dst: bytes = key[2]
        sport: cython.int = key[1]
        dport: cython.int = key[3]
        vlan: tuple = key[4]
        return self._probe(self._hash(src, sport, dst, dport, vlan), src, sport, dst, dport,
                           vlan)

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        """The connection under ``key``, else ``default``."""
        i: cython.Py_ssize_t = self._slot(key)
        return default if i < 0 else self._conns[i]

    def __getitem__(self, key: tuple[Any, ...]) -> Any:
        i: cython.Py_ssize_t = self._slot(key)
        if i < 0:
            raise KeyError(key)
        return self._conns[i]

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        return self._slot(key) >= 0

    def __setitem__(self, key: tuple[Any, ...], conn: ConnRecord) -> None:
        src: bytes = key[0]
        dst: bytes = key[2]
        sport: cython.int = key[1]
        dport: cython.int = key[3]
        vlan: tuple = key[4]
        a: Endpoint = conn.a
        b: Endpoint = conn.b
        if not ((sport == a.port and dport == b.port and src == a.addr and dst == b.addr)
                or (sport == b.port and dport == a.port and src == b.addr and dst == a.addr)):
            raise ValueError(f"key {key!r} does not name connection #{conn.id}'s endpoints")
        second: cython.bint
        if vlan == self._key_vlan(conn, False):
            second = False
        elif conn.vlan_b is not None and vlan == conn.vlan_b:
            second = True
        else:
            raise ValueError(f"key {key!r} does not carry connection #{conn.id}'s VLAN ids")
        h: cython.ulonglong = self._hash(src, sport, dst, dport, vlan)
        i: cython.Py_ssize_t = self._probe(h, src, sport, dst, dport, vlan)
        if i < 0 and self._room():
            i = self._probe(h, src, sport, dst, dport, vlan)
        self._put(h, i, conn, second)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def __delitem__(self, key: tuple[Any, ...]) -> None:
        i: cython.Py_ssize_t = self._slot(key)
        if i < 0:
            raise KeyError(key)
        # an entry followed by an empty slot ends no other entry's probe sequence
        self._tags[i] = _EMPTY if self._tags[(i + 1) & self._mask] == _EMPTY else _DELETED
        if self._tags[i] == _DELETED:
            self._deleted += 1
        self._conns[i] = None
        self._used -= 1

    def _entries(self) -> list[tuple[Any, ...]]:
        """(connection id, second key, key, connection) of every entry, in that order."""
        out = []
        for i in range(self._mask + 1):
            t = self._tags[i]
            if t > _DELETED:
                conn = self._conns[i]
                a = conn.a
                b = conn.b
                second = bool(t & 1)
                vlan = self._key_vlan(conn, second)
                ap = _port(a.port)
                bp = _port(b.port)
                if ap < bp or (ap == bp and a.addr <= b.addr):
                    key = (a.addr, ap, b.addr, bp, vlan)
                else:
                    key = (b.addr, bp, a.addr, ap, vlan)
                out.append((conn.id, second, key, conn))
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    def __iter__(self) -> Any:
        return iter([e[2] for e in self._entries()])

    def keys(self) -> list[tuple[Any, ...]]:
        return [e[2] for e in self._entries()]

    def values(self) -> list[Any]:
        return [e[3] for e in self._entries()]

    def items(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [(e[2], e[3]) for e in self._entries()]


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
        index: FlowIndex = self._index
        found = index._find(seg, () if self._vlan_free else seg.vlan)
        if found is not None:
            conn: ConnRecord = found
            # not when an earlier incarnation lives, or when idle long enough to have
            # expired, maybe
            if conn.prev is None and ts - conn.last_ts < self._min_timeout:
                self._from_a = index._from_a
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
        item = None  # seg too is dropped before the next frame: the decoder reuses it
        segs += 1
        if fast is not None:
            found = fast._find(seg)
            from_a = fast._from_a
        else:
            found, from_a = lookup(seg)
        if found is None:  # of a connection already reported, cut short by the cap
            seg = None
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
                seg = None
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
            seg = None
            continue
        conn.process(seg, from_a)
        if on_segment is not None:
            on_segment(conn, seg, from_a, True)
        seg = None
    an.stats.frames += n
    an.stats.tcp_segments += segs


def count_frames(frames: Iterable[tuple[int, float, int, bytes]], decoder: Any) -> tuple[int, int]:
    """Decode every frame and look its flow up in a dict, under the flow index's key (the
    4-tuple, lower port first, and the VLAN ids), entering a new one; (frames, TCP
    segments)."""
    n: cython.longlong = 0
    segs: cython.longlong = 0
    if not cython.compiled:
        index: dict = {}
        for seg in segments(frames, decoder):  # as Analyzer.feed reads them
            n += 1
            if seg is None:
                continue
            segs += 1
            key = _index_key(seg, False)
            if key not in index:
                index[key] = segs
        return n, segs
    # compiled: the flow table's own index, each new flow entered under a record that holds
    # only what the index reads (both endpoints' addresses and ports, the VLAN ids)
    flows: FlowIndex = FlowIndex(False)
    s: Segment
    h: cython.ulonglong
    i: cython.Py_ssize_t
    for item in segments(frames, decoder):
        n += 1
        if item is None:
            continue
        segs += 1
        s = item
        item = None  # (both dropped before the next frame: the decoder reuses the Segment)
        h = flows._hash(s.src, s.sport, s.dst, s.dport, s.vlan)
        i = flows._probe(h, s.src, s.sport, s.dst, s.dport, s.vlan)
        if i < 0:
            flows._add(h, i, s, s.vlan, _bare_record(s, segs))
        s = None
    return n, segs


@cython.cfunc
def _bare_record(seg: Segment, n: cython.longlong) -> ConnRecord:
    """A connection record holding only the fields the flow index reads (``count_frames``:
    a flow, not a connection to analyse)."""
    rec: ConnRecord = ConnRecord.__new__(ConnRecord)
    a: Endpoint = Endpoint.__new__(Endpoint)
    b: Endpoint = Endpoint.__new__(Endpoint)
    a.addr = seg.src
    a.port = seg.sport
    b.addr = seg.dst
    b.port = seg.dport
    rec.a = a
    rec.b = b
    rec.vlan = seg.vlan
    rec.id = n
    return rec
