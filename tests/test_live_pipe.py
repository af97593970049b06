"""`tcpdump -w - | tcpflow-analyzer analyze -`: real kernel traffic on loopback, piped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="capturing on loopback needs root"),
]


def _server(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        with conn:
            data = conn.recv(100)
            conn.sendall(b"pong:" + data)


def test_tcpdump_stdout_piped_into_analyze_reports_real_connections() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    stop = threading.Event()
    t = threading.Thread(target=_server, args=(srv, stop), daemon=True)
    t.start()
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-w", "-", "-Z", "root", "--immediate-mode",
         f"tcp port {port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    analyze = subprocess.Popen(
        [sys.executable, "-m", "tcpflow_analyzer", "analyze", "-", "-f", "json"],
        stdin=dump.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert dump.stdout is not None
    dump.stdout.close()
    try:
        deadline = time.monotonic() + 10
        assert dump.stderr is not None
        line = dump.stderr.readline()  # "listening on lo ..."
        assert b"listening" in line, line
        time.sleep(0.3)
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"ping")
                assert c.recv(100).startswith(b"pong")
        time.sleep(0.5)
        dump.terminate()
        out, err = analyze.communicate(timeout=max(1.0, deadline - time.monotonic()) + 20)
    finally:
        stop.set()
        dump.kill()
        analyze.kill()
        srv.close()
    assert analyze.returncode == 0, err
    doc = json.loads(out)
    conns = [c for c in doc["connections"] if c["resp"]["port"] == port]
    assert len(conns) == 3
    for c in conns:
        assert c["handshake"]["status"] == "complete"
        assert c["outcome"] == "closed"
        assert c["zeek"]["conn_state"] == "SF"
