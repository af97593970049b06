"""The listener's view: per server endpoint counts, half-open peak, signatures, caps."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.listeners import ListenerView
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.segment import ACK, PSH, RST, SYN
from tcpflow_analyzer.tracker import TrackerConfig
from tests.capbuild import ether, pcap_dpkt, tcp4, write

SERVER = ipaddress.IPv4Address("198.51.100.2").packed
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def client(n: int) -> bytes:
    return ipaddress.IPv4Address(f"192.0.2.{n}").packed if n < 255 else \
        ipaddress.IPv4Address(f"203.0.113.{n - 254}").packed


class Script:
    """A capture of several clients talking to one or more listeners, built in time order."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, bytes]] = []

    def seg(self, ts: float, n: int, to_server: bool, flags: int, seq: int, ack: int = 0,
            payload: bytes = b"", server: bytes = SERVER, port: int = 80) -> None:
        c = client(n)
        src, dst = (c, server) if to_server else (server, c)
        sport, dport = (40000 + n, port) if to_server else (port, 40000 + n)
        self.packets.append((ts, ether(tcp4(src=src, dst=dst, sport=sport, dport=dport,
                                            seq=seq, ack=ack, flags=flags, payload=payload))))

    def syn(self, ts: float, n: int, **kw: object) -> None:
        self.seg(ts, n, True, SYN, 1000, **kw)  # type: ignore[arg-type]

    def synack(self, ts: float, n: int, **kw: object) -> None:
        self.seg(ts, n, False, SYN | ACK, 5000, 1001, **kw)  # type: ignore[arg-type]

    def ack(self, ts: float, n: int, **kw: object) -> None:
        self.seg(ts, n, True, ACK, 1001, 5001, **kw)  # type: ignore[arg-type]

    def listeners(self, tmp: Path, **view_kw: int) -> list[dict]:
        self.packets.sort(key=lambda p: p[0])
        path = write(tmp, "cap.pcap", pcap_dpkt(self.packets))
        view = ListenerView(**view_kw)
        analyze_captures([path], TrackerConfig(), view.add_flow, sink=view)
        return view.to_list()


def test_half_open_peak_is_the_most_syn_received_at_once_in_time_order(tmp_path: Path) -> None:
    s = Script()
    # clients 1-3 get SYN-ACKs at 0.01/0.11/0.21: three half-open at once
    for n, t in ((1, 0.0), (2, 0.1), (3, 0.2)):
        s.syn(t, n)
        s.synack(t + 0.01, n)
    s.ack(0.3, 1)  # 1 leaves SYN-RECEIVED
    s.ack(0.5, 2)
    # client 1 stays connected long after: its report arrives last, but it only counted
    # while it was half-open
    s.seg(0.9, 1, True, ACK | PSH, 1001, 5001, payload=b"x" * 10)
    for n, t in ((4, 0.4), (5, 0.44)):
        s.syn(t, n)
        s.synack(t + 0.01, n)  # at 0.45: 3, 4, 5 and 2 half-open -> 4
    (entry,) = s.listeners(tmp_path)
    assert (entry["ip"], entry["port"]) == ("198.51.100.2", 80)
    assert entry["half_open_peak"] == 4
    assert entry["half_open_peak_ts"] == 0.45
    assert entry["half_open_peak_frame"] == 11
    assert (entry["attempted"], entry["established"], entry["incomplete"]) == (5, 2, 3)


def test_refused_unanswered_retransmissions_rtt_and_reset_after_establishment(
        tmp_path: Path) -> None:
    s = Script()
    s.syn(0.0, 1)
    s.seg(0.001, 1, False, RST | ACK, 0, 1001)  # refused
    s.syn(0.1, 2)
    s.syn(1.1, 2)  # unanswered, one SYN retransmission
    for n, t, rtt in ((3, 2.0, 0.010), (4, 2.1, 0.020), (5, 2.2, 0.040)):
        s.syn(t, n)
        s.synack(t + rtt / 2, n)
        s.ack(t + rtt, n)
    s.synack(2.5, 5)  # a SYN-ACK re-sent after the handshake ACK: accept queue full
    s.seg(3.0, 4, False, RST | ACK, 5001, 1001)  # listener resets an established one
    (entry,) = s.listeners(tmp_path)
    assert {k: entry[k] for k in ("attempted", "established", "refused", "unanswered",
                                  "syn_retransmissions", "synack_retransmissions",
                                  "reset_after_established", "reset_by_listener")} == {
        "attempted": 5, "established": 3, "refused": 1, "unanswered": 1,
        "syn_retransmissions": 1, "synack_retransmissions": 1,
        "reset_after_established": 1, "reset_by_listener": 1}
    rtt = entry["handshake_rtt_s"]
    assert (rtt["count"], rtt["p50"], rtt["p95"], rtt["max"]) == (3, 0.02, 0.04, 0.04)
    assert entry["accept_queue_full"]["synack_after_ack"] == 1
    assert entry["accept_queue_full"]["connections"] == 1
    assert not entry["syn_flood"]["suspected"]


