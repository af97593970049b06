"""Tracker: RST handling, validity (RFC 9293 §3.5.3, RFC 5961) and the distinct situations."""

from __future__ import annotations

from tcpflow_analyzer.segment import ACK, RST

from .builders import Conv, established


def test_established_rst_exact_by_orig_aborts_both() -> None:
    c = established()
    c.data("o", 100)
    c.ack("r")
    c.rst("o")
    (f,) = c.finish()
    assert f["outcome"] == "reset"
    assert f["reset"] == {"by": "orig", "frames": [6], "states": {"orig": "ESTABLISHED",
                          "resp": "ESTABLISHED"}, "validity": "exact", "situation": "abort",
                          "challenge_ack": False}
    assert f["final_state"] == {"orig": "CLOSED", "resp": "CLOSED"}
    assert f["zeek"]["conn_state"] == "RSTO"


def test_established_rst_by_resp_is_rstr() -> None:
    c = established()
    c.rst("r")
    (f,) = c.finish()
    assert (f["reset"]["by"], f["zeek"]["conn_state"]) == ("resp", "RSTR")


def test_established_rst_in_window_not_exact() -> None:
    c = established()
    c.send("o", RST | ACK, seq=c.o.nxt + 1000, advance=False)
    (f,) = c.finish()
    assert f["reset"]["validity"] == "in_window"


def test_established_rst_out_of_window_is_ignored_by_receiver() -> None:
    c = established()
    c.send("o", RST | ACK, seq=c.o.nxt + 0x40000000, win=100, advance=False)
    (f,) = c.finish()
    assert f["reset"]["validity"] == "out_of_window"
    assert f["final_state"] == {"orig": "CLOSED", "resp": "ESTABLISHED"}
    assert f["outcome"] == "open"
    assert f["anomalies"]["rst_out_of_window"] == 1


def test_fin_wait_2_rst_after_fin_is_its_own_situation() -> None:
    c = established()
    c.fin("o")
    c.ack("r")
    c.data("r", 100)
    c.rst("o")
    (f,) = c.finish()
    assert (f["outcome"], f["reset"]["situation"]) == ("reset", "after_fin")
    assert f["reset"]["states"] == {"orig": "FIN-WAIT-2", "resp": "CLOSE-WAIT"}


def test_time_wait_rst_is_assassination_connection_stays_closed() -> None:
    c = established()
    c.four_way_close("o")
    c.rst("r")
    (f,) = c.finish()
    assert (f["outcome"], f["reset"]["situation"]) == ("closed", "in_time_wait")
    assert f["anomalies"]["rst_in_time_wait"] == 1


def test_inactive_lone_rst_is_no_connection() -> None:
    c = Conv()
    c.send("o", RST | ACK, seq=42, ack=43)
    (f,) = c.finish()
    assert (f["reset"]["situation"], f["zeek"]["conn_state"], f["zeek"]["history"]) == (
        "no_connection", "OTH", "R")
    assert f["final_state"] == {"orig": "CLOSED", "resp": "INACTIVE"}


def test_reset_connection_then_lone_rst_much_later_is_new_connection() -> None:
    c = Conv()
    c.send("o", RST, seq=42, ack=0)
    c.dt = 60.0
    c.send("o", RST, seq=42, ack=0)
    f1, f2 = c.finish()
    assert (f1["id"], f2["id"]) == (1, 2)


def test_established_data_after_rst_is_anomaly() -> None:
    c = established()
    c.rst("o")
    c.send("r", ACK, 100)
    (f,) = c.finish()
    assert f["anomalies"].get("data_after_rst") == 1
    assert f["outcome"] == "reset"
    assert f["packets"]["resp"] == 2
    assert ACK  # flags constant import kept for readability of the test vocabulary
