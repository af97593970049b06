"""Flow table: which connection each segment belongs to (issue 11, "Connection identity").

Grouped by situation on the 4-tuple; every test asserts the whole set of connections the
capture yields, because the bug class is "a real connection reported as several".
"""

from __future__ import annotations

from tcpflow_analyzer.segment import ACK, FIN, RST

from .builders import ORIG_ISN, RESP_ISN, Conv

NEW_ISN = 3_000_000_000
NEW_RESP_ISN = 7_000_000


def _summary(f: dict) -> tuple:
    hs = f["handshake"]
    return (f["outcome"], hs["status"], hs["syn_frames"], hs["syn_retransmissions"],
            f["reset"] and f["reset"]["frames"], f["first_frame"], f["last_frame"])


def test_refused_syn_retried_with_same_isn_is_one_refused_connection() -> None:
    # a stack that retries a refused connect() (Windows does, 0.5 s apart) with its ISN
    c = Conv(dt=0.5)
    for _ in range(3):
        c.syn(seq=ORIG_ISN)
        c.send("r", RST | ACK, seq=0, ack=ORIG_ISN + 1)
    (f,) = c.finish()
    assert _summary(f) == ("refused", "refused", [1, 3, 5], 2, [2, 4, 6], 1, 6)
    assert f["anomalies"] == {"syn_retransmission": 2}
    assert f["port_reuse"] is None
    assert f["final_state"] == {"orig": "CLOSED", "resp": "CLOSED"}
    # Zeek logs each retry as its own row (as its baseline pop3.basic shows): the Zeek
    # reading keeps them, our own fields count one attempt
    z = f["zeek"]
    assert [(r["conn_state"], r["history"], r["packets"]) for r in z["rows"]] == [
        ("REJ", "Sr", {"orig": 1, "resp": 1})] * 3
    assert (z["conn_state"], z["history"]) == ("REJ", "Sr")


def test_syn_sent_stray_ack_answered_by_rst_then_retry_is_one_connection() -> None:
    # RFC 9293 §3.10.7.3: SYN-SENT answers an ACK that does not ACK its SYN with
    # <SEQ=SEG.ACK><CTL=RST> and keeps waiting; its retried SYN (same ISN) then succeeds
    c = Conv(dt=0.01)
    c.syn()
    c.send("r", ACK, seq=777, ack=4444)
    c.send("o", RST, seq=4444, ack=0, advance=False)
    c.syn(seq=ORIG_ISN)
    c.synack()
    c.ack()
    (f,) = c.finish()
    assert _summary(f) == ("open", "complete", [1, 4], 1, [3], 1, 6)
    assert (f["reset"]["situation"], f["reset"]["states"]) == (
        "stray_ack", {"orig": "SYN-SENT", "resp": "LISTEN"})
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert f["anomalies"] == {"challenge_ack": 1, "syn_retransmission": 1}


def _reconnect_over(c: Conv) -> tuple[int, int]:
    """The client opens the 4-tuple again with a new ISN; the old server socket, still
    synchronized, answers with a challenge ACK (RFC 5961 §4.2), the client resets that
    socket and its retried SYN is answered.  Returns the old (client, server) next seqs."""
    old_o, old_r = c.o.nxt, c.r.nxt
    c.dt = 1.0
    c.o.nxt = NEW_ISN
    c.syn()
    c.dt = 0.04
    c.send("r", ACK, seq=old_r, ack=old_o, advance=False)
    c.dt = 0.0001
    c.send("o", RST, seq=old_o, ack=0, advance=False)
    c.dt = 1.0
    c.syn(seq=NEW_ISN)
    c.r.nxt = NEW_RESP_ISN
    c.dt = 0.04
    c.synack()
    c.ack()
    return old_o, old_r


