#!/usr/bin/env python3
"""Record real Linux TCP connections into ``samples/kernel-*.pcap`` (run as root).

For every scenario the script builds a fresh pair of network namespaces, ``tfa-a`` (client,
10.203.0.1 / fd00:203::1) and ``tfa-b`` (server, 10.203.0.2 / fd00:203::2), joined by a veth
pair (``veth-a`` <-> ``veth-b``) that exists only inside them.  Checksum/segmentation offloads
are switched off on both veth ends (with ``ethtool -K`` when it is installed, otherwise with
the same legacy ``SIOCETHTOOL`` ioctls ethtool uses), so the kernel computes real checksums
before tcpdump sees the packets.  tcpdump runs in the client namespace on ``veth-a`` with a
``tcp`` filter (no ARP/ND noise); the client and server are small Python socket programs --
this very script, re-invoked with a hidden ``_client`` / ``_server`` sub-command inside
``ip netns exec``.  The namespaces are deleted afterwards, also on errors.

Kernel captures are not deterministic (ISNs, TCP timestamps, timing), so they are recorded
once and committed; re-run the script to regenerate them::

    sudo python samples/record_kernel.py                 # all scenarios
    sudo python samples/record_kernel.py kernel-basic.pcap
    sudo python samples/record_kernel.py --keep-offloads --out /tmp/x   # offload experiment

Each capture is summarised with tshark afterwards (one line per packet, checksum check) and
the TIME-WAIT sockets left in each namespace are listed with ``ss``.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NS_CLIENT, NS_SERVER = "tfa-a", "tfa-b"
IF_CLIENT, IF_SERVER = "veth-a", "veth-b"
MACS = ("02:00:00:00:20:01", "02:00:00:00:20:02")
ADDRS = {4: ("10.203.0.1", "10.203.0.2"), 6: ("fd00:203::1", "fd00:203::2")}
PREFIX = {4: 24, 6: 64}
CLIENT_PORT, SERVER_PORT, CLOSED_PORT = 40000, 80, 81

REQUEST = b"GET / HTTP/1.1\r\nHost: sample.test\r\nUser-Agent: tcpflow-analyzer-sample\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    b"Connection: close\r\n\r\nhello, world\n"
)
#: Pause before the second FIN so the peer's ACK of the first FIN goes out on its own
#: (longer than Linux's 40 ms minimum delayed-ACK timer) -> a clear 4-way close.
CLOSE_PAUSE = 0.2

# Legacy ethtool ioctl commands (linux/ethtool.h) and SIOCETHTOOL (linux/sockios.h).
SIOCETHTOOL = 0x8946
ETHTOOL_FEATURES = {  # name: (get, set)
    "rx": (0x14, 0x15),
    "tx": (0x16, 0x17),
    "sg": (0x18, 0x19),
    "tso": (0x1E, 0x1F),
    "gso": (0x23, 0x24),
    "gro": (0x2B, 0x2C),
}


@dataclass(frozen=True)
class Scenario:
    """One kernel capture.

    Attributes:
        file: output file name.
        description: what happens.
        family: 4 or 6.
        server: server behaviour (see :func:`run_server`), ``None`` for no listener.
        client: client behaviour (see :func:`run_client`).
    """

    file: str
    description: str
    family: int
    server: str | None
    client: str


SCENARIOS = [
    Scenario(
        "kernel-basic.pcap",
        "request/response; client closes first, server closes after EOF (client TIME_WAIT)",
        4,
        "reply-then-wait-eof",
        "request-then-close",
    ),
    Scenario(
        "kernel-server-closes.pcap",
        "request/response; server closes first, client closes after EOF (server TIME_WAIT)",
        4,
        "reply-then-close",
        "request-then-wait-eof",
    ),
    Scenario(
        "kernel-refused.pcap",
        "connect() to a closed port: SYN answered by RST+ACK",
        4,
        None,
        "connect-closed-port",
    ),
    Scenario(
        "kernel-rst-linger0.pcap",
        "request/response; client sets SO_LINGER(1, 0) and closes -> RST",
        4,
        "reply-then-expect-reset",
        "request-then-linger0",
    ),
    Scenario(
        "kernel-ipv6.pcap",
        "kernel-basic over IPv6 (fd00:203::1 -> fd00:203::2)",
        6,
        "reply-then-wait-eof",
        "request-then-close",
    ),
]


# --------------------------------------------------------------------------- helpers


def run(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; raise with its stderr on failure."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def in_ns(ns: str, *cmd: str) -> list[str]:
    """Prefix a command with ``ip netns exec NS``."""
    return ["ip", "netns", "exec", ns, *cmd]


def self_cmd(*args: str) -> list[str]:
    """Command line that re-invokes this script with ``args``."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def ethtool_ioctl(ifname: str, cmd: int, value: int = 0) -> int:
    """Issue one legacy ``struct ethtool_value`` ioctl and return its ``data`` field."""
    data = ctypes.create_string_buffer(struct.pack("II", cmd, value), 8)
    ifreq = bytearray(
        ifname.encode().ljust(16, b"\0") + struct.pack("P", ctypes.addressof(data)) + bytes(16)
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return int(struct.unpack("II", data.raw)[1])


def ethtool_features(ifname: str) -> dict[str, bool]:
    """Current offload settings of ``ifname`` (in the current namespace)."""
    return {name: bool(ethtool_ioctl(ifname, get)) for name, (get, _) in ETHTOOL_FEATURES.items()}


def disable_offloads(ns: str, ifname: str) -> str:
    """Switch off rx/tx checksum, TSO, GSO and GRO on ``ifname`` in ``ns``.

    Returns:
        a one-line description of the resulting state.
    """
    if shutil.which("ethtool"):
        run(in_ns(ns, "ethtool", "-K", ifname, "tx", "off", "rx", "off", "gso", "off",
                  "tso", "off", "gro", "off"))
        how = "ethtool -K"
    else:
        run(in_ns(ns, *self_cmd("_offloads", ifname, "off")))
        how = "SIOCETHTOOL ioctl (ethtool not installed)"
    state = run(in_ns(ns, *self_cmd("_offloads", ifname, "show"))).stdout.strip()
    return f"{ns}/{ifname}: offloads via {how}: {state}"


@contextmanager
def namespaces(family: int, keep_offloads: bool) -> Iterator[list[str]]:
    """Create the namespace pair for one scenario; always delete it again.

    Yields:
        notes about the setup (offload state), for the report.
    """
    for ns in (NS_CLIENT, NS_SERVER):  # leftovers from an interrupted run
        run(["ip", "netns", "del", ns], check=False)
    notes: list[str] = []
    try:
        for ns in (NS_CLIENT, NS_SERVER):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", NS_CLIENT, "link", "add", IF_CLIENT, "address", MACS[0], "type", "veth",
             "peer", "name", IF_SERVER, "address", MACS[1], "netns", NS_SERVER])
        ends = ((NS_CLIENT, IF_CLIENT, 0), (NS_SERVER, IF_SERVER, 1))
        for ns, ifname, i in ends:
            extra = ["nodad"] if family == 6 else []
            addr = f"{ADDRS[family][i]}/{PREFIX[family]}"
            run(["ip", "-n", ns, "addr", "add", addr, "dev", ifname, *extra])
            if keep_offloads:
                state = run(in_ns(ns, *self_cmd("_offloads", ifname, "show"))).stdout.strip()
                notes.append(f"{ns}/{ifname}: offloads left at defaults: {state}")
            else:
                notes.append(disable_offloads(ns, ifname))
            run(["ip", "-n", ns, "link", "set", ifname, "up"])
        for ns, ifname, i in ends:
            wait_oper_up(ns, ifname)
            # Static neighbours: no ARP/ND in the capture and no ND delay.  (Without them the
            # first IPv6 neighbour solicitation right after link-up went unanswered and the
            # SYN sat ~1 s in the neighbour queue: its TSval was then 1 s older than the ACK's.)
            run(["ip", "-n", ns, "neigh", "replace", ADDRS[family][1 - i], "lladdr",
                 MACS[1 - i], "dev", ifname, "nud", "permanent"])
        yield notes
    finally:
        for ns in (NS_CLIENT, NS_SERVER):
            run(["ip", "netns", "del", ns], check=False)


