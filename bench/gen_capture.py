#!/usr/bin/env python3
"""Generate a deterministic, realistic synthetic TCP capture for benchmarking.

The output is a classic pcap file (microsecond timestamps, little-endian, Ethernet link
type 1) seen from a switch mirror port next to a handful of servers:

* thousands of concurrent TCP connections from many clients (``10.0.0.0/8`` and
  ``fd00::/8`` addresses, about 10 % IPv6, a few % 802.1Q tagged) to servers on ports
  80 (HTTP/1.1), 443 (TLS 1.3) and 5432 (PostgreSQL wire protocol);
* each connection: a three-way handshake with MSS / window-scale / SACK-permitted /
  timestamp options (some Windows-like clients without timestamps), one or more
  request/response exchanges with slow-start flights, delayed ACKs every other segment,
  SACK blocks on duplicate ACKs, about 0.5 % of data segments missing from the capture and
  retransmitted later (fast retransmit or RTO), about 0.3 % adjacent reorderings, then a
  FIN four-way or three-way close, an RST, nothing (left open), a refused SYN (RST/ACK) or
  an unanswered SYN that is retried;
* correct IPv4 header and TCP checksums, per-connection IP IDs, TSval/TSecr that follow
  each host's 1 kHz clock and echo what the host had actually received, frames shorter
  than 60 bytes padded like on the wire, and capture timestamps that never go backwards.

Everything comes from ``random.Random(seed)``: the same ``--seed`` and ``--packets`` always
produce the same bytes.  Frames are assembled with :func:`struct.pack`; checksums use the
identity ``sum of 16-bit words == int.from_bytes(data, "big") (mod 0xFFFF)`` so a payload
costs a single C-level pass.

Usage::

    python bench/gen_capture.py [--packets N] [--seed S] [--conn-rate R] [--warmup SEC] OUT
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# TCP flags.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

MASK32 = 0xFFFFFFFF
BASE_EPOCH_US = 1_700_000_000 * 1_000_000  # 2023-11-14T22:13:20Z: capture "start"
PCAP_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
MIN_FRAME = 60  # Ethernet minimum without FCS; shorter frames get zero padding

P_LOSS = 0.005  # data segments missing from the capture (later retransmitted)
P_REORDER = 0.003  # adjacent data segments captured in swapped order
INIT_CWND = 10
MAX_CWND = 256
DELACK = 0.040  # delayed-ACK timer
RTO_MIN = 0.200
FLUSH_BYTES = 8 << 20

# Option layouts of a connection's packets (the last field of a simulated packet).
OPT_DATA, OPT_SYN, OPT_NONE = 0, 1, 2

# A simulated packet: capture time, direction (0 client->server, 1 server->client), flags,
# relative seq, relative ack, message, payload start, payload end, SACK blocks, option kind.
SimPacket = tuple[float, int, int, int, int, bytes | None, int, int,
                  tuple[tuple[int, int], ...] | None, int]
# A finished packet: time, direction, flags, seq, ack, window, options, message, start, end.
WirePacket = tuple[float, int, int, int, int, int, bytes, bytes | None, int, int]

_pack = struct.pack
_from_bytes = int.from_bytes


@dataclass(frozen=True)
class Server:
    """One server host and the services it offers."""

    v4: bytes
    v6: bytes
    mac: bytes
    ports: tuple[int, ...]
    name: str


@dataclass
class GenStats:
    """What :func:`generate` produced."""

    packets: int = 0
    bytes_written: int = 0
    connections: int = 0
    span_seconds: float = 0.0
    mean_active: float = 0.0
    max_active: int = 0


def _ones_sum(data: bytes) -> int:
    """Value congruent to the one's-complement sum of ``data`` (modulo 0xFFFF)."""
    value = _from_bytes(data, "big")
    return value << 8 if len(data) & 1 else value


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _mac(prefix: int, n: int) -> bytes:
    return _pack("!HI", prefix, n)


