"""Pure derivations from a connection's recorded facts: handshake, close, outcome, Zeek state.

Nothing here is stored on the connection; every answer is recomputed from the two
endpoints and what the tracker recorded, so it can never disagree with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from .history import zeek_conn_state, zeek_orig_resp, zeek_rows
from .tracker import Connection


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
    SYNACK_NOT_CAPTURED = "synack_not_captured"
    NOT_CAPTURED = "not_captured"


class ClosePattern(Enum):
    """How a connection closed (RFC 9293 §3.6)."""

    FOUR_WAY = "four_way"
    THREE_WAY = "three_way"
    SIMULTANEOUS = "simultaneous"
    HALF_CLOSE = "half_close"
    ONE_FIN_ONLY = "one_fin_only"
    NONE = "none"


# Enum ``.value`` goes through a Python-level descriptor; reports read these once per
# connection, so the texts are looked up here, once.
_HS_SIMULTANEOUS_OPEN = HandshakeStatus.SIMULTANEOUS_OPEN.value
_HS_COMPLETE = HandshakeStatus.COMPLETE.value
_HS_REFUSED = HandshakeStatus.REFUSED.value
_HS_NO_ANSWER = HandshakeStatus.NO_ANSWER.value
_HS_INCOMPLETE = HandshakeStatus.INCOMPLETE.value
_HS_SYN_NOT_CAPTURED = HandshakeStatus.SYN_NOT_CAPTURED.value
_HS_SYNACK_NOT_CAPTURED = HandshakeStatus.SYNACK_NOT_CAPTURED.value
_HS_NOT_CAPTURED = HandshakeStatus.NOT_CAPTURED.value
_CLOSE_FOUR_WAY = ClosePattern.FOUR_WAY.value
_CLOSE_THREE_WAY = ClosePattern.THREE_WAY.value
_CLOSE_SIMULTANEOUS = ClosePattern.SIMULTANEOUS.value
_CLOSE_HALF_CLOSE = ClosePattern.HALF_CLOSE.value
_CLOSE_ONE_FIN_ONLY = ClosePattern.ONE_FIN_ONLY.value
_CLOSE_NONE = ClosePattern.NONE.value

# Below 2**52 a double's unit in the last place is at most 1/2, so ``x * 10**k`` is off
# the exact product by at most 1/4 (see :func:`_exact_round`).
_EXACT_LIMIT = 2.0**52


def _exact_round(digits: int) -> Callable[[float], float]:
    """Exactly ``round(x, digits)`` (bit for bit), at about a third of its cost.

    ``round(x, k)`` writes ``x`` as a correctly rounded decimal and parses that back.  Here
    ``y = x * 10**k`` is rounded to an integer ``n`` instead: ``n / 10**k`` is the double
    nearest to the exact quotient, which is what ``round`` parses back too.  The two agree
    when ``n`` is also the nearest integer to the *exact* product: below 2**52, ``y`` is off
    that product by at most 1/4, so ``|y - n| < 1/4`` proves it (the product is then within
    1/2 of ``n``).  The rest (near a half, huge, inf, nan, or a zero, whose sign only
    ``round`` gets right) goes to ``round`` itself.
    """
    scale = float(10**digits)

    def exact_round(x: float) -> float:
        y = x * scale
        if -_EXACT_LIMIT < y < _EXACT_LIMIT:
            n = round(y)
            if n and -0.25 < y - n < 0.25:
                return n / scale
        return round(x, digits)

    return exact_round


#: ``round(x, 6)``: to the microsecond
round_us = _exact_round(6)
#: ``round(x, 9)``: to the nanosecond
_round_ns = _exact_round(9)


def _frames(records: Sequence[tuple[Any, ...]]) -> list[int]:
    """The frame numbers (first fields) of ``records``; the usual one record needs no loop."""
    if len(records) == 1:
        return [records[0][0]]
    return [x[0] for x in records]


def derive_handshake(conn: Connection) -> dict[str, Any]:
    """Handshake facts: status, frames, retransmissions, RTT halves and SYN options."""
    o, r = (conn.a, conn.b) if conn.orig_is_a else (conn.b, conn.a)
    syns = o.syn_frames
    synacks = r.synack_frames
    hs_ack = conn.handshake_ack
    if conn.sim_open:
        status = _HS_SIMULTANEOUS_OPEN
        synacks = synacks or o.synack_frames
    elif syns and not synacks and hs_ack:
        status = _HS_SYNACK_NOT_CAPTURED  # completed on the evidence of the orig's ACKs
    elif syns and not synacks:
        refused = any(x["situation"] == "refused" for x in conn.resets)
        status = _HS_REFUSED if refused else _HS_NO_ANSWER
    elif syns:
        status = _HS_COMPLETE if hs_ack else _HS_INCOMPLETE
    elif synacks or o.synack_frames:
        status = _HS_SYN_NOT_CAPTURED
    else:
        status = _HS_NOT_CAPTURED
    orig_side: float | None = None
    resp_side: float | None = None
    total: float | None = None
    if syns and synacks:
        first_synack_ts = synacks[0][1]
        # RTT from the *last* SYN sent before the first SYN-ACK (Karn: the SYN-ACK answers it)
        before: float | None = None
        for _f, ts in syns:
            if ts <= first_synack_ts:
                before = ts
        if before is not None:
            resp_side = _round_ns(first_synack_ts - before)
        if hs_ack:
            ack_frame, ack_ts = hs_ack
            last_synack: float | None = None
            for f, ts, _a in synacks:
                if f < ack_frame:
                    last_synack = ts
            if last_synack is not None:
                orig_side = _round_ns(ack_ts - last_synack)
        if orig_side is not None and resp_side is not None:
            total = _round_ns(orig_side + resp_side)
    o_opts, r_opts = o.opts, r.opts
    if (o_opts is not None and o_opts.wscale is not None
            and r_opts is not None and r_opts.wscale is not None):
        window_scaling = "negotiated"
    elif (syns or synacks) and (o_opts or r_opts):
        window_scaling = "not_negotiated"
    else:
        window_scaling = "unknown"
    n_syns = len(syns)
    n_synacks = len(synacks)
    return {
        "status": status,
        "syn_frames": _frames(syns),
        "synack_frames": _frames(synacks),
        "ack_frame": hs_ack[0] if hs_ack else None,
        "syn_retransmissions": n_syns - 1 if n_syns > 1 else 0,
        "syn_retransmission_gaps_s": [
            round_us(b[1] - a[1]) for a, b in zip(syns, syns[1:], strict=False)
        ] if n_syns > 1 else [],
        "synack_retransmissions": n_synacks - 1 if n_synacks > 1 else 0,
        "rtt_s": {"orig_side": orig_side, "resp_side": resp_side, "total": total},
        "options": {
            "orig": o_opts.to_dict() if o_opts else None,
            "resp": r_opts.to_dict() if r_opts else None,
            "window_scaling": window_scaling,
        },
    }


def derive_close(conn: Connection) -> dict[str, Any]:
    """Close facts: pattern, who sent the first FIN, FIN frames and the final ACK."""
    o, r = (conn.a, conn.b) if conn.orig_is_a else (conn.b, conn.a)
    o_fins, r_fins = o.fin_frames, r.fin_frames
    fo = o_fins[0][0] if o_fins else 0
    fr = r_fins[0][0] if r_fins else 0
    fin_frames = {"orig": _frames(o_fins), "resp": _frames(r_fins)}
    if not fo and not fr:
        return {"pattern": _CLOSE_NONE, "first_fin_by": None, "fin_frames": fin_frames,
                "final_ack_frame": None}
    final_ack: int | None = None
    if fo and fr:
        if fo < fr:
            first, second, second_fin, first_by = o, r, fr, "orig"
        else:
            first, second, second_fin, first_by = r, o, fo, "resp"
        if conn.fin_crossed:
            pattern = _CLOSE_SIMULTANEOUS
            first_by = "both"
        elif second.data_after_peer_fin:
            pattern = _CLOSE_HALF_CLOSE
        elif first.fin_delivered_frame == second_fin:
            pattern = _CLOSE_THREE_WAY
        else:
            pattern = _CLOSE_FOUR_WAY
        o_ack, r_ack = o.fin_ack_frame, r.fin_ack_frame
        if o_ack and r_ack:
            final_ack = max(o_ack, r_ack)
    else:
        pattern = _CLOSE_ONE_FIN_ONLY
        first_by = "orig" if fo else "resp"
    return {"pattern": pattern, "first_fin_by": first_by, "fin_frames": fin_frames,
            "final_ack_frame": final_ack}


def derive_outcome(conn: Connection, handshake: dict[str, Any], close: dict[str, Any]) -> Outcome:
    """The connection's outcome; see :class:`Outcome` and the README's schema."""
    status = handshake["status"]
    if status == _HS_REFUSED:
        return Outcome.REFUSED
    pattern = close["pattern"]
    both_fins = pattern != _CLOSE_NONE and pattern != _CLOSE_ONE_FIN_ONLY
    for x in conn.resets:
        # the first RST that took effect (not one answering a stray ACK in SYN-SENT)
        if x["validity"] != "out_of_window" and x["situation"] != "stray_ack":
            final_ack = close["final_ack_frame"]
            closed_before = both_fins and final_ack is not None and final_ack < x["frame"]
            return Outcome.CLOSED if closed_before else Outcome.RESET
    if both_fins:
        return Outcome.CLOSED
    if status == _HS_NO_ANSWER:
        return Outcome.NO_SYNACK
    if status == _HS_INCOMPLETE and not (conn.orig.bytes or conn.resp.bytes):
        return Outcome.HANDSHAKE_INCOMPLETE
    return Outcome.OPEN


def derive_zeek(conn: Connection) -> dict[str, str]:
    """Zeek's ``conn_state`` and ``history`` for this connection (its current row).

    When Zeek's own mechanics (its SYN-attempt and close timers, its reuse rule) would log
    the connection as several conn.log rows, ``rows`` lists them all, in order: ``ts``,
    ``duration_s``, ``conn_state``, ``history``, ``flipped`` (Zeek names orig/resp the
    other way round), ``packets`` and ``bytes``; the top-level fields are the last row's.
    """
    o, r = zeek_orig_resp(conn)
    history = conn.history
    out: dict[str, Any] = {"conn_state": zeek_conn_state(o, r, history), "history": history}
    if conn.z_rows:  # Zeek finished earlier rows of it
        rows = zeek_rows(conn)
        for row in rows:
            row["ts"] = round_us(row["ts"])  # type: ignore[arg-type]
            row["duration_s"] = round_us(row["duration_s"])  # type: ignore[arg-type]
        out["rows"] = rows
    return out
