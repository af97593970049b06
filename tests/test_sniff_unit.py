"""Unit tests of the ``sniff`` pieces that need no privileges: the kernel filter program
(run through a small classic-BPF interpreter), libpcap error messages, the pcap writer,
event records, the live view, and the command's argument handling."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tcpflow_analyzer import cli  # noqa: F401  (import the CLI before its plugin modules)
from tcpflow_analyzer.errors import LiveCaptureError
from tcpflow_analyzer.events import (
    AnomalySeen,
    ConnectionOpened,
    HandshakeCompleted,
    ResetSeen,
    StateChanged,
    TimeWaitEntered,
)
from tcpflow_analyzer.render.live import LiveStatus, LiveView, event_record
from tcpflow_analyzer.sources.live import (
    PACKET_OUTGOING,
    SNAPLEN,
    LiveCapture,
    PcapWriter,
    build_program,
    compile_bpf,
)
from tcpflow_analyzer.sources.pcapfile import iter_frames

PACKET_HOST = 0
AD_BASE = 0xFFFFF000


def run_bpf(
    prog: list[tuple[int, int, int, int]],
    pkt: bytes,
    *,
    pkttype: int = PACKET_HOST,
    ifindex: int = 1,
) -> int:
    """A classic BPF interpreter covering what libpcap and build_program emit; returns the
    filter's verdict (0 = reject, else bytes to keep)."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 0x07
        if cls in (0x00, 0x01):  # LD / LDX
            size = {0x00: 4, 0x08: 2, 0x10: 1}[code & 0x18]
            mode = code & 0xE0
            if cls == 0x01 and mode == 0xA0:  # ldx 4*([k]&0xf)
                if k >= len(pkt):
                    return 0
                x = 4 * (pkt[k] & 0x0F)
                continue
            if mode == 0x00:
                val = k
            elif mode == 0x80:
                val = len(pkt)
            elif mode == 0x60:
                val = mem[k]
            else:
                off = k if mode == 0x20 else (x + k) & 0xFFFFFFFF
                if mode == 0x20 and off >= AD_BASE:
                    val = {4: pkttype, 8: ifindex}[off - AD_BASE]
                else:
                    if off + size > len(pkt):
                        return 0
                    val = int.from_bytes(pkt[off : off + size], "big")
            if cls == 0x00:
                a = val
            else:
                x = val
        elif cls == 0x02:
            mem[k] = a
        elif cls == 0x03:
            mem[k] = x
        elif cls == 0x04:  # ALU
            src = x if code & 0x08 else k
            op = code & 0xF0
            a = {
                0x00: a + src,
                0x10: a - src,
                0x20: a * src,
                0x40: a | src,
                0x50: a & src,
                0x60: a << src,
                0x70: a >> src,
                0x30: a // src if src else 0,
                0x80: -a,
            }[op] & 0xFFFFFFFF
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x00:
                pc += k
                continue
            src = x if code & 0x08 else k
            cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += jt if cond else jf
        elif cls == 0x06:  # RET
            return a if code & 0x10 else k
        elif cls == 0x07:
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x


def ipv4_tcp() -> bytes:
    """A minimal IPv4/TCP SYN (checksums irrelevant to the filter)."""
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        40,
        1,
        0x4000,
        64,
        6,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    return ip + tcp


def ipv4_udp() -> bytes:
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        28,
        1,
        0x4000,
        64,
        17,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    return ip + struct.pack(">HHHH", 5353, 53, 8, 0)


def ether(payload: bytes) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + payload


# -- kernel filter ------------------------------------------------------------------------
def test_filter_on_loopback_rejects_outgoing_copies_and_keeps_whole_packets() -> None:
    prog = build_program(compile_bpf("tcp", 1), bound_to_loopback=True)
    assert run_bpf(prog, ether(ipv4_tcp())) == SNAPLEN
    assert run_bpf(prog, ether(ipv4_tcp()), pkttype=PACKET_OUTGOING) == 0
    assert run_bpf(prog, ether(ipv4_udp())) == 0


