"""The per-packet record: :class:`Segment`, TCP flag constants, SYN options and flow keys.

``Segment`` is the only object built per packet.  It is slotted and treated as immutable;
addresses stay ``bytes`` until a renderer formats them, and flags are a plain int bitmask
(``FIN | SYN | ...``) so the hot path never touches an enum.
"""

from __future__ import annotations

import ipaddress
from enum import Enum, IntFlag
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

CONTROL = FIN | SYN | RST


class TcpFlags(IntFlag):
    """TCP header flags, for display only (the hot path uses the int constants)."""

    FIN = FIN
    SYN = SYN
    RST = RST
    PSH = PSH
    ACK = ACK
    URG = URG
    ECE = ECE
    CWR = CWR


_FLAG_LETTERS = (
    (SYN, "S"), (ACK, "."), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"),
    (CWR, "W"),
)
_FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
               (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"))


def flags_str(flags: int) -> str:
    """Compact tcpdump-like flag string, e.g. ``S.`` for SYN-ACK, ``F.`` for FIN-ACK."""
    return "".join(ch for bit, ch in _FLAG_LETTERS if flags & bit) or "none"


def flags_names(flags: int) -> str:
    """Readable flag names joined by ``+``, e.g. ``SYN+ACK``."""
    return "+".join(name for bit, name in _FLAG_NAMES if flags & bit) or "none"


class Direction(Enum):
    """Which endpoint sent a segment, relative to the connection's roles."""

    ORIG = "orig"
    RESP = "resp"


class SynOptions:
    """TCP options that matter on SYN and SYN-ACK segments (RFC 9293, 7323, 2018, 7413).

    Fields: ``mss`` (int or None), ``wscale`` (shift or None), ``sack_ok`` (bool),
    ``tfo_cookie`` (bytes, ``b""`` for a cookie request, None when absent).  Immutable by
    convention: the decoder hands out one shared instance per distinct set of values.
    """

    __slots__ = ("mss", "sack_ok", "tfo_cookie", "wscale")

    def __init__(
        self, mss: int | None, wscale: int | None, sack_ok: bool, tfo_cookie: bytes | None
    ) -> None:
        self.mss = mss
        self.wscale = wscale
        self.sack_ok = sack_ok
        self.tfo_cookie = tfo_cookie

    def to_dict(self) -> dict[str, object]:
        """Plain-data view for reports."""
        return {
            "mss": self.mss,
            "wscale": self.wscale,
            "sack_permitted": self.sack_ok,
            "tfo_cookie": None if self.tfo_cookie is None else self.tfo_cookie.hex(),
        }

    def __repr__(self) -> str:
        return f"SynOptions({self.to_dict()})"


@cython.no_gc  # it refers only to numbers, bytes, tuples of numbers and SynOptions: no cycle
@cython.freelist(16)  # one is made per packet and most are dropped soon: reuse their memory
@cython.cclass
class Segment:
    """One decoded TCP segment, as seen at the capture point.

    Fields: ``frame`` (1-based frame number, as Wireshark numbers them), ``ts`` (capture
    seconds), ``vlan`` (tuple of VLAN ids outermost first, or ``()``), ``ipver`` (4 or 6),
    ``src``/``dst`` (address bytes), ``sport``/``dport``, ``seq``/``ack`` (raw 32-bit),
    ``flags`` (int bitmask), ``win`` (raw, unscaled window), ``plen`` (payload length taken
    from the IP header, so it is right even when the frame was cut by the snaplen),
    ``csum_ok`` (True/False, or None when the segment was not captured whole), ``ip_id``
    (IPv4 identification, -1 for IPv6), ``tcp_csum`` (the raw checksum field), ``tsval`` /
    ``tsecr`` (RFC 7323 timestamps or None), ``sack`` (tuple of ``(left, right)`` blocks or
    None), ``syn_opts`` (:class:`SynOptions` on SYN segments, else None) and ``link_pad``
    (set by the decoder, 0 unless the link layer's own length ended the datagram before the
    IP header's length did, as a PPPoE length can: those bytes are not payload and not in
    ``plen``, but Zeek, which ignores the PPPoE length, reads them as payload).

    Compiled, it is an extension type whose fields are declared in ``segment.pxd`` (C
    integers and a C double where the value is always a number; every field public, so
    plain Python reads and writes them under the same names); typed modules that
    ``cimport`` it read and build it without any Python attribute lookup.  Interpreted, it
    is this slotted class.  Compiled, the garbage collector does not track it (it can hold
    no reference cycle), so that the object made for every packet neither costs the
    collector's bookkeeping nor counts towards its next collection.
    """

    if not cython.compiled:
        __slots__ = (
            "ack", "csum_ok", "dport", "dst", "flags", "frame", "ip_id", "ipver", "link_pad",
            "plen", "sack", "seq", "sport", "src", "syn_opts", "tcp_csum", "ts", "_tsecr",
            "_tsval", "vlan", "win",
        )

    def __init__(
        self, frame: int, ts: float, vlan: tuple[int, ...], ipver: int, src: bytes, dst: bytes,
        sport: int, dport: int, seq: int, ack: int, flags: int, win: int, plen: int,
        csum_ok: bool | None, ip_id: int, tcp_csum: int, tsval: int | None, tsecr: int | None,
        sack: tuple[tuple[int, int], ...] | None, syn_opts: SynOptions | None,
    ) -> None:
        self.frame = frame
        self.ts = ts
        self.vlan = vlan
        self.ipver = ipver
        self.src = src
        self.dst = dst
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.win = win
        self.plen = plen
        self.csum_ok = csum_ok
        self.ip_id = ip_id
        self.tcp_csum = tcp_csum
        self.tsval = tsval
        self.tsecr = tsecr
        self.sack = sack
        self.syn_opts = syn_opts
        self.link_pad = 0

    # RFC 7323 timestamps as C fields holding -1 for "no option" (a u32 never is): no int
    # object per packet; these are the None-or-int views
    @property
    def tsval(self) -> int | None:
        """TSval of the timestamps option, None without one."""
        return None if self._tsval < 0 else self._tsval

    @tsval.setter
    def tsval(self, v: int | None) -> None:
        self._tsval = -1 if v is None else v

    @property
    def tsecr(self) -> int | None:
        """TSecr of the timestamps option, None without one."""
        return None if self._tsecr < 0 else self._tsecr

    @tsecr.setter
    def tsecr(self, v: int | None) -> None:
        self._tsecr = -1 if v is None else v

    def __repr__(self) -> str:
        return (
            f"Segment(frame={self.frame}, {format_endpoint(self.src, self.sport)} > "
            f"{format_endpoint(self.dst, self.dport)}, {flags_str(self.flags)}, seq={self.seq}, "
            f"ack={self.ack}, win={self.win}, len={self.plen})"
        )


def format_ip(addr: bytes) -> str:
    """Render address bytes as text (IPv4 dotted quad, IPv6 compressed as ``ipaddress``
    does, RFC 5952)."""
    n = len(addr)
    if n == 4:  # the common case, without the round trip through ipaddress
        if cython.compiled:
            return _ip4_text(addr)  # C digits: no int objects, no join
        else:  # interpreted (compiled, Cython drops this branch)
            return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}"
    if cython.compiled and n == 16 and not _is_v4_mapped(addr):
        return _ip6_text(addr)  # ~1/20 of ipaddress's cost; the same text
    return str(ipaddress.ip_address(addr))


