#!/usr/bin/env python3
"""Record real Linux TCP under loss and duplication into ``samples/anomalies/kernel-*.pcap``.

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
code the exact frames it must be reported on.  Kernel captures are not deterministic, so
they are recorded once and committed::

    sudo python samples/anomalies/record_kernel_anomalies.py            # both scenarios
    sudo python samples/anomalies/record_kernel_anomalies.py loss       # one of them
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


def nstat(key: str) -> dict[str, int]:
    """The namespace's TCP counters (fresh namespace: absolute values are the deltas)."""
    out = run(rk.in_ns(NS[key], "nstat", "-az", *COUNTERS))
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in COUNTERS:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_server":
        return run_server()
    if argv and argv[0] == "_client":
        return run_client()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", help=f"any of {', '.join(RULES)} (default: all)")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    unknown = set(args.scenarios) - set(RULES)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    for scenario in args.scenarios or list(RULES):
        record(scenario, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
