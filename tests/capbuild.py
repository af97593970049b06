"""Builders for capture bytes, used by the ingestion and decoder tests (STYLE §7).

Three layers, each a set of small pure functions that return ``bytes``:

* **Packets** — :func:`tcp_segment`, :func:`ipv4`, :func:`ipv6` (with extension headers) and
  the shortcuts :func:`tcp4` / :func:`tcp6`.  Checksums are computed with the textbook
  RFC 1071 word loop in :func:`inet_checksum`, deliberately not with the decoder's trick,
  so that a checksum test compares two independent computations.
* **Link layers** — :func:`ether` (with any stack of VLAN tags), :func:`mpls`,
  :func:`pppoe_session`, :func:`sll`, :func:`sll2`, :func:`null`, :func:`loop`,
  :func:`ppp` and :func:`fddi`.
* **Capture files** — pcap through dpkt's writer (:func:`pcap_dpkt`) and by hand
  (:func:`pcap_bytes`, for big-endian files, the 24-byte-record variant, snaplen cuts and
  corrupt record headers), and pcapng through dpkt's writer (:func:`pcapng_dpkt`) and by hand
  (:func:`png_shb`, :func:`png_idb`, :func:`png_epb`, :func:`png_opb`, :func:`png_spb`,
  :func:`png_block`) for what dpkt cannot express: big-endian sections, Packet Blocks
  (type 2), Simple Packet Blocks and damaged blocks.

Plus file helpers: :func:`compress`, :func:`write`, :func:`read_all` and :func:`decode_one`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import ipaddress
import lzma
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.segment import ACK, PSH, SYN, Segment
from tcpflow_analyzer.sources.pcapfile import CaptureReader, open_capture

# -- endpoints (the conventions of samples/README.md) -------------------------------------
ORIG4 = ipaddress.IPv4Address("192.0.2.1").packed
RESP4 = ipaddress.IPv4Address("198.51.100.2").packed
ORIG6 = ipaddress.IPv6Address("2001:db8::1").packed
RESP6 = ipaddress.IPv6Address("2001:db8::2").packed
ORIG_PORT = 40000
RESP_PORT = 80
ORIG_MAC = bytes.fromhex("020000000001")
RESP_MAC = bytes.fromhex("020000000002")

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_8021Q = 0x8100
ETH_8021AD = 0x88A8
ETH_QINQ_OLD = 0x9100
ETH_MPLS = 0x8847
ETH_PPPOE = 0x8864

PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057

# IPv6 extension-header numbers (RFC 8200 §4)
V6_HOPOPTS = 0
V6_ROUTING = 43
V6_FRAGMENT = 44
V6_DSTOPTS = 60

# TCP option builders (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413) -----------------------
NOP = b"\x01"
EOL = b"\x00"


def opt_mss(mss: int) -> bytes:
    """MSS option (kind 2, length 4)."""
    return struct.pack("!BBH", 2, 4, mss)


def opt_wscale(shift: int) -> bytes:
    """Window-scale option (kind 3, length 3)."""
    return struct.pack("!BBB", 3, 3, shift)


def opt_sack_ok() -> bytes:
    """SACK-permitted option (kind 4, length 2)."""
    return b"\x04\x02"


def opt_sack(*blocks: tuple[int, int]) -> bytes:
    """SACK option (kind 5) with the given ``(left, right)`` blocks."""
    return struct.pack("!BB", 5, 2 + 8 * len(blocks)) + b"".join(
        struct.pack("!II", left, right) for left, right in blocks
    )


def opt_timestamps(tsval: int, tsecr: int) -> bytes:
    """Timestamps option (kind 8, length 10)."""
    return struct.pack("!BBII", 8, 10, tsval, tsecr)


def opt_tfo(cookie: bytes) -> bytes:
    """TCP Fast Open cookie option (kind 34); an empty cookie is a cookie request."""
    return struct.pack("!BB", 34, 2 + len(cookie)) + cookie


def opt_tfo_experimental(cookie: bytes, magic: int = 0xF989) -> bytes:
    """Experimental TFO option (kind 254 with the 0xF989 ExID, RFC 7413 §4.1.1)."""
    return struct.pack("!BBH", 254, 4 + len(cookie), magic) + cookie


# -- packets -------------------------------------------------------------------------------
def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum with the textbook word-by-word loop."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:  # the length is split into two words so TSO super-segments sum right
        return src + dst + struct.pack("!HHH", proto, length >> 16, length & 0xFFFF)
    return src + dst + struct.pack("!IxxxB", length, proto)


def tcp_segment(
    src: bytes = ORIG4, dst: bytes = RESP4, *, sport: int = ORIG_PORT, dport: int = RESP_PORT,
    seq: int = 1000, ack: int = 0, flags: int = SYN, win: int = 65535, options: bytes = b"",
    payload: bytes = b"", urp: int = 0, data_offset: int | None = None,
    checksum: int | None = None,
) -> bytes:
    """A TCP header plus payload with a correct checksum for ``src`` -> ``dst``.

    ``options`` is padded with EOL bytes to a multiple of 4.  ``data_offset`` (in 32-bit
    words) overrides the computed one, ``checksum`` overrides the computed checksum.
    """
    options = options + EOL * (-len(options) % 4)
    doff = data_offset if data_offset is not None else (20 + len(options)) // 4
    hdr = struct.pack("!HHIIHHHH", sport, dport, seq, ack, (doff << 12) | flags, win, 0, urp)
    seg = hdr + options + payload
    if checksum is None:
        checksum = inet_checksum(_pseudo_header(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", checksum) + seg[18:]


def ipv4(
    payload: bytes, *, src: bytes = ORIG4, dst: bytes = RESP4, proto: int = 6, ip_id: int = 1,
    ttl: int = 64, flags_frag: int = 0x4000, options: bytes = b"",
    total_length: int | None = None, ihl: int | None = None,
) -> bytes:
    """An IPv4 header (with a correct header checksum) followed by ``payload``.

    ``flags_frag`` is the raw flags + fragment-offset word (default: DF).  ``options`` is
    padded with EOL to a multiple of 4.  ``total_length`` and ``ihl`` override the
    computed fields (0 total length = TSO style).
    """
    options = options + EOL * (-len(options) % 4)
    hl = ihl if ihl is not None else (20 + len(options)) // 4
    tot = total_length if total_length is not None else 20 + len(options) + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | hl, 0, tot, ip_id, flags_frag, ttl, proto, 0,
                      src, dst) + options
    csum = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def v6_ext(code: int, body: bytes = b"") -> tuple[int, bytes]:
    """An IPv6 extension header description for :func:`ipv6`.

    For hop-by-hop (0), routing (43) and destination options (60) ``body`` is what follows
    the next-header and length bytes; it is padded with PadN to a multiple of 8 bytes.
    For the fragment header (44) use :func:`v6_fragment`.
    """
    return code, body


def v6_fragment(offset: int = 0, more: bool = False, ident: int = 0x1234) -> tuple[int, bytes]:
    """An IPv6 fragment header for :func:`ipv6` (offset in 8-byte units; atomic by default)."""
    return V6_FRAGMENT, struct.pack("!HI", (offset << 3) | int(more), ident)


def v6_routing(segments_left: int = 0, routing_type: int = 4) -> tuple[int, bytes]:
    """A routing header with no addresses (segments left 0 by default) for :func:`ipv6`."""
    return V6_ROUTING, struct.pack("!BB", routing_type, segments_left) + b"\x00" * 4


def _ext_bytes(code: int, nxt: int, body: bytes) -> bytes:
    if code == V6_FRAGMENT:
        return struct.pack("!Bx", nxt) + body
    if code == 51:  # Authentication Header: length in 4-octet units minus 2 (RFC 4302)
        total = 2 + len(body)
        return struct.pack("!BB", nxt, total // 4 - 2) + body
    pad = -(2 + len(body)) % 8
    if pad == 1:
        body += b"\x00"  # Pad1
    elif pad:
        body += bytes([1, pad - 2]) + b"\x00" * (pad - 2)  # PadN
    return struct.pack("!BB", nxt, (2 + len(body)) // 8 - 1) + body


def ipv6(
    payload: bytes, *, src: bytes = ORIG6, dst: bytes = RESP6, next_header: int = 6,
    ext: Sequence[tuple[int, bytes]] = (), hop_limit: int = 64,
    payload_length: int | None = None,
) -> bytes:
    """An IPv6 header, the extension headers ``ext`` (outermost first) and ``payload``.

    ``next_header`` is the protocol after the last extension header.
    ``payload_length`` overrides the computed one (0 = jumbo / offload style).
    """
    chain = [code for code, _ in ext] + [next_header]
    exts = b"".join(_ext_bytes(code, chain[i + 1], body) for i, (code, body) in enumerate(ext))
    plen = payload_length if payload_length is not None else len(exts) + len(payload)
    return struct.pack("!IHBB16s16s", 6 << 28, plen, chain[0], hop_limit, src, dst) + exts + payload


def tcp4(
    *, src: bytes = ORIG4, dst: bytes = RESP4, ip_options: bytes = b"", ip_id: int = 1,
    flags_frag: int = 0x4000, total_length: int | None = None, **tcp: object,
) -> bytes:
    """An IPv4 packet carrying one TCP segment (``tcp`` keywords go to :func:`tcp_segment`)."""
    seg = tcp_segment(src, dst, **tcp)  # type: ignore[arg-type]
    return ipv4(seg, src=src, dst=dst, options=ip_options, ip_id=ip_id,
                flags_frag=flags_frag, total_length=total_length)


def tcp6(
    *, src: bytes = ORIG6, dst: bytes = RESP6, ext: Sequence[tuple[int, bytes]] = (),
    payload_length: int | None = None, **tcp: object,
) -> bytes:
    """An IPv6 packet (with extension headers ``ext``) carrying one TCP segment."""
    seg = tcp_segment(src, dst, **tcp)  # type: ignore[arg-type]
    return ipv6(seg, src=src, dst=dst, ext=ext, payload_length=payload_length)


def udp4(payload: bytes = b"hello", *, src: bytes = ORIG4, dst: bytes = RESP4) -> bytes:
    """An IPv4 UDP datagram (checksum 0, which IPv4 allows)."""
    return ipv4(struct.pack("!HHHH", 5353, 53, 8 + len(payload), 0) + payload, src=src,
                dst=dst, proto=17)


# -- link layers ---------------------------------------------------------------------------
def ether(
    l3: bytes, *, ethertype: int = ETH_IPV4, tags: Sequence[tuple[int, int]] = (),
    dst: bytes = RESP_MAC, src: bytes = ORIG_MAC,
) -> bytes:
    """An Ethernet II frame; ``tags`` are ``(tpid, vlan_id)`` pairs, outermost first."""
    out = dst + src
    for tpid, vid in tags:
        out += struct.pack("!H", tpid)
        out += struct.pack("!H", vid & 0x0FFF)  # PCP 0, DEI 0
    return out + struct.pack("!H", ethertype) + l3


def mpls(l3: bytes, labels: Sequence[int], ttl: int = 64) -> bytes:
    """An MPLS label stack (RFC 3032) before ``l3``; bottom-of-stack set on the last label."""
    out = b""
    for i, label in enumerate(labels):
        bos = 1 if i == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | (bos << 8) | ttl)
    return out + l3


def pppoe_session(l3: bytes, *, ppp_proto: int = PPP_IPV4, session: int = 0x1234) -> bytes:
    """A PPPoE session header (RFC 2516) and the PPP protocol field before ``l3``."""
    return struct.pack("!BBHHH", 0x11, 0, session, len(l3) + 2, ppp_proto) + l3


def sll(l3: bytes, proto: int = ETH_IPV4) -> bytes:
    """Linux cooked capture v1 header (LINKTYPE_LINUX_SLL, 113) before ``l3``."""
    return struct.pack("!HHH8sH", 0, 1, 6, ORIG_MAC + b"\x00\x00", proto) + l3


def sll2(l3: bytes, proto: int = ETH_IPV4) -> bytes:
    """Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2, 276) before ``l3``."""
    return struct.pack("!HHiHBB8s", proto, 0, 2, 1, 0, 6, ORIG_MAC + b"\x00\x00") + l3


def null(l3: bytes, af: int = 2, order: str = "<") -> bytes:
    """BSD loopback header (LINKTYPE_NULL, 0): AF value in the capturing host's order."""
    return struct.pack(order + "I", af) + l3


