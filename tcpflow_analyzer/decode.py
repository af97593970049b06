# cython: annotation_typing=False
"""Frame decoder: ``(linktype, bytes)`` -> :class:`~tcpflow_analyzer.segment.Segment` or None.

The hot path of the product (STYLE §8): it reads only the fields it needs with precompiled
``struct.Struct.unpack_from`` calls, drops non-TCP frames at the ethertype or protocol byte
before building anything, and builds exactly one object (the Segment) per TCP frame.

Link layers: Ethernet (with a stack of up to 64 802.1Q / 802.1ad / QinQ tags, MPLS label
stacks, PPPoE sessions, 802.1ah PBB, VN-Tag and Cisco FabricPath), Linux cooked SLL and
SLL2, BSD loopback (NULL, LOOP), PPP (protocol field compressed or not, MPLS over PPP),
Cisco HDLC, IP over InfiniBand, and the raw-IP link types.  Network layers: IPv4 with
options, IPv6 through its extension-header chain (up to 64 headers), IP-in-IP and 6in4
encapsulation.  Every frame that does not yield a segment is counted in
:attr:`Decoder.skipped` under a reason such as ``non_tcp:udp``, ``non_ip:arp``,
``ip_fragment`` (held for reassembly, see :mod:`.ipfrag`), ``truncated`` or
``unsupported_linktype``.

One source, two engines (STYLE §8).  Compiled by Cython, the common frames (Ethernet and
IPv4 without options, and every IPv4 or IPv6 header that reaches TCP) are read through C
pointers by :func:`_tcp_at`, which checks the checksum with ``checksum.tcp_verdict`` and
fills a :class:`Segment` field by field (``decode.pxd`` cimports both).  Interpreted, the
``struct``-based code below does the same work, and every other frame takes it in both
engines.  The two agree field for field; ``tests/test_engine_differential.py`` checks it
on generated frames.  Argument annotations are for mypy only (``annotation_typing`` is
off for this file, so no signature checks a type at run time); the typed helpers turn it
back on.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from .checksum import tcp_checksum_ok, tcp_checksum_verdict  # noqa: F401 (re-exported)
from .ipfrag import Reassembler
from .segment import SYN, SynOptions

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, decode.pxd cimports both (C-level access)
    from .segment import Segment

    tcp_verdict: Any = None  # a C function of checksum.pxd: only _tcp_at calls it (compiled)
    Py_REFCNT: Any = None  # cpython's, cimported by decode.pxd: only _new_segment calls it
    # libc's, cimported by decode.pxd: only _addr and _ld32 call them (compiled)
    memcmp: Any = None
    memcpy: Any = None

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

# Link-layer header types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_FDDI = 10
LINKTYPE_RAW_BSD = 12  # DLT_RAW on most BSDs
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104  # Cisco HDLC
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_IPOIB = 242  # IP over InfiniBand
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "NULL (BSD loopback)", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_PPP: "PPP",
    LINKTYPE_FDDI: "FDDI",
    LINKTYPE_RAW_BSD: "raw IP", LINKTYPE_RAW_OPENBSD: "raw IP", LINKTYPE_PPP_HDLC: "PPP in HDLC",
    LINKTYPE_RAW: "raw IP", LINKTYPE_LOOP: "LOOP (OpenBSD loopback)",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)", 105: "IEEE 802.11", 127: "802.11 radiotap",
    147: "user-defined", 192: "PPI", 220: "USB", 249: "NFLOG", 263: "Bluetooth",
    LINKTYPE_C_HDLC: "Cisco HDLC", LINKTYPE_IPOIB: "IP over InfiniBand",
}
SUPPORTED_LINKTYPES = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD,
    LINKTYPE_PPP_HDLC, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
    LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, LINKTYPE_FDDI, LINKTYPE_C_HDLC, LINKTYPE_IPOIB,
})
# The link types decoded by Decoder._other_link (off the common path of decode())
_OTHER_LINKTYPES = frozenset({LINKTYPE_C_HDLC, LINKTYPE_IPOIB})


# Skip reasons and unsupported link types are named after frame content (an address family,
# an ethertype, a protocol number): a hostile capture can make a new one per frame.  At most
# this many are kept apart; frames of any further one count under SKIP_OTHER (or linktype -1).
MAX_SKIP_REASONS = 64
SKIP_OTHER = "other"


def count_capped(counts: dict[str, int], reason: str, n: int = 1) -> None:
    """Add ``n`` frames to ``counts[reason]``, folding a new reason into :data:`SKIP_OTHER`
    once :data:`MAX_SKIP_REASONS` are kept (so no table keyed by content grows unbounded)."""
    if reason in counts or len(counts) < MAX_SKIP_REASONS:
        counts[reason] = counts.get(reason, 0) + n
    else:
        counts[SKIP_OTHER] = counts.get(SKIP_OTHER, 0) + n


def linktype_name(linktype: int) -> str:
    """Human name of a link type, e.g. ``Ethernet`` or ``linktype 147``."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{name} ({linktype})" if name else f"linktype {linktype}"


ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100, 0x9200, 0x9300})
_MPLS_TYPES = frozenset({0x8847, 0x8848})
ETH_PPPOE_SESSION = 0x8864
ETH_PBB = 0x88E7
ETH_VNTAG = 0x8926
ETH_FABRICPATH = 0x8903

_ETHER_NAMES = {
    0x0806: "arp", 0x8035: "rarp", 0x88CC: "lldp", 0x888E: "eapol", 0x8863: "pppoe_discovery",
    0x9000: "loopback", 0x88F7: "ptp", 0x8809: "slow_protocols", 0x22F0: "avtp",
}
_IP_PROTO_NAMES = {
    1: "icmp", 2: "igmp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 89: "ospf",
    103: "pim", 112: "vrrp", 132: "sctp", 136: "udplite",
}
# IPv6 extension headers we walk through to find TCP (RFC 8200 §4)
_V6_EXT = frozenset({0, 43, 60, 135, 139, 140})
# Protocols whose fragments are reassembled: TCP, and what can carry it (IP-in-IP, 6in4,
# UDP tunnels, GRE); fragments of anything else are counted as that non-TCP protocol.
_FRAG_PROTOS = frozenset({6, 4, 41, 17, 47})

_TCP = struct.Struct("!HHIIHHH")
_ETH_IP4_TCP = struct.Struct("!12xHBxHHHxBxx4s4sHHIIHHH").unpack_from
_IP4 = struct.Struct("!BxHHHBB")
_IP6 = struct.Struct("!4xHB")
_U16 = struct.Struct("!H")
_U16LE = struct.Struct("<H")
_U32 = struct.Struct("!I")
_U32LE = struct.Struct("<I")
_TS = struct.Struct("!II")
_TS_PREFIX = b"\x01\x01\x08\x0a"

#: The options of a SYN that carries none (shared: SynOptions are never mutated)
NO_SYN_OPTIONS = SynOptions(None, None, False, None)
_MAX_NESTING = 8  # IP-in-IP layers we unwrap before calling a frame hostile
# Link-layer tags and shims (VLAN tags, PBB, VN-Tag, ...) and IPv6 extension headers walked
# before a frame counts as hostile (too_many_link_headers / too_many_ipv6_ext_headers)
_MAX_LINK_HEADERS = 64
_MAX_V6_EXT_HEADERS = 64
L2TP_PORT = 1701  # L2TPv2 over UDP (RFC 2661 §8.1)
# Cisco HDLC protocols that are not IP and have no ethertype name of their own
_CHDLC_NAMES = {0x8035: "non_ip:slarp", 0x2000: "non_ip:cdp"}
_MAX_WSCALE = 14  # RFC 7323 §2.3: larger shifts are treated as 14


