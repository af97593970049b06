#!/usr/bin/env python3
"""A user-space Ethernet bridge between two TAP devices that swaps segments on purpose.

``record_kernel_anomalies.py reorder`` runs it inside the router namespace ``tfq-r``::

    c0 (client) -- r0 [bridge bc] t0 == this program == t1 [bridge bs] r1 -- s0 (server)

The TAP devices are made beforehand with ``ip tuntap add mode tap`` (persistent, so that the
bridges can take them as ports before this program attaches); the program opens
``/dev/net/tun`` twice with ``TUNSETIFF`` and ``IFF_TAP | IFF_NO_PI``, so every ``read`` is
one whole Ethernet frame the kernel sent out of that TAP, and every ``write`` injects one
frame as if it had arrived on it.

Every frame crosses a FIFO delay line of ``--delay`` seconds in its direction (a netem-like
delay in user space: this kernel has no netem); it is otherwise unchanged.  Frames from the
client side (``t0``) go on in order.  Frames from the server side (``t1``) too, except that
every ``--every``-th TCP data segment of ``--server`` (counting only segments with payload,
from 1; the ones with ``n % every == at``) is held back and queued right *after* the next
frame from the server, when that frame is a data segment as well: a swap of one position.
A held segment is let go in order instead (and the log says why) if the next frame is not
data, comes later than ``--max-gap`` seconds, or no frame comes within ``--max-hold``
seconds; those delays stay far below any retransmission timer.  The log (one JSON object on
stdout when the program ends) lists every swap with both segments (seq, length, IPv4 ID,
TCP flags, index) and is the ground truth of the reordering.

The program prints ``READY`` once both devices are attached and stops when its stdin is
closed (or after ``--max-run`` seconds).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int), linux/if_tun.h
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
ETH_P_IP = 0x0800


def open_tap(name: str) -> int:
    """Attach to the existing TAP device ``name``; returns the fd (frames without PI)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def tcp_info(frame: bytes) -> dict[str, Any] | None:
    """IPv4/TCP fields of an Ethernet frame, or None for anything else."""
    if len(frame) < 14 + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total, ipid = struct.unpack_from("!HH", frame, 16)
    if frame[14 + 9] != socket.IPPROTO_TCP or len(frame) < 14 + ihl + 20:
        return None
    t = 14 + ihl
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, t)
    doff = (frame[t + 12] >> 4) * 4
    return {"src": socket.inet_ntoa(frame[26:30]), "dst": socket.inet_ntoa(frame[30:34]),
            "sport": sport, "dport": dport, "seq": seq, "ack": ack, "flags": frame[t + 13],
            "len": total - ihl - doff, "ipid": ipid}


def bridge(left: str, right: str, server: str, port: int, every: int, at: int,
           max_gap: float, max_hold: float, max_run: float, delay: float) -> dict[str, Any]:
    """Forward frames both ways until stdin closes; swap as described in the module doc."""
    fds = {"left": open_tap(left), "right": open_tap(right)}
    print("READY", flush=True)
    log: dict[str, Any] = {
        "left": left, "right": right, "server": f"{server}:{port}", "every": every, "at": at,
        "delay_s": delay, "max_gap_s": max_gap, "max_hold_s": max_hold,
        "frames": {"left_to_right": 0, "right_to_left": 0}, "data_segments": 0,
        "swaps": [], "released_in_order": [], "stopped_by": None,
    }
    # one FIFO delay line per direction: (due, frame); dues never decrease
    lines: dict[str, deque[tuple[float, bytes]]] = {"left": deque(), "right": deque()}
    counts = {"left": "right_to_left", "right": "left_to_right"}
    held: tuple[bytes, dict[str, Any], float] | None = None
    deadline = time.monotonic() + max_run
    stdin = sys.stdin.fileno()

    def send(to: str, frame: bytes) -> None:
        line = lines[to]
        due = time.monotonic() + delay
        line.append((max(due, line[-1][0]) if line else due, frame))

    def flush(force: bool = False) -> None:
        for to, line in lines.items():
            while line and (force or line[0][0] <= time.monotonic()):
                os.write(fds[to], line.popleft()[1])
                log["frames"][counts[to]] += 1

    def release(reason: str) -> None:
        nonlocal held
        assert held is not None
        frame, info, since = held
        send("left", frame)
        log["released_in_order"].append({**info, "reason": reason,
                                         "held_us": round((time.monotonic() - since) * 1e6)})
        held = None

    try:
        while True:
            flush()
            now = time.monotonic()
            if now >= deadline:
                log["stopped_by"] = "max_run"
                break
            timeout = deadline - now
            if held is not None:
                timeout = min(timeout, held[2] + max_hold - now)
            for line in lines.values():
                if line:
                    timeout = min(timeout, line[0][0] - now)
            ready, _, _ = select.select([fds["left"], fds["right"], stdin], [], [],
                                        max(0.0, timeout))
            if held is not None and time.monotonic() - held[2] > max_hold \
                    and fds["right"] not in ready:
                release("no frame within max_hold")
            if stdin in ready and not os.read(stdin, 4096):
                log["stopped_by"] = "stdin closed"
                break
            if fds["left"] in ready:  # client side -> server side, only delayed
                send("right", os.read(fds["left"], 65536))
            if fds["right"] not in ready:
                continue
            frame = os.read(fds["right"], 65536)
            got = time.monotonic()
            info = tcp_info(frame)
            data = (info is not None and info["src"] == server and info["sport"] == port
                    and info["len"] > 0 and not info["flags"] & 0x02)  # no SYN
            if data:
                log["data_segments"] += 1
                assert info is not None
                info = {**info, "n": log["data_segments"]}
            if held is not None:
                if not data:
                    release("next frame is not data")
                elif got - held[2] > max_gap:
                    release("next data segment came later than max_gap")
                else:  # the swap: the next one first, then the held one
                    hframe, hinfo, since = held
                    send("left", frame)
                    send("left", hframe)
                    log["swaps"].append({"held": hinfo, "forwarded_first": info,
                                         "gap_us": round((got - since) * 1e6)})
                    held = None
                    continue
            if data and info is not None and info["n"] % every == at \
                    and not info["flags"] & 0x01:  # never hold a FIN
                held = (frame, info, got)
                continue
            send("left", frame)
    finally:
        if held is not None:
            release("stopping")
        flush(force=True)
        for fd in fds.values():
            os.close(fd)
    return log


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (run inside the namespace that holds the TAP devices)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--left", default="t0", help="TAP towards the receiver (client)")
    ap.add_argument("--right", default="t1", help="TAP towards the sender (server)")
    ap.add_argument("--server", required=True, help="IPv4 address of the data sender")
    ap.add_argument("--port", type=int, default=80, help="its TCP port")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--at", type=int, default=5)
    ap.add_argument("--max-gap", type=float, default=0.0002)
    ap.add_argument("--max-hold", type=float, default=0.001)
    ap.add_argument("--max-run", type=float, default=60.0)
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds every frame waits, both ways (a user-space delay line)")
    args = ap.parse_args(argv)
    log = bridge(args.left, args.right, args.server, args.port, args.every, args.at,
                 args.max_gap, args.max_hold, args.max_run, args.delay)
    print(json.dumps(log), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