def test_established_reconnect_challenge_ack_and_rst_belong_to_the_old_connection() -> None:
    c = Conv()
    c.handshake()
    c.data("o", 100)
    c.ack("r")
    _reconnect_over(c)   # frames 6 SYN, 7 challenge ACK, 8 RST, 9 SYN, 10 SYN-ACK, 11 ACK
    old, new = c.finish()
    assert _summary(old) == ("reset", "complete", [1], 0, [8], 1, 8)
    assert old["packets"] == {"orig": 4, "resp": 3}
    assert old["anomalies"] == {"challenge_ack": 1}
    assert old["final_state"] == {"orig": "CLOSED", "resp": "CLOSED"}
    assert _summary(new) == ("open", "complete", [6, 9], 1, None, 6, 11)
    assert new["port_reuse"]["previous_id"] == old["id"]
    assert new["anomalies"] == {"reused_ports": 1, "syn_retransmission": 1}


def test_close_wait_port_reuse_old_connection_challenge_ack_rst_and_retry_told_apart() -> None:
    # the client closed, the server never did (CLOSE-WAIT); the client reconnects from the
    # same port: the challenge ACK and the client's RST end the old connection
    c = Conv()
    c.handshake()
    c.data("o", 100)
    c.ack("r")
    c.fin("o")
    c.ack("r")           # server in CLOSE-WAIT, client in FIN-WAIT-2
    c.dt = 60.0
    _reconnect_over(c)   # frames 8 SYN, 9 challenge ACK, 10 RST, 11 SYN, 12 SYN-ACK, 13 ACK
    old, new = c.finish()
    assert _summary(old) == ("reset", "complete", [1], 0, [10], 1, 10)
    assert old["close"]["pattern"] == "one_fin_only"
    assert old["reset"]["states"] == {"orig": "FIN-WAIT-2", "resp": "CLOSE-WAIT"}
    assert old["reset"]["validity"] == "exact"
    assert old["anomalies"] == {"challenge_ack": 1, "rst_after_fin": 1}
    assert _summary(new) == ("open", "complete", [8, 11], 1, None, 8, 13)
    assert new["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert new["anomalies"] == {"reused_ports": 1, "syn_retransmission": 1}


def test_last_ack_fin_resent_after_close_linger_belongs_to_the_old_connection() -> None:
    # the final ACK was captured but lost beyond the capture point: resp stays in LAST-ACK
    # and re-sends its FIN with doubling gaps (0.2 s ... 12.8 s, past the 5 s close
    # linger); orig's TIME-WAIT re-ACKs each one
    c = Conv()
    c.handshake()
    c.data("o", 100)
    c.ack("r")
    c.four_way_close("o")              # frames 6-9
    fin_seq = c.r.nxt - 1
    for i in range(7):                 # frames 10-23
        c.dt = 0.2 * 2**i
        c.send("r", FIN | ACK, seq=fin_seq)
        c.dt = 0.0001
        c.ack("o")
    (f,) = c.finish()
    assert (f["outcome"], f["close"]["pattern"], f["first_frame"], f["last_frame"]) == (
        "closed", "four_way", 1, 23)
    assert f["close"]["fin_frames"]["resp"] == [8, *range(10, 24, 2)]
    assert f["anomalies"] == {"fin_retransmission": 7}
    assert f["final_state"] == {"orig": "TIME-WAIT", "resp": "CLOSED"}


def test_above_max_active_an_evicted_connection_is_reported_once_cut_short() -> None:
    from tcpflow_analyzer.flowtable import FlowTable
    from tcpflow_analyzer.report import build_flow_report
    from tcpflow_analyzer.segment import PSH, SYN
    from tcpflow_analyzer.tracker import TrackerConfig

    from .builders import make_segment

    flows: list[dict] = []
    table = FlowTable(TrackerConfig(max_active=10),
                      lambda conn: flows.append(build_flow_report(conn)))
    frame = 0

    def send(port: int, from_orig: bool, seq: int, ack: int, flags: int, plen: int = 0) -> None:
        nonlocal frame
        frame += 1
        seg = make_segment(frame=frame, ts=1000 + frame / 1000, from_orig=from_orig,
                           seq=seq, ack=ack, flags=flags, plen=plen)
        if from_orig:
            seg.sport = port
        else:
            seg.dport = port
        conn, from_a = table.lookup(seg)
        if conn is not None:
            conn.process(seg, from_a)

    ports = range(41000, 41015)  # 15 connections open at once, cap 10
    for p in ports:
        send(p, True, ORIG_ISN, 0, SYN)
        send(p, False, RESP_ISN, ORIG_ISN + 1, SYN | ACK)
        send(p, True, ORIG_ISN + 1, RESP_ISN + 1, ACK)
    for p in ports:  # every connection carries on, the evicted ones too
        send(p, True, ORIG_ISN + 1, RESP_ISN + 1, ACK | PSH, 100)
        send(p, False, RESP_ISN + 1, ORIG_ISN + 101, ACK)
    send(41000, True, ORIG_ISN, 0, SYN)  # a SYN re-sent by an evicted one: not new either
    table.flush()
    assert sorted(f["orig"]["port"] for f in flows) == list(ports)  # each reported once
    assert {f["handshake"]["status"] for f in flows} == {"complete"}
    cut = [f for f in flows if "cut_short_by_cap" in f["anomalies"]]
    assert len(cut) == table.evicted > 0
    assert table.cut_segments > 0
    # a new ISN on an evicted 4-tuple is a new connection
    send(41000, True, NEW_ISN, 0, SYN)
    table.flush()
    assert [f["orig"]["port"] for f in flows].count(41000) == 2


def _states(f: dict) -> list[tuple[int, str, str, str]]:
    return [(t["frame"], t["endpoint"], t["from"], t["to"]) for t in f["transitions"]]


def test_one_direction_orig_side_only_completes_on_orig_acks() -> None:
    # an asymmetric tap saw only orig's segments: its ACK after the SYN proves it got the
    # (unseen) SYN-ACK, so both machines advance, with no per-segment anomalies
    c = Conv()
    c.syn()
    c.ack(ack=RESP_ISN + 1)
    for i in range(4):
        c.data("o", 100, ack=RESP_ISN + 1 + 1000 * i)
    c.fin("o", ack=RESP_ISN + 4001)
    (f,) = c.finish()
    assert (f["outcome"], f["handshake"]["status"], f["handshake"]["ack_frame"]) == (
        "open", "synack_not_captured", 2)
    assert f["anomalies"] == {}
    assert _states(f)[:4] == [
        (1, "orig", "CLOSED", "SYN-SENT"),
        (2, "resp", "LISTEN", "SYN-RECEIVED"),
        (2, "orig", "SYN-SENT", "ESTABLISHED"),
        (2, "resp", "SYN-RECEIVED", "ESTABLISHED"),
    ]
    assert f["final_state"] == {"orig": "FIN-WAIT-1", "resp": "ESTABLISHED"}


def test_one_direction_resp_side_only_is_established_on_its_acks_of_orig_data() -> None:
    # only resp's segments: its ACKs move past orig's SYN, acknowledging orig's (unseen)
    # data, so orig's handshake ACK reached it: resp is not stuck in SYN-RECEIVED
    c = Conv()
    c.synack(ack=ORIG_ISN + 1)
    for i in range(4):
        c.data("r", 1000, ack=ORIG_ISN + 1 + 100 * (i + 1))
    c.fin("r", ack=ORIG_ISN + 501)
    (f,) = c.finish()
    assert f["handshake"]["status"] == "syn_not_captured"
    assert f["anomalies"] == {}
    assert _states(f) == [
        (1, "resp", "LISTEN", "SYN-RECEIVED"),
        (1, "orig", "SYN-SENT", "ESTABLISHED"),
        (2, "resp", "SYN-RECEIVED", "ESTABLISHED"),
        (6, "resp", "ESTABLISHED", "FIN-WAIT-1"),
    ]


def test_one_direction_resp_speaks_first_data_proves_established() -> None:
    # a server that talks first (SMTP, SSH): data waits for ESTABLISHED (RFC 9293 §3.10.1)
    c = Conv()
    c.synack(ack=ORIG_ISN + 1)
    c.data("r", 100, ack=ORIG_ISN + 1)
    c.data("r", 100, ack=ORIG_ISN + 1)
    (f,) = c.finish()
    assert f["anomalies"] == {}
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