@cython.cfunc
def _ip4_text(addr: bytes) -> str:
    """The dotted quad of four address bytes, written in C (compiled only)."""
    p: cython.p_const_uchar = addr
    buf = cython.declare(cython.char[16])  # type: ignore[misc,valid-type]
    i: cython.int
    b: cython.int
    pos: cython.int = 0
    for i in range(4):
        if i:
            buf[pos] = 46  # "."
            pos += 1
        b = p[i]
        if b >= 100:
            buf[pos] = 48 + b // 100
            pos += 1
        if b >= 10:
            buf[pos] = 48 + b // 10 % 10
            pos += 1
        buf[pos] = 48 + b % 10
        pos += 1
    return buf[:pos].decode("ascii")  # type: ignore[no-any-return]


@cython.cfunc
def _is_v4_mapped(addr: bytes) -> cython.bint:
    """``::ffff:a.b.c.d``: Python 3.13 writes its last 32 bits as a dotted quad, 3.11 in
    hex, so that form is left to ``ipaddress``."""
    p: cython.p_const_uchar = addr
    i: cython.int
    for i in range(10):
        if p[i]:
            return False
    return p[10] == 0xFF and p[11] == 0xFF  # type: ignore[no-any-return]


@cython.cfunc
def _ip6_text(addr: bytes) -> str:
    """``str(ipaddress.IPv6Address(addr))`` in C: lowercase hextets without leading zeros,
    the first longest run of two or more zero hextets written ``::`` (compiled only)."""
    p: cython.p_const_uchar = addr
    h = cython.declare(cython.uint[8])  # type: ignore[misc,valid-type]
    buf = cython.declare(cython.char[48])  # type: ignore[misc,valid-type]
    i: cython.int
    d: cython.int
    shift: cython.int
    pos: cython.int = 0
    run: cython.int = 0
    run_start: cython.int = -1
    best: cython.int = 0
    best_start: cython.int = -1
    after_run: cython.bint = False
    for i in range(8):
        h[i] = cython.cast(cython.uint, p[2 * i]) << 8 | p[2 * i + 1]
        if h[i] == 0:
            if run == 0:
                run_start = i
            run += 1
            if run > best:  # strictly longer: the first of equal runs wins
                best = run
                best_start = run_start
        else:
            run = 0
    if best < 2:
        best_start = -1
    i = 0
    while i < 8:
        if i == best_start:
            buf[pos] = 58  # "::" stands for the run and the separators around it
            buf[pos + 1] = 58
            pos += 2
            i += best
            after_run = True
            continue
        if i > 0 and not after_run:
            buf[pos] = 58  # ":"
            pos += 1
        after_run = False
        shift = 12
        while shift > 0 and not (h[i] >> shift):
            shift -= 4
        while shift >= 0:
            d = h[i] >> shift & 15
            buf[pos] = d + 48 if d < 10 else d + 87  # 0-9, a-f
            pos += 1
            shift -= 4
        i += 1
    return buf[:pos].decode("ascii")  # type: ignore[no-any-return]


def format_endpoint(addr: bytes, port: int) -> str:
    """``a.b.c.d:port`` or ``[v6]:port``."""
    text = format_ip(addr)
    return f"[{text}]:{port}" if len(addr) == 16 else f"{text}:{port}"


# A flow key is canonical: the two (addr, port) endpoints in sorted order plus the VLAN ids.
FlowKey = tuple[tuple[int, ...], tuple[bytes, int], tuple[bytes, int]]


def flow_key(seg: Segment) -> FlowKey:
    """The canonical, direction-free key of the 4-tuple (plus VLAN ids) a segment belongs to."""
    a = (seg.src, seg.sport)
    b = (seg.dst, seg.dport)
    return (seg.vlan, a, b) if a <= b else (seg.vlan, b, a)
