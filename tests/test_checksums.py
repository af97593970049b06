"""Bad TCP checksums: dropped like a real receiver would, except under checksum offload."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.tracker import TrackerConfig

A, B = bytes([10, 1, 0, 1]), bytes([10, 1, 0, 2])


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           payload: bytes = b"", bad: bool = False) -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=65535,
                       data=payload)
    ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, data=tcp)
    ip.len = 20 + len(bytes(tcp))
    raw = bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))
    if bad:  # flip the TCP checksum field (offset 14 + 20 + 16)
        csum = struct.unpack_from("!H", raw, 50)[0] ^ 0x5A5A
        raw = raw[:50] + struct.pack("!H", csum) + raw[52:]
    return raw


def _conversation(bad_from_a: str) -> list[bytes]:
    """Handshake, one request/response, 4-way close.  ``bad_from_a``: 'all', 'one' or ''."""
    S, SA, AK, PA, FA = 0x02, 0x12, 0x10, 0x18, 0x11
    pkts = [
        (True, 100, 0, S, b""), (False, 900, 101, SA, b""), (True, 101, 901, AK, b""),
        (True, 101, 901, PA, b"x" * 10), (False, 901, 111, PA, b"y" * 20),
        (True, 111, 921, FA, b""), (False, 921, 112, AK, b""), (False, 921, 112, FA, b""),
        (True, 112, 922, AK, b""),
    ]
    out = []
    for i, (from_a, seq, ack, flags, data) in enumerate(pkts):
        src, dst, sp, dp = (A, B, 40000, 80) if from_a else (B, A, 80, 40000)
        if from_a and bad_from_a == "one" and i == 3:
            # corrupted on the wire, dropped by the receiver, then retransmitted intact
            out.append(_frame(src, dst, sp, dp, seq, ack, flags, data, True))
        out.append(_frame(src, dst, sp, dp, seq, ack, flags, data, from_a and bad_from_a == "all"))
    return out


def _write(tmp_path: Path, frames: list[bytes]) -> str:
    path = tmp_path / "c.pcap"
    with path.open("wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for i, f in enumerate(frames):
            w.writepkt(f, ts=1000 + i * 0.01)
    return str(path)


def test_offloaded_host_all_bad_checksums_are_processed_and_warned_once(tmp_path: Path) -> None:
    rep = analyze_to_report([_write(tmp_path, _conversation("all"))], TrackerConfig())
    (c,) = rep["connections"]
    assert (c["outcome"], c["close"]["pattern"], c["zeek"]["conn_state"]) == (
        "closed", "four_way", "SF")
    assert rep["capture"]["bad_checksums"] == 5
    warnings = [w for w in rep["capture"]["warnings"] if "checksum offload" in w]
    assert len(warnings) == 1 and "10.1.0.1" in warnings[0]
    assert "bad_checksum" not in c["anomalies"]


def test_single_bad_checksum_from_a_healthy_host_is_dropped_and_reported(tmp_path: Path) -> None:
    rep = analyze_to_report([_write(tmp_path, _conversation("one"))], TrackerConfig())
    (c,) = rep["connections"]
    assert c["anomalies"] == {"bad_checksum": 1}
    assert c["anomaly_events"][0]["frame"] == 4
    assert c["bytes"]["orig"] == 10  # the request counts once: the dropped copy does not
    assert c["packets"]["orig"] == 6  # but every captured packet is counted
    assert c["zeek"]["history"].startswith("ShA")
    assert "C" in c["zeek"]["history"]
    assert not [w for w in rep["capture"]["warnings"] if "offload" in w]


def test_strict_mode_drops_even_an_offloaded_host(tmp_path: Path) -> None:
    rep = analyze_to_report([_write(tmp_path, _conversation("all"))],
                            TrackerConfig(checksums="strict"))
    (c,) = rep["connections"]
    assert c["anomalies"]["bad_checksum"] == 5
    assert c["outcome"] != "closed"


def test_checksums_off_never_verifies(tmp_path: Path) -> None:
    rep = analyze_to_report([_write(tmp_path, _conversation("one"))],
                            TrackerConfig(checksums="off"))
    (c,) = rep["connections"]
    assert "bad_checksum" not in c["anomalies"] and c["bytes"]["orig"] == 20
    assert rep["capture"]["bad_checksums"] == 0
