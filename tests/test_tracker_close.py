"""Tracker: closing a connection, grouped by starting state."""

from __future__ import annotations

from tcpflow_analyzer.segment import ACK, FIN

from .builders import established


def _trans(f: dict) -> list[tuple[int, str, str, str]]:
    return [(t["frame"], t["endpoint"], t["from"], t["to"]) for t in f["transitions"]][4:]


def test_established_orig_fin_four_way_close_orig_holds_time_wait() -> None:
    c = established()
    c.fin("o")       # 4
    c.ack("r")       # 5
    c.fin("r")       # 6
    c.ack("o")       # 7
    (f,) = c.finish()
    assert f["close"] == {"pattern": "four_way", "first_fin_by": "orig",
                          "fin_frames": {"orig": [4], "resp": [6]}, "final_ack_frame": 7}
    assert _trans(f) == [
        (4, "orig", "ESTABLISHED", "FIN-WAIT-1"),
        (5, "resp", "ESTABLISHED", "CLOSE-WAIT"),
        (5, "orig", "FIN-WAIT-1", "FIN-WAIT-2"),
        (6, "resp", "CLOSE-WAIT", "LAST-ACK"),
        (7, "orig", "FIN-WAIT-2", "TIME-WAIT"),
        (7, "resp", "LAST-ACK", "CLOSED"),
    ]
    assert [(t["endpoint"], t["frame"]) for t in f["time_wait"]] == [("orig", 7)]
    assert (f["outcome"], f["zeek"]["conn_state"]) == ("closed", "SF")


def test_established_resp_fin_four_way_close_resp_holds_time_wait() -> None:
    c = established()
    c.four_way_close("r")
    (f,) = c.finish()
    assert (f["close"]["pattern"], f["close"]["first_fin_by"]) == ("four_way", "resp")
    assert [t["endpoint"] for t in f["time_wait"]] == ["resp"]
    assert f["final_state"] == {"orig": "CLOSED", "resp": "TIME-WAIT"}


def test_close_wait_fin_piggybacked_on_ack_is_three_way_close() -> None:
    c = established()
    c.fin("o")   # 4
    c.fin("r")   # 5: FIN+ACK acknowledging orig's FIN
    c.ack("o")   # 6
    (f,) = c.finish()
    assert f["close"]["pattern"] == "three_way"
    assert _trans(f) == [
        (4, "orig", "ESTABLISHED", "FIN-WAIT-1"),
        (5, "resp", "ESTABLISHED", "CLOSE-WAIT"),
        (5, "resp", "CLOSE-WAIT", "LAST-ACK"),
        (5, "orig", "FIN-WAIT-1", "FIN-WAIT-2"),
        (6, "orig", "FIN-WAIT-2", "TIME-WAIT"),
        (6, "resp", "LAST-ACK", "CLOSED"),
    ]


def test_fin_wait_1_crossing_fins_is_simultaneous_close_both_time_wait() -> None:
    c = established()
    o_fin_ack = c.r.nxt
    c.fin("o")                       # 4
    c.send("r", FIN | ACK, ack=c.o.nxt - 1)  # 5: crosses, does not ack orig's FIN
    c.send("o", ACK, ack=o_fin_ack + 1)       # 6: acks resp's FIN
    c.ack("r")                        # 7: acks orig's FIN
    (f,) = c.finish()
    assert (f["close"]["pattern"], f["close"]["first_fin_by"]) == ("simultaneous", "both")
    froms = [(e, a, b) for _, e, a, b in _trans(f)]
    assert ("orig", "FIN-WAIT-1", "CLOSING") in froms
    assert ("resp", "FIN-WAIT-1", "CLOSING") in froms
    assert sorted(t["endpoint"] for t in f["time_wait"]) == ["orig", "resp"]
    assert f["final_state"] == {"orig": "TIME-WAIT", "resp": "TIME-WAIT"}


def test_close_wait_data_after_acking_fin_is_half_close() -> None:
    c = established()
    c.fin("o")
    c.ack("r")
    c.data("r", 500)
    c.ack("o")
    c.data("r", 500)
    c.ack("o")
    c.fin("r")
    c.ack("o")
    (f,) = c.finish()
    assert f["close"]["pattern"] == "half_close"
    assert f["final_state"] == {"orig": "TIME-WAIT", "resp": "CLOSED"}
    assert f["anomalies"] == {}


def test_fin_wait_2_peer_never_closes_is_one_fin_only() -> None:
    c = established()
    c.fin("o")
    c.ack("r")
    (f,) = c.finish()
    assert (f["close"]["pattern"], f["outcome"]) == ("one_fin_only", "open")
    assert f["final_state"] == {"orig": "FIN-WAIT-2", "resp": "CLOSE-WAIT"}
    assert f["zeek"]["conn_state"] == "S2"


def test_fin_wait_1_fin_retransmitted_is_flagged_not_new_state() -> None:
    c = established()
    c.fin("o")
    c.send("o", FIN | ACK, seq=c.o.nxt - 1, advance=False)
    c.ack("r")
    (f,) = c.finish()
    assert f["anomalies"] == {"fin_retransmission": 1}
    assert f["close"]["fin_frames"]["orig"] == [4, 5]


def test_fin_wait_2_data_after_own_fin_is_anomaly() -> None:
    c = established()
    c.fin("o")
    c.ack("r")
    c.send("o", ACK, 10)
    (f,) = c.finish()
    assert f["anomalies"].get("data_after_fin") == 1


def test_time_wait_new_syn_higher_isn_is_acceptable_reuse() -> None:
    c = established()
    c.four_way_close("o")
    c.dt = 2.0
    c.send("o", 0x02, seq=c.o.nxt + 100_000, ack=0)
    f1, f2 = c.finish()
    reuse = f2["port_reuse"]
    assert reuse["previous_in_time_wait"] is True
    assert reuse["time_wait_holder"] == ["orig"]
    assert reuse["isn_advanced"] is True
    assert reuse["rfc6191_acceptable"] is True
    assert "premature_reuse" not in f2["anomalies"]


def test_time_wait_new_syn_lower_isn_is_premature_reuse() -> None:
    c = established()
    c.four_way_close("o")
    c.dt = 2.0
    c.send("o", 0x02, seq=c.o.nxt - 50_000, ack=0)
    f1, f2 = c.finish()
    assert f2["port_reuse"]["rfc6191_acceptable"] is False
    assert f2["anomalies"].get("premature_reuse") == 1


def test_time_wait_syn_after_2msl_is_not_in_time_wait() -> None:
    c = established()
    c.four_way_close("o")
    c.dt = 61.0
    c.send("o", 0x02, seq=c.o.nxt - 50_000, ack=0)
    f1, f2 = c.finish()
    assert f2["port_reuse"]["previous_in_time_wait"] is False
    assert "premature_reuse" not in f2["anomalies"]


def test_established_ack_flags_only_keep_states() -> None:
    c = established()
    for _ in range(5):
        c.data("o", 100)
        c.send("r", ACK)
    (f,) = c.finish()
    assert f["final_state"] == {"orig": "ESTABLISHED", "resp": "ESTABLISHED"}
    assert f["bytes"] == {"orig": 500, "resp": 0}
