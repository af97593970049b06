"""Live capture on Linux: AF_PACKET sockets -> the same ``(frame, ts, linktype, bytes)``
frames as :mod:`.pcapfile`, so that ``sniff`` shares every line after capture with ``analyze``.

Imported only by ``sniff`` (STYLE §1 and §8), and scapy is imported lazily inside it.  What
each part does, and why:

* **scapy** lists and resolves interfaces (``conf.ifaces``: index, ARPHRD type, addresses)
  and compiles the BPF filter through libpcap (``compile_filter``), so a bad expression
  fails with libpcap's own message.  Nothing is ever dissected.
* **The socket** is an ``AF_PACKET`` socket opened the way libpcap opens one: created with
  protocol 0 (it receives nothing yet), the filter attached in the kernel, the receive
  ring set up, and only then bound to the interface.  No unfiltered packet, and no packet
  from before the ring existed, is ever queued.  scapy's own ``L2ListenSocket.recv_raw``
  costs about 4 µs per packet in ``recvmsg`` and ancillary-data parsing; at the rates
  ``sniff`` has to sustain that is most of the budget, so frames are taken from the
  kernel's memory-mapped ``TPACKET_V3`` ring instead: one ``poll`` per block of packets, no
  system call per packet, ``tp_sec``/``tp_nsec`` straight from the kernel (``recvmsg`` with
  ``SO_TIMESTAMPNS`` is the fallback where the ring is unavailable).
* **Link types** follow libpcap.  One Ethernet or loopback interface is captured raw
  (``LINKTYPE_ETHERNET``, VLAN tags stripped by offload are put back), a raw-IP device
  (tun, wireguard) as ``LINKTYPE_RAW``; ``any``, several interfaces, or any other device
  type are captured *cooked* (``SOCK_DGRAM``) and get a ``LINKTYPE_LINUX_SLL2`` header
  built from ``sockaddr_ll``, which also records the interface index.
* **Loopback** delivers every packet to packet sockets twice (once outgoing, once
  incoming); like libpcap, the outgoing copy is rejected, here in the kernel filter.
* **Drops**: ``PACKET_STATISTICS`` (packets seen by the filter, packets dropped because the
  ring was full) is read periodically and summed in :attr:`LiveCapture.kernel`.
* ``-w``: :class:`PcapWriter` writes exactly the frames that were analysed, in the same
  order, with the kernel's nanosecond timestamps, so ``analyze`` of that file computes the
  very same ``ts`` floats (``sec + nsec * 1e-9``) and the very same report.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import math
import mmap
import os
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import LiveCaptureError, TcpflowError
from .pcapfile import Frame

# <linux/if_packet.h>, <linux/if_ether.h>, <asm-generic/socket.h>, <linux/filter.h>
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_OUTGOING = 4
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
ETH_P_8021Q = 0x8100

# <linux/if_arp.h> device types and the link type a raw capture of them gets (libpcap).
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
_RAW_LINKTYPES = {ARPHRD_ETHER: 1, ARPHRD_LOOPBACK: 1, ARPHRD_NONE: 101}
# The DLT libpcap compiles a filter for, per capture link type (cooked sockets hand the
# filter the packet from its network header, which is what DLT_RAW expects).
_FILTER_DLT = {1: 1, 101: 12, 276: 12}

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL2 = 276

SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN: whole packets, even 64 KiB GSO frames on lo
DEFAULT_BUFFER = 64 << 20
BLOCK_SIZE = 1 << 18  # 256 KiB: holds a 64 KiB frame; many blocks tolerate a slow reader
BLOCK_TIMEOUT_MS = 100  # a block with any packet in it is handed over after this long
_MAX_BLOCKS_PER_READ = 16

# BPF opcodes used by the guards prepended to the user's filter.
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JA = 0x05
_BPF_RET_K = 0x06

_TP3_HDR = struct.Struct("=IIIIIIH")  # next_offset sec nsec snaplen len status mac
_TP3_VLAN = struct.Struct("=IH")  # hv1.tp_vlan_tci, hv1.tp_vlan_tpid (at offset 32)
_TP3_SLL_OFF = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): where sockaddr_ll sits
_SOCKADDR_LL = struct.Struct("=H2siHBB8s")  # family protocol(be) ifindex hatype pkttype halen addr
_SLL2 = struct.Struct(">2s2xIHBB8s")  # LINKTYPE_LINUX_SLL2 header (20 bytes)
_U32 = struct.Struct("=I")  # tpacket_hdr_v1.block_status (at offset 8)
_BLOCK_HDR = struct.Struct("=II")  # num_pkts, offset_to_first_pkt (at offset 12)
_VLAN_TAG = struct.Struct(">HH")
_AUXDATA = struct.Struct("=IIIHHHH")  # status len snaplen mac net vlan_tci vlan_tpid
_TIMESPEC = struct.Struct("=qq")
_PCAP_NS_MAGIC = 0xA1B23C4D
_PCAP_REC = struct.Struct("<IIII")
_INSN = struct.Struct("=HBBI")

Insn = tuple[int, int, int, int]  # (code, jt, jf, k) as in struct sock_filter


def _quiet_scapy() -> None:
    """scapy logs warnings on import and on odd interfaces; we report our own errors."""
    logging.getLogger("scapy").setLevel(logging.ERROR)


def _rebuild(
    data: bytes, status: int, tci: int, tpid: int, proto: int,
    cooked: tuple[int, int, int, bytes] | None,
) -> tuple[bytes, int]:
    """Put back what the kernel took out of a captured frame; returns it and the bytes added.

    The kernel strips the outer VLAN tag into the packet's metadata (``tci``/``tpid``,
    valid when ``status`` says so).  For a cooked capture (several interfaces or ``any``)
    ``cooked`` is (ifindex, hatype, pkttype, hardware address) and the frame gets an SLL2
    header; ``proto`` is then its protocol (the tag's inner type when a tag is restored).
    """
    vlan = status & TP_STATUS_VLAN_VALID
    if vlan and not status & TP_STATUS_VLAN_TPID_VALID:
        tpid = ETH_P_8021Q
    if cooked is not None:
        ifindex, hatype, pkttype, haddr = cooked
        if vlan:
            head = _SLL2.pack(tpid.to_bytes(2, "big"), ifindex, hatype, pkttype, len(haddr),
                              haddr)
            return head + _VLAN_TAG.pack(tci, proto) + data, 24
        head = _SLL2.pack(proto.to_bytes(2, "big"), ifindex, hatype, pkttype, len(haddr), haddr)
        return head + data, 20
    if vlan:
        return data[:12] + _VLAN_TAG.pack(tpid, tci) + data[12:], 4
    return data, 0


# -- interfaces ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface as the capture sees it.  Fields: name, index, arphrd (device
    type), is_up, is_loopback, mac, addresses."""

    name: str
    index: int
    arphrd: int
    is_up: bool
    is_loopback: bool
    mac: str = ""
    addresses: tuple[str, ...] = ()

    @property
    def raw_linktype(self) -> int | None:
        """The link type of a raw capture on this interface, or None when it is captured
        cooked (SLL2)."""
        return _RAW_LINKTYPES.get(self.arphrd)


def list_interfaces() -> list[Interface]:
    """Every interface of this network namespace, ordered by index (needs no privilege)."""
    _quiet_scapy()
    try:
        import scapy.arch.linux  # noqa: F401  (registers the Linux interface provider)
        from scapy.config import conf

        conf.ifaces.reload()
        found = []
        for dev in conf.ifaces.values():
            flags = int(getattr(dev, "flags", 0) or 0)
            ips = getattr(dev, "ips", {}) or {}
            addrs = tuple(a for version in sorted(ips) for a in ips[version])
            found.append(
                Interface(
                    name=str(dev.network_name),
                    index=int(dev.index),
                    arphrd=int(dev.type or 0),
                    is_up=bool(flags & 0x1),
                    is_loopback=bool(flags & 0x8),
                    mac=str(dev.mac or ""),
                    addresses=addrs,
                )
            )
    except Exception:  # scapy could not enumerate: fall back to the kernel's name list
        found = [_interface_from_sysfs(name, index) for index, name in socket.if_nameindex()]
    return sorted(found, key=lambda i: i.index)


def _interface_from_sysfs(name: str, index: int) -> Interface:
    base = f"/sys/class/net/{name}"

    def read(attr: str, default: str) -> str:
        try:
            with open(f"{base}/{attr}") as fh:
                return fh.read().strip()
        except OSError:
            return default

    flags = int(read("flags", "0x0"), 16)
    return Interface(
        name=name,
        index=index,
        arphrd=int(read("type", "1")),
        is_up=bool(flags & 0x1),
        is_loopback=bool(flags & 0x8),
        mac=read("address", ""),
    )


def resolve_interfaces(names: Iterable[str]) -> list[Interface] | None:
    """The interfaces to capture on, or None for ``any``.  Raises LiveCaptureError for a
    name that does not exist or an interface that is down."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise LiveCaptureError("no interface given: use -i IFACE (or -i any)")
    if "any" in wanted:
        if len(wanted) > 1:
            raise LiveCaptureError(
                "-i any already captures on every interface; "
                "do not combine it with other interfaces"
            )
        return None
    known = {i.name: i for i in list_interfaces()}
    out = []
    for name in wanted:
        iface = known.get(name)
        if iface is None:
            try:
                index = socket.if_nametoindex(name)
            except OSError:
                raise LiveCaptureError(
                    f"no such interface: {name!r} (see `sniff --list-interfaces`)"
                ) from None
            iface = _interface_from_sysfs(name, index)
        if not iface.is_up:
            raise LiveCaptureError(f"interface {name!r} is down (bring it up first)")
        out.append(iface)
    return out


# -- filters -------------------------------------------------------------------------------
def compile_bpf(expression: str, dlt: int) -> list[Insn]:
    """Compile a capture filter with libpcap (through scapy) for link type ``dlt``.

    Raises LiveCaptureError with libpcap's message when the expression is invalid.
    """
    _quiet_scapy()
    try:
        from scapy.arch.common import compile_filter, free_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:  # pragma: no cover - scapy is a dependency
        raise LiveCaptureError(f"cannot compile the capture filter: {exc}") from None
    try:
        prog = compile_filter(expression, linktype=dlt)
    except ImportError:
        raise LiveCaptureError(
            "cannot compile the capture filter: libpcap is not installed "
            "(install libpcap, e.g. the libpcap0.8 package)"
        ) from None
    except Scapy_Exception as exc:
        text = str(exc)
        reason = text[text.find("(") + 1 : -1] if text.endswith(")") and "(" in text else text
        raise LiveCaptureError(f"bad capture filter {expression!r}: {reason}") from None
    try:
        return [
            (
                prog.bf_insns[i].code,
                prog.bf_insns[i].jt,
                prog.bf_insns[i].jf,
                prog.bf_insns[i].k & 0xFFFFFFFF,
            )
            for i in range(prog.bf_len)
        ]
    finally:
        free_filter(prog)


def build_program(
    user: list[Insn],
    *,
    reject_outgoing_on: Iterable[int] = (),
    bound_to_loopback: bool = False,
    only_ifindexes: Iterable[int] = (),
    snaplen: int = SNAPLEN,
) -> list[Insn]:
    """Prepend the guards to a compiled filter and make it accept whole packets.

    * ``bound_to_loopback``: the socket is bound to a loopback device; reject every
      outgoing packet (it comes round again as an incoming one).
    * ``reject_outgoing_on``: on an unbound socket, reject outgoing packets of these
      (loopback) interface indexes for the same reason.
    * ``only_ifindexes``: on an unbound socket, accept only these interfaces.

    Returns the instructions; jumps in ``user`` are relative and stay valid.
    """
    lo_indexes = list(dict.fromkeys(reject_outgoing_on))
    only = list(dict.fromkeys(only_ifindexes))
    tail = [
        (code, jt, jf, snaplen if code == _BPF_RET_K and k else k) for code, jt, jf, k in user
    ]  # libpcap compiled for 64 KiB: keep whole packets
    if not (bound_to_loopback or lo_indexes or only):
        return tail
    # Assemble the guards with symbolic jump targets, then resolve them to the relative
    # offsets BPF uses (jumps only go forward).  Layout: guards, "reject", "user".
    prog: list[tuple[int, int | str, int | str, int | str]] = []
    ld_pkttype = (_BPF_LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_PKTTYPE) & 0xFFFFFFFF)
    ld_ifindex = (_BPF_LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_IFINDEX) & 0xFFFFFFFF)
    if bound_to_loopback:
        prog += [ld_pkttype, (_BPF_JEQ_K, "reject", "ifcheck", PACKET_OUTGOING)]
    elif lo_indexes:
        prog += [ld_pkttype, (_BPF_JEQ_K, 0, "ifcheck", PACKET_OUTGOING), ld_ifindex]
        prog += [(_BPF_JEQ_K, "reject", 0, idx) for idx in lo_indexes]
    labels = {"ifcheck": len(prog)}
    if only:
        prog.append(ld_ifindex)
        prog += [
            (_BPF_JEQ_K, "user", "reject" if n == len(only) - 1 else 0, idx)
            for n, idx in enumerate(only)
        ]
    else:
        prog.append((_BPF_JA, 0, 0, "user"))
    labels["reject"] = len(prog)
    prog.append((_BPF_RET_K, 0, 0, 0))
    labels["user"] = len(prog)

    def rel(pc: int, target: int | str) -> int:
        return labels[target] - pc - 1 if isinstance(target, str) else target

    head = [
        (code, rel(pc, jt), rel(pc, jf), rel(pc, k)) for pc, (code, jt, jf, k) in enumerate(prog)
    ]
    return head + tail


def _attach_filter(sock: socket.socket, program: list[Insn]) -> None:
    """SO_ATTACH_FILTER with a ``struct sock_fprog`` pointing at ``program``."""
    insns = b"".join(_INSN.pack(*i) for i in program)
    buf = ctypes.create_string_buffer(insns, len(insns))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _bind(sock: socket.socket, ifindex: int) -> None:
    """Bind a packet socket to ``ifindex`` (0: every interface) for all protocols.

    Python's ``bind`` takes a name and cannot say "any", so this goes through libc.
    """
    addr = (
        struct.pack("=H", socket.AF_PACKET)
        + struct.pack(">H", ETH_P_ALL)
        + struct.pack("=iHBB8s", ifindex, 0, 0, 0, b"")
    )
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(addr, len(addr))
    if libc.bind(sock.fileno(), buf, len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


# -- pcap output ---------------------------------------------------------------------------
class PcapWriter:
    """Writes a classic pcap file with nanosecond timestamps (magic ``0xa1b23c4d``), the
    format libpcap, tcpdump, Wireshark and :mod:`.pcapfile` read."""

    def __init__(self, path: str, linktype: int, snaplen: int = SNAPLEN) -> None:
        try:
            self.fh: BinaryIO = open(path, "wb", buffering=1 << 20)  # noqa: SIM115
        except OSError as exc:
            raise TcpflowError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.path = path
        self.write = self.fh.write
        self.write(struct.pack("<IHHiIII", _PCAP_NS_MAGIC, 2, 4, 0, 0, snaplen, linktype))

    def record(self, sec: int, nsec: int, data: bytes, wire_len: int) -> None:
        """Append one frame."""
        self.write(_PCAP_REC.pack(sec, nsec, len(data), wire_len))
        self.write(data)

    def flush(self) -> None:
        """Push buffered records to the file (called on the display timer)."""
        self.fh.flush()

    def close(self) -> None:
        """Flush and close."""
        if not self.fh.closed:
            self.fh.close()


# -- the capture ---------------------------------------------------------------------------
@dataclass
class KernelStats:
    """What the kernel says about the socket: packets that passed the filter, and packets
    it dropped because the buffer was full (``PACKET_STATISTICS``), summed over reads."""

    received: int = 0
    dropped: int = 0
    available: bool = False


@dataclass
class CaptureInfo:
    """Description of an open capture for headers and messages."""

    interfaces: list[str] = field(default_factory=list)
    linktype: int = LINKTYPE_ETHERNET
    filter: str = "tcp"
    method: str = "ring"


class LiveCapture:
    """Captures frames on one interface, several, or ``any``; see the module docstring.

    Use :meth:`open`, then :meth:`read` repeatedly (frames numbered from 1 in capture
    order), :meth:`drain` at the end, and :meth:`close`.  With ``writer`` every frame
    returned is also appended to that pcap file, in the same order.
    """

    def __init__(
        self,
        interfaces: list[str],
        bpf: str = "tcp",
        *,
        promisc: bool = True,
        buffer_bytes: int = DEFAULT_BUFFER,
        use_ring: bool = True,
    ) -> None:
        self.names = interfaces
        self.bpf = bpf
        self.promisc = promisc
        self.buffer_bytes = max(buffer_bytes, 4 * BLOCK_SIZE)
        self.use_ring = use_ring
        self.frames = 0
        self.finished = False
        self.kernel = KernelStats()
        self.info = CaptureInfo(filter=bpf)
        self.writer: PcapWriter | None = None
        self._sock: socket.socket | None = None
        self._poll = select.poll()
        self._mm: mmap.mmap | None = None
        self._nblocks = 0
        self._blk = 0
        self._cooked = False
        self._ifnames: dict[str, int] = {}

    @property
    def linktype(self) -> int:
        """The link type of every frame this capture returns (and of the ``-w`` file)."""
        return self.info.linktype

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> None:
        """Resolve interfaces, compile the filter, open the socket and start capturing.

        Raises LiveCaptureError (one line) for a missing interface, a bad filter, or
        missing privileges.
        """
        ifaces = resolve_interfaces(self.names)
        single = ifaces[0] if ifaces is not None and len(ifaces) == 1 else None
        raw_lt = single.raw_linktype if single is not None else None
        self._cooked = raw_lt is None
        linktype = LINKTYPE_LINUX_SLL2 if raw_lt is None else raw_lt
        user = compile_bpf(self.bpf, _FILTER_DLT[linktype])
        self.info = CaptureInfo(
            interfaces=["any"] if ifaces is None else [i.name for i in ifaces],
            linktype=linktype,
            filter=self.bpf,
        )
        if ifaces is None:
            loopbacks = [i.index for i in list_interfaces() if i.arphrd == ARPHRD_LOOPBACK]
            program = build_program(user, reject_outgoing_on=loopbacks)
        elif single is not None:
            program = build_program(user, bound_to_loopback=single.arphrd == ARPHRD_LOOPBACK)
        else:
            program = build_program(
                user,
                reject_outgoing_on=[i.index for i in ifaces if i.arphrd == ARPHRD_LOOPBACK],
                only_ifindexes=[i.index for i in ifaces],
            )
        where = ", ".join(self.info.interfaces)
        try:
            sock = socket.socket(
                socket.AF_PACKET, socket.SOCK_DGRAM if self._cooked else socket.SOCK_RAW, 0
            )
        except PermissionError:
            raise LiveCaptureError(
                f"cannot capture on {where}: operation not permitted (root or the "
                "CAP_NET_RAW capability is needed)"
            ) from None
        except OSError as exc:
            raise LiveCaptureError(f"cannot open a packet socket: {exc.strerror}") from None
        self._sock = sock
        try:
            _attach_filter(sock, program)
            if self.use_ring:
                try:
                    self._setup_ring(sock)
                except OSError:  # no TPACKET_V3 here: fall back to recvmsg()
                    self.use_ring = False
                    self._teardown_ring(sock)
            if not self.use_ring:
                self._setup_recv(sock)
            self.info.method = "ring" if self.use_ring else "recvmsg"
            _bind(sock, single.index if single is not None else 0)
            if self.promisc and ifaces is not None:
                for iface in ifaces:
                    if not iface.is_loopback:
                        mreq = struct.pack("iHH8s", iface.index, PACKET_MR_PROMISC, 0, b"")
                        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            self.close()
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise LiveCaptureError(
                    f"cannot capture on {where}: operation not permitted (root or the "
                    "CAP_NET_RAW capability is needed)"
                ) from None
            if exc.errno == errno.ENODEV:
                raise LiveCaptureError(f"no such interface: {where}") from None
            raise LiveCaptureError(f"cannot capture on {where}: {exc.strerror or exc}") from None
        self._poll.register(sock.fileno(), select.POLLIN)
        self._ifnames = {}

    def _setup_ring(self, sock: socket.socket) -> None:
        nblocks = max(4, self.buffer_bytes // BLOCK_SIZE)
        frame_size = 2048  # only validated by the kernel for TPACKET_V3; frames are packed
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        req = struct.pack(
            "=7I",
            BLOCK_SIZE,
            nblocks,
            frame_size,
            BLOCK_SIZE // frame_size * nblocks,
            BLOCK_TIMEOUT_MS,
            0,
            0,
        )
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self._mm = mmap.mmap(
            sock.fileno(), BLOCK_SIZE * nblocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._nblocks = nblocks
        self._blk = 0

    def _teardown_ring(self, sock: socket.socket) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        with contextlib.suppress(OSError):  # a zero-sized request frees a half-made ring
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, bytes(28))

    def _setup_recv(self, sock: socket.socket) -> None:
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.buffer_bytes)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer_bytes)

    # -- reading ---------------------------------------------------------------------------
    def read(
        self,
        timeout_s: float,
        limit: int | None = None,
        until: float | None = None,
    ) -> list[Frame]:
        """Frames captured since the last call; waits up to ``timeout_s`` when there are
        none yet (returns an empty list on timeout).  At most ``limit`` frames, and none
        stamped after ``until`` (wall-clock seconds): the first such frame sets
        :attr:`finished` and is discarded, as is everything after it."""
        if self.finished:
            return []
        cap = limit if limit is not None else 1 << 62
        end = until if until is not None else math.inf
        frames = self._read_ring(cap, end) if self._mm is not None else self._read_recv(cap, end)
        if frames or timeout_s <= 0 or self.finished:
            return frames
        if not self._poll.poll(max(1, int(timeout_s * 1000))):
            return frames
        return self._read_ring(cap, end) if self._mm is not None else self._read_recv(cap, end)

    def drain(self, limit: int | None = None, until: float | None = None) -> list[Frame]:
        """At the end: the frames the kernel captured (before ``until``) but had not handed
        over yet; a ring block is handed over when full or after ``BLOCK_TIMEOUT_MS``."""
        out: list[Frame] = []
        deadline = time.monotonic() + 2 * BLOCK_TIMEOUT_MS / 1000 + 0.02
        cap = limit if limit is not None else 1 << 62
        while len(out) < cap and not self.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            out.extend(self.read(left, cap - len(out), until))
        return out

    def _read_ring(self, limit: int, until: float) -> list[Frame]:
        mm = self._mm
        assert mm is not None
        out: list[Frame] = []
        append = out.append
        unpack_hdr = _TP3_HDR.unpack_from
        linktype = self.info.linktype
        writer = self.writer
        record = writer.record if writer is not None else None
        cooked = self._cooked
        n = self.frames
        stop_at = n + limit
        nblocks = self._nblocks
        for _ in range(_MAX_BLOCKS_PER_READ):
            off = self._blk * BLOCK_SIZE
            if not _U32.unpack_from(mm, off + 8)[0] & TP_STATUS_USER:
                break
            num, p = _BLOCK_HDR.unpack_from(mm, off + 12)
            p += off
            for _ in range(num):
                if n >= stop_at:
                    break
                nxt, sec, nsec, snap, wire, status, mac = unpack_hdr(mm, p)
                start = p + mac
                data = mm[start : start + snap]
                if cooked or status & TP_STATUS_VLAN_VALID:
                    tci, tpid = _TP3_VLAN.unpack_from(mm, p + 32)
                    if cooked:
                        _fam, proto, ifindex, hatype, pkttype, halen, addr = (
                            _SOCKADDR_LL.unpack_from(mm, p + _TP3_SLL_OFF))
                        data, extra = _rebuild(data, status, tci, tpid, (proto[0] << 8) | proto[1],
                                               (ifindex, hatype, pkttype, addr[:halen]))
                    else:
                        data, extra = _rebuild(data, status, tci, tpid, 0, None)
                    wire += extra
                ts = sec + nsec * 1e-9
                if ts > until:
                    self.finished = True
                    break
                n += 1
                append((n, ts, linktype, data))
                if record is not None:
                    record(sec, nsec, data, wire)
                p += nxt
            mm[off + 8 : off + 12] = b"\0\0\0\0"  # hand the block back (TP_STATUS_KERNEL)
            self._blk = (self._blk + 1) % nblocks
            if n >= stop_at or self.finished:
                break
        self.frames = n
        return out

    def _read_recv(self, limit: int, until: float) -> list[Frame]:
        sock = self._sock
        assert sock is not None
        out: list[Frame] = []
        linktype = self.info.linktype
        writer = self.writer
        cooked = self._cooked
        n = self.frames
        anc_size = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(_TIMESPEC.size)
        bufsize = 65536 + 64
        for _ in range(min(limit, 4096)):
            try:
                data, anc, _flags, addr = sock.recvmsg(bufsize, anc_size, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            sec = nsec = 0
            status = tci = tpid = 0
            wire = len(data)
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, wire, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(payload)
            if cooked:
                ifname, proto, pkttype, hatype, haddr = addr[:5]
                ifindex = self._ifnames.get(ifname)
                if ifindex is None:
                    ifindex = self._ifnames[ifname] = socket.if_nametoindex(ifname)
                data, extra = _rebuild(data, status, tci, tpid, proto,
                                       (ifindex, hatype, pkttype, haddr))
                wire += extra
            elif status & TP_STATUS_VLAN_VALID:
                data, extra = _rebuild(data, status, tci, tpid, 0, None)
                wire += extra
            ts = sec + nsec * 1e-9
            if ts > until:
                self.finished = True
                break
            n += 1
            out.append((n, ts, linktype, data))
            if writer is not None:
                writer.record(sec, nsec, data, wire)
        self.frames = n
        return out

    # -- statistics and closing ------------------------------------------------------------
    def update_stats(self) -> KernelStats:
        """Add the kernel's counters since the last call (reading them resets them)."""
        sock = self._sock
        if sock is None or sock.fileno() < 0:
            return self.kernel
        try:
            raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        except OSError:
            return self.kernel
        packets, drops = struct.unpack_from("=II", raw)
        self.kernel.received += packets  # the kernel counts dropped packets in here too
        self.kernel.dropped += drops
        self.kernel.available = True
        return self.kernel

    def close(self) -> None:
        """Release the ring and the socket (promiscuous mode ends with the socket)."""
        if self._sock is not None and self._sock.fileno() >= 0:
            self.update_stats()
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._sock is not None:
            self._sock.close()
