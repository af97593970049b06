"""Tracker: opening a connection, grouped by starting state (test_<state>_<stimulus>_<outcome>)."""

from __future__ import annotations

from tcpflow_analyzer.segment import ACK, RST, SYN

from .builders import ORIG_ISN, RESP_ISN, Conv


def _transitions(flow: dict) -> list[tuple[int, str, str, str]]:
    return [(t["frame"], t["endpoint"], t["from"], t["to"]) for t in flow["transitions"]]


def test_closed_syn_synack_ack_completes_three_way_handshake() -> None:
    c = Conv()
    c.handshake()
    (f,) = c.finish()
    assert (f["handshake"]["status"], f["handshake"]["ack_frame"], f["initiator"]) == (
        "complete", 3, "orig")
    assert _transitions(f) == [
        (1, "orig", "CLOSED", "SYN-SENT"),
        (2, "resp", "LISTEN", "SYN-RECEIVED"),
        (2, "orig", "SYN-SENT", "ESTABLISHED"),
        (3, "resp", "SYN-RECEIVED", "ESTABLISHED"),
    ]
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert f["outcome"] == "open"
    assert f["anomalies"] == {}


def test_syn_sent_retransmitted_syn_counts_and_rtt_from_last_syn() -> None:
    c = Conv()
    c.syn()
    c.dt = 1.0
    c.syn(seq=ORIG_ISN)  # same ISN: a retransmission, not a new connection
    c.dt = 0.02
    c.synack()
    c.dt = 0.005
    c.ack()
    (f,) = c.finish()
    hs = f["handshake"]
    assert (hs["syn_frames"], hs["syn_retransmissions"], hs["syn_retransmission_gaps_s"]) == (
        [1, 2], 1, [1.0])
    assert abs(hs["rtt_s"]["resp_side"] - 0.02) < 1e-9
    assert abs(hs["rtt_s"]["orig_side"] - 0.005) < 1e-9
    assert abs(hs["rtt_s"]["total"] - 0.025) < 1e-9
    assert f["anomalies"] == {"syn_retransmission": 1}


def test_syn_sent_no_answer_reports_no_synack() -> None:
    c = Conv()
    c.syn()
    c.syn(seq=ORIG_ISN)
    c.syn(seq=ORIG_ISN)
    (f,) = c.finish()
    assert (f["outcome"], f["handshake"]["status"], f["handshake"]["syn_retransmissions"]) == (
        "no_synack", "no_answer", 2)
    assert f["final_state"] == {"orig": "SYN-SENT", "resp": "LISTEN"}
    assert f["zeek"]["conn_state"] == "S0"


def test_syn_sent_rst_ack_is_refused_from_closed_port() -> None:
    c = Conv()
    c.syn()
    c.send("r", RST | ACK, seq=0, ack=ORIG_ISN + 1)
    (f,) = c.finish()
    assert (f["outcome"], f["handshake"]["status"]) == ("refused", "refused")
    assert f["initial_state"] == {"orig": "CLOSED", "resp": "CLOSED"}
    assert f["reset"]["by"] == "resp"
    assert f["reset"]["validity"] == "exact"
    assert f["final_state"] == {"orig": "CLOSED", "resp": "CLOSED"}
    assert f["zeek"] == f["zeek"] | {"conn_state": "REJ", "history": "Sr"}


def test_syn_sent_rst_not_acking_syn_is_out_of_window() -> None:
    c = Conv()
    c.syn()
    c.send("r", RST | ACK, seq=0, ack=ORIG_ISN + 77)
    (f,) = c.finish()
    assert f["reset"]["validity"] == "out_of_window"
    assert f["final_state"]["orig"] == "SYN-SENT"  # RFC 9293 §3.10.7.3: ignored


