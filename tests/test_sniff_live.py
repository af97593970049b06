"""End-to-end tests of ``sniff``: real captures of real TCP connections.

Every test runs in network namespaces it creates (``tfs-<pid>-<n>``, deleted afterwards
even on failure), so traffic never leaves them and nothing else running on this machine
shows up in a capture.  ``sniff`` runs as ``python -m tcpflow_analyzer sniff`` inside the
namespace and is stopped with SIGINT, SIGTERM, ``--count`` or ``--duration``; connections
are opened with plain sockets (orderly close from either side, RST abort with
``SO_LINGER`` 0, a refused port, TIME-WAIT on either side, IPv4 and IPv6).  The final
report is compared with ``analyze`` of the ``-w`` file.

They need root (namespaces, packet sockets) and are skipped otherwise.

On loopback and veth the kernel leaves TCP checksums to offload, except in the packets it
builds itself (RSTs, TIME-WAIT ACKs); most tests therefore pass ``--checksums off`` to both
``sniff`` and ``analyze``, and ``test_default_options_agree_with_analyze`` checks the
defaults.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs the ip command (iproute2)"),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root: creates network namespaces and opens packet sockets"
    ),
]

_COUNTER = itertools.count(1)
PY = sys.executable

# Runs inside a namespace: performs the named scenarios and prints what it did as JSON.
TRAFFIC = r"""
import json, socket, struct, sys, time
out = {}
def server(family, host):
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen()
    return s
def pair(family, host):
    s = server(family, host)
    c = socket.socket(family)
    c.connect(s.getsockname()[:2])
    a, _ = s.accept()
    return s, c, a
def ports(c):
    return [c.getsockname()[1], c.getpeername()[1]]
for name in sys.argv[1:]:
    kind, _, where = name.partition("@")
    family = socket.AF_INET6 if where == "v6" else socket.AF_INET
    host = "::1" if where == "v6" else "127.0.0.1"
    if kind == "server_first":   # resp closes first: resp ends in TIME-WAIT
        s, c, a = pair(family, host)
        p = ports(c)
        c.sendall(b"ping"); a.recv(16)
        a.close(); c.recv(16); time.sleep(0.02); c.close(); s.close()
        out[name] = p
    elif kind == "abort":        # SO_LINGER 0: close sends RST
        s, c, a = pair(family, host)
        p = ports(c)
        c.sendall(b"x"); a.recv(16)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close(); time.sleep(0.02); a.close(); s.close()
        out[name] = p
    elif kind == "refused":      # nobody listens: RST/ACK to the SYN
        probe = socket.socket(family); probe.bind((host, 0)); port = probe.getsockname()[1]
        probe.close()
        c = socket.socket(family)
        try:
            c.connect((host, port))
        except ConnectionRefusedError:
            pass
        out[name] = [c.getsockname()[1], port]
        c.close()
    elif kind == "client_first":
        s, c, a = pair(family, host)
        p = ports(c)
        c.sendall(b"hello"); a.recv(16); a.sendall(b"world"); c.recv(16)
        c.close(); a.recv(16); time.sleep(0.02); a.close(); s.close()
        out[name] = p
    elif kind == "blast":        # many small segments, fast
        s, c, a = pair(family, host)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        a.setblocking(False)
        for i in range(int(where or 20000)):
            c.send(b"x")
            if i % 64 == 0:
                try:
                    while a.recv(65536):
                        pass
                except BlockingIOError:
                    pass
        c.close(); a.close(); s.close()
    time.sleep(0.01)
print(json.dumps(out))
"""


# -- namespaces and processes ------------------------------------------------------------
def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _cleanup_ns(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh namespace with loopback up."""
    name = f"tfs-{os.getpid()}-{next(_COUNTER)}"
    try:
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        _cleanup_ns(name)