def loop(l3: bytes, af: int = 2) -> bytes:
    """OpenBSD loopback header (LINKTYPE_LOOP, 108): AF value in network byte order."""
    return struct.pack("!I", af) + l3


def ppp(l3: bytes, proto: int = PPP_IPV4, *, hdlc: bool = True) -> bytes:
    """PPP frame (LINKTYPE_PPP, 9), with the FF 03 address/control bytes when ``hdlc``."""
    return (b"\xff\x03" if hdlc else b"") + struct.pack("!H", proto) + l3


def fddi(l3: bytes, ethertype: int = ETH_IPV4, *, snap: bool = True) -> bytes:
    """FDDI frame (LINKTYPE_FDDI, 10): frame control, two addresses, 802.2 LLC/SNAP."""
    llc = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", ethertype) if snap else b"\x42\x42\x03"
    return b"\x50" + RESP_MAC + ORIG_MAC + llc + l3


# -- pcap ----------------------------------------------------------------------------------
Packet = tuple[int, int, bytes]  # (seconds, fraction in the file's unit, frame bytes)

PCAP_MAGIC = 0xA1B2C3D4
PCAP_MAGIC_NANO = 0xA1B23C4D
PCAP_MAGIC_MODIFIED = 0xA1B2CD34  # Alexey Kuznetzov's 24-byte-record variant