def test_many_half_open_from_many_sources_is_a_syn_flood(tmp_path: Path) -> None:
    s = Script()
    for n in range(1, 101):
        s.syn(n * 0.001, n)
        s.synack(n * 0.001 + 0.0005, n)
    (entry,) = s.listeners(tmp_path)
    assert entry["half_open_peak"] == 100
    assert entry["syn_flood"] == {"suspected": True, "half_open_sources": 100,
                                  "sources_capped": False}


def test_listeners_past_the_cap_fold_into_one_remainder(tmp_path: Path) -> None:
    s = Script()
    for i, port in enumerate((80, 81, 82, 83)):
        s.syn(i * 0.1, 1, port=port)
        s.synack(i * 0.1 + 0.01, 1, port=port)
        s.ack(i * 0.1 + 0.02, 1, port=port)
    got = s.listeners(tmp_path, max_listeners=2)
    assert len(got) == 3
    assert [e["port"] for e in got[:2]] == [80, 81]
    assert got[2]["ip"] is None and got[2]["listeners_folded"] == 2
    assert got[2]["attempted"] == 2 and got[2]["half_open_peak"] == 1


def test_rtt_quantiles_stay_constant_size_past_the_exact_cap() -> None:
    view = ListenerView()
    for i in range(5000):
        view.add_flow(_flow(rtt=0.001 * (1 + i % 100)))
    (entry,) = view.to_list()
    rec = next(iter(view._by_key.values()))
    assert rec.rtt == [] and len(rec.hist) < 200
    assert entry["handshake_rtt_s"]["exact"] is False
    assert entry["handshake_rtt_s"]["max"] == 0.1
    assert abs(entry["handshake_rtt_s"]["p50"] - 0.050) / 0.050 < 0.03


def _flow(rtt: float) -> dict:
    return {"id": 1, "initiator": "orig", "outcome": "closed", "reset": None,
            "resp": {"ip": "198.51.100.2", "port": 80},
            "handshake": {"status": "complete", "ack_frame": 3, "synack_frames": [2],
                          "syn_retransmissions": 0, "synack_retransmissions": 0,
                          "rtt_s": {"total": rtt}},
            "data_packets": {"orig": 0, "resp": 0}, "anomaly_events": []}


def test_json_terminal_csv_and_check_show_the_listeners() -> None:
    runner = CliRunner()
    cap = str(SAMPLES / "synack-unacked.pcap")
    doc = json.loads(runner.invoke(app, ["analyze", cap, "-f", "json"]).stdout)
    assert [(e["ip"], e["incomplete"], e["half_open_peak"]) for e in doc["listeners"]] == [
        ("198.51.100.2", 1, 1)]
    term = runner.invoke(app, ["analyze", cap]).stdout
    assert "listeners (the side that received the SYN)" in term and "198.51.100.2:80" in term
    csv_out = runner.invoke(app, ["listeners", cap, "-f", "csv"]).stdout.splitlines()
    assert csv_out[0].startswith("listener_ip,listener_port,attempted")
    assert csv_out[1].startswith("198.51.100.2,80,1,0,0,0,1,")
    assert json.loads(runner.invoke(app, ["listeners", cap, "-f", "json"]).stdout) == {
        "listeners": doc["listeners"]}
    failed = runner.invoke(app, ["check", cap, "--max", "half_open_peak=0"])
    assert failed.exit_code == 1
    assert "half_open_peak = 1 at 198.51.100.2:80 (frame 2)" in failed.stdout
    assert runner.invoke(app, ["check", cap, "--max", "half_open_peak=1"]).exit_code == 0


