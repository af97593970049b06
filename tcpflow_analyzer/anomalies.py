"""The anomaly catalogue: every stable snake_case code with its meaning and severity.

Codes are published: they are never renamed.  Wireshark's names are used where Wireshark
has the concept, with its meaning; the rest are ours.  ``tcpflow-analyzer anomalies``
prints this table and the README reproduces it.
"""

from __future__ import annotations

from enum import Enum


class Severity(Enum):
    """How much an anomaly matters to a user chasing a failure."""

    INFO = "info"
    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"


# code -> (severity, one-line meaning)
CATALOGUE: dict[str, tuple[Severity, str]] = {
    # -- Wireshark tcp.analysis.* concepts -----------------------------------------------
    "retransmission": (
        Severity.NOTE, "data or SYN/FIN re-sent by the sender (seq below its highest sent)"
    ),
    "fast_retransmission": (
        Severity.NOTE, "retransmission of the segment the peer's duplicate ACKs asked for"
    ),
    "spurious_retransmission": (
        Severity.NOTE, "retransmission of data the peer had already acknowledged"
    ),
    "out_of_order": (
        Severity.WARNING, "segment sent once, seen after higher-sequenced data (network reordering)"
    ),
    "lost_segment": (Severity.WARNING, "sequence gap: the previous segment was not captured"),
    "ack_lost_segment": (
        Severity.WARNING, "ACK of data the capture never saw (captured upstream of the loss)"
    ),
    "duplicate_ack": (Severity.NOTE, "pure ACK repeating the previous ACK number and window"),
    "zero_window": (Severity.WARNING, "receiver advertised a zero window"),
    "zero_window_probe": (Severity.NOTE, "probe sent into a zero window"),
    "zero_window_probe_ack": (
        Severity.NOTE, "ACK answering a zero-window probe, window still zero"
    ),
    "window_full": (Severity.WARNING, "segment fills the peer's advertised window"),
    "window_update": (Severity.INFO, "pure ACK that only changes the advertised window"),
    "keep_alive": (Severity.NOTE, "keep-alive: seq one below the next expected, 0 or 1 byte"),
    "keep_alive_ack": (Severity.NOTE, "ACK answering a keep-alive"),
    "reused_ports": (Severity.NOTE, "new SYN on a 4-tuple that already carried a connection"),
    # -- ours ----------------------------------------------------------------------------
    "duplicate_segment": (
        Severity.NOTE, "bit-identical copy made by the network, not re-sent by the sender"
    ),
    "syn_retransmission": (Severity.WARNING, "SYN re-sent with the same ISN (no answer in time)"),
    "synack_retransmission": (
        Severity.WARNING, "SYN-ACK re-sent (the handshake ACK did not arrive in time)"
    ),
    "fin_retransmission": (Severity.NOTE, "FIN re-sent"),
    "sack": (Severity.INFO, "segment carries SACK blocks (receiver holds out-of-order data)"),
    "dsack": (Severity.NOTE, "D-SACK: receiver reports a duplicate segment (RFC 2883)"),
    "tfo_cookie_request": (Severity.INFO, "SYN asks for a TCP Fast Open cookie"),
    "tfo_syn_data": (Severity.INFO, "SYN carries data with a TCP Fast Open cookie"),
    "syn_with_data": (Severity.NOTE, "SYN carries payload without a TFO cookie"),
    "bad_synack_ack": (Severity.ERROR, "SYN-ACK acknowledges a number other than the SYN's ISN+1"),
    "ack_above_snd_nxt": (
        Severity.ERROR, "ACK of data the peer never sent (beyond anything it sent)"
    ),
    "seq_out_of_window": (Severity.WARNING, "segment outside the receiver's advertised window"),
    "data_after_fin": (Severity.ERROR, "payload sent after the sender's own FIN"),
    "data_after_rst": (Severity.ERROR, "payload sent after a RST on the connection"),
    "window_shrink": (
        Severity.WARNING, "right edge of the advertised window moved left (RFC 9293 §3.8.6)"
    ),
    "bad_checksum": (Severity.ERROR, "TCP checksum is wrong; a real receiver drops the segment"),
    "challenge_ack": (Severity.NOTE, "ACK sent in reply to a suspicious RST or SYN (RFC 5961)"),
    # -- connection life-cycle findings --------------------------------------------------
    "rst_out_of_window": (
        Severity.WARNING, "RST whose seq is outside the receiver's window (ignored by it)"
    ),
    "rst_in_time_wait": (Severity.NOTE, "RST received in TIME-WAIT (RFC 1337 assassination)"),
    "rst_after_fin": (Severity.NOTE, "RST after a FIN (half-duplex close, RFC 1122 §4.2.2.13)"),
    "rst_no_connection": (Severity.NOTE, "RST for which no connection was ever seen"),
    "simultaneous_open": (Severity.INFO, "both ends sent a SYN (RFC 9293 simultaneous open)"),
    "premature_reuse": (
        Severity.WARNING, "4-tuple reused while the old connection should be in TIME-WAIT"
    ),
    "syn_in_established": (Severity.WARNING, "SYN with a new ISN inside a synchronized connection"),
    "data_before_established": (
        Severity.WARNING, "payload before the handshake completed (not on the SYN)"
    ),
    "fin_without_established": (
        Severity.WARNING, "FIN from an endpoint that never completed a handshake"
    ),
    "cut_short_by_cap": (
        Severity.WARNING,
        "reported before it ended: more connections than the cap were active at once",
    ),
    "clock_went_back": (
        Severity.WARNING,
        "segment timestamped before the connection's previous one: taken as that time",
    ),
}


def describe(code: str) -> str:
    """One-line meaning of an anomaly code (unknown codes describe themselves)."""
    entry = CATALOGUE.get(code)
    return entry[1] if entry else code


def severity(code: str) -> Severity:
    """Severity of an anomaly code."""
    entry = CATALOGUE.get(code)
    return entry[0] if entry else Severity.NOTE