@pytest.fixture
def veth_pair(netns: str) -> Iterator[tuple[str, str]]:
    """``netns`` (10.77.0.1, fd77::1 on veth ``tfs-a``) wired to a second namespace
    (10.77.0.2 on ``tfs-b``)."""
    peer = f"{netns}-b"
    try:
        _ip("netns", "add", peer)
        _ip("-n", peer, "link", "set", "lo", "up")
        _ip(
            "-n",
            netns,
            "link",
            "add",
            "tfs-a",
            "type",
            "veth",
            "peer",
            "name",
            "tfs-b",
            "netns",
            peer,
        )
        _ip("-n", netns, "addr", "add", "10.77.0.1/24", "dev", "tfs-a")
        _ip("-n", peer, "addr", "add", "10.77.0.2/24", "dev", "tfs-b")
        _ip("-n", netns, "link", "set", "tfs-a", "up")
        _ip("-n", peer, "link", "set", "tfs-b", "up")
        yield netns, peer
    finally:
        _cleanup_ns(peer)


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


class Sniff:
    """A running ``sniff`` inside a namespace."""

    def __init__(self, ns: str, *args: str, stdout: Any = subprocess.PIPE) -> None:
        cmd = in_ns(ns, PY, "-m", "tcpflow_analyzer", "sniff", *args)
        self.proc = subprocess.Popen(
            cmd, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self.stderr = b""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 8
        while b"listening on" not in self.stderr:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"sniff did not start: {self.stderr.decode()}")
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                self.stderr += os.read(self.proc.stderr.fileno(), 4096)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 8) -> tuple[int, str, str]:
        """Signal (or wait for) the end; returns (exit code, stdout, stderr)."""
        if sig and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, (out or b"").decode(), (self.stderr + err).decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def traffic(ns: str, *scenarios: str) -> dict[str, list[int]]:
    """Run the scenarios in the namespace; returns {scenario: [orig port, resp port]}."""
    res = subprocess.run(
        in_ns(ns, PY, "-c", TRAFFIC, *scenarios), capture_output=True, text=True, timeout=20
    )
    assert res.returncode == 0, res.stderr
    done: dict[str, list[int]] = json.loads(res.stdout)
    return done


