#!/usr/bin/env python3
"""Two captures that stress memory rather than speed, for ``format_memory.py``.

``held-open``: ``N`` connections (default 262,144, the default active-connection cap) all
open at once.  Every handshake comes first, then one request and one response on each
connection, then every close, so the flow table holds all ``N`` connections, established
and with data seen both ways, at the end of the data phase.  Real connections from Linux
clients: SYN options MSS 1460, SACK-permitted, timestamps, window scale 7; timestamps on
every later segment (TSval on a 1 kHz clock per host, TSecr echoing the peer's latest);
correct IPv4 and TCP checksums.  From 16,384 client addresses in ``10.64.0.0/10`` with 16
ports each (more clients beyond that) to ``192.0.2.10:443``.

``offload``: ``N`` client addresses (default 100,000), each opening one short connection
(handshake, request, response, FIN exchange) whose every client segment carries a wrong
TCP checksum, as a capture taken on a host with checksum offload shows.  The server's
segments are correct.  Connections start 1 ms apart and last 1.6 ms, so about 5,000 are
held at once (each stays 5 s after its close): what grows beyond that, if anything does, is
per source address.

Both are deterministic.  Usage::

    python bench/gen_adversarial.py held-open OUT.pcap [--connections N]
    python bench/gen_adversarial.py offload OUT.pcap [--connections N]
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_capture import _ones_sum  # noqa: E402  (sibling module)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MASK = 0xFFFFFFFF
EPOCH = 1_700_000_000
SERVER = bytes([192, 0, 2, 10])
SERVER_PORT = 443
_ETH_C2S = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
_ETH_S2C = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
_REC = struct.Struct("<IIII")
_TCP = struct.Struct("!HHIIBBHHH")
_IP = struct.Struct("!BBHHHBBH4s4s")
REQUEST = (b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nX-Pad: " + b"a" * 140
           + b"\r\n\r\n")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + b"b" * 300


def _syn_options(tsval: int, tsecr: int) -> bytes:
    # MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (Linux's layout: 20 bytes)
    return (b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", tsval, tsecr)
            + b"\x01\x03\x03\x07")


def _ts_options(tsval: int, tsecr: int) -> bytes:
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsecr)


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           window: int, options: bytes, payload: bytes, ip_id: int, bad_csum: bool) -> bytes:
    doff = (20 + len(options)) // 4
    tcp = _TCP.pack(sport, dport, seq & MASK, ack & MASK, doff << 4, flags, window, 0, 0)
    tcp += options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    csum = -_ones_sum(pseudo + tcp) % 0xFFFF
    if bad_csum:
        csum ^= 0x5A5A  # wrong, and never the pseudo-header sum either
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    ip = _IP.pack(0x45, 0, 20 + len(tcp), ip_id & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", -_ones_sum(ip) % 0xFFFF) + ip[12:]
    eth = _ETH_C2S if dst == SERVER else _ETH_S2C
    return eth + ip + tcp


class _Conn:
    """One client connection's sequence numbers and timestamp clocks."""

    __slots__ = ("addr", "port", "c_seq", "s_seq", "c_ts", "s_ts", "ip_id", "bad", "_c_seen",
                 "_s_seen")

    def __init__(self, i: int, addr: bytes, port: int, bad: bool) -> None:
        self.addr = addr
        self.port = port
        self.c_seq = (i * 2654435761 + 12345) & MASK
        self.s_seq = (i * 2246822519 + 67890) & MASK
        self.c_ts = (i * 7919) & 0x7FFFFFFF
        self.s_ts = (1_000_000 + i * 104729) & 0x7FFFFFFF
        self.ip_id = i * 7
        self.bad = bad
        self._c_seen = 0  # the latest TSval each side sent (the other's TSecr)
        self._s_seen = 0

    def c2s(self, t_us: int, flags: int, payload: bytes = b"", syn: bool = False) -> bytes:
        tsval = (self.c_ts + t_us // 1000) & MASK
        opts = _syn_options(tsval, 0) if syn else _ts_options(tsval, self._s_seen)
        self._c_seen = tsval
        self.ip_id += 1
        ack = 0 if syn else self.s_seq
        f = _frame(self.addr, SERVER, self.port, SERVER_PORT, self.c_seq, ack, flags,
                   64240 if syn else 502, opts, payload, self.ip_id, self.bad)
        self.c_seq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return f

    def s2c(self, t_us: int, flags: int, payload: bytes = b"") -> bytes:
        tsval = (self.s_ts + t_us // 1000) & MASK
        syn = bool(flags & SYN)
        opts = _syn_options(tsval, self._c_seen) if syn else _ts_options(tsval, self._c_seen)
        self._s_seen = tsval
        f = _frame(SERVER, self.addr, SERVER_PORT, self.port, self.s_seq, self.c_seq, flags,
                   65160 if syn else 509, opts, payload, self.ip_id ^ 0x8000, False)
        self.s_seq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return f


def _record(t_us: int, frame: bytes) -> bytes:
    return _REC.pack(EPOCH + t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)) + frame


def held_open(n: int, step_us: int = 4) -> Iterator[bytes]:
    """Records of ``n`` connections opened together, then each given data, then closed."""
    conns = []
    t = 0
    for i in range(n):
        client = i // 16
        addr = bytes([10, 64 + (client >> 16 & 0x3F), client >> 8 & 0xFF, client & 0xFF])
        c = _Conn(i, addr, 32768 + i % 16, False)
        conns.append(c)
        yield _record(t, c.c2s(t, SYN, syn=True))
        t += step_us
        yield _record(t, c.s2c(t, SYN | ACK))
        t += step_us
        yield _record(t, c.c2s(t, ACK))
        t += step_us
    for c in conns:
        yield _record(t, c.c2s(t, PSH | ACK, REQUEST))
        t += step_us
        yield _record(t, c.s2c(t, PSH | ACK, RESPONSE))
        t += step_us
        yield _record(t, c.c2s(t, ACK))
        t += step_us
    for c in conns:
        yield _record(t, c.c2s(t, FIN | ACK))
        t += step_us
        yield _record(t, c.s2c(t, FIN | ACK))
        t += step_us
        yield _record(t, c.c2s(t, ACK))
        t += step_us


def offload_hosts(n: int, start_us: int = 1000, step_us: int = 200) -> Iterator[bytes]:
    """Records of ``n`` short connections, one per client address, whose client segments
    all carry a wrong TCP checksum (interleaved in time order)."""
    pending: list[tuple[int, int, bytes]] = []  # (t, seq no, record) of started ones
    import heapq

    order = 0
    for i in range(n):
        t0 = i * start_us
        while pending and pending[0][0] <= t0:
            yield heapq.heappop(pending)[2]
        addr = bytes([10, 128 + (i >> 16 & 0x3F), i >> 8 & 0xFF, i & 0xFF])
        c = _Conn(i, addr, 40000 + i % 20000, True)
        steps = [(c.c2s, SYN, b"", True), (c.s2c, SYN | ACK, b"", False),
                 (c.c2s, ACK, b"", False), (c.c2s, PSH | ACK, REQUEST, False),
                 (c.s2c, PSH | ACK, RESPONSE, False), (c.c2s, ACK, b"", False),
                 (c.c2s, FIN | ACK, b"", False), (c.s2c, FIN | ACK, b"", False),
                 (c.c2s, ACK, b"", False)]
        for k, (send, flags, payload, syn) in enumerate(steps):
            t = t0 + k * step_us
            frame = send(t, flags, payload, syn=True) if syn else send(t, flags, payload)
            order += 1
            heapq.heappush(pending, (t, order, _record(t, frame)))
    while pending:
        yield heapq.heappop(pending)[2]


def write(path: Path, records: Iterator[bytes]) -> int:
    """Write a pcap (µs, Ethernet) of ``records`` to ``path`` atomically; return the count."""
    tmp = path.with_suffix(path.suffix + ".part")
    count = 0
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out: list[bytes] = []
        for rec in records:
            out.append(rec)
            count += 1
            if len(out) >= 65536:
                fh.write(b"".join(out))
                out.clear()
        fh.write(b"".join(out))
    tmp.replace(path)
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=("held-open", "offload"))
    ap.add_argument("output", type=Path)
    ap.add_argument("--connections", type=int, default=None,
                    help="connections (held-open: 262,144; offload: 100,000 hosts)")
    args = ap.parse_args(argv)
    if args.kind == "held-open":
        n = write(args.output, held_open(args.connections or 262_144))
    else:
        n = write(args.output, offload_hosts(args.connections or 100_000))
    print(f"{args.output}: {n:,} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
