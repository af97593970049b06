"""A FIN re-sent more than the close linger (5 s) after a captured four-way close, within
2MSL: a segment of the old connection (its sender still in LAST-ACK), never a new one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.segment import ACK, FIN, SYN

from .builders import Conv
from .capbuild import ORIG4, ORIG_PORT, RESP4, RESP_PORT, ipv4, pcap_bytes, tcp_segment

NEW_ISN = 3_000_000_000


def _closed() -> tuple[Conv, int]:
    c = Conv()
    c.handshake()
    c.data("o", 100)
    c.ack("r")
    c.four_way_close("o")  # frames 6-9: the final ACK captured, lost beyond the capture
    return c, c.r.nxt - 1


def test_first_fin_retransmission_six_seconds_late_is_no_new_connection() -> None:
    c, fin_seq = _closed()
    c.dt = 6.0  # past close_linger_s: the connection was reported at 5 s
    c.send("r", FIN | ACK, seq=fin_seq)  # its first re-sent FIN captured (RTO past 5 s)
    c.dt = 0.0001
    c.ack("o")  # the TIME-WAIT end's re-ACK
    c.dt = 12.0
    c.send("r", FIN | ACK, seq=fin_seq)
    c.dt = 0.0001
    c.ack("o")
    (f,) = c.finish()
    assert (f["outcome"], f["close"]["pattern"], f["last_frame"]) == ("closed", "four_way", 9)
    assert c.table.late_segments == 4
    assert c.table.late_conns == [f["id"]]


def test_late_fin_then_a_new_syn_is_judged_against_time_wait() -> None:
    c, fin_seq = _closed()
    c.dt = 7.0
    c.send("r", FIN | ACK, seq=fin_seq)
    c.dt = 0.0001
    c.ack("o")
    c.dt = 1.0
    c.o.nxt = NEW_ISN
    c.send("o", SYN)  # a new connection: the old one's TIME-WAIT restarted 1 s ago
    old, new = c.finish()
    assert c.table.late_segments == 2
    assert new["port_reuse"]["previous_id"] == old["id"]
    assert new["port_reuse"]["gap_s"] == 1.0001
    assert new["port_reuse"]["previous_in_time_wait"] is True


def test_other_segments_on_a_closed_tuple_still_open_a_new_connection() -> None:
    c, fin_seq = _closed()
    c.dt = 6.0
    c.send("r", FIN | ACK, seq=fin_seq + 5000)  # not that connection's FIN
    assert len(c.finish()) == 2
    assert c.table.late_segments == 0
    c, fin_seq = _closed()
    c.dt = 61.0  # past 2MSL after the close: the tombstone is gone
    c.send("r", FIN | ACK, seq=fin_seq)
    assert len(c.finish()) == 2
    assert c.table.late_segments == 0


def test_late_fin_is_named_in_the_capture_warnings(tmp_path: Path) -> None:
    def pkt(t: float, from_orig: bool, seq: int, ack: int, flags: int) -> tuple[int, int, bytes]:
        src, dst = (ORIG4, RESP4) if from_orig else (RESP4, ORIG4)
        sport, dport = (ORIG_PORT, RESP_PORT) if from_orig else (RESP_PORT, ORIG_PORT)
        seg = tcp_segment(src, dst, sport=sport, dport=dport, seq=seq, ack=ack, flags=flags)
        return 1_700_000_000 + int(t), round(t % 1 * 1e6), ipv4(seg, src=src, dst=dst)

    o, r = 1000, 9000
    packets = [
        pkt(0.0, True, o, 0, SYN), pkt(0.01, False, r, o + 1, SYN | ACK),
        pkt(0.02, True, o + 1, r + 1, ACK), pkt(1.0, True, o + 1, r + 1, FIN | ACK),
        pkt(1.01, False, r + 1, o + 2, FIN | ACK), pkt(1.02, True, o + 2, r + 2, ACK),
        pkt(8.0, False, r + 1, o + 2, FIN | ACK), pkt(8.01, True, o + 2, r + 2, ACK),
    ]
    cap = tmp_path / "late-fin.pcap"
    cap.write_bytes(pcap_bytes(packets, linktype=101))
    res = CliRunner().invoke(app, ["analyze", str(cap), "-f", "json"])
    doc = json.loads(res.stdout)
    assert [(c["id"], c["outcome"], c["last_frame"]) for c in doc["connections"]] == [
        (1, "closed", 6)]
    assert any(w.startswith("2 segments arrived after their connection was reported, "
                            "within 2MSL of its close (#1)") for w in doc["capture"]["warnings"])