def test_filter_without_guards_is_the_user_program_with_snaplen() -> None:
    user = compile_bpf("tcp port 80", 1)
    prog = build_program(user)
    assert len(prog) == len(user)
    assert run_bpf(prog, ether(ipv4_tcp()), pkttype=PACKET_OUTGOING) == SNAPLEN
    assert run_bpf(compile_bpf("tcp port 81", 1), ether(ipv4_tcp())) == 0


def test_cooked_filter_restricts_interfaces_and_loopback_duplicates() -> None:
    prog = build_program(compile_bpf("tcp", 12), reject_outgoing_on=[1], only_ifindexes=[1, 5])
    pkt = ipv4_tcp()  # cooked sockets filter from the network header (DLT_RAW)
    assert run_bpf(prog, pkt, ifindex=1) == SNAPLEN
    assert run_bpf(prog, pkt, ifindex=1, pkttype=PACKET_OUTGOING) == 0
    assert run_bpf(prog, pkt, ifindex=5, pkttype=PACKET_OUTGOING) == SNAPLEN
    assert run_bpf(prog, pkt, ifindex=7) == 0
    assert run_bpf(prog, ipv4_udp(), ifindex=5) == 0


def test_any_filter_only_drops_outgoing_loopback() -> None:
    prog = build_program(compile_bpf("tcp", 12), reject_outgoing_on=[1])
    assert run_bpf(prog, ipv4_tcp(), ifindex=9, pkttype=PACKET_OUTGOING) == SNAPLEN
    assert run_bpf(prog, ipv4_tcp(), ifindex=1, pkttype=PACKET_OUTGOING) == 0
    assert run_bpf(prog, ipv4_tcp(), ifindex=1) == SNAPLEN


@pytest.mark.parametrize(
    ("expr", "dlt", "message"),
    [
        ("tcp and", 1, "syntax error"),
        ("ether host 1:2:3:4:5:6", 12, "ethernet addresses supported only"),
    ],
)
def test_bad_filter_carries_libpcaps_message(expr: str, dlt: int, message: str) -> None:
    with pytest.raises(LiveCaptureError) as info:
        compile_bpf(expr, dlt)
    text = str(info.value)
    assert text.startswith(f"bad capture filter {expr!r}: ")
    assert message in text
    assert "\n" not in text