def _name_non_ip(etype: int) -> str:
    if etype < 0x0600:
        return "non_ip:llc"
    return "non_ip:" + _ETHER_NAMES.get(etype, f"ethertype_0x{etype:04x}")


def _name_non_tcp(proto: int) -> str:
    return "non_tcp:" + _IP_PROTO_NAMES.get(proto, f"ip_proto_{proto}")


class TcpOptionsParsed:
    """Result of a full TCP options walk (used by :func:`parse_tcp_options`).

    Fields: ``mss``, ``wscale``, ``sack_ok``, ``sack`` (blocks or None), ``tsval``,
    ``tsecr``, ``tfo_cookie`` and ``malformed`` (True when a length byte was impossible).
    """

    __slots__ = ("malformed", "mss", "sack", "sack_ok", "tfo_cookie", "tsecr", "tsval", "wscale")

    def __init__(self) -> None:
        self.mss: int | None = None
        self.wscale: int | None = None
        self.sack_ok = False
        self.sack: tuple[tuple[int, int], ...] | None = None
        self.tsval: int | None = None
        self.tsecr: int | None = None
        self.tfo_cookie: bytes | None = None
        self.malformed = False


def parse_tcp_options(data: bytes | memoryview, start: int, end: int) -> TcpOptionsParsed:
    """Walk the TCP options in ``data[start:end]`` (RFC 9293 §3.2) and return what we use.

    A malformed option (length < 2 or running past the header) stops the walk; what was
    parsed before it is kept and ``malformed`` is set, as a receiver would ignore the rest.
    """
    out = TcpOptionsParsed()
    o = start
    while o < end:
        kind = data[o]
        if kind == 0:  # End of option list
            break
        if kind == 1:  # NOP
            o += 1
            continue
        if o + 1 >= end:
            out.malformed = True
            break
        olen = data[o + 1]
        if olen < 2 or o + olen > end:
            out.malformed = True
            break
        if kind == 2 and olen == 4:
            out.mss = _U16.unpack_from(data, o + 2)[0]
        elif kind == 3 and olen == 3:
            out.wscale = min(data[o + 2], _MAX_WSCALE)
        elif kind == 4 and olen == 2:
            out.sack_ok = True
        elif kind == 5 and olen >= 10 and (olen - 2) % 8 == 0:
            out.sack = tuple(_TS.unpack_from(data, p) for p in range(o + 2, o + olen, 8))
        elif kind == 8 and olen == 10:
            out.tsval, out.tsecr = _TS.unpack_from(data, o + 2)
        elif kind == 34:  # TCP Fast Open cookie (RFC 7413 §4.1.1); empty = cookie request
            out.tfo_cookie = bytes(data[o + 2 : o + olen])
        elif kind == 254 and olen >= 4 and data[o + 2] == 0xF9 and data[o + 3] == 0x89:
            out.tfo_cookie = bytes(data[o + 4 : o + olen])  # experimental TFO (RFC 7413 §4.1.1)
        o += olen
    return out


def _ipv4_options_ok(data: bytes, o: int, end: int) -> bool:
    """Whether the IPv4 options in ``data[o:end]`` are well formed (RFC 791 §3.1).

    Every option but EOL (0) and NOP (1) has a length byte of at least 2 that stays inside
    the header; record route, loose and strict source route (7, 131, 137) need a pointer
    byte (length >= 3, pointer >= 4) and the timestamp option (68) a pointer and flags
    byte (length >= 4, pointer >= 5), as a receiver checks them (Linux ``__ip_options_compile``).
    """
    while o < end:
        kind = data[o]
        if kind == 0:
            return True
        if kind == 1:
            o += 1
            continue
        if o + 1 >= end:
            return False
        olen = data[o + 1]
        if olen < 2 or o + olen > end:
            return False
        if kind in (7, 131, 137) and (olen < 3 or data[o + 2] < 4):
            return False
        if kind == 68 and (olen < 4 or data[o + 2] < 5):
            return False
        o += olen
    return True


_SYN_OPTIONS: dict[tuple[int | None, int | None, bool, bytes | None], SynOptions] = {}


@cython.ccall  # compiled: a C call from _tcp_at
def _syn_options(mss: int | None, wscale: int | None, sack_ok: bool,
                 cookie: bytes | None) -> SynOptions:
    """A shared :class:`SynOptions` per distinct set of values: every connection keeps its
    endpoints' options, and most hosts send the same few sets (SynOptions is immutable)."""
    key = (mss, wscale, sack_ok, cookie)
    opts = _SYN_OPTIONS.get(key)
    if opts is None:
        if len(_SYN_OPTIONS) >= 4096:  # bounded: a SYN flood of random options cannot grow it
            _SYN_OPTIONS.clear()
        opts = _SYN_OPTIONS[key] = SynOptions(mss, wscale, sack_ok, cookie)
    return opts



# -- the typed hot path (compiled: C pointers and C fields; called only when compiled) --

_SYN_C = cython.declare(cython.uint, 0x02)
_TS_WORD = cython.declare(cython.uint, 0x0101080A)  # NOP, NOP, timestamps kind 8, length 10
_MAX_WSCALE_C = cython.declare(cython.uint, 14)  # _MAX_WSCALE


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
@cython.annotation_typing(True)
def _u16(p: cython.p_const_uchar, o: cython.Py_ssize_t) -> cython.uint:
    """The big-endian 16-bit word at ``p[o]``."""
    return (cython.cast(cython.uint, p[o]) << 8) | p[o + 1]


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
@cython.annotation_typing(True)
def _u32(p: cython.p_const_uchar, o: cython.Py_ssize_t) -> cython.uint:
    """The big-endian 32-bit word at ``p[o]`` (each byte widened before its shift)."""
    return ((cython.cast(cython.uint, p[o]) << 24) | (cython.cast(cython.uint, p[o + 1]) << 16)
            | (cython.cast(cython.uint, p[o + 2]) << 8) | cython.cast(cython.uint, p[o + 3]))


# Compiled, the addresses of a segment come from a small direct-mapped table of the
# address bytes met last, so that a host's packets share one ``bytes`` object: no
# allocation, and its hash (siphash, which the flow index, ``feed``'s host table and the
# records' dicts all need) is computed once and then read from the object.  Bounded: a slot
# holds the last address that hashed there.  The bytes are equal either way.
_ADDR_BITS = cython.declare(cython.uint, 13)
_ADDR_MUL = cython.declare(cython.uint, 2654435761)  # Knuth's multiplicative hash
_ADDRS = cython.declare(list, [None] * (1 << 13))


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
@cython.annotation_typing(True)
def _ld32(p: cython.p_const_uchar) -> cython.uint:
    """The 32-bit word at ``p`` in the machine's byte order (one unaligned load)."""
    w: cython.uint = 0
    memcpy(cython.address(w), p, 4)
    return w


