#!/usr/bin/env python3
"""Record real Linux TCP (loss, copies, zero window, keep-alive, TFO, reordering, tail loss).

Run as root.  Three network namespaces are built for each scenario and always deleted
afterwards: ``tfq-c`` (client 10.205.0.1), ``tfq-r`` (a router, 10.205.0.254 /
10.205.1.254) and ``tfq-s`` (server 10.205.1.2), joined by veth pairs ``c0``-``r0`` and
``r1``-``s0`` that exist only inside them, with checksum and segmentation offloads off.
The server sends 60 kB to the client.  The router impairs the server's data with an
nftables rule in its forward chain (this kernel has no netem):

* ``loss``: ``numgen inc mod 25 == 12 counter drop`` drops every 25th data segment;
* ``dup``: ``numgen inc mod 20 == 7 counter dup to 10.205.0.1 device "r0"`` sends a
  copy of every 20th data segment on to the client.

tcpdump runs on both router interfaces: ``r1`` sees what the server sent (before the
impairment, next to the sender), ``r0`` what went on towards the client (after it, next
to the receiver).  The ground truth comes from what the rules did, found by comparing
the two captures segment by segment (TCP bytes and IPv4 ID), cross-checked with the rule's
nftables counter and the server's own counters (``nstat``: TcpRetransSegs ...).  It is
written next to each capture as ``<name>.truth.json`` (``"kind": "kernel"``): for each
code the exact frames it must be reported on.

Three more scenarios need no impairment: the endpoints make the behaviour, the router only
forwards, and ``r0`` (next to the client) is committed after checking that ``r1`` saw the
very same segments:

* ``zerowin`` (``kernel-zero-window.pcap``): the client sets SO_RCVBUF=4096, asks for
  20 000 bytes and calls no recv() for 2.5 s.  Its window closes, the server's kernel sends
  zero-window probes (0 bytes at SND.UNA-1), the client ACKs them with window 0 (one may go
  unanswered: the out-of-window ACK rate limit, net.ipv4.tcp_invalid_ratelimit), then it
  reads and a window update reopens the window.
* ``keepalive`` (``kernel-keepalive.pcap``): SO_KEEPALIVE with TCP_KEEPIDLE=1,
  TCP_KEEPINTVL=1 on the client, a request/response, then 3.5 s idle: keep-alives and
  their ACKs.
* ``tfo`` (``kernel-tfo.pcap``): net.ipv4.tcp_fastopen=3 in both namespaces, a
  TCP_FASTOPEN listener, two sendto(MSG_FASTOPEN) connections: the first asks for a
  cookie, the second carries its request in the SYN and the server accepts it.

Their truth comes from the programs (reading times, socket options read back,
``TCPI_OPT_SYN_DATA`` of both sockets) and the kernels' counters (TcpExtTCPWinProbe,
TcpExtTCPKeepAlive, TcpExtTCPACKSkippedSeq, TcpExtTCPFastOpenPassive, TcpRetransSegs,
TcpExtTCPDSACKRecv ...); the probe frames are found structurally in the capture
(:func:`structure`, rule in ``PROBE_RULE``) and their number must equal the counters, or
nothing is written (the capture is then kept as ``.failed-<name>`` for a look).

Two more scenarios impair the path differently; the capture committed is again ``r0``,
next to the client, and ``r1`` serves to derive the truth:

* ``reorder`` (``kernel-reorder.pcap``): the router namespace bridges ``r0`` to a TAP
  device ``t0`` and ``r1`` to ``t1`` (``ip tuntap add mode tap``); only the user-space
  program ``tapbridge.py`` joins ``t0`` and ``t1`` (``/dev/net/tun``, ``TUNSETIFF``,
  ``IFF_TAP | IFF_NO_PI``), so every frame crosses it; the endpoints reach each other
  on-link.  Every frame waits 1 ms in a delay line each way, and every 10th data segment of
  the server (5th, 15th, ...) is held and forwarded right after the next one.  The
  bridge's log of swaps is the truth, checked against both captures (same segments, the
  two swapped), the client's SACK of the overtaking segment, and the counters: no
  retransmission anywhere, server TcpExtTCPSACKReorder = client TcpExtTCPOFOQueue = swaps.
* ``tail`` (``kernel-tail-loss.pcap``): the server answers with 14 x 1448 + 333 bytes and
  sends its FIN 50 ms later; ``ip length 385 numgen inc mod 1000000 == 0 counter drop``
  drops the last data segment once.  The client runs with ``net.ipv4.tcp_sack=0``: next
  to the receiver a tail loss is only visible if something later reveals the gap (here the
  bare FIN), and with SACK Linux's RACK would then recover it fast; without SACK neither
  RACK nor TLP can act and the RTO re-sends it.  Truth: the dropped segment (r1 vs r0,
  nftables counter = 1), the server's TcpRetransSegs/TcpExtTCPTimeouts/TcpExtTCPLossProbes
  (which timer), the gap frame and the retransmission frame on r0.

Kernel captures are not deterministic, so they are recorded once and committed::

    sudo python samples/anomalies/record_kernel_anomalies.py            # all scenarios
    sudo python samples/anomalies/record_kernel_anomalies.py loss       # one of them
    sudo python samples/anomalies/record_kernel_anomalies.py zerowin keepalive tfo
    sudo python samples/anomalies/record_kernel_anomalies.py reorder tail
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import record_kernel as rk  # noqa: E402  (helpers of samples/record_kernel.py)

NS = {"c": "tfq-c", "r": "tfq-r", "s": "tfq-s"}
CLIENT, SERVER = "10.205.0.1", "10.205.1.2"
LINKS = (  # (ns, ifname, address/prefix, mac, peer address, peer mac)
    ("c", "c0", "10.205.0.1/24", "02:00:00:00:50:01", "10.205.0.254", "02:00:00:00:50:02"),
    ("r", "r0", "10.205.0.254/24", "02:00:00:00:50:02", "10.205.0.1", "02:00:00:00:50:01"),
    ("r", "r1", "10.205.1.254/24", "02:00:00:00:51:01", "10.205.1.2", "02:00:00:00:51:02"),
    ("s", "s0", "10.205.1.2/24", "02:00:00:00:51:02", "10.205.1.254", "02:00:00:00:51:01"),
)
PORT, SIZE = 80, 60_000
RULES = {
    "loss": "numgen inc mod 25 == 12 counter drop",
    "dup": f'numgen inc mod 20 == 7 counter dup to {CLIENT} device "r0"',
}
OUTPUTS = {  # scenario -> [(router interface, file)]
    "loss": [("r1", "kernel-loss-sender-side.pcap"), ("r0", "kernel-loss-receiver-side.pcap")],
    "dup": [("r0", "kernel-duplicate.pcap")],
}
COUNTERS = ("TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPSlowStartRetrans",
            "TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpExtTCPDSACKRecv",
            "TcpExtTCPDSACKOldSent", "TcpExtTCPSACKReorder")


def run(cmd: Sequence[str]) -> str:
    """Run a command, raising with its stderr on failure; returns stdout."""
    return rk.run(cmd).stdout


@contextmanager
def topology() -> Iterator[None]:
    """client - router - server, always torn down."""
    for ns in NS.values():
        rk.run(["ip", "netns", "del", ns], check=False)
    try:
        for ns in NS.values():
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for a, b in (("c0", "r0"), ("r1", "s0")):
            na = NS[a[0]]
            nb = NS[b[0]]
            run(["ip", "-n", na, "link", "add", a, "type", "veth", "peer", "name", b,
                 "netns", nb])
        for key, ifname, addr, mac, _peer, _peer_mac in LINKS:
            ns = NS[key]
            run(["ip", "-n", ns, "link", "set", ifname, "address", mac])
            run(["ip", "-n", ns, "addr", "add", addr, "dev", ifname])
            print("  ", rk.disable_offloads(ns, ifname))
            run(["ip", "-n", ns, "link", "set", ifname, "up"])
        for key, ifname, _addr, _mac, peer, peer_mac in LINKS:
            rk.wait_oper_up(NS[key], ifname)
            run(["ip", "-n", NS[key], "neigh", "replace", peer, "lladdr", peer_mac, "dev",
                 ifname, "nud", "permanent"])
        run(["ip", "-n", NS["c"], "route", "add", "default", "via", "10.205.0.254"])
        run(["ip", "-n", NS["s"], "route", "add", "default", "via", "10.205.1.254"])
        run(rk.in_ns(NS["r"], "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        yield
    finally:
        for ns in NS.values():
            rk.run(["ip", "netns", "del", ns], check=False)


def nft_setup(rule: str) -> None:
    """The impairment: a forward-chain rule on the server's data segments."""
    script = (
        "table ip tfq {\n chain impair {\n  type filter hook forward priority 0; policy accept;\n"
        f"  ip saddr {SERVER} tcp sport {PORT} meta length > 100 {rule}\n }}\n}}\n"
    )
    subprocess.run(rk.in_ns(NS["r"], "nft", "-f", "-"), input=script, text=True, check=True)