def analyze(path: Path, *args: str) -> dict[str, Any]:
    res = subprocess.run(
        [PY, "-m", "tcpflow_analyzer", "analyze", str(path), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    report: dict[str, Any] = json.loads(res.stdout)
    return report


def ndjson(text: str) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {"event": [], "connection": [], "summary": []}
    for line in text.splitlines():
        rec = json.loads(line)
        by[rec.pop("record")].append(rec)
    return by


def pcap_linktype(path: Path) -> int:
    return int(struct.unpack_from("<I", path.read_bytes(), 20)[0])


def by_ports(conns: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(c["orig"]["port"], c["resp"]["port"]): c for c in conns}


def assert_same_report(live: dict[str, Any], offline: dict[str, Any]) -> None:
    """The live report equals ``analyze`` of the -w file, header included (apart from
    the file name and the live-only section)."""
    assert live["connections"] == offline["connections"]
    assert live["summary"] == offline["summary"]
    head = {k: v for k, v in live["capture"].items() if k not in ("live", "files")}
    assert head == {k: v for k, v in offline["capture"].items() if k != "files"}


# -- the scenarios -----------------------------------------------------------------------
SCENARIOS = ("client_first", "abort", "refused", "server_first", "client_first@v6")


@pytest.mark.parametrize("method", ["ring", "recvmsg"])
def test_connections_events_and_agreement_with_analyze(
    netns: str, tmp_path: Path, method: str
) -> None:
    pcap = tmp_path / "live.pcap"
    extra = ["--no-ring"] if method == "recvmsg" else []
    sniff = Sniff(netns, "-i", "lo", "-w", str(pcap), "--checksums", "off", *extra)
    ports = traffic(netns, *SCENARIOS)
    time.sleep(0.1)
    code, out, err = sniff.stop(signal.SIGINT)
    assert code == 0, err
    assert "0 dropped by kernel" in err
    recs = ndjson(out)  # stdout is not a terminal: NDJSON by default

    conns = by_ports(recs["connection"])
    assert len(conns) == len(SCENARIOS)
    ids = {name: conns[(p[0], p[1])]["id"] for name, p in ports.items()}
    fin = {"four_way", "three_way"}  # the kernel may or may not fold its FIN into the ACK
    expect = {  # scenario: (outcome, close patterns, zeek conn_state, TIME-WAIT holder)
        "client_first": ("closed", fin, "SF", ["orig"]),
        "abort": ("reset", {"none"}, "RSTO", []),
        "refused": ("refused", {"none"}, "REJ", []),
        "server_first": ("closed", fin, "SF", ["resp"]),
        "client_first@v6": ("closed", fin, "SF", ["orig"]),
    }
    for name, (outcome, patterns, zeek, tw) in expect.items():
        c = conns[(ports[name][0], ports[name][1])]
        got = (c["outcome"], c["zeek"]["conn_state"], [t["endpoint"] for t in c["time_wait"]])
        assert got == (outcome, zeek, tw), name
        assert c["close"]["pattern"] in patterns, name
        if tw:
            assert c["close"]["first_fin_by"] == tw[0], name
    assert conns[(ports["client_first@v6"][0], ports["client_first@v6"][1])]["orig"]["ip"] == "::1"

    events = recs["event"]
    kinds = {(e["event"], e["conn_id"]) for e in events}
    for name in ("client_first", "abort", "server_first", "client_first@v6"):
        assert ("handshake_completed", ids[name]) in kinds, name
        assert ("connection_opened", ids[name]) in kinds, name
    resets = {(e["conn_id"], e["by"], e["situation"]) for e in events if e["event"] == "reset_seen"}
    assert resets == {(ids["abort"], "orig", "abort"), (ids["refused"], "resp", "refused")}
    waits = {(e["conn_id"], e["endpoint"]) for e in events if e["event"] == "time_wait_entered"}
    assert waits == {
        (ids["client_first"], "orig"),
        (ids["server_first"], "resp"),
        (ids["client_first@v6"], "orig"),
    }
    # Events arrive as they happen, in capture order, before the summary.
    assert [e["frame"] for e in events] == sorted(e["frame"] for e in events)

    summary = recs["summary"][0]
    live = {
        "capture": summary["capture"],
        "summary": summary["summary"],
        "connections": sorted(recs["connection"], key=lambda c: c["id"]),
    }
    assert live["capture"]["live"]["method"] == method
    assert live["capture"]["live"]["linktype"] == pcap_linktype(pcap) == 1
    assert live["capture"]["live"]["kernel"] == {
        "received": live["capture"]["frames"],
        "dropped": 0,
    }
    assert_same_report(live, analyze(pcap, "--checksums", "off"))
    if shutil.which("tcpdump"):  # an independent reader agrees on the file
        td = subprocess.run(["tcpdump", "-nr", str(pcap)], capture_output=True, text=True)
        assert len(td.stdout.splitlines()) == live["capture"]["frames"]


def test_default_options_agree_with_analyze(netns: str, tmp_path: Path) -> None:
    """Default --checksums, SIGTERM, a JSON report file, and events on stdout."""
    pcap, report = tmp_path / "c.pcap", tmp_path / "r.json"
    sniff = Sniff(netns, "-i", "lo", "-w", str(pcap), "--format", "json", "-o", str(report))
    traffic(netns, "client_first", "abort", "refused")
    time.sleep(0.1)
    code, out, err = sniff.stop(signal.SIGTERM)
    assert code == 0, err
    assert {json.loads(line)["record"] for line in out.splitlines()} == {"event"}
    live = json.loads(report.read_text())
    assert live["summary"]["connections"] == 3
    assert_same_report(live, analyze(pcap))


def test_count_stops_after_exactly_n_frames(netns: str, tmp_path: Path) -> None:
    pcap = tmp_path / "c.pcap"
    sniff = Sniff(
        netns, "-i", "lo", "-c", "5", "-w", str(pcap), "--format", "json", "--checksums", "off"
    )
    traffic(netns, "client_first")
    code, out, err = sniff.stop(0)  # ends by itself
    assert code == 0, err
    live = json.loads(out)  # --format json to a pipe: just the document, no events
    assert live["capture"]["frames"] == 5
    assert [c["first_frame"] for c in live["connections"]] == [1]
    assert_same_report(live, analyze(pcap, "--checksums", "off"))


def test_duration_stops_on_time_and_keeps_kernel_timestamps(netns: str, tmp_path: Path) -> None:
    pcap = tmp_path / "d.pcap"
    t0 = time.time()
    sniff = Sniff(
        netns,
        "-i",
        "lo",
        "--duration",
        "1.5",
        "-w",
        str(pcap),
        "--format",
        "json",
        "--checksums",
        "off",
    )
    traffic(netns, "client_first")
    # no signal: the sniffer must end by itself (a generous wait, since a loaded machine is
    # slow to start Python; what is asserted is what the capture shows, not wall time)
    code, out, err = sniff.stop(0, timeout=120)
    assert code == 0, err
    live = json.loads(out)
    (conn,) = live["connections"]
    assert t0 < conn["start_ts"] <= conn["end_ts"] < time.time()
    # every frame kept lies within the 1.5 s the capture was asked to last
    assert conn["end_ts"] - conn["start_ts"] <= 1.5
    assert_same_report(live, analyze(pcap, "--checksums", "off"))


@pytest.mark.parametrize(
    ("args", "linktype"),
    [(("-i", "tfs-a"), 1), (("-i", "tfs-a", "-i", "lo"), 276), (("-i", "any"), 276)],
    ids=["veth", "veth+lo", "any"],
)
def test_veth_multi_interface_and_any(
    veth_pair: tuple[str, str], tmp_path: Path, args: tuple[str, ...], linktype: int
) -> None:
    """A real Ethernet device, several interfaces (SLL2) and ``any`` (SLL2, loopback
    packets once, not twice)."""
    ns, peer = veth_pair
    # A server in the peer namespace, reached over the veth from ns.
    srv = subprocess.Popen(
        in_ns(
            peer,
            PY,
            "-c",
            (
                "import socket\n"
                "s=socket.socket(); s.bind(('10.77.0.2', 8080)); s.listen()\n"
                "print('up', flush=True)\n"
                "while True:\n"
                "    a,_=s.accept(); a.sendall(a.recv(100)); a.close()\n"
            ),
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "up"
        pcap = tmp_path / "c.pcap"
        sniff = Sniff(ns, *args, "-w", str(pcap), "--format", "json", "--checksums", "off")
        client = (
            "import socket\n"
            "c=socket.create_connection(('10.77.0.2', 8080), source_address="
            "('10.77.0.1', 0)); c.sendall(b'hi'); c.recv(10); c.close()\n"
        )
        subprocess.run(in_ns(ns, PY, "-c", client), check=True, timeout=10)
        ports = traffic(ns, "client_first")
        time.sleep(0.1)
        code, out, err = sniff.stop()
    finally:
        srv.kill()
        srv.wait()
    assert code == 0, err
    live = json.loads(out)
    assert pcap_linktype(pcap) == live["capture"]["live"]["linktype"] == linktype
    resp = {(c["resp"]["ip"], c["resp"]["port"]): c for c in live["connections"]}
    veth_conn = resp[("10.77.0.2", 8080)]
    assert veth_conn["outcome"] == "closed" and veth_conn["zeek"]["conn_state"] == "SF"
    on_lo = [c for c in live["connections"] if c["orig"]["ip"] == "127.0.0.1"]
    if "lo" in args or "any" in args:
        (lo_conn,) = on_lo  # exactly once: the outgoing copies are filtered out
        assert lo_conn["orig"]["port"] == ports["client_first"][0]
        assert lo_conn["zeek"]["conn_state"] == "SF"
        assert lo_conn["anomalies"] == {}  # a duplicate of every packet would show
    else:
        assert on_lo == []
    assert_same_report(live, analyze(pcap, "--checksums", "off"))


def test_kernel_drops_become_a_warning(netns: str, tmp_path: Path) -> None:
    """A stopped reader with a 1 MiB ring: the kernel drops, and the report says so."""
    sniff = Sniff(netns, "-i", "lo", "-B", "1", "--format", "json", "--checksums", "off")
    os.kill(sniff.proc.pid, signal.SIGSTOP)
    try:
        traffic(netns, "blast@30000")
    finally:
        os.kill(sniff.proc.pid, signal.SIGCONT)
    code, out, err = sniff.stop()
    assert code == 0, err
    cap = json.loads(out)["capture"]
    kernel = cap["live"]["kernel"]
    assert kernel["dropped"] > 0
    assert cap["frames"] + kernel["dropped"] == kernel["received"]
    (warning,) = [w for w in cap["warnings"] if "dropped" in w]
    assert warning.startswith(
        f"the kernel dropped {kernel['dropped']} of {kernel['received']} packets"
    )
    assert "warning: the kernel dropped" in err


def test_terminal_shows_live_view_then_report(netns: str) -> None:
    """On a terminal: the event log and the active table while capturing, the terminal
    report at the end."""
    master, slave = pty.openpty()
    import fcntl
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", NO_COLOR="1")
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        in_ns(netns, PY, "-m", "tcpflow_analyzer", "sniff", "-i", "lo", "--checksums", "off"),
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    screen = b""

    def pump(seconds: float) -> None:
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert b"listening on lo" in line
        traffic(netns, "client_first", "abort", "refused")
        pump(0.8)
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 8
        while proc.poll() is None and time.monotonic() < deadline:
            pump(0.1)
        pump(0.2)
        assert proc.wait(timeout=1) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "handshake done" in text
    assert "RST by orig (abort" in text
    assert "RST by resp (refused" in text
    assert "TIME-WAIT entered by orig" in text
    assert "open (incl. lingering)" in text and "kernel drops: 0" in text
    assert "3 TCP connections" in text  # the final terminal report
    assert "refused" in text and "-way, orig first" in text


# -- errors that need a namespace or privileges ------------------------------------------
def test_not_permitted_without_cap_net_raw(netns: str) -> None:
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    res = subprocess.run(
        in_ns(
            netns,
            "setpriv",
            "--bounding-set=-net_raw",
            "--inh-caps=-net_raw",
            PY,
            "-m",
            "tcpflow_analyzer",
            "sniff",
            "-i",
            "lo",
        ),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert res.returncode == 2
    assert res.stderr == (
        "tcpflow-analyzer: error: cannot capture on lo: operation not "
        "permitted (root or the CAP_NET_RAW capability is needed)\n"
    )


def test_interface_that_is_down(netns: str) -> None:
    _ip("-n", netns, "link", "add", "tfs-down", "type", "veth", "peer", "name", "tfs-down-p")
    res = subprocess.run(
        in_ns(netns, PY, "-m", "tcpflow_analyzer", "sniff", "-i", "tfs-down"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert res.returncode == 2
    assert res.stderr == (
        "tcpflow-analyzer: error: interface 'tfs-down' is down (bring it up first)\n"
    )


def test_list_interfaces_in_a_namespace(veth_pair: tuple[str, str]) -> None:
    ns, _peer = veth_pair
    res = subprocess.run(
        in_ns(ns, PY, "-m", "tcpflow_analyzer", "sniff", "--list-interfaces"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert res.returncode == 0, res.stderr
    rows = {line.split()[1]: line for line in res.stdout.splitlines()[1:]}
    assert set(rows) == {"lo", "tfs-a", "any"}
    assert "10.77.0.1" in rows["tfs-a"] and "Ethernet (1)" in rows["tfs-a"]
    assert "Linux cooked v2 (SLL2) (276)" in rows["any"]