def test_half_open_peak_counts_only_syn_received_among_connections_in_every_other_state(
        tmp_path: Path) -> None:
    """N handshakes answered and not yet acknowledged, while the listener also holds
    connections in every other state the flow table keeps (established, closed and lingering,
    in TIME-WAIT, reset, refused, a SYN never answered): the peak is exactly N, at the N-th
    SYN-ACK; a SYN-ACK sent twice counts once, and the ACKs bring the count down."""
    s = Script()
    fin = 0x01
    # before the half-open burst: connections in other states, still held by the table
    s.syn(0.00, 200)
    s.synack(0.001, 200)
    s.ack(0.002, 200)                                   # 200: ESTABLISHED, stays open
    s.syn(0.01, 201)
    s.synack(0.011, 201)
    s.ack(0.012, 201)
    s.seg(0.013, 201, True, fin | ACK, 1001, 5001)      # 201: orig closes ...
    s.seg(0.014, 201, False, fin | ACK, 5001, 1002)     # ... resp answers FIN+ACK
    s.seg(0.015, 201, True, ACK, 1002, 5002)            # 201: orig in TIME-WAIT
    s.syn(0.02, 202)
    s.synack(0.021, 202)
    s.ack(0.022, 202)
    s.seg(0.023, 202, True, RST | ACK, 1001, 5001)      # 202: reset, lingering closed
    s.syn(0.03, 203)
    s.seg(0.031, 203, False, RST | ACK, 0, 1001)        # 203: refused
    s.syn(0.04, 204)                                    # 204: never answered (SYN-SENT)
    n = 30
    for i in range(1, n + 1):
        s.syn(0.1 + i * 0.001, i)
    for i in range(1, n + 1):
        s.synack(0.2 + i * 0.001, i)                    # the listener: i half-open
    s.synack(0.25, 1)                                   # a re-sent SYN-ACK: still 30
    s.seg(0.26, 2, True, RST, 1001)                     # client 2 gives up: 29
    for i in range(3, n + 1):
        s.ack(0.3 + i * 0.001, i)                       # ESTABLISHED one by one
    for i in (40, 41):                                  # later: two half-open at once
        s.syn(0.5, i)
        s.synack(0.501 + i * 0.0001, i)
    (entry,) = s.listeners(tmp_path)
    # frames: 3 + 6 + 4 + 2 + 1 of the others, 30 SYNs, then the 30th SYN-ACK
    assert entry["half_open_peak"] == n
    assert entry["half_open_peak_frame"] == 16 + n + n
    assert entry["half_open_peak_ts"] == 0.23


class _EventsOnly(ListenerView):
    """The same view fed by StateChanged records (the tracker's path for a sink without
    ``state_changed``)."""

    state_changed = None  # type: ignore[assignment]


def test_the_direct_state_hook_and_the_event_records_give_the_same_view(
        tmp_path: Path) -> None:
    s = Script()
    for n, t in ((1, 0.0), (2, 0.1), (3, 0.2), (4, 0.4), (5, 0.44)):
        s.syn(t, n)
        s.synack(t + 0.01, n)
    s.ack(0.3, 1)
    s.ack(0.5, 2)
    s.seg(0.6, 3, True, RST, 1001)
    s.seg(0.9, 1, True, ACK | PSH, 1001, 5001, payload=b"x" * 10)
    s.packets.sort(key=lambda p: p[0])
    path = write(tmp_path, "cap.pcap", pcap_dpkt(s.packets))
    views = []
    for cls in (ListenerView, _EventsOnly):
        view = cls()
        analyze_captures([path], TrackerConfig(), view.add_flow, sink=view)
        views.append(view.to_list())
    assert views[0] == views[1]
    assert views[0][0]["half_open_peak"] == 4


def test_the_address_texts_of_the_listener_view_are_remembered_within_a_bound() -> None:
    from tcpflow_analyzer import listeners
    from tcpflow_analyzer.segment import format_ip

    addrs = [bytes([10, n >> 8 & 255, n & 255, 1]) for n in range(listeners._IP_TEXTS_MAX + 500)]
    for a in addrs:
        assert listeners._ip_text(a) == format_ip(a)
        assert len(listeners._IP_TEXTS) <= listeners._IP_TEXTS_MAX
    assert listeners._ip_text(addrs[-1]) is listeners._ip_text(addrs[-1])  # remembered