def wait_oper_up(ns: str, ifname: str, timeout: float = 5) -> None:
    """Wait until ``ifname`` in ``ns`` reports operstate UP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = json.loads(run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname]).stdout)
        if info and info[0].get("operstate") == "UP":
            return
        time.sleep(0.05)
    raise RuntimeError(f"{ns}/{ifname} did not come up")


def start_tcpdump(ns: str, ifname: str, path: Path) -> subprocess.Popen[str]:
    """Start tcpdump in ``ns`` and wait until it is capturing."""
    # -Z root: Debian's tcpdump otherwise drops to user "tcpdump" before opening the file.
    # --immediate-mode: without it libpcap (TPACKET_V3) hands packets over per ring block or
    # after a 1 s timeout, and a SIGINT before that loses them ("received by filter" but not
    # "captured") -- this happened for the short refused/linger0 exchanges.
    cmd = ["tcpdump", "-i", ifname, "-w", str(path), "-U", "--immediate-mode", "-Z", "root", "tcp"]
    proc = subprocess.Popen(
        in_ns(ns, *cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            seen += line
            if "listening on" in line:
                time.sleep(0.2)
                return proc
            if not line and proc.poll() is not None:
                break
    proc.kill()
    proc.wait()
    raise RuntimeError(f"tcpdump did not start: {seen.strip()}")


def stop_tcpdump(proc: subprocess.Popen[str]) -> tuple[str, bool]:
    """Stop tcpdump with SIGINT and wait for it.

    Returns:
        its final statistics and whether every packet the filter accepted was written.
    """
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    stats = " / ".join(line.strip() for line in err.splitlines() if line.strip())
    captured = re.search(r"(\d+) packets? captured", err)
    received = re.search(r"(\d+) packets? received by filter", err)
    complete = bool(captured and received and captured[1] == received[1] and int(captured[1]))
    return stats, complete


def wait_ready(proc: subprocess.Popen[str], timeout: float = 10) -> None:
    """Wait for the server's ``READY`` line on stdout."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "READY":
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"server did not start: {line!r} {err}")