def nft_counter() -> int:
    """Packets the impairment rule acted on."""
    data = json.loads(run(rk.in_ns(NS["r"], "nft", "-j", "list", "ruleset")))
    for item in data["nftables"]:
        rule = item.get("rule")
        if rule:
            for expr in rule["expr"]:
                if "counter" in expr:
                    return int(expr["counter"]["packets"])
    raise RuntimeError("no counter in the ruleset")


def nstat(key: str, names: Sequence[str] = COUNTERS) -> dict[str, int]:
    """The namespace's TCP counters (fresh namespace: absolute values are the deltas)."""
    out = run(rk.in_ns(NS[key], "nstat", "-az", *names))
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in names:
            values[parts[0]] = int(parts[1])
    return values


def record(scenario: str, out_dir: Path) -> None:
    """Record one scenario and write its captures and truth files."""
    print(f"== {scenario}: {RULES[scenario]}")
    tmp = {ifname: out_dir / f".{scenario}-{ifname}.tmp" for ifname in ("r0", "r1")}
    with topology():
        nft_setup(RULES[scenario])
        dumps = {ifname: rk.start_tcpdump(NS["r"], ifname, path) for ifname, path in tmp.items()}
        server = subprocess.Popen(rk.in_ns(NS["s"], *self_cmd("_server")),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rk.wait_ready(server)
            run(rk.in_ns(NS["c"], *self_cmd("_client")))
            server.wait(timeout=30)
            time.sleep(0.3)
        finally:
            if server.poll() is None:
                server.kill()
        complete = True
        for ifname, proc in dumps.items():
            stats, ok = rk.stop_tcpdump(proc)
            print(f"   tcpdump {ifname}: {stats}")
            complete &= ok
        if not complete:
            raise RuntimeError("tcpdump lost packets; not writing the captures")
        acted = nft_counter()
        counters = {"server": nstat("s"), "client": nstat("c")}
    sent = read(tmp["r1"])
    passed = read(tmp["r0"])
    for ifname, name in OUTPUTS[scenario]:
        frames = sent if ifname == "r1" else passed
        truth = derive_truth(scenario, ifname, sent, passed, acted)
        truth.update({
            "file": name,
            "description": describe(scenario, ifname),
            "capture_point": "next to the sender (router interface r1, before the impairment)"
            if ifname == "r1" else "next to the receiver (router interface r0, after it)",
            "frames": len(frames),
            "kernel_counters": counters,
            "nft_rule": RULES[scenario],
            "nft_counter": acted,
        })
        (out_dir / name).write_bytes(tmp[ifname].read_bytes())
        side = out_dir / (Path(name).stem + ".truth.json")
        side.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        print(f"   wrote {name}: {len(frames)} frames, "
              + ", ".join(f"{k} {len(v)}" for k, v in truth["frames_by_code"].items()))
    for path in tmp.values():
        path.unlink(missing_ok=True)


def describe(scenario: str, ifname: str) -> str:
    """One-line description of a kernel capture."""
    what = ("every 25th data segment of the server is dropped by the router"
            if scenario == "loss" else "the router copies every 20th data segment")
    return f"Linux client downloads {SIZE // 1000} kB from a Linux server; {what}."


# --------------------------------------------------------------------------- truth
Seg = tuple[int, str, int, int, int, int, int, int]  # frame, src, seq, ack, flags, len, id, csum


def read(path: Path) -> list[Seg]:
    """The TCP segments of a capture (frame numbers from 1)."""
    out = []
    with path.open("rb") as fh:
        for frame, (_ts, buf) in enumerate(dpkt.pcap.Reader(fh), 1):
            ip = dpkt.ethernet.Ethernet(buf).data
            tcp = ip.data
            out.append((frame, socket.inet_ntoa(ip.src), tcp.seq, tcp.ack, tcp.flags,
                        len(tcp.data), ip.id, tcp.sum))
    return out


def _key(s: Seg) -> tuple[Any, ...]:
    return s[1:]


def _rel(a: int, b: int) -> int:
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


def below_top(segs: list[Seg]) -> list[Seg]:
    """Server data segments that start below the highest byte the same list had carried
    before (the sender's own capture: re-sent bytes)."""
    out = []
    top: int | None = None
    for s in segs:
        if s[1] != SERVER or not s[5]:
            continue
        end = (s[2] + s[5]) & 0xFFFFFFFF
        if top is not None and _rel(s[2], top) < 0:
            out.append(s)
        if top is None or _rel(end, top) > 0:
            top = end
    return out


def derive_truth(scenario: str, ifname: str, sent: list[Seg], passed: list[Seg],
                 acted: int) -> dict[str, Any]:
    """Exact frames per code for the capture taken on ``ifname``."""
    left = Counter(_key(s) for s in passed)
    dropped = []
    for s in sent:
        if left[_key(s)]:
            left[_key(s)] -= 1
        else:
            dropped.append(s)
    seen: Counter[tuple[Any, ...]] = Counter()
    copies = []
    for s in passed:
        seen[_key(s)] += 1
        if seen[_key(s)] > 1:
            copies.append(s)
    assert len(dropped if scenario == "loss" else copies) == acted, "nft counter mismatch"
    frames = sent if ifname == "r1" else passed
    index: dict[tuple[Any, ...], list[int]] = {}
    for s in frames:
        index.setdefault(_key(s), []).append(s[0])
    dropped_ranges = [(d[2], (d[2] + d[5]) & 0xFFFFFFFF) for d in dropped]
    # next to the receiver a re-sent segment is visible only below what came before it
    # (the rules never reorder); a copy is not a retransmission
    copy_keys = {_key(c) for c in copies}
    visible = None if ifname == "r1" else {
        _key(s) for s in below_top(passed) if _key(s) not in copy_keys}
    retx, needed = [], []
    for s in below_top(sent):
        if not index.get(_key(s)) or (visible is not None and _key(s) not in visible):
            continue  # dropped as well, or in order from the receiver side's point of view
        frame = index[_key(s)][0]
        retx.append(frame)
        if any(_rel(s[2], hi) < 0 and _rel((s[2] + s[5]) & 0xFFFFFFFF, lo) > 0
               for lo, hi in dropped_ranges):
            needed.append(frame)
    lost = []
    if ifname == "r0":  # gaps the receiver-side capture shows, and their retransmitted fills
        nxt: int | None = None
        for s in passed:
            if s[1] != SERVER or not (s[5] or s[4] & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN)):
                continue
            end = (s[2] + s[5] + (1 if s[4] & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)) \
                & 0xFFFFFFFF
            if nxt is not None and _rel(s[2], nxt) > 0:
                lost.append(s[0])
            if nxt is None or _rel(end, nxt) > 0:
                nxt = end
    dup_frames = [s[0] for s in copies] if ifname == "r0" else []
    return {
        "kind": "kernel",
        "frames_by_code": {
            "retransmission|fast_retransmission": sorted(retx),
            "lost_segment": sorted(lost),
            "duplicate_segment": sorted(dup_frames),
            "out_of_order": [],
        },
        "not_spurious": sorted(needed),
        "dropped_by_rule": [d[0] for d in dropped] if scenario == "loss" else [],
        "measurements": {"resp": {"retransmitted_segments": len(retx)}} if ifname == "r1"
        else {},
    }