# -- pcap writer --------------------------------------------------------------------------
def test_pcap_writer_round_trips_nanosecond_timestamps_exactly(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    frames = [(1795230252, 287518123, ether(ipv4_tcp())), (1795230252, 999999999, b"\x00" * 60)]
    w = PcapWriter(str(path), 1)
    for sec, nsec, data in frames:
        w.record(sec, nsec, data, len(data) + 10)
    w.close()
    got = list(iter_frames(str(path)))
    assert [(n, ts, lt, data) for n, ts, lt, data in got] == [
        (i + 1, sec + nsec * 1e-9, 1, data) for i, (sec, nsec, data) in enumerate(frames)
    ]
    raw = path.read_bytes()
    assert struct.unpack_from("<IHHiIII", raw) == (0xA1B23C4D, 2, 4, 0, 0, SNAPLEN, 1)
    assert struct.unpack_from("<IIII", raw, 24) == (1795230252, 287518123, 54, 64)


def test_pcap_writer_reports_unwritable_path(tmp_path: Path) -> None:
    from tcpflow_analyzer.errors import TcpflowError

    with pytest.raises(TcpflowError, match="cannot write"):
        PcapWriter(str(tmp_path / "missing" / "x.pcap"), 1)


# -- events and the live view -------------------------------------------------------------
EVENTS = [
    ConnectionOpened(conn_id=1, frame=1, ts=1.0000004, orig="10.0.0.1:40000", resp="10.0.0.2:80"),
    StateChanged(
        conn_id=1, frame=1, ts=1.0, endpoint="orig", from_state="CLOSED", to_state="SYN-SENT"
    ),
    HandshakeCompleted(conn_id=1, frame=3, ts=1.5, rtt_s=0.0000271),
    TimeWaitEntered(conn_id=1, frame=9, ts=2.0, endpoint="orig"),
    ResetSeen(conn_id=1, frame=10, ts=2.5, by="resp", validity="in_window", situation="abort"),
    AnomalySeen(conn_id=1, name="rst_in_time_wait", frame=10, ts=2.5, endpoint="resp", detail="x"),
]


def test_event_records_are_plain_data_with_stable_names() -> None:
    recs = [event_record(e) for e in EVENTS]
    assert [r["event"] for r in recs] == [
        "connection_opened",
        "state_changed",
        "handshake_completed",
        "time_wait_entered",
        "reset_seen",
        "anomaly_seen",
    ]
    assert recs[0] == {
        "event": "connection_opened",
        "conn_id": 1,
        "frame": 1,
        "ts": 1.0,
        "orig": "10.0.0.1:40000",
        "resp": "10.0.0.2:80",
    }
    assert recs[2]["rtt_s"] == 0.000027
    assert recs[4] == {
        "event": "reset_seen",
        "conn_id": 1,
        "frame": 10,
        "ts": 2.5,
        "by": "resp",
        "validity": "in_window",
        "situation": "abort",
    }


def test_live_view_logs_events_and_draws_active_connections() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160, no_color=True)
    view = LiveView(console, max_lines=3)
    view.start()
    for e in EVENTS:
        view.event(e)
    view.refresh(
        LiveStatus(
            source="lo (Ethernet)",
            frames=10,
            tcp_segments=10,
            active=1,
            elapsed_s=1.0,
            rate=10.0,
            rows=[
                {
                    "id": 1,
                    "orig": "10.0.0.1:40000",
                    "resp": "10.0.0.2:80",
                    "orig_state": "TIME-WAIT",
                    "resp_state": "CLOSED",
                    "pkts": 10,
                    "bytes": 1234,
                    "age_s": 1.0,
                }
            ],
        )
    )
    view.stop()
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "#1 10.0.0.1:40000 → 10.0.0.2:80  handshake done (rtt 27 µs)" in out
    assert "TIME-WAIT entered by orig" in out
    assert "RST by resp (abort, in window)" in out
    assert "1 more events not shown" in out  # max_lines=3 of 4 logged events
    assert "1 open (incl. lingering)" in out  # the table's count: closed ones linger in it
    assert "10.0.0.1:40000" in out and "TIME-WAIT" in out and "1.2k" in out


# -- the command line (no capture needed) -------------------------------------------------
def sniff_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "tcpflow_analyzer", "sniff", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_help_documents_filter_and_format_flags() -> None:
    res = sniff_cli("--help")
    assert res.returncode == 0
    assert re.search(r"--filter\s+-f\s", res.stdout)
    assert re.search(r"--format\s+[<\[]", res.stdout)  # no -f: that is the capture filter
    flat = " ".join(re.sub(r"[\u2500-\u257f]", " ", res.stdout).split())
    assert "No short flag here: -f is the capture filter." in flat