def time_wait_sockets() -> dict[str, str]:
    """``ss`` listing of TIME-WAIT sockets per namespace."""
    result = {}
    for ns in (NS_CLIENT, NS_SERVER):
        out = run(in_ns(ns, "ss", "-tanH", "state", "time-wait")).stdout.strip()
        result[ns] = " | ".join(" ".join(line.split()) for line in out.splitlines()) or "-"
    return result


def record(scenario: Scenario, out_dir: Path, keep_offloads: bool) -> None:
    """Record one scenario into ``out_dir / scenario.file`` and print a report.

    The capture goes to a hidden temporary file first and only replaces the committed file
    when tcpdump wrote every packet its filter accepted.
    """
    final = out_dir / scenario.file
    tmp = out_dir / f".{scenario.file}.tmp"
    client_ip, server_ip = ADDRS[scenario.family]
    print(f"== {scenario.file}: {scenario.description}")
    complete = False
    try:
        with namespaces(scenario.family, keep_offloads) as notes:
            for note in notes:
                print(f"   {note}")
            tcpdump = start_tcpdump(NS_CLIENT, IF_CLIENT, tmp)
            server: subprocess.Popen[str] | None = None
            try:
                if scenario.server:
                    server = subprocess.Popen(
                        in_ns(NS_SERVER, *self_cmd("_server", scenario.server, server_ip)),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    wait_ready(server)
                client_cmd = self_cmd("_client", scenario.client, client_ip, server_ip)
                client = run(in_ns(NS_CLIENT, *client_cmd))
                print(f"   client: {client.stdout.strip()}")
                if server:
                    out, err = server.communicate(timeout=15)
                    if server.returncode != 0:
                        raise RuntimeError(f"server failed: {err.strip()}")
                    print(f"   server: {out.strip()}")
                time.sleep(0.5)  # let the last ACK/RST hit the wire
                for ns, socks in time_wait_sockets().items():
                    print(f"   TIME-WAIT in {ns}: {socks}")
                time.sleep(0.5)  # margin before stopping the capture
            finally:
                if server and server.poll() is None:
                    server.kill()
                    server.wait()
                stats, complete = stop_tcpdump(tcpdump)
                print(f"   tcpdump: {stats}")
        if not complete:
            raise RuntimeError(f"{scenario.file}: incomplete capture, previous file kept")
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    verify(final)


def verify(path: Path) -> None:
    """Print tshark's one-line summaries and the number of bad IP/TCP checksums."""
    check = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    summary = run(["tshark", "-r", str(path), *check]).stdout
    for line in summary.splitlines():
        print(f"   {line.strip()}")
    bad = run(["tshark", "-r", str(path), *check, "-Y",
               "tcp.checksum.status == 0 || ip.checksum.status == 0"]).stdout
    count = len(bad.splitlines())
    print(f"   bad checksums: {count}" + (" (offloaded checksums were captured)" if count else ""))


# ------------------------------------------------------------- in-namespace programs


def run_offloads(ifname: str, action: str) -> int:
    """``_offloads IFNAME off|show``: switch offloads off or print their state."""
    if action == "off":
        # tx off implies sg/tso off; order as ethtool -K applies them.
        for name in ("gro", "gso", "tso", "sg", "tx", "rx"):
            ethtool_ioctl(ifname, ETHTOOL_FEATURES[name][1], 0)
    state = ethtool_features(ifname)
    print(" ".join(f"{name} {'on' if on else 'off'}" for name, on in state.items()))
    return 0


def family_of(addr: str) -> socket.AddressFamily:
    """Address family of a literal address."""
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_until(sock: socket.socket, size: int | None = None, marker: bytes | None = None) -> bytes:
    """Receive until ``size`` bytes, ``marker`` or EOF."""
    data = b""
    while True:
        if size is not None and len(data) >= size:
            return data
        if marker is not None and marker in data:
            return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def run_server(mode: str, addr: str) -> int:
    """``_server MODE ADDR``: accept one connection on port 80 and behave as ``mode``.

    Modes:
        reply-then-wait-eof: answer, wait for the client's FIN, pause, close.
        reply-then-close: answer and close at once (server sends the first FIN).
        reply-then-expect-reset: answer, then wait for the client's RST.
    """
    with socket.socket(family_of(addr), socket.SOCK_STREAM) as lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((addr, SERVER_PORT))
        lsock.listen(1)
        lsock.settimeout(10)
        print("READY", flush=True)
        conn, peer = lsock.accept()
    with conn:
        conn.settimeout(10)
        request = recv_until(conn, marker=b"\r\n\r\n")
        conn.sendall(RESPONSE)
        if mode == "reply-then-wait-eof":
            rest = recv_until(conn)
            time.sleep(CLOSE_PAUSE)
            note = f"got EOF after {len(rest)} more bytes, closed"
        elif mode == "reply-then-close":
            note = "closed right after the response"
        elif mode == "reply-then-expect-reset":
            try:
                rest = recv_until(conn)
                note = f"unexpected EOF ({len(rest)} bytes), no RST"
            except ConnectionResetError:
                note = "got ECONNRESET as expected"
        else:
            raise ValueError(mode)
    print(f"{peer[0]}:{peer[1]} sent {len(request)} bytes; {note}")
    return 0


def run_client(mode: str, addr: str, server: str) -> int:
    """``_client MODE ADDR SERVER``: connect from port 40000 and behave as ``mode``.

    Modes:
        request-then-close: send the request, read the response, close (client FIN first).
        request-then-wait-eof: send the request, read until the server's FIN, pause, close.
        request-then-linger0: send the request, read the response, SO_LINGER(1, 0), close.
        connect-closed-port: connect to port 81 where nothing listens.
    """
    with socket.socket(family_of(addr), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, CLIENT_PORT))
        sock.settimeout(10)
        if mode == "connect-closed-port":
            try:
                sock.connect((server, CLOSED_PORT))
            except ConnectionRefusedError:
                print("connection refused as expected")
                return 0
            print("unexpectedly connected")
            return 1
        sock.connect((server, SERVER_PORT))
        sock.sendall(REQUEST)
        if mode == "request-then-wait-eof":
            response = recv_until(sock)
            time.sleep(CLOSE_PAUSE)
        else:
            response = recv_until(sock, size=len(RESPONSE))
        if mode == "request-then-linger0":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode not in ("request-then-close", "request-then-wait-eof"):
            raise ValueError(mode)
    print(f"got {len(response)} response bytes; closed ({mode})")
    return 0 if response == RESPONSE else 1


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_offloads":
        return run_offloads(*argv[1:3])
    if argv and argv[0] == "_server":
        return run_server(*argv[1:3])
    if argv and argv[0] == "_client":
        return run_client(*argv[1:4])

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output directory"
    )
    parser.add_argument(
        "--keep-offloads",
        action="store_true",
        help="leave veth offloads on (to see what tcpdump records then)",
    )
    parser.add_argument("names", nargs="*", help="only these capture file names")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root (network namespaces, tcpdump)")
    for tool in ("ip", "tcpdump", "tshark", "ss"):
        if not shutil.which(tool):
            parser.error(f"{tool} not found")
    unknown = set(args.names) - {s.file for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown capture(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        if not args.names or scenario.file in args.names:
            record(scenario, args.out, keep_offloads=args.keep_offloads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