def pcap_header(
    *, linktype: int = 1, nano: bool = False, order: str = "<", snaplen: int = 65535,
    modified: bool = False,
) -> bytes:
    """The 24-byte pcap file header in the given byte order (``<`` or ``>``)."""
    magic = PCAP_MAGIC_MODIFIED if modified else PCAP_MAGIC_NANO if nano else PCAP_MAGIC
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(
    sec: int, frac: int, data: bytes, *, order: str = "<", orig_len: int | None = None,
    incl_len: int | None = None, modified: bool = False,
) -> bytes:
    """One pcap record: header plus ``data``.  ``incl_len`` overrides the captured length
    in the header only (for corrupt headers); the modified variant adds 8 bytes."""
    incl = len(data) if incl_len is None else incl_len
    orig = len(data) if orig_len is None else orig_len
    hdr = struct.pack(order + "IIII", sec, frac, incl, orig)
    if modified:
        hdr += struct.pack(order + "iHBx", 1, 0x0800, 0)
    return hdr + data


def pcap_bytes(
    packets: Iterable[Packet], *, linktype: int = 1, nano: bool = False, order: str = "<",
    snaplen: int = 65535, modified: bool = False,
) -> bytes:
    """A pcap file built by hand; frames longer than ``snaplen`` are cut to it, keeping
    their original length in the record header (as libpcap does)."""
    out = [pcap_header(linktype=linktype, nano=nano, order=order, snaplen=snaplen,
                       modified=modified)]
    for sec, frac, data in packets:
        out.append(pcap_record(sec, frac, data[:snaplen], order=order, orig_len=len(data),
                               modified=modified))
    return b"".join(out)