class World:
    """Hosts, payload material and per-service message builders shared by all connections."""

    SERVICE_WEIGHTS = ((80, 0.45), (443, 0.40), (5432, 0.15))

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pool = rng.randbytes(1 << 22)  # payload material: random bytes, sliced
        self.router_mac = _mac(0x0200, 1)
        self.servers = [
            Server(bytes([10, 100, 0, 10]), self._v6(0x100, 0x10), _mac(0x0200, 0x110),
                   (80, 443), "www.example.net"),
            Server(bytes([10, 100, 0, 11]), self._v6(0x100, 0x11), _mac(0x0200, 0x111),
                   (80, 443), "www.example.net"),
            Server(bytes([10, 100, 0, 12]), self._v6(0x100, 0x12), _mac(0x0200, 0x112),
                   (443,), "api.example.net"),
            Server(bytes([10, 100, 0, 20]), self._v6(0x100, 0x20), _mac(0x0200, 0x120),
                   (5432,), "db"),
        ]
        self.by_port = {p: [s for s in self.servers if p in s.ports] for p in (80, 443, 5432)}
        self.clients_v4 = [self._client_v4() for _ in range(20000)]
        self.clients_v6 = [self._v6(0xC000 + rng.randrange(64), rng.getrandbits(64))
                           for _ in range(2500)]
        self.app_v4 = [bytes([10, 100, 1, i]) for i in range(10, 40)]
        self.app_v6 = [self._v6(0x101, i) for i in range(10, 20)]
        self.used_tuples: set[tuple[bytes, int, bytes, int]] = set()
        self.next_uid = 0

    def _v6(self, subnet: int, host: int) -> bytes:
        return _pack("!HHIQ", 0xFD00, 0, subnet, host)

    def _client_v4(self) -> bytes:
        while True:
            addr = bytes([10, self.rng.randrange(256), self.rng.randrange(256),
                          self.rng.randrange(1, 255)])
            if addr[1] != 100:
                return addr

    def blob(self, n: int) -> bytes:
        """``n`` random-looking bytes (a slice of the pool)."""
        pool = self.pool
        if n >= len(pool):
            return (pool * (n // len(pool) + 1))[:n]
        start = self.rng.randrange(len(pool) - n)
        return pool[start:start + n]

    def response_size(self) -> int:
        """Mostly small responses, some medium, a few large."""
        u = self.rng.random()
        if u < 0.70:
            return int(_loguniform(self.rng, 100, 1500))
        if u < 0.95:
            return int(_loguniform(self.rng, 1500, 15000))
        return int(_loguniform(self.rng, 15000, 150000))

    # -- HTTP/1.1 ---------------------------------------------------------------------

    def http_request(self, host: str) -> bytes:
        rng = self.rng
        path = f"/api/v1/items/{rng.randrange(1, 10**6)}?page={rng.randrange(1, 50)}"
        head = (f"Host: {host}\r\nUser-Agent: bench-client/1.0\r\nAccept: */*\r\n"
                "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n")
        if rng.random() < 0.1:
            body = self.blob(int(_loguniform(rng, 200, 20000)))
            return (f"POST {path} HTTP/1.1\r\n{head}Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()

    def http_response(self) -> bytes:
        body = self.blob(self.response_size())
        return ("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT"
                f"\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
                "Connection: keep-alive\r\n\r\n").encode() + body

    # -- TLS 1.3 (record layer only: a plausible hello exchange, then opaque records) --

    def tls_client_hello(self, host: str) -> bytes:
        name = host.encode()
        exts = b"".join((
            _pack("!HHHBH", 0x0000, len(name) + 5, len(name) + 3, 0, len(name)) + name,
            _pack("!HHHHH", 0x000A, 6, 4, 0x001D, 0x0017),
            _pack("!HHHHHH", 0x000D, 8, 6, 0x0403, 0x0804, 0x0401),
            _pack("!HHHHH", 0x0033, 38, 36, 0x001D, 32) + self.blob(32),
            _pack("!HHBH", 0x002B, 3, 2, 0x0304),
            _pack("!HHBB", 0x002D, 2, 1, 1),
        ))
        body = (_pack("!H", 0x0303) + self.blob(32) + b"\x20" + self.blob(32)
                + _pack("!HHHH", 6, 0x1301, 0x1302, 0x1303) + b"\x01\x00"
                + _pack("!H", len(exts)) + exts)
        hs = b"\x01" + len(body).to_bytes(3, "big") + body
        return _pack("!BHH", 0x16, 0x0301, len(hs)) + hs

    def tls_server_hello(self) -> bytes:
        exts = (_pack("!HHH", 0x002B, 2, 0x0304)
                + _pack("!HHHH", 0x0033, 36, 0x001D, 32) + self.blob(32))
        body = (_pack("!H", 0x0303) + self.blob(32) + b"\x20" + self.blob(32)
                + _pack("!HB", 0x1301, 0) + _pack("!H", len(exts)) + exts)
        hs = b"\x02" + len(body).to_bytes(3, "big") + body
        return (_pack("!BHH", 0x16, 0x0303, len(hs)) + hs + b"\x14\x03\x03\x00\x01\x01"
                + self.tls_records(self.rng.randrange(2500, 4500)))

    def tls_records(self, size: int) -> bytes:
        """Application-data records carrying ``size`` bytes in total."""
        out = []
        while size > 0:
            n = min(size, 16401)
            out.append(_pack("!BHH", 0x17, 0x0303, n) + self.blob(n))
            size -= n
        return b"".join(out)

    def tls_request(self, first: bool) -> bytes:
        size = int(_loguniform(self.rng, 80, 700))
        if self.rng.random() < 0.08:
            size = int(_loguniform(self.rng, 2000, 30000))
        finished = b"\x14\x03\x03\x00\x01\x01" + self.tls_records(53) if first else b""
        return finished + self.tls_records(size)

    # -- PostgreSQL ---------------------------------------------------------------------

    @staticmethod
    def _pg(kind: bytes, payload: bytes) -> bytes:
        return kind + _pack("!I", len(payload) + 4) + payload

    def pg_startup(self) -> bytes:
        body = (_pack("!I", 196608) + b"user\x00app\x00database\x00appdb\x00"
                b"application_name\x00bench\x00\x00")
        return _pack("!I", len(body) + 4) + body

    def pg_startup_response(self) -> bytes:
        pg = self._pg
        return b"".join((
            pg(b"R", _pack("!I", 0)),
            pg(b"S", b"server_version\x0015.4\x00"),
            pg(b"S", b"client_encoding\x00UTF8\x00"),
            pg(b"S", b"DateStyle\x00ISO, MDY\x00"),
            pg(b"K", _pack("!II", self.rng.getrandbits(31), self.rng.getrandbits(32))),
            pg(b"Z", b"I"),
        ))

    def pg_query(self) -> bytes:
        rng = self.rng
        sql = (f"SELECT id, payload FROM items WHERE bucket = {rng.randrange(10**5)} "
               f"ORDER BY id LIMIT {rng.randrange(1, 200)}")
        return self._pg(b"Q", sql.encode() + b"\x00")

    def pg_result(self) -> bytes:
        pg, rng = self._pg, self.rng
        field = _pack("!IhIhih", 16384, 1, 23, 4, -1, 0)
        parts = [pg(b"T", _pack("!H", 2) + b"id\x00" + field + b"payload\x00"
                    + _pack("!IhIhih", 16384, 2, 17, -1, -1, 0))]
        target = self.response_size() // 2
        rows = 0
        while target > 0 or rows == 0:
            ident = str(rng.randrange(10**7)).encode()
            value = b"\\x" + self.blob(rng.randrange(20, 200)).hex().encode()
            parts.append(pg(b"D", _pack("!HI", 2, len(ident)) + ident
                            + _pack("!I", len(value)) + value))
            target -= len(value) + len(ident) + 15
            rows += 1
        parts.append(pg(b"C", f"SELECT {rows}".encode() + b"\x00"))
        parts.append(pg(b"Z", b"I"))
        return b"".join(parts)


class Connection:
    """One simulated TCP connection: endpoints, per-direction constants and its packets.

    Direction 0 is client -> server, direction 1 server -> client.  Times are capture times
    (seconds relative to the capture start); ``reply[d]`` is how long after a packet is
    captured the reply from the host on side ``d`` appears in the capture.
    """

    __slots__ = (
        "uid", "v6", "eth", "ipfix", "ipsum", "ttl", "v6w0", "csum", "sport", "dport",
        "ipid", "pkts", "idx", "isn", "delay", "reply", "tsbase", "ts_on", "mss_data",
        "rate", "win", "syn_win", "wscale", "mss", "rng", "world", "out", "seen",
    )

    def __init__(self, world: World, t0: float) -> None:
        rng = world.rng
        self.world = world
        self.rng = rng
        self.uid = world.next_uid
        world.next_uid += 1
        port = rng.choices([p for p, _ in World.SERVICE_WEIGHTS],
                           [w for _, w in World.SERVICE_WEIGHTS])[0]
        server = rng.choice(world.by_port[port])
        self.v6 = rng.random() < 0.10
        internal = port == 5432
        if internal:
            client = rng.choice(world.app_v6 if self.v6 else world.app_v4)
        else:
            client = rng.choice(world.clients_v6 if self.v6 else world.clients_v4)
        saddr = server.v6 if self.v6 else server.v4
        while True:
            cport = rng.randrange(32768, 61000)
            key = (client, cport, saddr, port)
            if key not in world.used_tuples:
                world.used_tuples.add(key)
                break
        self.sport = (cport, port)
        self.dport = (port, cport)

        # Link layer: a few % of connections carry an 802.1Q tag.
        ethertype = _pack("!H", 0x86DD if self.v6 else 0x0800)
        if rng.random() < 0.04:
            tci = rng.choice((10, 20, 30)) | rng.choice((0, 0, 5)) << 13
            tag = b"\x81\x00" + _pack("!H", tci)
            ethertype = tag + ethertype
        self.eth = (server.mac + world.router_mac + ethertype,
                    world.router_mac + server.mac + ethertype)

        windows_like = not internal and rng.random() < 0.15
        self.ts_on = not windows_like
        client_ttl = (128 if windows_like else 64) - rng.randrange(2, 20)
        self.ttl = (client_ttl, 64)
        addrs = (client + saddr, saddr + client)
        self.ipfix = addrs
        words = (_ones_sum(addrs[0]), _ones_sum(addrs[1]))
        if self.v6:
            self.v6w0 = (0x60000000 | rng.getrandbits(20), 0x60000000 | rng.getrandbits(20))
            self.ipsum = (0, 0)
        else:  # constant part of the IPv4 header sum: version/IHL, DF, TTL/protocol, addresses
            self.v6w0 = (0, 0)
            fixed = 0x4500 + 0x4000 + 6
            self.ipsum = (fixed + (client_ttl << 8) + words[0], fixed + (64 << 8) + words[1])
        # Constant part of the TCP checksum: pseudo-header addresses and protocol, ports.
        self.csum = (words[0] + 6 + cport + port, words[1] + 6 + cport + port)
        self.ipid = [rng.getrandbits(16), rng.getrandbits(16)]

        # Transport parameters.
        mss_server = 1440 if self.v6 else 1460
        mss_client = mss_server if rng.random() < 0.8 else rng.choice((1452, 1400, 1380, 1360))
        self.mss = (mss_client, mss_server)
        opt = 12 if self.ts_on else 0
        self.mss_data = (mss_server - opt, mss_client - opt)  # indexed by sender
        self.wscale = (8 if windows_like else rng.choice((7, 7, 7, 8, 9)), 7)
        self.syn_win = (64240 if not self.v6 else 64800, 65160 if not self.v6 else 64800)
        self.win = (rng.randrange(250, 4000), rng.randrange(500, 2000))
        self.tsbase = (rng.getrandbits(32), rng.getrandbits(32))
        isn_c = rng.getrandbits(32)
        if rng.random() < 0.01:  # exercise sequence-number wraparound
            isn_c = (MASK32 - rng.randrange(1, 3000)) & MASK32
        isn_s = rng.getrandbits(32)
        if rng.random() < 0.01:
            isn_s = (MASK32 - rng.randrange(1, 30000)) & MASK32
        self.isn = [isn_c, isn_s]

        # Path: the capture point sits next to the servers.
        if internal:
            rtt = _loguniform(rng, 0.0002, 0.002)
            self.rate = _loguniform(rng, 1e9, 1e10)
        else:
            rtt = _loguniform(rng, 0.002, 0.250)
            self.rate = _loguniform(rng, 5e6, 1e9)
        d_server = rng.uniform(0.00002, 0.00008)
        d_client = max(rtt / 2 - d_server, 0.00005)
        self.delay = (d_client, d_server)
        self.reply = (2 * d_client + rng.uniform(0.00001, 0.00006),
                      2 * d_server + rng.uniform(0.00001, 0.00004))
        self.out: list[SimPacket] = []
        self.pkts: list[WirePacket] = []
        self.idx = 0
        self.seen = False  # has a packet of this connection been written?
        self._simulate(t0, port, server, internal)
        self._finalize()

    # -- simulation -------------------------------------------------------------------

    def _add(self, t: float, d: int, flags: int, seq: int, ack: int,
             msg: bytes | None = None, a: int = 0, b: int = 0,
             sack: tuple[tuple[int, int], ...] | None = None, opt: int = OPT_DATA) -> None:
        self.out.append((t, d, flags, seq, ack, msg, a, b, sack, opt))

    def _simulate(self, t0: float, port: int, server: Server, internal: bool) -> None:
        rng, world, add = self.rng, self.world, self._add
        u = rng.random()
        if u < 0.025:  # SYN that nobody answers: retried after 1 s and 3 s
            for dt in (0.0, 1.0, 3.0)[: rng.randrange(1, 4)]:
                add(t0 + dt, 0, SYN, 0, 0, opt=OPT_SYN)
            return
        if u < 0.05:  # refused: RST/ACK without options
            self.isn[1] = 0
            add(t0, 0, SYN, 0, 0, opt=OPT_SYN)
            add(t0 + self.reply[1], 1, RST | ACK, 0, 1, opt=OPT_NONE)
            return

        reply_c, reply_s = self.reply
        add(t0, 0, SYN, 0, 0, opt=OPT_SYN)
        t = t0 + reply_s
        add(t, 1, SYN | ACK, 0, 1, opt=OPT_SYN)
        t += reply_c
        add(t, 0, ACK, 1, 1)
        t += rng.uniform(0.00001, 0.0002)
        c_off = s_off = 1  # next relative sequence number of client / server

        if port == 5432:
            n_exchanges = 1 + rng.randrange(1, 25)
        else:
            n_exchanges = 1
            while rng.random() < 0.55 and n_exchanges < 30:
                n_exchanges += 1
        host = server.name
        for i in range(n_exchanges):
            if port == 80:
                req, resp = world.http_request(host), world.http_response()
            elif port == 443:
                if i == 0:
                    req, resp = world.tls_client_hello(host), world.tls_server_hello()
                else:
                    req = world.tls_request(first=i == 1)
                    resp = world.tls_records(world.response_size())
            elif i == 0:
                req, resp = world.pg_startup(), world.pg_startup_response()
            else:
                req, resp = world.pg_query(), world.pg_result()

            done, pend = self._transfer(t, 0, req, c_off, s_off, port == 80)
            c_off += len(req)
            think = rng.expovariate(1 / 0.0008 if internal else 1 / 0.004) + 0.0001
            t = done + reply_s + think
            if pend is not None and pend < t:
                add(pend, 1, ACK, s_off, c_off)
            done, pend = self._transfer(t, 1, resp, s_off, c_off, port == 80)
            s_off += len(resp)
            if i + 1 < n_exchanges:
                gap = rng.expovariate(1 / 0.002 if internal else 1 / 0.15)
            else:
                gap = rng.expovariate(1 / 1.5)
            t = done + reply_c + gap
            if pend is not None and pend < t:
                add(pend, 0, ACK, c_off, s_off)

        u = rng.random()
        terminate = b"X\x00\x00\x00\x04" if port == 5432 else None
        if u < 0.40 or (terminate is not None and u < 0.65):  # client FIN, 4-way
            n = len(terminate) if terminate else 0
            add(t, 0, FIN | ACK | (PSH if n else 0), c_off, s_off, terminate, 0, n)
            c_off += n + 1
            add(t + reply_s, 1, ACK, s_off, c_off)
            t2 = t + reply_s + rng.uniform(0.00005, 0.002)
            add(t2, 1, FIN | ACK, s_off, c_off)
            add(t2 + reply_c, 0, ACK, c_off, s_off + 1)
        elif u < 0.65:  # server FIN (keep-alive timeout), 4-way
            add(t, 1, FIN | ACK, s_off, c_off)
            add(t + reply_c, 0, ACK, c_off, s_off + 1)
            t2 = t + reply_c + rng.uniform(0.00005, 0.01)
            add(t2, 0, FIN | ACK, c_off, s_off + 1)
            add(t2 + reply_s, 1, ACK, s_off + 1, c_off + 1)
        elif u < 0.85:  # 3-way: FIN, FIN/ACK, ACK
            add(t, 0, FIN | ACK, c_off, s_off)
            add(t + reply_s, 1, FIN | ACK, s_off, c_off + 1)
            add(t + reply_s + reply_c, 0, ACK, c_off + 1, s_off + 1)
        elif u < 0.90:  # client abort
            add(t, 0, RST | ACK, c_off, s_off)
        elif u < 0.94:  # server abort
            add(t, 1, RST | ACK, s_off, c_off)
        # else: left open

    def _transfer(self, t0: float, snd: int, msg: bytes, snd_off: int, rcv_off: int,
                  protect_head: bool = False) -> tuple[float, float | None]:
        """Send ``msg`` from side ``snd`` starting at capture time ``t0``.

        Emits the sender's data segments (slow-start flights paced at the path rate, with
        losses and reorderings) and the receiver's ACKs (every other segment, immediate
        duplicate ACKs with SACK blocks).  Returns the capture time of the segment that
        completed the message at the receiver and, if the receiver still owes a delayed
        ACK, when its timer fires (the caller drops it if data is sent before then).

        ``protect_head`` keeps the first segment of a multi-segment message in place (never
        lost or reordered): tshark's default single-pass HTTP reassembly misparses a body
        segment seen before the headers and reports it as malformed.
        """
        rng, add = self.rng, self._add
        rcv = 1 - snd
        n = len(msg)
        mss = self.mss_data[snd]
        segs = [(a, min(a + mss, n)) for a in range(0, n, mss)]
        nseg = len(segs)
        rtt = self.reply[0] + self.reply[1]
        reply_r = self.reply[rcv]
        per_byte = 8.0 / self.rate

        times: list[float] = []  # first-transmission capture times, in sending order
        order: list[int] = []  # which segment goes out at each of those times
        i, cwnd, start = 0, INIT_CWND, t0
        while i < nseg:
            tt = start
            end = min(nseg, i + cwnd)
            for k in range(i, end):
                times.append(tt)
                order.append(k)
                tt += (segs[k][1] - segs[k][0] + 78) * per_byte
            start = max(start + rtt, tt)
            i = end
            cwnd = min(cwnd * 2, MAX_CWND)

        m = len(times)
        rnd = rng.random
        head = 0 if protect_head and nseg > 1 else -1
        for q in range(1 if head == 0 else 0, m - 1):
            if rnd() < P_REORDER:
                order[q], order[q + 1] = order[q + 1], order[q]
        arrivals: list[tuple[float, int]] = []
        lost = False
        for q in range(m):
            if rnd() < P_LOSS and order[q] != head:
                lost = True
                # Fast retransmit after three duplicate ACKs, else a retransmission timeout.
                tr = times[q + 3] + rtt if q + 3 < m else times[q] + rtt + RTO_MIN
                arrivals.append((tr, order[q]))
            else:
                arrivals.append((times[q], order[q]))
        if lost:
            arrivals.sort()

        last = nseg - 1
        for ts, k in arrivals:
            a, b = segs[k]
            add(ts, snd, ACK | PSH if k == last else ACK, snd_off + a, rcv_off, msg, a, b)

        # Receiver: cumulative ACK point, out-of-order blocks, delayed-ACK state.
        nxt = 0
        ooo: list[list[int]] = []
        pend: float | None = None
        npend = 0
        done = t0
        for ts, k in arrivals:
            s, e = segs[k]
            at = ts + reply_r
            if pend is not None and pend < at:
                add(pend, rcv, ACK, rcv_off, snd_off + nxt)
                pend, npend = None, 0
            if s <= nxt < e:
                nxt = e
                if ooo:
                    while ooo and ooo[0][0] <= nxt:
                        nxt = max(nxt, ooo.pop(0)[1])
                    add(at, rcv, ACK, rcv_off, snd_off + nxt, sack=self._sack(ooo, None, snd_off))
                    pend, npend = None, 0
                else:
                    npend += 1
                    if npend >= 2:
                        add(at, rcv, ACK, rcv_off, snd_off + nxt)
                        pend, npend = None, 0
                    elif pend is None:
                        pend = at + DELACK
            elif e <= nxt:  # duplicate: D-SACK
                add(at, rcv, ACK, rcv_off, snd_off + nxt,
                    sack=((snd_off + s, snd_off + e),))
                pend, npend = None, 0
            else:  # out of order: insert, merge, duplicate ACK with SACK
                ooo.append([s, e])
                ooo.sort()
                merged: list[list[int]] = []
                for blk in ooo:
                    if merged and blk[0] <= merged[-1][1]:
                        merged[-1][1] = max(merged[-1][1], blk[1])
                    else:
                        merged.append(blk)
                ooo = merged
                add(at, rcv, ACK, rcv_off, snd_off + nxt, sack=self._sack(ooo, s, snd_off))
                pend, npend = None, 0
            if nxt == n:
                done = ts
                break
        return done, pend

    def _sack(self, ooo: list[list[int]], recent: int | None,
              base: int) -> tuple[tuple[int, int], ...] | None:
        """SACK blocks (most recent first), as many as fit next to the options in use."""
        if not ooo:
            return None
        blocks = [b for b in ooo if recent is not None and b[0] <= recent < b[1]]
        blocks += [b for b in reversed(ooo) if not blocks or b is not blocks[0]]
        limit = 3 if self.ts_on else 4
        return tuple((base + s, base + e) for s, e in blocks[:limit])

    # -- finishing: absolute numbers, timestamps, options -----------------------------

    def _finalize(self) -> None:
        sim = self.out
        sim.sort(key=lambda p: p[0])
        self.out = []
        isn, delay, tsbase = self.isn, self.delay, self.tsbase
        seen_t: tuple[list[float], list[float]] = ([], [])
        seen_ts: tuple[list[int], list[int]] = ([], [])
        ptr = [0, 0]
        pkts = self.pkts
        ts_on = self.ts_on
        for t, d, flags, seq, ack, msg, a, b, sack, opt in sim:
            peer = 1 - d
            tsval = (tsbase[d] + int((t - delay[d]) * 1000)) & MASK32
            seen_t[d].append(t)
            seen_ts[d].append(tsval)
            horizon = t - 2 * delay[d] + 1e-9
            j, peer_t = ptr[d], seen_t[peer]
            while j < len(peer_t) and peer_t[j] <= horizon:
                j += 1
            ptr[d] = j
            tsecr = seen_ts[peer][j - 1] if j else 0
            if opt == OPT_DATA:
                opts = _pack("!BBBBII", 1, 1, 8, 10, tsval, tsecr) if ts_on else b""
                if sack:
                    opts += _pack(f"!BBBB{2 * len(sack)}I", 1, 1, 5, 2 + 8 * len(sack),
                                  *[(isn[peer] + x) & MASK32 for blk in sack for x in blk])
            elif opt == OPT_SYN:
                opts = self._syn_options(d, tsval, tsecr)
            else:
                opts = b""
            if flags & SYN:
                win = self.syn_win[d]
            elif flags & RST:
                win = 0
            else:
                win = self.win[d]
            seq_abs = (isn[d] + seq) & MASK32
            ack_abs = (isn[peer] + ack) & MASK32 if flags & ACK else 0
            pkts.append((t, d, flags, seq_abs, ack_abs, win, opts, msg, a, b))

    def _syn_options(self, d: int, tsval: int, tsecr: int) -> bytes:
        mss, ws = self.mss[d], self.wscale[d]
        if self.ts_on:  # Linux: MSS, SACK_PERM, TS, NOP, WS
            return _pack("!BBHBBBBIIBBBB", 2, 4, mss, 4, 2, 8, 10, tsval, tsecr, 1, 3, 3, ws)
        if d == 0:  # Windows: MSS, NOP, WS, NOP, NOP, SACK_PERM
            return _pack("!BBHBBBBBBBB", 2, 4, mss, 1, 3, 3, ws, 1, 1, 4, 2)
        return _pack("!BBHBBBBBBBB", 2, 4, mss, 1, 1, 4, 2, 1, 3, 3, ws)


class PcapWriter:
    """Buffered classic-pcap writer that turns :data:`WirePacket` tuples into frames."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb")
        self.fh.write(PCAP_GLOBAL_HEADER)
        self.chunks: list[bytes] = []
        self.pending = 0
        self.written = len(PCAP_GLOBAL_HEADER)

    def write(self, conn: Connection, p: WirePacket) -> None:
        """Append one frame (Ethernet / IPv4 or IPv6 / TCP) for packet ``p`` of ``conn``."""
        t, d, flags, seq, ack, win, opts, msg, a, b = p
        payload = msg[a:b] if msg is not None else b""
        hlen = 20 + len(opts)
        tcp_len = hlen + b - a
        offflags = (hlen << 10) | flags
        s = (conn.csum[d] + tcp_len + seq + ack + offflags + win
             + _from_bytes(opts, "big") + _ones_sum(payload))
        tcp = _pack("!HHIIHHHH", conn.sport[d], conn.dport[d], seq, ack, offflags, win,
                    -s % 0xFFFF, 0)
        if conn.v6:
            ip = _pack("!IHBB", conn.v6w0[d], tcp_len, 6, conn.ttl[d]) + conn.ipfix[d]
        else:
            total = 20 + tcp_len
            ipid = conn.ipid[d]
            conn.ipid[d] = (ipid + 1) & 0xFFFF
            ip = _pack("!HHHHBBH", 0x4500, total, ipid, 0x4000, conn.ttl[d], 6,
                       -(conn.ipsum[d] + total + ipid) % 0xFFFF) + conn.ipfix[d]
        eth = conn.eth[d]
        size = len(eth) + len(ip) + tcp_len
        pad = b""
        if size < MIN_FRAME:
            pad = bytes(MIN_FRAME - size)
            size = MIN_FRAME
        sec, usec = divmod(BASE_EPOCH_US + round(t * 1e6), 1_000_000)
        self.chunks += (_pack("<IIII", sec, usec, size, size), eth, ip, tcp, opts, payload, pad)
        self.pending += size + 16
        if self.pending >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        self.fh.write(b"".join(self.chunks))
        self.written += self.pending
        self.chunks.clear()
        self.pending = 0

    def close(self) -> None:
        self.flush()
        self.fh.close()


def generate(path: Path, packets: int = 1_000_000, seed: int = 1, conn_rate: float = 2000.0,
             warmup: float = 0.0,
             progress: Callable[[int], None] | None = None) -> GenStats:
    """Write a capture of exactly ``packets`` frames to ``path`` and return statistics.

    New connections arrive as a Poisson process of ``conn_rate`` per second.  With
    ``warmup`` > 0 arrivals start that many seconds before the capture does, so the capture
    opens in the middle of already established connections.
    """
    rng = random.Random(seed)
    world = World(rng)
    writer = PcapWriter(path)
    stats = GenStats()
    heap: list[tuple[float, int, Connection]] = []
    t_next = -warmup
    emitted = 0
    active_sum = samples = 0
    last_t = 0.0
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    write = writer.write
    try:
        while emitted < packets:
            if not heap or t_next <= heap[0][0]:
                conn = Connection(world, t_next)
                if conn.pkts:
                    heappush(heap, (conn.pkts[0][0], conn.uid, conn))
                t_next += rng.expovariate(conn_rate)
                continue
            t, uid, conn = heap[0]
            pkts = conn.pkts
            idx = conn.idx
            if t >= 0.0:
                if not conn.seen:
                    conn.seen = True
                    stats.connections += 1
                write(conn, pkts[idx])
                emitted += 1
                last_t = t
                if not emitted & 1023:
                    active_sum += len(heap)
                    samples += 1
                    stats.max_active = max(stats.max_active, len(heap))
                    if progress is not None and not emitted & 0xFFFF:
                        progress(emitted)
            idx += 1
            conn.idx = idx
            if idx < len(pkts):
                heapreplace(heap, (pkts[idx][0], uid, conn))
            else:
                heappop(heap)
                conn.pkts = []
    finally:
        writer.close()
    stats.packets = emitted
    stats.bytes_written = writer.written
    stats.span_seconds = last_t
    stats.mean_active = active_sum / samples if samples else float(len(heap))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="pcap file to write")
    parser.add_argument("--packets", type=int, default=1_000_000, help="frames to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--conn-rate", type=float, default=2000.0,
                        help="new connections per second (default 2000)")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds of traffic before the capture starts (mid-stream "
                             "connections); default 0: every connection starts with a SYN")
    parser.add_argument("-q", "--quiet", action="store_true", help="no statistics on stderr")
    args = parser.parse_args(argv)
    if args.packets < 1:
        parser.error("--packets must be positive")
    start = time.perf_counter()
    stats = generate(args.output, args.packets, args.seed, args.conn_rate, args.warmup)
    elapsed = time.perf_counter() - start
    if not args.quiet:
        print(f"{args.output}: {stats.packets} packets, {stats.bytes_written / 1e6:.1f} MB, "
              f"{stats.connections} connections over {stats.span_seconds:.1f} s of capture, "
              f"active mean {stats.mean_active:.0f} / max {stats.max_active}; "
              f"generated in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
