"""Pure derivations from a connection's recorded facts: handshake, close, outcome, Zeek state.

Nothing here is stored on the connection; every answer is recomputed from the two
endpoints and what the tracker recorded, so it can never disagree with them.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from .history import zeek_conn_state
from .tracker import Connection, Endpoint


class Outcome(Enum):
    """How a connection ended up."""

    CLOSED = "closed"
    RESET = "reset"
    REFUSED = "refused"
    NO_SYNACK = "no_synack"
    HANDSHAKE_INCOMPLETE = "handshake_incomplete"
    OPEN = "open"


class HandshakeStatus(Enum):
    """How a connection opened, as far as the capture shows."""

    COMPLETE = "complete"
    SIMULTANEOUS_OPEN = "simultaneous_open"
    REFUSED = "refused"
    NO_ANSWER = "no_answer"
    INCOMPLETE = "incomplete"
    SYN_NOT_CAPTURED = "syn_not_captured"
    NOT_CAPTURED = "not_captured"


class ClosePattern(Enum):
    """How a connection closed (RFC 9293 §3.6)."""

    FOUR_WAY = "four_way"
    THREE_WAY = "three_way"
    SIMULTANEOUS = "simultaneous"
    HALF_CLOSE = "half_close"
    ONE_FIN_ONLY = "one_fin_only"
    NONE = "none"


def derive_handshake(conn: Connection) -> dict[str, Any]:
    """Handshake facts: status, frames, retransmissions, RTT halves and SYN options."""
    o, r = conn.orig, conn.resp
    syns = o.syn_frames
    synacks = r.synack_frames
    if conn.sim_open:
        status = HandshakeStatus.SIMULTANEOUS_OPEN
        synacks = synacks or o.synack_frames
    elif syns and not synacks:
        refused = any(x["situation"] == "refused" for x in conn.resets)
        status = HandshakeStatus.REFUSED if refused else HandshakeStatus.NO_ANSWER
    elif syns:
        status = HandshakeStatus.COMPLETE if conn.handshake_ack else HandshakeStatus.INCOMPLETE
    elif synacks or o.synack_frames:
        status = HandshakeStatus.SYN_NOT_CAPTURED
    else:
        status = HandshakeStatus.NOT_CAPTURED
    rtt: dict[str, float | None] = {"orig_side": None, "resp_side": None, "total": None}
    if syns and synacks:
        first_synack_ts = synacks[0][1]
        # RTT from the *last* SYN sent before the first SYN-ACK (Karn: the SYN-ACK answers it)
        before = [ts for _f, ts in syns if ts <= first_synack_ts]
        if before:
            rtt["resp_side"] = round(first_synack_ts - before[-1], 9)
        if conn.handshake_ack:
            ack_frame, ack_ts = conn.handshake_ack
            last_synack = [ts for f, ts, _a in synacks if f < ack_frame]
            if last_synack:
                rtt["orig_side"] = round(ack_ts - last_synack[-1], 9)
        if rtt["orig_side"] is not None and rtt["resp_side"] is not None:
            rtt["total"] = round(rtt["orig_side"] + rtt["resp_side"], 9)
    wscale_ok = o.wscale is not None and r.wscale is not None
    return {
        "status": status.value,
        "syn_frames": [f for f, _ in syns],
        "synack_frames": [f for f, _, _ in synacks],
        "ack_frame": conn.handshake_ack[0] if conn.handshake_ack else None,
        "syn_retransmissions": max(0, len(syns) - 1),
        "syn_retransmission_gaps_s": [
            round(b[1] - a[1], 6) for a, b in zip(syns, syns[1:], strict=False)
        ],
        "synack_retransmissions": max(0, len(synacks) - 1),
        "rtt_s": rtt,
        "options": {
            "orig": o.opts.to_dict() if o.opts else None,
            "resp": r.opts.to_dict() if r.opts else None,
            "window_scaling": (
                "negotiated" if wscale_ok
                else ("not_negotiated" if (syns or synacks) and (o.opts or r.opts) else "unknown")
            ),
        },
    }


def _first_fin(e: Endpoint) -> int:
    return e.fin_frames[0][0] if e.fin_frames else 0


def derive_close(conn: Connection) -> dict[str, Any]:
    """Close facts: pattern, who sent the first FIN, FIN frames and the final ACK."""
    o, r = conn.orig, conn.resp
    fo, fr = _first_fin(o), _first_fin(r)
    fin_frames = {"orig": [f for f, _ in o.fin_frames], "resp": [f for f, _ in r.fin_frames]}
    if not fo and not fr:
        return {"pattern": ClosePattern.NONE.value, "first_fin_by": None, "fin_frames": fin_frames,
                "final_ack_frame": None}
    if fo and fr:
        first, second = (o, r) if fo < fr else (r, o)
        first_by = "orig" if first is o else "resp"
        if conn.fin_crossed:
            pattern = ClosePattern.SIMULTANEOUS
            first_by = "both"
        elif second.data_after_peer_fin:
            pattern = ClosePattern.HALF_CLOSE
        elif first.fin_delivered_frame == _first_fin(second):
            pattern = ClosePattern.THREE_WAY
        else:
            pattern = ClosePattern.FOUR_WAY
        acks = [x for x in (o.fin_ack_frame, r.fin_ack_frame) if x]
        final_ack = max(acks) if len(acks) == 2 else None
    else:
        pattern = ClosePattern.ONE_FIN_ONLY
        first_by = "orig" if fo else "resp"
        final_ack = None
    return {"pattern": pattern.value, "first_fin_by": first_by, "fin_frames": fin_frames,
            "final_ack_frame": final_ack}


def derive_outcome(conn: Connection, handshake: dict[str, Any], close: dict[str, Any]) -> Outcome:
    """The connection's outcome; see :class:`Outcome` and the README's schema."""
    if handshake["status"] == HandshakeStatus.REFUSED.value:
        return Outcome.REFUSED
    both_fins = close["pattern"] not in (ClosePattern.NONE.value, ClosePattern.ONE_FIN_ONLY.value)
    effective = [x for x in conn.resets if x["validity"] != "out_of_window"]
    if effective:
        first_rst = effective[0]["frame"]
        closed_before = both_fins and close["final_ack_frame"] is not None and \
            close["final_ack_frame"] < first_rst
        return Outcome.CLOSED if closed_before else Outcome.RESET
    if both_fins:
        return Outcome.CLOSED
    if handshake["status"] == HandshakeStatus.NO_ANSWER.value:
        return Outcome.NO_SYNACK
    if handshake["status"] == HandshakeStatus.INCOMPLETE.value and not (
        conn.orig.bytes or conn.resp.bytes
    ):
        return Outcome.HANDSHAKE_INCOMPLETE
    return Outcome.OPEN


def derive_zeek(conn: Connection) -> dict[str, str]:
    """Zeek's ``conn_state`` and ``history`` for this connection."""
    history = conn.history
    return {"conn_state": zeek_conn_state(conn.orig, conn.resp, history), "history": history}