def pcap_dpkt(
    packets: Iterable[tuple[float, bytes]], *, linktype: int = 1, nano: bool = False,
    snaplen: int = 65535,
) -> bytes:
    """A pcap file written by ``dpkt.pcap.Writer`` (host byte order) from ``(ts, bytes)``."""
    buf = io.BytesIO()
    writer = dpkt.pcap.Writer(buf, snaplen=snaplen, linktype=linktype, nano=nano)
    for ts, data in packets:
        writer.writepkt(data, ts=ts)
    return buf.getvalue()


def pcap_record_offsets(capture: bytes, *, order: str = "<", rec_size: int = 16) -> list[int]:
    """Byte offsets of every record header in a well-formed pcap file."""
    offsets = []
    pos = 24
    while pos + rec_size <= len(capture):
        offsets.append(pos)
        incl = struct.unpack_from(order + "I", capture, pos + 8)[0]
        pos += rec_size + incl
    return offsets


# -- pcapng --------------------------------------------------------------------------------
PNG_SHB = 0x0A0D0D0A
PNG_IDB = 1
PNG_PB = 2  # obsolete Packet Block (OPB)
PNG_SPB = 3
PNG_EPB = 6
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


def png_block(btype: int, body: bytes, *, order: str = "<", length: int | None = None) -> bytes:
    """A raw pcapng block; ``body`` is padded to 32 bits.  ``length`` overrides both length
    fields (for corrupt blocks)."""
    body = body + b"\x00" * (-len(body) % 4)
    blen = 12 + len(body) if length is None else length
    return struct.pack(order + "II", btype, blen) + body + struct.pack(order + "I", blen)


def png_options(options: Sequence[tuple[int, bytes]], *, order: str = "<") -> bytes:
    """An option list (each value padded to 32 bits) terminated by opt_endofopt."""
    if not options:
        return b""
    out = b""
    for code, value in options:
        out += struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)
    return out + b"\x00\x00\x00\x00"


def png_shb(*, order: str = "<", options: Sequence[tuple[int, bytes]] = ()) -> bytes:
    """A Section Header Block in byte order ``order`` (section length unknown: -1)."""
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + png_options(options, order=order)
    return png_block(PNG_SHB, body, order=order)