def test_list_interfaces_shows_loopback_and_any() -> None:
    res = sniff_cli("--list-interfaces")
    assert res.returncode == 0, res.stderr
    names = [line.split()[1] for line in res.stdout.splitlines()[1:]]
    assert "lo" in names and names[-1] == "any"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no interface given"),
        (("-i", "tfs-nonexistent0"), "no such interface: 'tfs-nonexistent0'"),
        (("-i", "any", "-i", "lo"), "do not combine it"),
        (("-i", "lo", "--duration", "0"), "--duration must be more than 0"),
        (
            ("-i", "lo", "-f", "tcp and"),
            "bad capture filter 'tcp and': can't parse filter expression: syntax error",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    res = sniff_cli(*args)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("tcpflow-analyzer: error: ")
    assert message in res.stderr
    assert res.stdout == ""


# -- the ring reader, on a hand-made TPACKET_V3 block --------------------------------------
def _ring_with(packets: list[dict[str, object]]) -> bytearray:
    """One ready block holding ``packets`` (dicts of tpacket3_hdr fields, sll and data),
    followed by an empty block, laid out as the kernel lays them out."""
    from tcpflow_analyzer.sources.live import BLOCK_SIZE

    ring = bytearray(BLOCK_SIZE * 4)
    first = 48
    p = first
    offsets = []
    for pkt in packets:
        data = pkt["data"]
        assert isinstance(data, bytes)
        mac = 48 + 20 + 2 + (pkt.get("pad", 0) or 0)  # type: ignore[operator]
        offsets.append((p, mac, data))
        p += (mac + len(data) + 15) & ~15
    for n, (p, mac, data) in enumerate(offsets):
        pkt = packets[n]
        nxt = offsets[n + 1][0] - p if n + 1 < len(offsets) else 0
        struct.pack_into(
            "=IIIIIIHHIIHH",
            ring,
            p,
            nxt,
            pkt["sec"],
            pkt["nsec"],
            len(data),
            pkt.get("wire", len(data)),
            pkt.get("status", 0),
            mac,
            mac,
            0,
            pkt.get("tci", 0),
            pkt.get("tpid", 0),
            0,
        )
        struct.pack_into(
            "=H2siHBB8s",
            ring,
            p + 48,
            17,
            b"\x08\x00",
            pkt.get("ifindex", 1),
            pkt.get("hatype", 1),
            pkt.get("pkttype", 0),
            6,
            b"\x02" * 6,
        )
        ring[p + mac : p + mac + len(data)] = data
    struct.pack_into("=IIIII", ring, 0, 3, 0, 1, len(packets), first)
    return ring


def _capture_on(ring: bytearray, linktype: int, cooked: bool, writer: object = None) -> LiveCapture:
    cap = LiveCapture(["lo"])
    cap._mm = ring  # type: ignore[assignment]
    cap._nblocks = 4
    cap._cooked = cooked
    cap.info.linktype = linktype
    cap.writer = writer  # type: ignore[assignment]
    return cap


def test_ring_reader_puts_stripped_vlan_tags_back_and_numbers_frames(tmp_path: Path) -> None:
    frame = ether(ipv4_tcp())
    ring = _ring_with(
        [
            {"sec": 100, "nsec": 5, "data": frame},
            {"sec": 100, "nsec": 6, "data": frame, "status": 0x10, "tci": 0x2064, "wire": 60},
        ]
    )
    writer = PcapWriter(str(tmp_path / "v.pcap"), 1)
    cap = _capture_on(ring, 1, cooked=False, writer=writer)
    frames = cap.read(0)
    writer.close()
    tagged = frame[:12] + b"\x81\x00\x20\x64" + frame[12:]
    assert frames == [(1, 100 + 5e-9, 1, frame), (2, 100 + 6e-9, 1, tagged)]
    assert ring[8] == 0  # the block went back to the kernel
    assert cap.read(0) == []
    assert [f[3] for f in iter_frames(str(tmp_path / "v.pcap"))] == [frame, tagged]
    raw = (tmp_path / "v.pcap").read_bytes()
    second = 24 + 16 + len(frame)
    assert struct.unpack_from("<IIII", raw, second) == (100, 6, len(tagged), 64)
    from tcpflow_analyzer.decode import Decoder

    seg = Decoder().decode(*frames[1])
    assert seg is not None and seg.vlan == (0x064,)


def test_ring_reader_builds_sll2_headers_in_cooked_mode() -> None:
    ip = ipv4_tcp()
    ring = _ring_with([{"sec": 7, "nsec": 0, "data": ip, "ifindex": 3, "hatype": 1, "pkttype": 4}])
    cap = _capture_on(ring, 276, cooked=True)
    ((n, ts, lt, data),) = cap.read(0)
    assert (n, ts, lt) == (1, 7.0, 276)
    assert data[:20] == struct.pack(">HHIHBB8s", 0x0800, 0, 3, 1, 4, 6, b"\x02" * 6)
    assert data[20:] == ip
    from tcpflow_analyzer.decode import Decoder

    seg = Decoder().decode(n, ts, lt, data)
    assert seg is not None and (seg.sport, seg.dport) == (40000, 80)


def test_ring_reader_honours_limit_and_until() -> None:
    frame = ether(ipv4_tcp())
    pkts = [{"sec": 10 + i, "nsec": 0, "data": frame} for i in range(5)]
    assert [f[0] for f in _capture_on(_ring_with(pkts), 1, False).read(0, limit=3)] == [1, 2, 3]
    cap = _capture_on(_ring_with(pkts), 1, False)
    assert [f[1] for f in cap.read(0, until=12.5)] == [10.0, 11.0, 12.0]
    assert cap.finished and cap.read(0) == []