# --------------------------------------------------------------------------- endpoint scenarios
#: Scenarios in which the endpoints themselves make the behaviour; the router only forwards.
ENDPOINT = {
    "zerowin": "kernel-zero-window.pcap",
    "keepalive": "kernel-keepalive.pcap",
    "tfo": "kernel-tfo.pcap",
}
EXTRA_COUNTERS = ("TcpExtTCPWinProbe", "TcpExtTCPKeepAlive", "TcpExtTCPACKSkippedSeq",
                  "TcpExtTCPFastOpenActive", "TcpExtTCPFastOpenActiveFail",
                  "TcpExtTCPFastOpenPassive", "TcpExtTCPFastOpenPassiveFail",
                  "TcpExtTCPFastOpenCookieReqd", "TcpExtTCPRcvQDrop", "TcpExtPruneCalled",
                  "TcpExtTCPRcvCollapsed")
SYSCTLS = {"tfo": ("net.ipv4.tcp_fastopen=3",)}  # client and server namespaces
ZW_RCVBUF, ZW_SIZE, ZW_PAUSE = 4096, 20_000, 2.5  # client SO_RCVBUF, bytes, seconds unread
KA_IDLE, KA_INTVL, KA_CNT, KA_WAIT = 1, 1, 9, 3.5  # keep-alive timers (s), idle time (s)
TFO_QLEN = 8
M32 = 0xFFFFFFFF
SYN, FIN, RST, ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_ACK
TCPI_OPT_SYN_DATA = 32  # linux/tcp.h: "data in SYN sent and acked" (tcp_info.tcpi_options)
PROBE_RULE = (
    "structural, from the capture: a segment without SYN/FIN/RST carrying 0 or 1 byte whose "
    "seq is the peer's latest ACK minus 1 (SND.UNA-1, Linux tcp_xmit_probe_skb); a zero-window "
    "probe if the peer's latest window was 0, else a keep-alive; its ACK is the peer's next "
    "segment if that is a pure ACK. The count is checked against the sender's TcpExtTCPWinProbe"
    " / TcpExtTCPKeepAlive counter, and unanswered probes against the receiver's "
    "TcpExtTCPACKSkippedSeq (answers rate-limited by net.ipv4.tcp_invalid_ratelimit)")


@dataclass(frozen=True)
class Pkt:
    """One TCP segment of a capture (frame numbers from 1)."""

    frame: int
    ts: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    win: int
    length: int
    ipid: int
    csum: int
    wscale: int | None
    tfo: bytes | None  # TFO option data: b"" is a cookie request
    sack: tuple[tuple[int, int], ...]  # SACK blocks (left, right)

    @property
    def pure_ack(self) -> bool:
        return bool(self.flags & ACK) and not self.flags & (SYN | FIN | RST) and not self.length

    def key(self) -> tuple[Any, ...]:
        """What a router does not change."""
        return (self.src, self.dst, self.seq, self.ack, self.flags, self.win, self.length,
                self.ipid, self.csum)