def png_idb(
    linktype: int, *, order: str = "<", snaplen: int = 0, tsresol: int | None = None,
    tsoffset: int | None = None,
) -> bytes:
    """An Interface Description Block; ``tsresol`` is the raw if_tsresol byte (e.g. 9 for
    nanoseconds, ``0x80 | 10`` for 2^-10 s) and ``tsoffset`` the if_tsoffset seconds."""
    opts = []
    if tsresol is not None:
        opts.append((OPT_IF_TSRESOL, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((OPT_IF_TSOFFSET, struct.pack(order + "q", tsoffset)))
    body = struct.pack(order + "HHI", linktype, 0, snaplen) + png_options(opts, order=order)
    return png_block(PNG_IDB, body, order=order)


def png_epb(
    iface: int, ts_units: int, data: bytes, *, order: str = "<", orig_len: int | None = None,
) -> bytes:
    """An Enhanced Packet Block; ``ts_units`` counts the interface's if_tsresol units."""
    body = struct.pack(order + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data),
                       len(data) if orig_len is None else orig_len) + data
    return png_block(PNG_EPB, body, order=order)


def png_opb(iface: int, ts_units: int, data: bytes, *, order: str = "<", drops: int = 0) -> bytes:
    """An obsolete Packet Block (type 2): 16-bit interface id and drops count."""
    body = struct.pack(order + "HHIIII", iface, drops, ts_units >> 32, ts_units & 0xFFFFFFFF,
                       len(data), len(data)) + data
    return png_block(PNG_PB, body, order=order)


def png_spb(data: bytes, *, order: str = "<", orig_len: int | None = None) -> bytes:
    """A Simple Packet Block (interface 0, no timestamp)."""
    body = struct.pack(order + "I", len(data) if orig_len is None else orig_len) + data
    return png_block(PNG_SPB, body, order=order)


def pcapng_dpkt(packets: Iterable[tuple[float, bytes]], *, linktype: int = 1) -> bytes:
    """A single-interface pcapng file written by ``dpkt.pcapng.Writer`` (microseconds)."""
    buf = io.BytesIO()
    writer = dpkt.pcapng.Writer(buf, linktype=linktype)
    for ts, data in packets:
        writer.writepkt(data, ts=ts)
    return buf.getvalue()


# -- files and reading ---------------------------------------------------------------------
def compress(data: bytes, codec: str) -> bytes:
    """``data`` compressed with ``gzip``, ``bzip2`` or ``xz``."""
    if codec == "gzip":
        return gzip.compress(data, mtime=0)
    if codec == "bzip2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    raise ValueError(codec)


def write(directory: Path, name: str, data: bytes) -> str:
    """Write ``data`` to ``directory/name`` and return the path as a string."""
    path = directory / name
    path.write_bytes(data)
    return str(path)


def read_all(path: str) -> tuple[CaptureReader, list[tuple[int, float, int, bytes]]]:
    """Open a capture and read every frame; returns the reader (for warnings) and frames."""
    reader = open_capture(path)
    frames = list(reader)
    return reader, frames


def decode_one(linktype: int, data: bytes, **kw: bool) -> tuple[Segment | None, Decoder]:
    """Decode one frame with a fresh :class:`Decoder`; returns the segment and the decoder."""
    decoder = Decoder(**kw)
    return decoder.decode(1, 0.0, linktype, data), decoder


def seg_fields(seg: Segment) -> dict[str, object]:
    """The identity fields of a segment, for one-comparison asserts."""
    return {
        "vlan": seg.vlan, "ipver": seg.ipver, "src": seg.src, "dst": seg.dst,
        "sport": seg.sport, "dport": seg.dport, "seq": seg.seq, "ack": seg.ack,
        "flags": seg.flags, "win": seg.win, "plen": seg.plen, "csum_ok": seg.csum_ok,
    }


def expected_fields(
    *, vlan: tuple[int, ...] = (), ipver: int = 4, sport: int = ORIG_PORT,
    dport: int = RESP_PORT, seq: int = 1000, ack: int = 0, flags: int = SYN, win: int = 65535,
    plen: int = 0, csum_ok: bool | None = True,
) -> dict[str, object]:
    """What :func:`seg_fields` should return for a segment built with the defaults."""
    src, dst = (ORIG4, RESP4) if ipver == 4 else (ORIG6, RESP6)
    return {
        "vlan": vlan, "ipver": ipver, "src": src, "dst": dst, "sport": sport, "dport": dport,
        "seq": seq, "ack": ack, "flags": flags, "win": win, "plen": plen, "csum_ok": csum_ok,
    }


DATA_FLAGS = PSH | ACK