@cython.cfunc
@cython.boundscheck(False)  # slot < len(_ADDRS) by construction
@cython.wraparound(False)
@cython.annotation_typing(True)
def _addr(p: cython.p_const_uchar, o: cython.Py_ssize_t, alen: cython.Py_ssize_t) -> bytes:
    """The address bytes ``p[o:o + alen]`` (4 or 16), shared with the last equal ones.

    The words are loaded in the machine's byte order: an IPv4 address is one load for the
    slot's hash and one compare with the cached bytes' first word."""
    w: cython.uint = _ld32(p + o)
    h: cython.uint = w
    if alen == 16:
        h ^= _ld32(p + o + 4) ^ _ld32(p + o + 8) ^ _ld32(p + o + 12)
    slot: cython.Py_ssize_t = (h * _ADDR_MUL) >> (32 - _ADDR_BITS)
    cached: Any = _ADDRS[slot]
    if cached is not None:
        b: bytes = cached
        if len(b) == alen:
            q: cython.p_const_uchar = cython.cast(cython.p_const_uchar,
                                                  cython.cast(cython.p_const_char, b))
            if alen == 4:
                if _ld32(q) == w:
                    return b
            elif memcmp(q, p + o, alen) == 0:
                return b
    cp: cython.p_const_char = cython.cast(cython.p_const_char, p)
    fresh: bytes = cp[o : o + alen]
    _ADDRS[slot] = fresh
    return fresh


@cython.cfunc
@cython.annotation_typing(True)
def _new_segment(dec: Decoder, frame: cython.longlong, ts: cython.double, vlan: tuple,
                 ipver: cython.int,
                 src: bytes, dst: bytes, sport: cython.int, dport: cython.int,
                 seq: cython.longlong, ack: cython.longlong, flags: cython.int,
                 win: cython.longlong, plen: cython.longlong, csum_ok: Any,
                 ip_id: cython.longlong, tcp_csum: cython.int, tsval: cython.longlong,
                 tsecr: cython.longlong, sack: Any, syn_opts: Any) -> Segment:
    """A Segment filled field by field (compiled: C stores, no ``__init__`` call);
    ``tsval``/``tsecr`` -1 without the timestamps option.

    The decoder keeps the last Segment it made (``_spare``) and fills that one again when
    nothing else refers to it any more (its reference count is the decoder's and this
    local's): a loop that drops each segment before decoding the next (``_ingest``'s)
    costs no allocation and no deallocation a packet.  A segment anyone still holds is
    never touched: a new one is made and becomes the spare."""
    seg: Segment = dec._spare
    if seg is None or Py_REFCNT(seg) != 2:
        seg = Segment.__new__(Segment)
        dec._spare = seg
    seg.link_pad = 0  # (the one field not set below: a PPPoE frame's sets it after)
    seg.frame = frame
    seg.ts = ts
    seg.vlan = vlan
    seg.ipver = ipver
    seg.src = src
    seg.dst = dst
    seg.sport = sport
    seg.dport = dport
    seg.seq = seq
    seg.ack = ack
    seg.flags = flags
    seg.win = win
    seg.plen = plen
    seg.csum_ok = csum_ok
    seg.ip_id = ip_id
    seg.tcp_csum = tcp_csum
    seg._tsval = tsval
    seg._tsecr = tsecr
    seg.sack = sack
    seg.syn_opts = syn_opts
    return seg


@cython.cfunc
@cython.annotation_typing(True)
def _tcp_at(dec: Decoder, frame: cython.longlong, ts: cython.double, vlan: tuple,
            ipver: cython.int, p: cython.p_const_uchar, toff: cython.Py_ssize_t,
            seglen: cython.Py_ssize_t, n: cython.Py_ssize_t, aoff: cython.Py_ssize_t,
            alen: cython.Py_ssize_t, ip_id: cython.longlong) -> Segment | None:
    """:meth:`Decoder._tcp` on C pointers: the TCP header at ``p[toff:]`` -> Segment.

    The caller checked that ``p[:n]`` holds the 20 fixed bytes (``n`` bytes are readable);
    ``seglen`` is the TCP length the IP header claims, ``p[aoff:aoff + 2 * alen]`` the
    source and destination addresses.  Every branch is the one of ``_tcp``, in its order.
    """
    cp: cython.p_const_char = cython.cast(cython.p_const_char, p)
    offflags: cython.uint = _u16(p, toff + 12)
    csum: cython.uint = _u16(p, toff + 16)
    doff: cython.Py_ssize_t = (offflags >> 10) & 0x3C
    if doff < 20 or doff > seglen:
        dec._skip("bad_tcp_header")
        return None
    end: cython.Py_ssize_t = toff + seglen
    if n < end and n >= toff + doff and tcp_verdict(p + toff, n - toff, p + aoff, 2 * alen,
                                                    csum) != 0:
        dec.ip_length_beyond_frame += 1  # a damaged IP length: see _tcp
        seglen = n - toff
        end = n
    flags: cython.uint = offflags & 0xFF
    src: bytes = _addr(p, aoff, alen)
    dst: bytes = _addr(p, aoff + alen, alen)
    sport: cython.int = _u16(p, toff)
    dport: cython.int = _u16(p, toff + 2)
    seq: cython.longlong = _u32(p, toff + 4)
    ack: cython.longlong = _u32(p, toff + 8)
    win: cython.longlong = _u16(p, toff + 14)
    if n < toff + doff:  # a header-only capture: see _tcp
        dec.options_not_captured += 1
        if seglen > doff:
            dec.payload_truncated += 1
        return _new_segment(dec, frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags,
                            win, seglen - doff, None, ip_id, csum, -1, -1, None, None)
    csum_ok: Any = None
    if n < end:
        dec.payload_truncated += 1
    elif dec.verify_checksums:
        v: cython.int = tcp_verdict(p + toff, seglen, p + aoff, 2 * alen, csum)
        csum_ok = True if v == 1 else (False if v == 0 else None)
    if doff == 20:
        return _new_segment(dec, frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags,
                            win, seglen - 20, csum_ok, ip_id, csum, -1, -1, None,
                            NO_SYN_OPTIONS if flags & _SYN_C else None)
    if doff == 32 and not flags & _SYN_C and _u32(p, toff + 20) == _TS_WORD:
        return _new_segment(dec, frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags,
                            win, seglen - 32, csum_ok, ip_id, csum, _u32(p, toff + 24),
                            _u32(p, toff + 28), None, None)
    # the options walk of parse_tcp_options, on C locals (-1: option absent)
    mss: cython.int = -1
    wscale: cython.int = -1
    sack_ok: cython.bint = False
    has_ts: cython.bint = False
    tsval: cython.uint = 0
    tsecr: cython.uint = 0
    sack: Any = None
    cookie: Any = None
    o: cython.Py_ssize_t = toff + 20
    oend: cython.Py_ssize_t = toff + doff
    kind: cython.uint
    olen: cython.Py_ssize_t
    q: cython.Py_ssize_t
    while o < oend:
        kind = p[o]
        if kind == 0:
            break
        if kind == 1:
            o += 1
            continue
        if o + 1 >= oend:
            break
        olen = p[o + 1]
        if olen < 2 or o + olen > oend:
            break
        if kind == 2 and olen == 4:
            mss = _u16(p, o + 2)
        elif kind == 3 and olen == 3:
            wscale = min(p[o + 2], _MAX_WSCALE_C)
        elif kind == 4 and olen == 2:
            sack_ok = True
        elif kind == 5 and olen >= 10 and (olen - 2) % 8 == 0:
            blocks: list = []
            q = o + 2
            while q < o + olen:
                blocks.append((_u32(p, q), _u32(p, q + 4)))
                q += 8
            sack = tuple(blocks)
        elif kind == 8 and olen == 10:
            has_ts = True
            tsval = _u32(p, o + 2)
            tsecr = _u32(p, o + 6)
        elif kind == 34:  # TCP Fast Open cookie
            cookie = cp[o + 2 : o + olen]
        elif kind == 254 and olen >= 4 and p[o + 2] == 0xF9 and p[o + 3] == 0x89:
            cookie = cp[o + 4 : o + olen]  # experimental TFO
        o += olen
    tv: cython.longlong = -1  # no timestamps option
    te: cython.longlong = -1
    if has_ts:
        tv = tsval
        te = tsecr
    return _new_segment(
        dec, frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags, win, seglen - doff,
        csum_ok, ip_id, csum, tv, te, sack,
        _syn_options(None if mss < 0 else mss, None if wscale < 0 else wscale, sack_ok, cookie)
        if flags & _SYN_C else None)


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
@cython.annotation_typing(True)
def _is_vlan_type(etype: cython.uint) -> cython.bint:
    """Whether ``etype`` is one of :data:`_VLAN_TYPES` (802.1Q, 802.1ad, the old QinQ)."""
    return (etype == 0x8100 or etype == 0x88A8 or etype == 0x9100 or etype == 0x9200
            or etype == 0x9300)