def read_packets(path: Path) -> list[Pkt]:
    """The TCP segments of a capture, with the options the truth needs."""
    out = []
    with path.open("rb") as fh:
        for frame, (ts, buf) in enumerate(dpkt.pcap.Reader(fh), 1):
            ip = dpkt.ethernet.Ethernet(buf).data
            tcp = ip.data
            wscale = tfo = None
            sack: tuple[tuple[int, int], ...] = ()
            for kind, data in dpkt.tcp.parse_opts(tcp.opts):
                if kind == dpkt.tcp.TCP_OPT_WSCALE:
                    wscale = data[0]
                elif kind == dpkt.tcp.TCP_OPT_SACK:
                    sack = tuple(struct.unpack(f"!{len(data) // 4}I", data)[i:i + 2]
                                 for i in range(0, len(data) // 4, 2))
                elif kind == 34:  # RFC 7413 Fast Open
                    tfo = bytes(data)
            out.append(Pkt(frame, ts, (socket.inet_ntoa(ip.src), tcp.sport),
                           (socket.inet_ntoa(ip.dst), tcp.dport), tcp.seq, tcp.ack, tcp.flags,
                           tcp.win, len(tcp.data), ip.id, tcp.sum, wscale, tfo, sack))
    return out


def structure(pkts: list[Pkt]) -> dict[str, Any]:
    """Label the capture from its bytes (RFC 9293 / RFC 7413 definitions, Linux's probe
    format), per connection: probes and their ACKs, zero windows, window updates, data up to
    the right edge, TFO SYNs, and bytes sent twice."""
    labels: dict[str, list[int]] = {code: [] for code in (
        "zero_window", "zero_window_probe", "zero_window_probe_ack", "keep_alive",
        "keep_alive_ack", "window_update", "window_full", "tfo_cookie_request",
        "tfo_syn_data", "syn_with_data", "resent", "dsack", "spurious_retransmission")}
    unanswered: list[int] = []
    tfo: list[dict[str, Any]] = []
    state: dict[tuple[tuple[str, int], tuple[str, int]], dict[str, Any]] = {}
    for p in pkts:
        for ep in ((p.src, p.dst), (p.dst, p.src)):  # per connection and direction
            state.setdefault(ep, {"ack": None, "win": None, "scale": None, "probe": None,
                                  "top": None, "syn": None, "resent_ranges": []})
        me, peer = state[(p.src, p.dst)], state[(p.dst, p.src)]
        ctl = p.flags & (SYN | FIN | RST)
        if p.sack and p.flags & ACK:  # D-SACK (RFC 2883 §4): first block below the ACK or
            left, right = p.sack[0]  # inside the second block; it names re-received bytes
            if _rel(right, p.ack) <= 0 or (len(p.sack) > 1 and _rel(left, p.sack[1][0]) >= 0
                                           and _rel(right, p.sack[1][1]) <= 0):
                labels["dsack"].append(p.frame)
                for frame, lo, hi in peer["resent_ranges"]:
                    if _rel(lo, left) >= 0 and _rel(hi, right) <= 0 \
                            and frame not in labels["spurious_retransmission"]:
                        labels["spurious_retransmission"].append(frame)
        if peer["probe"] is not None:  # answer to the peer's probe?
            kind, frame = peer["probe"]
            peer["probe"] = None
            if p.pure_ack and kind == "keep_alive":
                labels["keep_alive_ack"].append(p.frame)
            elif p.pure_ack and kind == "zero_window_probe" and p.win == 0:
                labels["zero_window_probe_ack"].append(p.frame)
            elif not p.pure_ack:
                unanswered.append(frame)
        probe = (not ctl and p.length <= 1 and peer["ack"] is not None
                 and p.seq == (peer["ack"] - 1) & M32)
        if probe:
            kind = "zero_window_probe" if peer["win"] == 0 else "keep_alive"
            labels[kind].append(p.frame)
            if me["probe"] is not None:  # the previous probe got no answer
                unanswered.append(me["probe"][1])
            me["probe"] = (kind, p.frame)
        if p.flags & SYN:
            me["scale"] = p.wscale
            me["syn"] = p
            if not p.flags & ACK and p.tfo == b"":
                labels["tfo_cookie_request"].append(p.frame)
            if p.length:
                labels["tfo_syn_data" if p.tfo else "syn_with_data"].append(p.frame)
            if p.flags & ACK and peer["syn"] is not None and peer["syn"].tfo:
                syn = peer["syn"]
                tfo.append({"syn_frame": syn.frame, "synack_frame": p.frame,
                            "client_port": syn.src[1], "syn_data_bytes": syn.length,
                            "accepted": bool(syn.length)
                            and p.ack == (syn.seq + 1 + syn.length) & M32})
        elif not p.flags & RST and me["win"] is not None:
            if p.win == 0 and me["win"] > 0:
                labels["zero_window"].append(p.frame)
            if p.pure_ack and p.ack == me["ack"] and p.win > me["win"] and not probe:
                labels["window_update"].append(p.frame)
        if p.length and not probe:
            end = (p.seq + p.length) & M32
            resent = me["top"] is not None and _rel(p.seq, me["top"]) < 0
            if resent:
                labels["resent"].append(p.frame)
                me["resent_ranges"].append((p.frame, p.seq, end))
            if me["top"] is None or _rel(end, me["top"]) > 0:
                me["top"] = end
            scale = (peer["scale"] if me["scale"] is not None and peer["scale"] is not None
                     else 0)
            if not resent and peer["ack"] is not None and peer["win"] \
                    and end == (peer["ack"] + (peer["win"] << scale)) & M32:
                labels["window_full"].append(p.frame)
        if not p.flags & RST:
            me["win"] = p.win  # raw: 0 is 0 at any scale
            if p.flags & ACK:
                me["ack"] = p.ack
    unanswered.extend(who["probe"][1] for who in state.values() if who["probe"] is not None)
    return {"labels": labels, "unanswered_probes": sorted(unanswered), "tfo": tfo}


def record_endpoint(scenario: str, out_dir: Path) -> None:
    """Record a scenario whose behaviour comes from the endpoints (no impairment)."""
    name = ENDPOINT[scenario]
    print(f"== {scenario}: {name}")
    tmp = {ifname: out_dir / f".{scenario}-{ifname}.tmp" for ifname in ("r0", "r1")}
    try:
        with topology():
            for key in ("c", "s"):
                for setting in SYSCTLS.get(scenario, ()):
                    run(rk.in_ns(NS[key], "sysctl", "-qw", setting))
            dumps = {}
            server: subprocess.Popen[str] | None = None
            complete = False
            try:
                for ifname, path in tmp.items():
                    dumps[ifname] = rk.start_tcpdump(NS["r"], ifname, path)
                server = subprocess.Popen(rk.in_ns(NS["s"], *self_cmd(f"_{scenario}_server")),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True)
                rk.wait_ready(server)
                client = subprocess.run(rk.in_ns(NS["c"], *self_cmd(f"_{scenario}_client")),
                                        capture_output=True, text=True, timeout=60)
                if client.returncode:
                    raise RuntimeError(f"client failed: {client.stderr.strip()}")
                out, err = server.communicate(timeout=30)
                if server.returncode:
                    raise RuntimeError(f"server failed: {err.strip()}")
                time.sleep(0.3)
            finally:
                if server is not None and server.poll() is None:
                    server.kill()
                    server.wait()
                complete = bool(dumps)
                for ifname, proc in dumps.items():
                    stats, ok = rk.stop_tcpdump(proc)
                    print(f"   tcpdump {ifname}: {stats}")
                    complete &= ok
            if not complete:
                raise RuntimeError("tcpdump lost packets; not writing the capture")
            names = (*COUNTERS, *EXTRA_COUNTERS)
            counters = {"server": nstat("s", names), "client": nstat("c", names)}
        programs = {"client": json.loads(client.stdout.splitlines()[-1]),
                    "server": json.loads(out.splitlines()[-1])}
        pkts = read_packets(tmp["r0"])
        if [p.key() for p in pkts] != [p.key() for p in read_packets(tmp["r1"])]:
            raise RuntimeError("the router's two sides saw different segments")
        try:
            truth = DERIVE[scenario](pkts, programs, counters)
        except Exception:
            kept = out_dir / f".failed-{name}"
            kept.write_bytes(tmp["r0"].read_bytes())
            print(f"   capture kept for inspection in {kept}; counters {counters}")
            raise
        truth = {
            "kind": "kernel",
            "file": name,
            "description": truth.pop("description"),
            "capture_point": "router interface r0, next to the client (the r1 capture next to"
                             " the server holds the same segments)",
            "frames": len(pkts),
            **truth,
            "kernel_counters": counters,
            "programs": programs,
        }
        (out_dir / name).write_bytes(tmp["r0"].read_bytes())
        side = out_dir / (Path(name).stem + ".truth.json")
        side.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        print(f"   wrote {name}: {len(pkts)} frames, "
              + ", ".join(f"{k} {v}" for k, v in truth["frames_by_code"].items()))
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


def retransmissions(labels: dict[str, list[int]], counters: dict[str, dict[str, int]]
                    ) -> dict[str, Any]:
    """Frames that re-send bytes (the path loses nothing: both router sides saw the same
    segments), checked against the kernels' own counters, and the D-SACKs that proved them
    unneeded.  Linux's tail-loss probe (RFC 8985 §7) can re-send the last segment when the
    receiver delays its ACK in a tiny window."""
    retx = sum(counters[side]["TcpRetransSegs"] for side in ("client", "server"))
    _check(len(labels["resent"]) == retx,
           f"re-sent frames {labels['resent']} vs TcpRetransSegs {retx}")
    dsack = sum(counters[side]["TcpExtTCPDSACKRecv"] for side in ("client", "server"))
    _check(len(labels["dsack"]) == dsack, f"D-SACKs {labels['dsack']} vs TCPDSACKRecv")
    return {
        "frames": labels["resent"],
        "spurious_by_dsack": labels["spurious_retransmission"],
        "dsack_frames": labels["dsack"],
        "cause": "none lost on the path (the router's two sides saw the same segments); "
                 "TcpExtTCPLossProbes={} TcpExtTCPTimeouts={} TcpExtTCPFastRetrans={} "
                 "(server)".format(*(counters["server"][k] for k in (
                     "TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpExtTCPFastRetrans"))),
    }


def _retx_codes(retx: dict[str, Any]) -> dict[str, list[int]]:
    return {"retransmission|fast_retransmission": retx["frames"],
            "spurious_retransmission": retx["spurious_by_dsack"],
            "dsack": retx["dsack_frames"]}


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise RuntimeError(f"ground truth check failed: {what}")


def derive_zerowin(pkts: list[Pkt], programs: dict[str, Any],
                   counters: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Truth of kernel-zero-window: the client's reading times and the probe exchange."""
    s = structure(pkts)
    lab = s["labels"]
    retx = retransmissions(lab, counters)
    cli = programs["client"]
    stop, resume = cli["stopped_reading"], cli["resumed_reading"]
    by_frame = {p.frame: p for p in pkts}
    client = (CLIENT, cli["port"])
    zero = [f for f in lab["zero_window"] if by_frame[f].src == client]
    probes = lab["zero_window_probe"]
    _check(len(zero) == 1 and stop < by_frame[zero[0]].ts < resume,
           f"one zero window from the client while it did not read: {zero}")
    _check(len(probes) == counters["server"]["TcpExtTCPWinProbe"] > 0,
           f"probes {probes} vs server TcpExtTCPWinProbe")
    _check(all(by_frame[zero[0]].ts < by_frame[f].ts < resume + 0.5 for f in probes),
           "probes during the stall")
    _check(len(s["unanswered_probes"]) == counters["client"]["TcpExtTCPACKSkippedSeq"],
           f"unanswered probes {s['unanswered_probes']} vs client TcpExtTCPACKSkippedSeq")
    _check(not lab["keep_alive"], "no keep-alive")
    reopen = next(p for p in pkts if p.src == client and p.win and p.frame > zero[0])
    _check(reopen.ts >= resume and reopen.frame in lab["window_update"],
           f"the reopening ACK {reopen.frame} follows the read and is a window update")
    stalled = [p.frame for p in pkts if zero[0] <= p.frame < reopen.frame]
    _check(set(stalled) <= set(probes) | set(lab["zero_window_probe_ack"]) | {zero[0]},
           f"only probes and their ACKs during the stall: {stalled}")
    first = pkts[0].ts
    return {
        "description": (
            f"Linux client with SO_RCVBUF={ZW_RCVBUF} asks for {ZW_SIZE} bytes and does not "
            f"read for {ZW_PAUSE} s: its window closes, the server sends zero-window probes "
            "(seq SND.UNA-1, no payload), the client ACKs them with window 0 (or skips the "
            "ACK, rate-limited), then reads and a window update reopens the window."),
        "frames_by_code": {
            "zero_window": zero,
            "zero_window_probe": probes,
            "zero_window_probe_ack": lab["zero_window_probe_ack"],
            "window_update": lab["window_update"],
            "window_full": lab["window_full"],
            "keep_alive|keep_alive_ack": [],
            **_retx_codes(retx),
            "lost_segment": [],
            "out_of_order": [],
            "duplicate_segment": [],
        },
        "not_spurious": [],
        "retransmissions": retx,
        "measurements": {"resp": {"retransmitted_segments": len(retx["frames"])}},
        "probe_identification": PROBE_RULE,
        "window_update_identification": (
            "pure ACK with the same ACK number as the sender's previous segment and a larger "
            "window (RFC 9293 §3.8.6); window_full: data ending exactly at the peer's latest "
            "ACK + window << scale, not counting re-sent bytes"),
        "timeline": {
            "client_stopped_reading_s": round(stop - first, 6),
            "zero_window_frame": zero[0],
            "probe_frames": probes,
            "unanswered_probe_frames": s["unanswered_probes"],
            "client_resumed_reading_s": round(resume - first, 6),
            "reopening_frame": reopen.frame,
            "stall_s": round(reopen.ts - by_frame[zero[0]].ts, 6),
            "times_relative_to": "frame 1",
        },
    }


def derive_keepalive(pkts: list[Pkt], programs: dict[str, Any],
                     counters: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Truth of kernel-keepalive: the client's configured timers and its probe count."""
    s = structure(pkts)
    lab = s["labels"]
    retx = retransmissions(lab, counters)
    cli = programs["client"]
    by_frame = {p.frame: p for p in pkts}
    probes = lab["keep_alive"]
    _check(len(probes) == counters["client"]["TcpExtTCPKeepAlive"] > 0,
           f"keep-alives {probes} vs client TcpExtTCPKeepAlive")
    _check(all(by_frame[f].src == (CLIENT, cli["port"]) for f in probes), "sent by the client")
    _check(all(cli["idle_from"] < by_frame[f].ts < cli["idle_until"] for f in probes),
           "sent while the connection was idle")
    _check(len(lab["keep_alive_ack"]) + len(s["unanswered_probes"]) == len(probes)
           and len(s["unanswered_probes"]) == counters["server"]["TcpExtTCPACKSkippedSeq"],
           "every probe answered unless the server's rate limit skipped it")
    _check(not lab["zero_window_probe"], "no zero-window probe")
    times = [by_frame[f].ts for f in probes]
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    first = pkts[0].ts
    return {
        "description": (
            f"Linux client with SO_KEEPALIVE, TCP_KEEPIDLE={KA_IDLE}, TCP_KEEPINTVL={KA_INTVL},"
            f" TCP_KEEPCNT={KA_CNT}: request/response, then {KA_WAIT} s idle; the kernel sends"
            " keep-alives (seq SND.UNA-1, no payload) and the server ACKs each; then close."),
        "frames_by_code": {
            "keep_alive": probes,
            "keep_alive_ack": lab["keep_alive_ack"],
            "zero_window|zero_window_probe|zero_window_probe_ack": [],
            **_retx_codes(retx),
            "lost_segment": [],
            "out_of_order": [],
            "duplicate_segment": [],
            "duplicate_ack": [],
        },
        "not_spurious": [],
        "retransmissions": retx,
        "measurements": {},
        "probe_identification": PROBE_RULE,
        "keepalive": {
            "configured": {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": KA_IDLE,
                           "TCP_KEEPINTVL": KA_INTVL, "TCP_KEEPCNT": KA_CNT},
            "read_back": cli["sockopts"],
            "probes_sent_by_kernel": counters["client"]["TcpExtTCPKeepAlive"],
            "probe_frames": probes,
            "probe_gaps_s": gaps,
            "idle_from_s": round(cli["idle_from"] - first, 6),
            "idle_until_s": round(cli["idle_until"] - first, 6),
            "ss_during_idle": cli["ss"],
            "times_relative_to": "frame 1",
        },
    }


def derive_tfo(pkts: list[Pkt], programs: dict[str, Any],
               counters: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Truth of kernel-tfo: which connection asked for a cookie, which sent SYN data, and
    whether the server took it (per socket TCPI_OPT_SYN_DATA and TcpExtTCPFastOpenPassive)."""
    s = structure(pkts)
    lab = s["labels"]
    retx = retransmissions(lab, counters)
    cli, srv = programs["client"]["connections"], programs["server"]["connections"]
    conns = []
    for c in cli:
        syn = next(p for p in pkts if p.flags & SYN and not p.flags & ACK
                   and p.src == (CLIENT, c["port"]))
        verdict = next((t for t in s["tfo"] if t["syn_frame"] == syn.frame), None)
        peer = next(x for x in srv if x["peer_port"] == c["port"])
        conns.append({
            "client_port": c["port"],
            "syn_frame": syn.frame,
            "cookie_requested": syn.tfo == b"",
            "cookie_sent": bool(syn.tfo),
            "syn_data_bytes": syn.length,
            "synack_acks_the_data": bool(verdict and verdict["accepted"]),
            "client_tcpi_syn_data_acked": c["syn_data_acked"],
            "server_tcpi_syn_data_acked": peer["syn_data_acked"],
        })
    _check(len(conns) == 2, "two connections")
    first, second = conns
    _check(first["cookie_requested"] and not first["syn_data_bytes"], "1st: cookie request")
    _check(second["cookie_sent"] and second["syn_data_bytes"] > 0
           and second["synack_acks_the_data"] and second["client_tcpi_syn_data_acked"]
           and second["server_tcpi_syn_data_acked"], "2nd: SYN data accepted")
    _check(counters["server"]["TcpExtTCPFastOpenPassive"] == 1
           and counters["server"]["TcpExtTCPFastOpenCookieReqd"] == 1
           and counters["server"]["TcpExtTCPFastOpenPassiveFail"] == 0
           and counters["client"]["TcpExtTCPFastOpenActive"] == 1,
           "server accepted one TFO SYN, answered one cookie request")
    return {
        "description": (
            "TCP Fast Open between namespaces with net.ipv4.tcp_fastopen=3 and a server "
            f"TCP_FASTOPEN queue of {TFO_QLEN}: connection 1 (sendto MSG_FASTOPEN, no cookie) "
            "asks for a cookie, the request goes after the handshake; connection 2 sends the "
            "request in the SYN with the cookie, the server accepts it."),
        "frames_by_code": {
            "tfo_cookie_request": [first["syn_frame"]],
            "tfo_syn_data": [second["syn_frame"]],
            "syn_with_data": [],
            **_retx_codes(retx),
            "lost_segment": [],
            "out_of_order": [],
            "duplicate_segment": [],
        },
        "not_spurious": [],
        "retransmissions": retx,
        "measurements": {},
        "tfo": {"connections": conns,
                "syn_data_verdicts": [{**t, "verdict": "accepted" if t["accepted"] else
                                       "not accepted"} for t in s["tfo"]]},
    }


DERIVE = {"zerowin": derive_zerowin, "keepalive": derive_keepalive, "tfo": derive_tfo}


# --------------------------------------------------------------------------- tap bridge, tail
#: Scenarios added for issue #4 "real traffic": a user-space TAP bridge that swaps segments,
#: and a one-shot drop of the last data segment of a response.
NEW = {"reorder": "kernel-reorder.pcap", "tail": "kernel-tail-loss.pcap"}
TAPS = (("t0", "bc", "r0"), ("t1", "bs", "r1"))  # (tap, bridge, veth port) in the router
SWAP_EVERY, SWAP_AT = 10, 5  # the bridge holds data segments 5, 15, 25, ... (from 1)
#: seconds: every frame crosses a 1 ms delay line each way, so the min RTT (about 2 ms) makes
#: RACK's reordering window (min_rtt / 4, RFC 8985 §6.2) larger than the 0.2 ms by which a
#: held segment may precede the one that overtakes it; all far below any timer
SWAP_DELAY, SWAP_MAX_GAP, SWAP_MAX_HOLD = 0.001, 0.0002, 0.001
#: tail: 14 full segments of 1448 bytes (MSS 1460 - 12 bytes of timestamps) + 333 bytes
TAIL_MSS, TAIL_LAST = 1448, 333
TAIL_SIZE = 14 * TAIL_MSS + TAIL_LAST
TAIL_FIN_DELAY = 0.05  # s between the response and shutdown(SHUT_WR): the FIN goes alone
#: the router drops the first segment of the server with exactly the last segment's IP length
#: (20 + 32 header bytes with timestamps + 333); numgen is 0 only for the first one
TAIL_RULE = f"ip length {20 + 32 + TAIL_LAST} numgen inc mod 1000000 == 0 counter drop"
TAIL_SYSCTLS = {"c": ("net.ipv4.tcp_sack=0",)}  # the receiver does not SACK (see README)
NEW_COUNTERS = ("TcpExtTCPLossProbeRecovery", "TcpExtTCPOFOQueue", "TcpExtTCPTSReorder",
                "TcpExtTCPRenoReorder", "TcpExtTCPSackRecovery", "TcpExtTCPRenoRecovery",
                "TcpExtTCPLostRetransmit", "TcpExtTCPSpuriousRTOs")
NEW_NAMES = (*COUNTERS, *NEW_COUNTERS)


@contextmanager
def tap_topology() -> Iterator[None]:
    """client - [r0 bridge bc t0] user space [t1 bridge bs r1] - server, always torn down.

    The router namespace holds two bridges whose second ports are TAP devices; nothing but
    the user-space program (``tapbridge.py``) joins them, so every frame between client and
    server crosses it.  The endpoints keep their addresses of :func:`topology` and reach each
    other on-link (host route + permanent neighbour entry), the router has no address.
    IPv6 is off in the three namespaces (no router solicitations or MLD through the bridge).
    """
    for ns in NS.values():
        rk.run(["ip", "netns", "del", ns], check=False)
    try:
        for ns in NS.values():
            run(["ip", "netns", "add", ns])
            for setting in ("net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"):
                run(rk.in_ns(ns, "sysctl", "-qw", setting))
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for a, b in (("c0", "r0"), ("r1", "s0")):
            run(["ip", "-n", NS[a[0]], "link", "add", a, "type", "veth", "peer", "name", b,
                 "netns", NS[b[0]]])
        for tap, br, port in TAPS:
            run(["ip", "-n", NS["r"], "tuntap", "add", "dev", tap, "mode", "tap"])
            run(["ip", "-n", NS["r"], "link", "add", br, "type", "bridge", "stp_state", "0"])
            for dev in (port, tap):
                run(["ip", "-n", NS["r"], "link", "set", dev, "master", br])
        for key, ifname, addr, mac, _peer, _peer_mac in LINKS:
            ns = NS[key]
            run(["ip", "-n", ns, "link", "set", ifname, "address", mac])
            if key != "r":
                run(["ip", "-n", ns, "addr", "add", addr, "dev", ifname])
            print("  ", rk.disable_offloads(ns, ifname))
            run(["ip", "-n", ns, "link", "set", ifname, "up"])
        for tap, br, _port in TAPS:
            for dev in (tap, br):
                run(["ip", "-n", NS["r"], "link", "set", dev, "up"])
        for key, ifname, peer, mac in (("c", "c0", SERVER, LINKS[3][3]),
                                       ("s", "s0", CLIENT, LINKS[0][3])):
            rk.wait_oper_up(NS[key], ifname)
            run(["ip", "-n", NS[key], "route", "add", f"{peer}/32", "dev", ifname])
            run(["ip", "-n", NS[key], "neigh", "replace", peer, "lladdr", mac, "dev", ifname,
                 "nud", "permanent"])
        yield
    finally:
        for ns in NS.values():
            rk.run(["ip", "netns", "del", ns], check=False)


def _finish(proc: subprocess.Popen[str] | None, timeout: float = 10) -> tuple[str, str]:
    """Wait for a helper process, killing it after ``timeout``; returns stdout, stderr."""
    if proc is None:
        return "", ""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def _exchange(server_cmd: str, client_cmd: str) -> dict[str, Any]:
    """Run a server and a client program in their namespaces; returns their JSON lines."""
    server = subprocess.Popen(rk.in_ns(NS["s"], *self_cmd(server_cmd)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rk.wait_ready(server)
        client = subprocess.run(rk.in_ns(NS["c"], *self_cmd(client_cmd)), capture_output=True,
                                text=True, timeout=60)
        if client.returncode:
            raise RuntimeError(f"client failed: {client.stderr.strip()}")
        out, err = server.communicate(timeout=30)
        if server.returncode:
            raise RuntimeError(f"server failed: {err.strip()}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    lines = {"client": client.stdout.splitlines(), "server": out.splitlines()}
    return {k: json.loads(v[-1]) if v and v[-1].startswith("{") else {}
            for k, v in lines.items()}


def record_new(scenario: str, out_dir: Path) -> None:
    """Record ``reorder`` (TAP bridge) or ``tail`` (one-shot nftables drop); write the r0
    capture (next to the client) and its truth, or nothing if any check fails."""
    name = NEW[scenario]
    print(f"== {scenario}: {name}")
    tmp = {ifname: out_dir / f".{scenario}-{ifname}.tmp" for ifname in ("r0", "r1")}
    try:
        with (tap_topology() if scenario == "reorder" else topology()):
            bridge: subprocess.Popen[str] | None = None
            dumps = {}
            complete = False
            try:
                if scenario == "reorder":
                    bridge = subprocess.Popen(
                        rk.in_ns(NS["r"], sys.executable, str(HERE / "tapbridge.py"),
                                 "--server", SERVER, "--port", str(PORT),
                                 "--every", str(SWAP_EVERY), "--at", str(SWAP_AT),
                                 "--max-gap", str(SWAP_MAX_GAP),
                                 "--max-hold", str(SWAP_MAX_HOLD), "--delay", str(SWAP_DELAY)),
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
                    rk.wait_ready(bridge)
                    for tap, _br, _port in TAPS:
                        rk.wait_oper_up(NS["r"], tap)
                else:
                    nft_setup(TAIL_RULE)
                    for key, settings in TAIL_SYSCTLS.items():
                        for setting in settings:
                            run(rk.in_ns(NS[key], "sysctl", "-qw", setting))
                for ifname, path in tmp.items():
                    dumps[ifname] = rk.start_tcpdump(NS["r"], ifname, path)
                if scenario == "reorder":
                    programs = _exchange("_server", "_client")
                else:
                    programs = _exchange("_tail_server", "_tail_client")
                time.sleep(0.3)
            finally:
                complete = bool(dumps)
                for ifname, proc in dumps.items():
                    stats, ok = rk.stop_tcpdump(proc)
                    print(f"   tcpdump {ifname}: {stats}")
                    complete &= ok
                if bridge is not None:
                    bout, berr = _finish(bridge)  # communicate() closes its stdin: stop
                    if bridge.returncode:
                        raise RuntimeError(f"tap bridge failed: {berr.strip()}")
            if not complete:
                raise RuntimeError("tcpdump lost packets; not writing the capture")
            counters = {"server": nstat("s", NEW_NAMES), "client": nstat("c", NEW_NAMES)}
            acted = nft_counter() if scenario == "tail" else None
        sent, passed = read_packets(tmp["r1"]), read_packets(tmp["r0"])
        try:
            if scenario == "reorder":
                programs["tap_bridge"] = json.loads(bout.splitlines()[-1])
                truth = derive_reorder(sent, passed, programs["tap_bridge"], counters)
            else:
                truth = derive_tail(sent, passed, counters, acted)
        except Exception:
            for ifname, path in tmp.items():
                kept = out_dir / f".failed-{Path(name).stem}-{ifname}.pcap"
                kept.write_bytes(path.read_bytes())
                print(f"   capture kept for inspection in {kept}")
            print(f"   counters {counters}")
            raise
        truth = {
            "kind": "kernel",
            "file": name,
            "description": truth.pop("description"),
            "capture_point": truth.pop("capture_point"),
            "frames": len(passed),
            **truth,
            "kernel_counters": counters,
            "programs": programs,
        }
        (out_dir / name).write_bytes(tmp["r0"].read_bytes())
        side = out_dir / (Path(name).stem + ".truth.json")
        side.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        print(f"   wrote {name}: {len(passed)} frames, "
              + ", ".join(f"{k} {v}" for k, v in truth["frames_by_code"].items()))
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


def _server_data(pkts: list[Pkt]) -> list[Pkt]:
    return [p for p in pkts if p.src == (SERVER, PORT) and p.length and not p.flags & SYN]


def _find(pkts: list[Pkt], seg: dict[str, Any]) -> Pkt:
    """The frame of a segment the bridge logged (server, seq, length, IPv4 ID)."""
    hits = [p for p in _server_data(pkts)
            if (p.seq, p.length, p.ipid) == (seg["seq"], seg["len"], seg["ipid"])]
    _check(len(hits) == 1, f"segment {seg} found once: {[p.frame for p in hits]}")
    return hits[0]


def _below_top(pkts: list[Pkt]) -> list[Pkt]:
    """Server data segments starting below the highest sequence number seen before them."""
    out, top = [], None
    for p in _server_data(pkts):
        if top is not None and _rel(p.seq, top) < 0:
            out.append(p)
        end = (p.seq + p.length) & M32
        if top is None or _rel(end, top) > 0:
            top = end
    return out


def derive_reorder(sent: list[Pkt], passed: list[Pkt], log: dict[str, Any],
                   counters: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Truth of kernel-reorder: the bridge's swaps, checked against both captures and both
    kernels (no retransmission at all, one out-of-order queueing per swap at the client)."""
    _check(Counter(p.key() for p in sent) == Counter(p.key() for p in passed),
           "both router sides saw the same segments (nothing lost or copied)")
    swaps = log["swaps"]
    _check(len(swaps) >= 1, "the bridge swapped at least one pair")
    srv, cli = counters["server"], counters["client"]
    for key in ("TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPLossProbes",
                "TcpExtTCPTimeouts", "TcpExtTCPSlowStartRetrans"):
        _check(srv[key] == 0 and cli[key] == 0, f"{key} == 0 in both namespaces")
    _check(cli["TcpExtTCPOFOQueue"] == len(swaps),
           f"client TcpExtTCPOFOQueue {cli['TcpExtTCPOFOQueue']} == {len(swaps)} swaps")
    _check(srv["TcpExtTCPSACKReorder"] == len(swaps),
           f"server TcpExtTCPSACKReorder {srv['TcpExtTCPSACKReorder']} == {len(swaps)} swaps")
    _check(not _below_top(sent), "the server sent every byte once, in order")
    rdata = _server_data(passed)
    pos = {p.frame: i for i, p in enumerate(rdata)}
    late, pairs, sacks = [], [], []
    for swap in swaps:
        held_s, first_s = _find(sent, swap["held"]), _find(sent, swap["forwarded_first"])
        held_r, first_r = _find(passed, swap["held"]), _find(passed, swap["forwarded_first"])
        _check((held_s.seq + held_s.length) & M32 == first_s.seq
               and held_s.frame < first_s.frame, "the server sent them back to back, in order")
        _check(pos[held_r.frame] == pos[first_r.frame] + 1,
               "the client side got the later one first, the held one right after")
        # the client's next segment SACKs exactly the one that overtook (RFC 2018)
        answer = next(p for p in passed if p.frame > first_r.frame and p.src[0] == CLIENT)
        _check(answer.pure_ack and answer.ack == held_r.seq and answer.sack == (
            (first_r.seq, (first_r.seq + first_r.length) & M32),) and answer.frame < held_r.frame,
            f"frame {answer.frame} SACKs the overtaking segment before the late one arrives")
        sacks.append(answer.frame)
        late.append(held_r.frame)
        pairs.append({"late_original_frame": held_r.frame, "overtaking_frame": first_r.frame,
                      "sack_frame": answer.frame,
                      "server_side_frames": [held_s.frame, first_s.frame],
                      "seq": held_r.seq, "len": held_r.length, "ipid": held_r.ipid,
                      "gap_us": swap["gap_us"]})
    _check(sorted(p.frame for p in _below_top(passed)) == sorted(late),
           "the only segments below the top on the client side are the held ones")
    _check(sorted(p.frame for p in passed if p.sack) == sorted(sacks),
           "no other segment carries SACK blocks (and none is a D-SACK)")
    return {
        "description": (
            f"Linux client downloads {SIZE // 1000} kB from a Linux server through a "
            "user-space bridge between two TAP devices in the router (tapbridge.py): every "
            f"{SWAP_EVERY}th data segment of the server (n % {SWAP_EVERY} == {SWAP_AT}) is held "
            "back and forwarded right after the next one, a swap of one position. Nothing is "
            "lost and nothing is retransmitted (TcpRetransSegs = 0)."),
        "capture_point": "next to the receiver (router bridge port r0, after the user-space "
                         "swap; the r1 capture holds the same segments in the order they "
                         "were sent)",
        "frames_by_code": {
            "out_of_order": sorted(late),
            "sack": sorted(sacks),
            "dsack": [],
            "retransmission|fast_retransmission": [],
            "spurious_retransmission": [],
            "lost_segment": [],
            "duplicate_segment": [],
        },
        "not_spurious": [],
        "measurements": {},
        "swaps": pairs,
    }


def derive_tail(sent: list[Pkt], passed: list[Pkt], counters: dict[str, dict[str, int]],
                acted: int | None) -> dict[str, Any]:
    """Truth of kernel-tail-loss: the one segment the rule dropped (found by comparing the
    router's two sides), the timer that recovered it (server counters) and where the client
    side shows the gap and the retransmission."""
    left = Counter(p.key() for p in passed)
    dropped = []
    for p in sent:
        if left[p.key()]:
            left[p.key()] -= 1
        else:
            dropped.append(p)
    _check(not +left, "the client side saw nothing the server side did not")
    _check(len(dropped) == 1 == acted, f"one segment dropped {dropped}, nft counter {acted}")
    lost = dropped[0]
    data = _server_data(sent)
    _check(lost.length == TAIL_LAST and lost is data[-1 - len(_below_top(sent))]
           and not lost.flags & FIN, "the dropped one is the last data segment, without FIN")
    syn = next(p for p in sent if p.src == (SERVER, PORT) and p.flags & SYN)
    _check((lost.seq + lost.length) & M32 == (syn.seq + 1 + TAIL_SIZE) & M32,
           "it ends the response")
    resent = _below_top(sent)
    _check(len(resent) == 1 and resent[0].seq == lost.seq,
           f"the server re-sent it once: {[p.frame for p in resent]}")
    srv = counters["server"]
    _check(srv["TcpRetransSegs"] == 1 and srv["TcpExtTCPFastRetrans"] == 0,
           "one retransmission, not fast")
    if srv["TcpExtTCPTimeouts"] == 1 and srv["TcpExtTCPLossProbes"] == 0:
        timer = "RTO (TcpExtTCPTimeouts = 1, TcpExtTCPLossProbes = 0)"
    elif srv["TcpExtTCPLossProbes"] == 1 and srv["TcpExtTCPTimeouts"] == 0:
        timer = "TLP (TcpExtTCPLossProbes = 1, TcpExtTCPTimeouts = 0)"
    else:
        raise RuntimeError(f"ground truth check failed: which timer? {srv}")
    fin = next(p for p in sent if p.src == (SERVER, PORT) and p.flags & FIN)
    _check(not fin.length and fin.seq == (lost.seq + lost.length) & M32
           and fin.frame < resent[0].frame, "a bare FIN followed before the retransmission")
    index = {p.key(): p.frame for p in passed}
    retx = index[resent[0].key()]
    gaps, nxt = [], None
    for p in passed:
        if p.src != (SERVER, PORT) or not (p.length or p.flags & (SYN | FIN)):
            continue
        end = (p.seq + p.length + (1 if p.flags & (SYN | FIN) else 0)) & M32
        if nxt is not None and _rel(p.seq, nxt) > 0:
            gaps.append(p.frame)
        if nxt is None or _rel(end, nxt) > 0:
            nxt = end
    _check(gaps == [index[fin.key()]], f"the client side shows one gap, at the FIN: {gaps}")
    hole_acks = [p.frame for p in passed if p.src[0] == CLIENT and p.pure_ack
                 and p.ack == lost.seq and index[fin.key()] < p.frame < retx]
    _check(len(hole_acks) == 1, f"one immediate ACK at the hole: {hole_acks}")
    return {
        "description": (
            f"Linux server answers a request with {TAIL_SIZE} bytes (14 x {TAIL_MSS} + "
            f"{TAIL_LAST}) and shuts down its side {TAIL_FIN_DELAY} s later; the router drops "
            f"the last data segment ({TAIL_LAST} bytes) once. The client does not SACK "
            "(net.ipv4.tcp_sack=0 in its namespace): the bare FIN reveals the gap, the "
            "client answers with one immediate ACK at the hole (its window grew: a window "
            "update, no duplicate ACK in RFC 5681's sense), neither RACK nor a tail-loss "
            "probe can act without SACK, and the retransmission timer re-sends the segment "
            f"(collapsed with the FIN): {timer}."),
        "capture_point": "next to the receiver (router interface r0, after the drop; the r1 "
                         "capture was used to find the dropped segment)",
        "frames_by_code": {
            "lost_segment": gaps,
            "retransmission|fast_retransmission": [retx],
            "fast_retransmission": [],
            "spurious_retransmission": [],
            "out_of_order": [],
            "duplicate_segment": [],
        },
        "not_spurious": [retx],
        "measurements": {},
        "nft_rule": TAIL_RULE,
        "nft_counter": acted,
        "tail_loss": {
            "dropped": {"seq": lost.seq, "len": lost.length, "ipid": lost.ipid,
                        "server_side_frame": lost.frame},
            "gap_revealed_by_fin_frame": index[fin.key()],
            "ack_at_the_hole_frames": hole_acks,
            "retransmission_frame": retx,
            "retransmission_after_s": round(resent[0].ts - lost.ts, 6),
            "recovered_by": timer.split()[0],
        },
    }


def tail_server() -> int:
    """``_tail_server``: answer the request with TAIL_SIZE bytes, shut down TAIL_FIN_DELAY s
    later (a FIN of its own), then wait for the client to close."""
    with _listen() as lsock:
        conn, _ = lsock.accept()
    with conn:
        conn.settimeout(30)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.recv(100)
        conn.sendall(_payload(TAIL_SIZE))
        time.sleep(TAIL_FIN_DELAY)
        conn.shutdown(socket.SHUT_WR)
        extra = _drain(conn)
        sack = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5] & 2  # TCPI_OPT_SACK
    print(json.dumps({"sent": TAIL_SIZE, "after_response": extra, "sack": bool(sack)}))
    return 0


def tail_client() -> int:
    """``_tail_client``: ask, read until the server's FIN, close."""
    with socket.create_connection((SERVER, PORT), timeout=20) as sock:
        sock.sendall(b"GET /tail\r\n")
        total = _drain(sock)
        port = sock.getsockname()[1]
    if total != TAIL_SIZE:
        raise SystemExit(f"got {total} bytes, expected {TAIL_SIZE}")
    print(json.dumps({"port": port, "received": total}))
    return 0


# --------------------------------------------------------------------------- endpoints
def self_cmd(*args: str) -> list[str]:
    """This script again, with a hidden sub-command."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def run_server() -> int:
    """``_server``: accept one connection, send SIZE bytes, then close after the client."""
    with socket.socket() as lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((SERVER, PORT))
        lsock.listen(1)
        print("READY", flush=True)
        conn, _ = lsock.accept()
        with conn:
            conn.recv(100)
            conn.sendall(bytes(i % 251 for i in range(SIZE)))
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
    return 0


def run_client() -> int:
    """``_client``: ask, read everything, close."""
    with socket.create_connection((SERVER, PORT), timeout=20) as sock:
        sock.sendall(b"GET /60k\r\n")
        total = 0
        while chunk := sock.recv(65536):
            total += len(chunk)
        if total != SIZE:
            raise SystemExit(f"got {total} bytes, expected {SIZE}")
    return 0


def _payload(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def _listen(fastopen: bool = False) -> socket.socket:
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fastopen:
        lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, TFO_QLEN)
    lsock.bind((SERVER, PORT))
    lsock.listen(4)
    lsock.settimeout(30)
    print("READY", flush=True)
    return lsock


def _drain(sock: socket.socket) -> int:
    total = 0
    while chunk := sock.recv(65536):
        total += len(chunk)
    return total


def _syn_data_acked(sock: socket.socket) -> bool:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return bool(info[5] & TCPI_OPT_SYN_DATA)  # tcpi_options


def _ss() -> str:
    out = subprocess.run(["ss", "-tinmoH", "state", "established"], capture_output=True,
                         text=True, timeout=10).stdout
    return " ".join(out.split())


def zerowin_server() -> int:
    """``_zerowin_server``: send ZW_SIZE bytes after the request, close after the client."""
    with _listen() as lsock:
        conn, _ = lsock.accept()
    with conn:
        conn.settimeout(30)
        conn.recv(100)
        started = time.time()
        conn.sendall(_payload(ZW_SIZE))
        returned = time.time()
        conn.shutdown(socket.SHUT_WR)
        _drain(conn)
    print(json.dumps({"sent": ZW_SIZE, "sendall_started": started,
                      "sendall_returned": returned}))
    return 0


def zerowin_client() -> int:
    """``_zerowin_client``: small receive buffer; ask, do not read for ZW_PAUSE s, read all."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ZW_RCVBUF)
        sock.settimeout(30)
        sock.connect((SERVER, PORT))
        sock.sendall(b"GET /zero-window\r\n")
        stopped = time.time()  # no recv() before `resumed`
        time.sleep(ZW_PAUSE - 0.5)
        ss = _ss()
        time.sleep(0.5)
        resumed = time.time()
        total = _drain(sock)
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        port = sock.getsockname()[1]
    if total != ZW_SIZE:
        raise SystemExit(f"got {total} bytes, expected {ZW_SIZE}")
    print(json.dumps({"port": port, "received": total, "so_rcvbuf_set": ZW_RCVBUF,
                      "so_rcvbuf_read_back": rcvbuf, "stopped_reading": stopped,
                      "resumed_reading": resumed, "ss_before_resuming": ss}))
    return 0


def keepalive_server() -> int:
    """``_keepalive_server``: answer the request, then wait for the client's FIN."""
    with _listen() as lsock:
        conn, _ = lsock.accept()
    with conn:
        conn.settimeout(30)
        conn.recv(100)
        conn.sendall(b"OK\r\n")
        extra = _drain(conn)
    print(json.dumps({"after_reply": extra}))
    return 0


def keepalive_client() -> int:
    """``_keepalive_client``: keep-alive timers of 1 s, request, stay idle KA_WAIT s, close."""
    opts = {"SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            "TCP_KEEPIDLE": (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KA_IDLE),
            "TCP_KEEPINTVL": (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KA_INTVL),
            "TCP_KEEPCNT": (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KA_CNT)}
    with socket.socket() as sock:
        for level, opt, value in opts.values():
            sock.setsockopt(level, opt, value)
        sock.settimeout(30)
        sock.connect((SERVER, PORT))
        sock.sendall(b"GET /keep-alive\r\n")
        reply = sock.recv(100)
        idle_from = time.time()
        time.sleep(KA_WAIT / 2)
        ss = _ss()
        time.sleep(KA_WAIT / 2)
        idle_until = time.time()
        read_back = {name: sock.getsockopt(level, opt) for name, (level, opt, _) in opts.items()}
        port = sock.getsockname()[1]
    if reply != b"OK\r\n":
        raise SystemExit(f"unexpected reply {reply!r}")
    print(json.dumps({"port": port, "sockopts": read_back, "idle_from": idle_from,
                      "idle_until": idle_until, "ss": ss}))
    return 0


def tfo_server() -> int:
    """``_tfo_server``: TCP_FASTOPEN listener; two connections, request -> reply -> EOF."""
    conns = []
    with _listen(fastopen=True) as lsock:
        for _ in range(2):
            conn, peer = lsock.accept()
            with conn:
                conn.settimeout(30)
                request = conn.recv(100)
                conn.sendall(b"OK\r\n")
                _drain(conn)
                conns.append({"peer_port": peer[1], "request": len(request),
                              "syn_data_acked": _syn_data_acked(conn)})
    print(json.dumps({"connections": conns}))
    return 0


def tfo_client() -> int:
    """``_tfo_client``: two connections with sendto(MSG_FASTOPEN): the first gets a cookie,
    the second sends its request in the SYN."""
    conns = []
    for _ in range(2):
        with socket.socket() as sock:
            # blocking: with a timeout the fd is non-blocking and sendto() gives EINPROGRESS
            sock.sendto(b"GET /fast-open\r\n", socket.MSG_FASTOPEN, (SERVER, PORT))
            sock.settimeout(30)
            reply = sock.recv(100)
            if reply != b"OK\r\n":
                raise SystemExit(f"unexpected reply {reply!r}")
            conns.append({"port": sock.getsockname()[1],
                          "syn_data_acked": _syn_data_acked(sock)})
        time.sleep(0.3)
    print(json.dumps({"connections": conns}))
    return 0


PROGRAMS = {"_zerowin_server": zerowin_server, "_zerowin_client": zerowin_client,
            "_keepalive_server": keepalive_server, "_keepalive_client": keepalive_client,
            "_tfo_server": tfo_server, "_tfo_client": tfo_client,
            "_tail_server": tail_server, "_tail_client": tail_client}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_server":
        return run_server()
    if argv and argv[0] == "_client":
        return run_client()
    if argv and argv[0] in PROGRAMS:
        return PROGRAMS[argv[0]]()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [*RULES, *ENDPOINT, *NEW]
    ap.add_argument("scenarios", nargs="*", help=f"any of {', '.join(known)} (default: all)")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    unknown = set(args.scenarios) - set(known)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    for scenario in args.scenarios or known:
        if scenario in RULES:
            record(scenario, args.out)
        elif scenario in NEW:
            record_new(scenario, args.out)
        else:
            record_endpoint(scenario, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