def test_syn_received_synack_never_acked_is_handshake_incomplete() -> None:
    c = Conv()
    c.syn()
    c.synack()
    c.dt = 1.0
    c.synack(seq=RESP_ISN)
    (f,) = c.finish()
    assert (f["outcome"], f["handshake"]["status"],
            f["handshake"]["synack_retransmissions"]) == ("handshake_incomplete", "incomplete", 1)
    assert f["anomalies"] == {"synack_retransmission": 1}


def test_syn_sent_synack_with_wrong_ack_is_bad_synack_ack() -> None:
    c = Conv()
    c.syn()
    c.send("r", SYN | ACK, ack=ORIG_ISN + 100)
    (f,) = c.finish()
    assert f["anomalies"].get("bad_synack_ack") == 1
    assert f["final_state"]["orig"] == "SYN-SENT"


def test_syn_sent_crossing_syns_is_simultaneous_open() -> None:
    c = Conv()
    c.syn("o")
    c.syn("r", ack=0)
    c.synack("o", seq=ORIG_ISN)
    c.synack("r", seq=RESP_ISN)
    (f,) = c.finish()
    assert (f["initiator"], f["handshake"]["status"]) == ("both", "simultaneous_open")
    assert ("resp", "SYN-SENT", "SYN-RECEIVED") in [(e, a, b) for _, e, a, b in _transitions(f)]
    assert ("orig", "SYN-SENT", "SYN-RECEIVED") in [(e, a, b) for _, e, a, b in _transitions(f)]
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert f["anomalies"] == {"simultaneous_open": 1}
    # Zeek's IsReuse takes the crossing SYN (a new ISN on a live 4-tuple) as a new
    # connection: its conn.log has the first SYN alone (S0), then a row the second SYN began
    assert [(r["conn_state"], r["history"], r["flipped"]) for r in f["zeek"]["rows"]] == [
        ("S0", "S", False), ("S1", "Sh", True)]


def test_inactive_data_midstream_is_partial_with_inferred_roles() -> None:
    c = Conv()
    c.data("o", 100)
    c.ack("r")
    (f,) = c.finish()
    assert (f["handshake"]["status"], f["initiator"], f["roles_inferred"]) == (
        "not_captured", "unknown", True)
    assert f["initial_state"] == {"orig": "PARTIAL", "resp": "PARTIAL"}
    assert f["zeek"]["conn_state"] == "OTH"


def test_inactive_synack_first_missing_syn_is_established_on_ack() -> None:
    c = Conv()
    c.synack("r", ack=ORIG_ISN + 1)
    c.ack("o", seq=ORIG_ISN + 1)
    (f,) = c.finish()
    assert f["handshake"]["status"] == "syn_not_captured"
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert f["orig"]["port"] == 40000  # the SYN-ACK receiver is the originator
    assert f["zeek"]["history"].startswith("^h")


def test_established_new_isn_syn_starts_new_incarnation() -> None:
    c = Conv()
    c.handshake()
    c.send("o", SYN, seq=ORIG_ISN + 10_000_000, ack=0)
    f1, f2 = c.finish()
    assert (f1["id"], f2["id"]) == (1, 2)
    assert f2["port_reuse"]["previous_id"] == 1
    assert f2["port_reuse"]["previous_in_time_wait"] is False
    assert f2["anomalies"] == {"reused_ports": 1}


def test_syn_sent_isn_near_wrap_completes() -> None:
    c = Conv(orig_isn=0xFFFFFFFF, resp_isn=0xFFFFFFFE)
    c.handshake()
    c.data("o", 3000)
    c.ack("r")
    (f,) = c.finish()
    assert f["handshake"]["status"] == "complete"
    assert f["anomalies"] == {}
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}


def test_any_state_ack_without_syn_flag_never_raises() -> None:
    c = Conv()
    c.send("r", ACK, seq=123, ack=456)
    c.send("o", SYN | RST, seq=1, ack=2)
    (f,) = c.finish()
    assert f["packets"] == {"orig": 1, "resp": 1}