@cython.cfunc
@cython.annotation_typing(True)
def decode_at(dec: Decoder, frame: cython.longlong, ts: cython.double,
              linktype: cython.longlong, p: cython.p_const_uchar, nb: cython.Py_ssize_t,
              data: Any) -> Any:
    """:meth:`Decoder.decode` of the ``nb`` bytes at ``p`` (compiled; ``decode_at`` in
    ``decode.pxd``, which the record cutters cimport): the common frames (Ethernet, then IPv4
    without options or IPv6 with TCP next, not a fragment) straight from the pointer, every
    other one by the general path, on ``data`` (the frame's bytes) or, when that is None, on
    bytes copied from ``p``.  Likewise behind one or two VLAN tags.  The conditions are those
    of the ``struct`` path of ``decode`` and of ``_ether``, ``_ipv4`` and ``_ipv6``."""
    if linktype == 1:
        if (nb >= 54 and p[12] == 0x08 and p[13] == 0 and p[14] == 0x45 and p[23] == 6
                and not _u16(p, 20) & 0x3FFF and _u16(p, 16) >= 40):
            return _tcp_at(dec, frame, ts, (), 4, p, 34, _u16(p, 16) - 20, nb, 26, 4,
                           _u16(p, 18))
        if nb >= 74 and p[12] == 0x86 and p[13] == 0xDD and p[14] >> 4 == 6 and p[20] == 6:
            plen6: cython.Py_ssize_t = _u16(p, 18)
            if plen6 == 0:  # jumbogram or offloaded: the captured length
                plen6 = nb - 54
            return _tcp_at(dec, frame, ts, (), 6, p, 54, plen6, nb, 22, 16, -1)
        # one or two VLAN tags, then the same (as _ether unwraps them for _ipv4 / _ipv6)
        etype: cython.uint = _u16(p, 12)
        off: cython.Py_ssize_t = 14
        tags: cython.int = 0
        outer: cython.uint = 0
        inner: cython.uint = 0
        while tags < 2 and _is_vlan_type(etype) and nb >= off + 4:
            if tags == 0:
                outer = _u16(p, off) & 0x0FFF
            else:
                inner = _u16(p, off) & 0x0FFF
            etype = _u16(p, off + 2)
            off += 4
            tags += 1
        if tags:
            vlan: tuple
            if tags == 1:  # noqa: SIM108 (a conditional expression would make a C tuple)
                vlan = (outer,)
            else:
                vlan = (outer, inner)
            if (etype == 0x0800 and nb >= off + 40 and p[off] == 0x45 and p[off + 9] == 6
                    and not _u16(p, off + 6) & 0x3FFF and _u16(p, off + 2) >= 40):
                return _tcp_at(dec, frame, ts, vlan, 4, p, off + 20, _u16(p, off + 2) - 20, nb,
                               off + 12, 4, _u16(p, off + 4))
            if etype == 0x86DD and nb >= off + 60 and p[off] >> 4 == 6 and p[off + 6] == 6:
                plen6 = _u16(p, off + 4)
                if plen6 == 0:
                    plen6 = nb - off - 40
                return _tcp_at(dec, frame, ts, vlan, 6, p, off + 40, plen6, nb, off + 8, 16, -1)
    if data is None:
        cp: cython.p_const_char = cython.cast(cython.p_const_char, p)
        data = cp[:nb]
    return dec._general(frame, ts, linktype, data)


@cython.cclass
class Decoder:
    """Stateful frame decoder: turns frames into Segments and counts what it skips.

    Attributes: ``skipped`` (reason -> frames), ``unsupported_linktypes`` (linktype -> frames;
    both capped at :data:`MAX_SKIP_REASONS` keys, the rest under ``other`` / ``-1``),
    ``payload_truncated`` (TCP segments whose payload the snaplen cut; still decoded),
    ``options_not_captured`` (TCP segments whose options the snaplen cut: header-only
    captures; still decoded from the fixed header), ``ip_length_beyond_frame`` (IP lengths
    beyond what the frame, or a PPPoE header's length, carried: payload clamped) and
    ``verify_checksums`` (compute ``csum_ok`` when the segment was captured whole).
    """

    def __init__(self, *, verify_checksums: bool = True) -> None:
        self.skipped: dict[str, int] = {}
        self.unsupported_linktypes: dict[int, int] = {}
        self.payload_truncated = 0
        self.options_not_captured = 0
        self.ip_length_beyond_frame = 0
        self.fragments = Reassembler()
        self.verify_checksums = verify_checksums
        self._nest = 0

    def take_counts(self) -> dict[str, int]:
        """End of the capture: the decoding counters besides ``skipped`` and
        ``payload_truncated`` (the JSON ``capture`` keys of the same names, shown when
        non-zero), then reset them to zero.  Fragments still held count as incomplete."""
        self.fragments.finish()
        counts = {"options_not_captured": self.options_not_captured,
                  "ip_length_beyond_frame": self.ip_length_beyond_frame}
        for name, v in self.fragments.counts.items():
            counts["ip_fragments_" + name] = v
            self.fragments.counts[name] = 0
        self.options_not_captured = self.ip_length_beyond_frame = 0
        return counts

    def _skip(self, reason: str) -> None:
        skipped = self.skipped
        if reason in skipped:
            skipped[reason] += 1
        else:
            count_capped(skipped, reason)

    def decode(
        self, frame: int, ts: float, linktype: int, data: bytes
    ) -> Segment | None:
        """Decode one frame; return its TCP Segment, or None (and count why)."""
        if type(data) is not bytes:
            # a live ring's bytearray or a memoryview: the segment's addresses must be bytes
            # (the compiled Segment declares them so, and they key the flow table)
            data = bytes(data)
        if cython.compiled:  # the common frames from a C pointer (see decode_at)
            buf = cython.declare(bytes, data)
            return decode_at(self, frame, ts, linktype, buf, len(buf), buf)
        n = len(data)
        if linktype == 1 and n >= 54:
            # The most common frame by far (Ethernet, IPv4 without options, TCP): one unpack
            # reads every field; anything unusual falls through to the general path.
            (etype, b0, tot_len, ip_id, frag, proto, src, dst, sport, dport, seq, ack,
             offflags, win, csum) = _ETH_IP4_TCP(data, 0)
            if (etype == ETH_IPV4 and b0 == 0x45 and proto == 6 and not frag & 0x3FFF
                    and tot_len >= 40):
                return self._tcp(frame, ts, (), 4, src, dst, data, 34, tot_len - 20, n,
                                 data[26:34], ip_id, sport, dport, seq, ack, offflags, win, csum)
        return self._general(frame, ts, linktype, data)

    def _general(
        self, frame: int, ts: float, linktype: int, data: bytes
    ) -> Segment | None:
        """:meth:`decode` of every frame but the common ones (bytes)."""
        n = len(data)
        if linktype == 1:  # Ethernet: the general path
            if n < 14:
                self._skip("truncated")
                return None
            etype = (data[12] << 8) | data[13]
            if etype == ETH_IPV4:
                return self._ipv4(frame, ts, data, 14, (), n)
            if etype == ETH_IPV6:
                return self._ipv6(frame, ts, data, 14, (), n)
            return self._ether(frame, ts, data, etype, 14, (), n)
        if linktype == LINKTYPE_LINUX_SLL:
            if n < 16:
                self._skip("truncated")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, 14)[0], 16, (), n)
        if linktype == LINKTYPE_LINUX_SLL2:
            if n < 20:
                self._skip("truncated")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, 0)[0], 20, (), n)
        if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4,
                        LINKTYPE_IPV6):
            return self._raw_ip(frame, ts, data, 0, (), n)
        if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if n < 4:
                self._skip("truncated")
                return None
            if linktype == LINKTYPE_LOOP:
                family = _U32.unpack_from(data, 0)[0]
            else:  # host byte order of the capturing machine: small values tell which
                family = _U32LE.unpack_from(data, 0)[0]
                if family > 0xFFFF:
                    family = _U32.unpack_from(data, 0)[0]
            if family == 2:
                return self._ipv4(frame, ts, data, 4, (), n)
            if family in (10, 24, 28, 30):  # AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
                return self._ipv6(frame, ts, data, 4, (), n)
            self._skip(f"non_ip:af_{family}")
            return None
        if linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
            off = 2 if n >= 2 and data[0] == 0xFF and data[1] == 0x03 else 0
            return self._ppp(frame, ts, data, off, (), n)
        if linktype == LINKTYPE_FDDI:  # FC + two addresses, then 802.2 LLC/SNAP
            if n < 21:
                self._skip("truncated")
                return None
            if data[13] != 0xAA or data[14] != 0xAA:
                self._skip("non_ip:llc")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, 19)[0], 21, (), n)
        if linktype in _OTHER_LINKTYPES:
            return self._other_link(frame, ts, linktype, data, n)
        seen = self.unsupported_linktypes
        key = linktype if linktype in seen or len(seen) < MAX_SKIP_REASONS else -1  # capped
        seen[key] = seen.get(key, 0) + 1
        self._skip("unsupported_linktype")
        return None

    def _ppp(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        if n < off + 2:
            self._skip("truncated")
            return None
        proto = _U16.unpack_from(data, off)[0]
        if proto == 0x0021:
            return self._ipv4(frame, ts, data, off + 2, vlan, n)
        if proto == 0x0057:
            return self._ipv6(frame, ts, data, off + 2, vlan, n)
        return self._ppp_other(frame, ts, data, off, proto, vlan, n)

    def _pppoe(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        """A PPPoE session frame at ``data[off:]`` (RFC 2516 §4): a 6-byte header whose
        LENGTH counts the PPP frame after it; bytes the frame holds beyond LENGTH are not
        PPP (Ethernet padding, a trailer).

        So an IP datagram whose own length reaches past LENGTH ends there on this link:
        Linux's ``pppoe_rcv`` trims the frame to LENGTH (and IP then drops the datagram as
        truncated), tshark dissects only LENGTH bytes.  Where the frame holds the rest
        anyway, the TCP segment is decoded as its IP header says (the sender's checksum
        covers those bytes) and the bytes beyond LENGTH are taken out of its payload into
        ``link_pad`` (counted in ``ip_length_beyond_frame``): no phantom bytes enter the
        sequence space.  Zeek ignores LENGTH, so its reading counts them as payload.
        """
        seg = self._ppp(frame, ts, data, off + 6, vlan, n)
        if seg is None:
            return None
        end = off + 6 + _U16.unpack_from(data, off + 4)[0]
        if end >= n:  # the common case: LENGTH reaches the end of the frame (or beyond)
            return seg
        p = off + 6
        proto = data[p] if data[p] & 1 else _U16.unpack_from(data, p)[0]  # RFC 1661 §6.5
        ip = p + (1 if data[p] & 1 else 2)
        if (proto == 0x21 and n >= ip + 20 and data[ip] >> 4 == 4 and data[ip + 9] == 6
                and not _U16.unpack_from(data, ip + 6)[0] & 0x3FFF):
            ip_end = ip + _U16.unpack_from(data, ip + 2)[0]
        elif proto == 0x57 and n >= ip + 40 and data[ip + 6] == 6:
            ip_end = ip + 40 + _U16.unpack_from(data, ip + 4)[0]
        else:  # not TCP right inside IP: a tunnel's or a fragment's lengths are their own
            return seg
        pad = min(ip_end - end, seg.plen) if end < ip_end <= n else 0
        if pad > 0:
            seg.plen -= pad
            seg.link_pad = pad
            self.ip_length_beyond_frame += 1
        return seg

    def _ppp_other(
        self, frame: int, ts: float, data: bytes, off: int, proto: int, vlan: tuple[int, ...],
        n: int,
    ) -> Segment | None:
        """A PPP frame at ``data[off:]`` whose 16-bit protocol field is not IPv4 or IPv6:
        a compressed one-byte field, MPLS, or a protocol that carries no TCP."""
        if proto & 0x0100:
            # Protocol-Field-Compression (RFC 1661 §6.5): every protocol number has an even
            # high byte and an odd low byte, so an odd first byte is the low byte of a
            # compressed one-byte field (0x21 IPv4, 0x57 IPv6), as PPPoE and L2TP peers
            # send once they negotiate PFC.
            proto >>= 8
            if proto == 0x21:
                return self._ipv4(frame, ts, data, off + 1, vlan, n)
            if proto == 0x57:
                return self._ipv6(frame, ts, data, off + 1, vlan, n)
        elif proto == 0x0281 or proto == 0x0283:  # MPLS unicast / multicast (RFC 3032 §4.3)
            return self._mpls(frame, ts, data, off + 2, vlan, n)
        self._skip(f"non_ip:ppp_0x{proto:04x}")
        return None

    def _mpls(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        """An MPLS label stack at ``data[off:]`` outside Ethernet (over PPP): what
        :meth:`_mpls_stack` finds after it, an inner Ethernet frame unwrapped within the
        nesting bound (PPP can carry MPLS that carries PPPoE that carries PPP again)."""
        at, etype = self._mpls_stack(data, off, n)
        if etype is None:
            return None if at < 0 else self._raw_ip(frame, ts, data, at, vlan, n)
        if self._nest >= _MAX_NESTING:
            self._skip("too_many_encapsulations")
            return None
        self._nest += 1
        try:
            return self._ether(frame, ts, data, etype, at, vlan, n)
        finally:
            self._nest -= 1

    def _mpls_stack(self, data: bytes, off: int, n: int) -> tuple[int, int | None]:
        """Walk the MPLS label stack at ``data[off:]`` (RFC 3032) to bottom-of-stack.

        Returns ``(at, None)`` for an IP packet at ``data[at:]``; ``(at, ethertype)`` when a
        pseudowire control word (RFC 4385: first nibble 0) and a whole Ethernet frame follow,
        its payload at ``data[at:]``; ``(-1, None)`` when the frame ends inside the stack or
        that Ethernet header (counted as ``truncated``).
        """
        while True:
            if n < off + 4:
                self._skip("truncated")
                return -1, None
            bos = data[off + 2] & 1
            off += 4
            if bos:
                break
        if n > off and data[off] >> 4 == 0:  # control word, then a whole Ethernet frame
            if n < off + 18:
                self._skip("truncated")
                return -1, None
            return off + 18, _U16.unpack_from(data, off + 16)[0]
        return off, None

    def _l2tp(
        self, frame: int, ts: float, data: bytes, q: int, end: int, vlan: tuple[int, ...]
    ) -> Segment | None:
        """An L2TP message on UDP port 1701 at ``data[q:end]``: an L2TPv2 data message
        (RFC 2661 §3.1) carries one PPP frame after its header; control messages carry none.

        Header: the flags/version word (T L x x S x O P x x x x Ver), the length if L, the
        tunnel and session ids, Ns and Nr if S, the offset size and its padding if O.
        """
        if end < q + 2:
            self._skip("truncated")
            return None
        flags = _U16.unpack_from(data, q)[0]
        version = flags & 0x000F
        if version == 3:  # L2TPv3 over UDP (RFC 3931 §4.1.2.1): cookie size not in the packet
            self._skip("unsupported_l2tpv3")
            return None
        if version != 2:
            self._skip("bad_l2tp_header")
            return None
        if flags & 0x8000:  # T: a control message (SCCRQ, HELLO, ZLB ack ...): no PPP inside
            self._skip("non_tcp:l2tp_control")
            return None
        r = q + 2
        length = -1
        if flags & 0x4000:  # L: the message length, header included
            if end < r + 2:
                self._skip("truncated")
                return None
            length = _U16.unpack_from(data, r)[0]
            r += 2
        r += 4  # tunnel id, session id
        if flags & 0x0800:  # S: Ns and Nr
            r += 4
        if flags & 0x0200:  # O: offset size, then that many bytes of padding
            if end < r + 2:
                self._skip("truncated")
                return None
            r += 2 + _U16.unpack_from(data, r)[0]
        if length >= 0:
            if length < r - q:  # shorter than its own header
                self._skip("bad_l2tp_header")
                return None
            end = min(end, q + length)  # the datagram may hold more than the message
        if end < r + 2:
            self._skip("truncated")
            return None
        if data[r] == 0xFF and data[r + 1] == 0x03:  # HDLC address and control, if sent
            r += 2
        return self._ppp(frame, ts, data, r, vlan, end)

    def _other_link(
        self, frame: int, ts: float, linktype: int, data: bytes, n: int
    ) -> Segment | None:
        """Link types off the common path: Cisco HDLC (104) and IP over InfiniBand (242)."""
        if linktype == LINKTYPE_IPOIB:
            # libpcap's DLT_IPOIB (tcpdump print-ipoib.c, Wireshark packet-ipoib.c): a 40-byte
            # pseudo-header (the GRH, or 20 zero bytes and the destination address), then
            # RFC 4391 §6's 4-byte encapsulation header: a 16-bit ethertype and 16 reserved.
            if n < 44:
                self._skip("truncated")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, 40)[0], 44, (), n)
        if n < 4:
            self._skip("truncated")
            return None
        # Cisco HDLC: address 0x0F (unicast) or 0x8F (broadcast), control 0x00, then an
        # ethertype (tcpdump print-chdlc.c); any other address is no Cisco HDLC frame.
        if data[0] & 0x7F != 0x0F or data[1] != 0:
            self._skip("bad_link_header")
            return None
        proto = _U16.unpack_from(data, 2)[0]
        name = _CHDLC_NAMES.get(proto)
        if name is not None:
            self._skip(name)
            return None
        return self._ether(frame, ts, data, proto, 4, (), n)

    def _encap(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        """An IP packet inside IP: bounded nesting, so no frame can exhaust the stack."""
        if self._nest >= _MAX_NESTING:
            self._skip("too_many_encapsulations")
            return None
        self._nest += 1
        try:
            return self._raw_ip(frame, ts, data, off, vlan, n)
        finally:
            self._nest -= 1

    def _tunnel(
        self, frame: int, ts: float, data: bytes, proto: int, p: int, end: int,
        vlan: tuple[int, ...],
    ) -> Segment | None:
        """TCP inside a tunnel: GRE (incl. ERSPAN and PPTP), and, over UDP, VXLAN, Geneve,
        GRE-in-UDP, Teredo, GTP-U and AYIYA.  ``data[p:end]`` is the IP payload; anything
        that is no such tunnel is counted as non-TCP traffic."""
        if self._nest >= _MAX_NESTING:
            self._skip("too_many_encapsulations")
            return None
        self._nest += 1
        try:
            if proto == 47:
                return self._gre(frame, ts, data, p, end, vlan)
            return self._udp(frame, ts, data, p, end, vlan)
        finally:
            self._nest -= 1

    def _udp(
        self, frame: int, ts: float, data: bytes, p: int, end: int, vlan: tuple[int, ...]
    ) -> Segment | None:
        if end < p + 8:
            self._skip("non_tcp:udp")
            return None
        sport, dport = struct.unpack_from("!HH", data, p)
        q = p + 8
        ports = (sport, dport)
        if 4789 in ports and end >= q + 8 + 14:  # VXLAN (RFC 7348): 8 bytes, then Ethernet
            return self._ether(frame, ts, data, _U16.unpack_from(data, q + 20)[0], q + 22,
                               vlan, end)
        if 6081 in ports and end >= q + 8:  # Geneve (RFC 8926)
            opt_len = (data[q] & 0x3F) * 4
            ptype = _U16.unpack_from(data, q + 2)[0]
            return self._by_ethertype(frame, ts, data, ptype, q + 8 + opt_len, vlan, end)
        if L2TP_PORT in ports:
            return self._l2tp(frame, ts, data, q, end, vlan)
        if 4754 in ports:  # GRE-in-UDP (RFC 8086)
            return self._gre(frame, ts, data, q, end, vlan)
        if 2152 in ports and end >= q + 8 and data[q] >> 5 == 1 and data[q + 1] == 0xFF:
            # GTP-U G-PDU (3GPP TS 29.281): 8 bytes, 4 more if E/S/PN, extension headers
            r = q + 8
            if data[q] & 0x07:
                if end < r + 4:
                    self._skip("truncated")
                    return None
                ext = data[r + 3]
                r += 4
                for _ in range(8):
                    if not ext or end <= r:
                        break
                    size = data[r] * 4
                    if size == 0 or end < r + size:
                        self._skip("truncated")
                        return None
                    ext = data[r + size - 1]
                    r += size
            return self._raw_ip(frame, ts, data, r, vlan, end)
        if end > q:
            # Teredo (RFC 4380): IPv6 in UDP, maybe after authentication / origin indication
            # headers.  On port 3544, or on any port when the payload is exactly one IPv6
            # packet (its payload length matches the datagram), as Teredo relays use others.
            r = q
            for _ in range(2):
                if end >= r + 4 and data[r] == 0 and data[r + 1] == 1:  # authentication
                    r += 13 + data[r + 2] + data[r + 3]
                elif end >= r + 2 and data[r] == 0 and data[r + 1] == 0:  # origin indication
                    r += 8
            if end >= r + 40 and data[r] >> 4 == 6 and (
                3544 in ports or _U16.unpack_from(data, r + 4)[0] + 40 == end - r
            ):
                return self._ipv6(frame, ts, data, r, vlan, end)
        if 5072 in ports and end >= q + 8:  # AYIYA: identity and signature, then IP
            idlen = 1 << (data[q] >> 4) if data[q] >> 4 else 0
            siglen = (data[q + 1] >> 4) * 4
            nxt = data[q + 3]
            r = q + 8 + idlen + siglen
            if nxt in (4, 41) and end > r:
                return self._raw_ip(frame, ts, data, r, vlan, end)
        self._skip("non_tcp:udp")
        return None

    def _gre(
        self, frame: int, ts: float, data: bytes, p: int, end: int, vlan: tuple[int, ...]
    ) -> Segment | None:
        """GRE (RFC 2784/2890), PPTP's enhanced GRE (RFC 2637) and ERSPAN."""
        if end < p + 4:
            self._skip("non_tcp:gre")
            return None
        flags, ptype = struct.unpack_from("!HH", data, p)
        version = flags & 7
        r = p + 4
        if version == 0:
            r += 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
        elif version == 1:  # enhanced GRE: key always, sequence and ack optional
            r += 4 + 4 * (bool(flags & 0x1000) + bool(flags & 0x0080))
        else:
            self._skip("non_tcp:gre")
            return None
        if ptype == 0x88BE:  # ERSPAN type II: 8-byte header, then the mirrored frame
            r += 8 if flags & 0x1000 else 0
        elif ptype == 0x22EB:  # ERSPAN type III: 12 bytes, 8 more with the O flag
            r += 12 + (8 if end > r + 11 and data[r + 11] & 1 else 0)
        if ptype in (0x88BE, 0x22EB, 0x6558):  # a whole Ethernet frame
            if end < r + 14:
                self._skip("truncated")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, r + 12)[0], r + 14,
                               vlan, end)
        if ptype == 0x880B:  # PPP (PPTP): maybe with address/control bytes
            off = r + 2 if end >= r + 2 and data[r] == 0xFF and data[r + 1] == 0x03 else r
            return self._ppp(frame, ts, data, off, vlan, end)
        return self._by_ethertype(frame, ts, data, ptype, r, vlan, end)

    def _by_ethertype(
        self, frame: int, ts: float, data: bytes, ptype: int, r: int, vlan: tuple[int, ...],
        end: int,
    ) -> Segment | None:
        if ptype == 0x6558:  # transparent Ethernet bridging
            if end < r + 14:
                self._skip("truncated")
                return None
            return self._ether(frame, ts, data, _U16.unpack_from(data, r + 12)[0], r + 14,
                               vlan, end)
        return self._ether(frame, ts, data, ptype, r, vlan, end)

    def _raw_ip(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        if n <= off:
            self._skip("truncated")
            return None
        version = data[off] >> 4
        if version == 4:
            return self._ipv4(frame, ts, data, off, vlan, n)
        if version == 6:
            return self._ipv6(frame, ts, data, off, vlan, n)
        self._skip("bad_ip_header")
        return None

    def _ether(
        self, frame: int, ts: float, data: bytes, etype: int, off: int, vlan: tuple[int, ...],
        n: int,
    ) -> Segment | None:
        """Unwrap tags and shims after an ethertype until IPv4/IPv6 (or give up)."""
        for _ in range(_MAX_LINK_HEADERS + 1):  # bounded: a frame cannot make us loop forever
            if etype == ETH_IPV4:
                return self._ipv4(frame, ts, data, off, vlan, n)
            if etype == ETH_IPV6:
                return self._ipv6(frame, ts, data, off, vlan, n)
            if etype in _VLAN_TYPES:
                if n < off + 4:
                    break
                tci, etype = struct.unpack_from("!HH", data, off)
                vlan = (*vlan, tci & 0x0FFF)
                off += 4
            elif etype in _MPLS_TYPES:  # the inner Ethernet frame goes round this loop
                at, inner = self._mpls_stack(data, off, n)
                if inner is None:
                    return None if at < 0 else self._raw_ip(frame, ts, data, at, vlan, n)
                etype, off = inner, at
            elif etype == ETH_PPPOE_SESSION:
                return self._pppoe(frame, ts, data, off, vlan, n)
            elif etype == ETH_PBB:  # 802.1ah: 4-byte I-TAG, then a whole customer frame
                if n < off + 18:
                    break
                etype = _U16.unpack_from(data, off + 16)[0]
                off += 18
            elif etype == ETH_VNTAG:  # 4-byte VN-Tag, then the real ethertype
                if n < off + 6:
                    break
                etype = _U16.unpack_from(data, off + 4)[0]
                off += 6
            elif etype == ETH_FABRICPATH:  # 2-byte FTag/TTL, then the inner Ethernet frame
                if n < off + 16:
                    break
                etype = _U16.unpack_from(data, off + 14)[0]
                off += 16
            else:
                self._skip(_name_non_ip(etype))
                return None
        else:
            self._skip("too_many_link_headers")
            return None
        self._skip("truncated")
        return None

    def _ipv4(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        if n < off + 20:
            self._skip("truncated")
            return None
        b0, tot_len, ip_id, frag, _ttl, proto = _IP4.unpack_from(data, off)
        ihl = (b0 & 15) << 2
        if b0 >> 4 != 4 or ihl < 20:
            self._skip("bad_ip_header")
            return None
        if ihl > 20:
            if n < off + ihl:
                self._skip("truncated")
                return None
            if not _ipv4_options_ok(data, off + 20, off + ihl):
                self._skip("bad_ip_header")
                return None
        if frag & 0x3FFF:  # MF set or a non-zero offset: a fragment
            return self._ipv4_fragment(frame, ts, data, off, ihl, tot_len, frag, proto, ip_id,
                                       vlan, n)
        if proto != 6:
            if proto == 4 or proto == 41:  # IP-in-IP / 6in4 (RFC 2003, RFC 4213)
                return self._encap(frame, ts, data, off + ihl, vlan, n)
            if proto == 17 or proto == 47:
                end = min(n, off + tot_len) if tot_len >= ihl else n
                return self._tunnel(frame, ts, data, proto, off + ihl, end, vlan)
            self._skip(_name_non_tcp(proto))
            return None
        if tot_len == 0:  # TSO / segmentation offload: the length is left to the capture
            tot_len = n - off
        elif tot_len < ihl:
            self._skip("bad_ip_header")
            return None
        toff = off + ihl
        if n < toff + 20:
            self._skip("truncated")
            return None
        if cython.compiled and type(data) is bytes and n <= len(data):
            buf = cython.declare(bytes, data)
            return _tcp_at(self, frame, ts, vlan, 4, buf, toff, tot_len - ihl, n, off + 12, 4,
                           ip_id)
        sport, dport, seq, ack, offflags, win, csum = _TCP.unpack_from(data, toff)
        return self._tcp(frame, ts, vlan, 4, data[off + 12 : off + 16], data[off + 16 : off + 20],
                         data, toff, tot_len - ihl, n, data[off + 12 : off + 20], ip_id, sport,
                         dport, seq, ack, offflags, win, csum)

    def _ipv6(
        self, frame: int, ts: float, data: bytes, off: int, vlan: tuple[int, ...], n: int
    ) -> Segment | None:
        if n < off + 40:
            self._skip("truncated")
            return None
        if data[off] >> 4 != 6:
            self._skip("bad_ip_header")
            return None
        plen, nxt = _IP6.unpack_from(data, off)
        if plen == 0:  # jumbogram (RFC 2675) or offloaded: take the captured length
            plen = n - off - 40
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        p = off + 40
        end = p + plen
        for _ in range(_MAX_V6_EXT_HEADERS + 1):  # walk the extension-header chain (bounded)
            if nxt == 6:
                break
            if nxt in _V6_EXT:
                if n < p + 2:
                    self._skip("truncated")
                    return None
                nxt, hlen = data[p], (data[p + 1] + 1) * 8
            elif nxt == 44:  # Fragment header: an atomic fragment carries a whole segment
                if n < p + 8:
                    self._skip("truncated")
                    return None
                fo = _U16.unpack_from(data, p + 2)[0]
                if fo & 0xFFF9:
                    return self._ipv6_fragment(frame, ts, data, off, p, end, fo, vlan, n)
                nxt, hlen = data[p], 8
            elif nxt == 51:  # Authentication Header: length in 4-octet units (RFC 4302)
                if n < p + 2:
                    self._skip("truncated")
                    return None
                nxt, hlen = data[p], (data[p + 1] + 2) * 4
            elif nxt == 4 or nxt == 41:  # IPv4 / IPv6 encapsulated in IPv6 (RFC 2473)
                return self._encap(frame, ts, data, p, vlan, n)
            elif nxt == 17 or nxt == 47:
                return self._tunnel(frame, ts, data, nxt, p, min(n, end), vlan)
            else:
                self._skip("non_tcp:none" if nxt == 59 else _name_non_tcp(nxt))
                return None
            p += hlen
        else:
            self._skip("too_many_ipv6_ext_headers")
            return None
        if n < p + 20:
            self._skip("truncated")
            return None
        if cython.compiled and type(data) is bytes and n <= len(data):
            buf = cython.declare(bytes, data)
            return _tcp_at(self, frame, ts, vlan, 6, buf, p, end - p, n, off + 8, 16, -1)
        sport, dport, seq, ack, offflags, win, csum = _TCP.unpack_from(data, p)
        return self._tcp(frame, ts, vlan, 6, src, dst, data, p, end - p, n, src + dst, -1,
                         sport, dport, seq, ack, offflags, win, csum)

    def _ipv4_fragment(
        self, frame: int, ts: float, data: bytes, off: int, ihl: int, tot_len: int, frag: int,
        proto: int, ip_id: int, vlan: tuple[int, ...], n: int,
    ) -> Segment | None:
        """An IPv4 fragment (RFC 791 §3.2): held until its datagram is whole, which is
        then decoded, in the frame that completed it, as one unfragmented packet."""
        if proto not in _FRAG_PROTOS:
            self._skip(_name_non_tcp(proto))
            return None
        if tot_len < ihl:
            self._skip("bad_ip_header")
            return None
        end = off + tot_len
        if n < end:  # the snaplen cut it: its bytes can never be reassembled
            self._skip("ip_fragment_truncated")
            return None
        offset = (frag & 0x1FFF) << 3
        got = self.fragments.add(
            (vlan, self._nest, data[off + 12 : off + 20], proto, ip_id), ts, offset,
            bool(frag & 0x2000), data[off + ihl : end], data[off : off + ihl] if not offset
            else None)
        if got is None:
            self._skip("ip_fragment")
            return None
        payload, head = got
        if ihl + len(payload) > 0xFFFF:  # no IPv4 datagram is longer (Linux drops it too)
            self.fragments.counts["over_limit"] += 1
            self._skip("ip_fragment")
            return None
        pkt = head[:2] + _U16.pack(ihl + len(payload)) + head[4:6] + b"\0\0" + head[8:] + payload
        return self._ipv4(frame, ts, pkt, 0, vlan, len(pkt))

    def _ipv6_fragment(
        self, frame: int, ts: float, data: bytes, off: int, p: int, end: int, fo: int,
        vlan: tuple[int, ...], n: int,
    ) -> Segment | None:
        """An IPv6 fragment (RFC 8200 §4.5); ``data[p:]`` is its Fragment header.  The whole
        datagram is decoded as the first fragment's IPv6 header followed by the reassembled
        fragmentable part (extension headers before the Fragment header are dropped)."""
        nxt = data[p]
        if nxt not in _FRAG_PROTOS:
            self._skip("non_tcp:none" if nxt == 59 else _name_non_tcp(nxt))
            return None
        if n < end:
            self._skip("ip_fragment_truncated")
            return None
        offset = fo & 0xFFF8
        got = self.fragments.add(
            (vlan, self._nest, data[off + 8 : off + 40], data[p + 4 : p + 8]), ts, offset,
            bool(fo & 1), data[p + 8 : end], data[off : off + 40] + bytes([nxt]) if not offset
            else None)
        if got is None:
            self._skip("ip_fragment")
            return None
        payload, head = got
        pkt = head[:4] + _U16.pack(len(payload)) + head[40:] + head[7:40] + payload
        return self._ipv6(frame, ts, pkt, 0, vlan, len(pkt))

    def _tcp(
        self, frame: int, ts: float, vlan: tuple[int, ...], ipver: int, src: bytes, dst: bytes,
        data: bytes, toff: int, seglen: int, n: int, addrs: bytes, ip_id: int, sport: int,
        dport: int, seq: int, ack: int, offflags: int, win: int, csum: int,
    ) -> Segment | None:
        """The TCP header at ``data[toff:]`` (fixed fields already unpacked) -> Segment.

        ``seglen`` is the TCP length the IP header claims; ``addrs`` the source and
        destination address bytes for the checksum's pseudo-header.
        """
        doff = (offflags >> 10) & 0x3C
        if doff < 20 or doff > seglen:
            self._skip("bad_tcp_header")
            return None
        end = toff + seglen
        if n < end and n >= toff + doff and tcp_checksum_verdict(
                data, toff, n, addrs, csum) is not False:
            # The IP header claims more than the frame holds: a snaplen cut, or a damaged
            # length field.  The checksum tells them apart: the bytes carried verify (or hold
            # an offload's partial sum) with their own length, so they are the whole segment
            # as sent and the IP length lies (a cut payload verifies once in 65,535).  Trust
            # the wire: clamp the payload, so no phantom bytes enter the sequence space
            # (they would make the next segments look like retransmissions).
            self.ip_length_beyond_frame += 1
            seglen = n - toff
            end = n
        flags = offflags & 0xFF
        if n < toff + doff:
            # A header-only capture (tcpdump -s 64): the snaplen cut inside the options.  The
            # fixed 20 bytes hold all the tracker needs; the options are "not captured"
            # (timestamps and SACK None; on a SYN ``syn_opts`` None, not "no options").
            self.options_not_captured += 1
            if seglen > doff:
                self.payload_truncated += 1
            return Segment(frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags, win,
                           seglen - doff, None, ip_id, csum, None, None, None, None)
        if n < end:
            csum_ok = None
            self.payload_truncated += 1
        elif self.verify_checksums:
            csum_ok = tcp_checksum_verdict(data, toff, end, addrs, csum)
        else:
            csum_ok = None
        if doff == 20:
            return Segment(frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags, win,
                           seglen - 20, csum_ok, ip_id, csum, None, None, None,
                           NO_SYN_OPTIONS if flags & SYN else None)
        if doff == 32 and not flags & SYN and data[toff + 20 : toff + 24] == _TS_PREFIX:
            tsval, tsecr = _TS.unpack_from(data, toff + 24)
            return Segment(frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags, win,
                           seglen - 32, csum_ok, ip_id, csum, tsval, tsecr, None, None)
        o = parse_tcp_options(data, toff + 20, toff + doff)
        return Segment(
            frame, ts, vlan, ipver, src, dst, sport, dport, seq, ack, flags, win, seglen - doff,
            csum_ok, ip_id, csum, o.tsval, o.tsecr, o.sack,
            _syn_options(o.mss, o.wscale, o.sack_ok, o.tfo_cookie) if flags & SYN else None,
        )
