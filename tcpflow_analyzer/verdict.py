"""Pure derivations from a connection's recorded facts: handshake, close, outcome, Zeek state.

Nothing here is stored on the connection; every answer is recomputed from the two
endpoints and what the tracker recorded, so it can never disagree with them.

Typed for Cython 3 in pure Python mode (``verdict.pxd``): compiled, each derivation reads
the record's C fields (``record.pxd``) and its packed frame lists directly, and the report
builder calls them as C functions; interpreted, the very same code.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from .history import zeek_conn_state, zeek_orig_resp, zeek_rows

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .record import ConnRecord, Endpoint
    from .rounding import round_ns, round_us
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, verdict.pxd cimports these (C types, C calls)
    from .record import ConnRecord, Endpoint
    from .rounding import round_ns, round_us

    _round_ns = round_ns  # the name the tests and older callers use
else:  # a cimported function is no module attribute: importers find them here as before
    from . import rounding as _rounding

    globals().update(round_us=_rounding.round_us, round_ns=_rounding.round_ns,
                     _round_ns=_rounding.round_ns)

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""


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

# The outcomes as C constants, indices into _OUTCOMES and _OUTCOME_TEXTS (an Enum is
# hashed, and its ``.value`` read, by Python-level code)
_CLOSED = cython.declare(cython.int, 0)
_RESET = cython.declare(cython.int, 1)
_REFUSED = cython.declare(cython.int, 2)
_NO_SYNACK = cython.declare(cython.int, 3)
_HANDSHAKE_INCOMPLETE = cython.declare(cython.int, 4)
_OPEN = cython.declare(cython.int, 5)
_OUTCOMES = (Outcome.CLOSED, Outcome.RESET, Outcome.REFUSED, Outcome.NO_SYNACK,
             Outcome.HANDSHAKE_INCOMPLETE, Outcome.OPEN)
_OUTCOME_TEXTS = tuple(x.value for x in _OUTCOMES)
if set(_OUTCOMES) != set(Outcome):
    raise ImportError("verdict: _OUTCOMES does not list every Outcome")


# SynOptions -> its ``to_dict()``: the decoder hands out one shared instance per distinct
# set of values (immutable by convention), so a handful serve a whole capture, and copying
# a dict costs a fraction of building it.  Bounded, as every table keyed by capture
# content must be (emptied when full); a report gets a copy of its own.
_OPTS_DICTS: dict[Any, dict[str, Any]] = {}
_OPTS_DICTS_MAX = 256


@cython.cfunc
def _options_dict(opts: object) -> dict:  # type: ignore[type-arg]
    cache: dict[Any, dict[str, Any]] = _OPTS_DICTS
    d = cache.get(opts)
    if d is None:
        d = opts.to_dict()  # type: ignore[attr-defined]
        if len(cache) >= _OPTS_DICTS_MAX:
            cache.clear()
        cache[opts] = d
    return d.copy()


@cython.cfunc
def _frames(packed: object, stride: cython.Py_ssize_t) -> list:  # type: ignore[type-arg]
    """The frame numbers (first of each ``stride`` fields) of a packed frame list."""
    if packed is None:
        return []
    rec: Any = packed
    n: cython.Py_ssize_t = len(rec)
    if n == stride:  # the usual one record needs no loop
        return [int(rec[0])]
    return [int(rec[i]) for i in range(0, n, stride)]


@cython.cfunc
def _fin_frames(ep: Endpoint, first: cython.longlong) -> list:  # type: ignore[type-arg]
    """The frame numbers of the FINs ``ep`` sent, ``first`` being the first one's (0: none).
    Compiled, the usual single FIN sits in the record's C fields (``_fin_0``, bit 4 of
    ``_rec_in``); more FINs, or the interpreted record, are in ``_fin_more``."""
    if not first:
        return []
    if cython.compiled and ep._rec_in & 4:
        return [first]
    return _frames(ep._fin_more, 2)


@cython.ccall
def derive_handshake(conn: ConnRecord) -> dict[str, Any]:
    """Handshake facts: status, frames, retransmissions, RTT halves and SYN options."""
    o: Endpoint
    r: Endpoint
    i: cython.Py_ssize_t
    n_syns: cython.Py_ssize_t
    n_synacks: cython.Py_ssize_t
    ts: cython.double
    first_synack_ts: cython.double
    before: cython.double
    last_synack: cython.double
    ack_frame: cython.double
    ack_ts: cython.double
    if conn.orig_is_a:
        o, r = conn.a, conn.b
    else:
        o, r = conn.b, conn.a
    # the SYNs (frame, ts) the orig sent and the SYN-ACKs (frame, ts, ack) of ``sa``, read
    # from the record's fields (record.py: syn_at, synack_at), not through the array views
    sa: Endpoint = r
    n_syns = o.n_syn()
    n_synacks = r.n_synack()
    hs_ack: cython.bint = conn._hsa_frame >= 0
    if conn.sim_open:
        status = _HS_SIMULTANEOUS_OPEN
        if not n_synacks:
            sa = o
            n_synacks = o.n_synack()
    elif n_syns and not n_synacks and hs_ack:
        status = _HS_SYNACK_NOT_CAPTURED  # completed on the evidence of the orig's ACKs
    elif n_syns and not n_synacks:
        refused = False
        resets = conn._resets
        if resets is not None:
            for x in resets:
                if x["situation"] == "refused":
                    refused = True
                    break
        status = _HS_REFUSED if refused else _HS_NO_ANSWER
    elif n_syns:
        status = _HS_COMPLETE if hs_ack else _HS_INCOMPLETE
    elif n_synacks or o.sent_synack():
        status = _HS_SYN_NOT_CAPTURED
    else:
        status = _HS_NOT_CAPTURED
    orig_side: Any = None
    resp_side: Any = None
    total: Any = None
    if n_syns and n_synacks:
        first_synack_ts = sa.synack_at(0, 1)
        # RTT from the *last* SYN sent before the first SYN-ACK (Karn: the SYN-ACK answers it)
        found = False
        before = 0.0
        for i in range(n_syns):
            ts = o.syn_at(i, 1)
            if ts <= first_synack_ts:
                before = ts
                found = True
        if found:
            resp_side = round_ns(first_synack_ts - before)
        if hs_ack:
            ack_frame = conn._hsa_frame
            ack_ts = conn._hsa_ts
            found = False
            last_synack = 0.0
            for i in range(n_synacks):
                ts = sa.synack_at(i, 0)  # its frame number
                if ts < ack_frame:
                    last_synack = sa.synack_at(i, 1)
                    found = True
            if found:
                orig_side = round_ns(ack_ts - last_synack)
        if orig_side is not None and resp_side is not None:
            total = round_ns(orig_side + resp_side)
    o_opts, r_opts = o.opts, r.opts
    if (o_opts is not None and o_opts.wscale is not None
            and r_opts is not None and r_opts.wscale is not None):
        window_scaling = "negotiated"
    elif (n_syns or n_synacks) and (o_opts or r_opts):
        window_scaling = "not_negotiated"
    else:
        window_scaling = "unknown"
    gaps: list[float] = [
        round_us(o.syn_at(i + 1, 1) - o.syn_at(i, 1)) for i in range(n_syns - 1)
    ] if n_syns > 1 else []
    return {
        "status": status,
        "syn_frames": [int(o.syn_at(i, 0)) for i in range(n_syns)],
        "synack_frames": [int(sa.synack_at(i, 0)) for i in range(n_synacks)],
        "ack_frame": conn._hsa_frame if hs_ack else None,
        "syn_retransmissions": n_syns - 1 if n_syns > 1 else 0,
        "syn_retransmission_gaps_s": gaps,
        "synack_retransmissions": n_synacks - 1 if n_synacks > 1 else 0,
        "rtt_s": {"orig_side": orig_side, "resp_side": resp_side, "total": total},
        "options": {
            "orig": _options_dict(o_opts) if o_opts is not None else None,
            "resp": _options_dict(r_opts) if r_opts is not None else None,
            "window_scaling": window_scaling,
        },
    }


@cython.ccall
def derive_close(conn: ConnRecord) -> dict[str, Any]:
    """Close facts: pattern, who sent the first FIN, FIN frames and the final ACK."""
    o: Endpoint
    r: Endpoint
    first: Endpoint
    second: Endpoint
    fo: cython.longlong
    fr: cython.longlong
    second_fin: cython.longlong
    if conn.orig_is_a:
        o, r = conn.a, conn.b
    else:
        o, r = conn.b, conn.a
    # the first FINs' frames and the frame lists, read from the record's fields
    # (record.py: sent_fin, first_fin_frame), not through the ``fin_rec`` array views
    fo = int(o.first_fin_frame()) if o.sent_fin() else 0
    fr = int(r.first_fin_frame()) if r.sent_fin() else 0
    fin_frames = {"orig": _fin_frames(o, fo), "resp": _fin_frames(r, fr)}
    if not fo and not fr:
        return {"pattern": _CLOSE_NONE, "first_fin_by": None, "fin_frames": fin_frames,
                "final_ack_frame": None}
    final_ack: Any = None
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
        if o.fin_ack_frame and r.fin_ack_frame:
            final_ack = max(o.fin_ack_frame, r.fin_ack_frame)
    else:
        pattern = _CLOSE_ONE_FIN_ONLY
        first_by = "orig" if fo else "resp"
    return {"pattern": pattern, "first_fin_by": first_by, "fin_frames": fin_frames,
            "final_ack_frame": final_ack}


@cython.cfunc
def _outcome(conn: ConnRecord, status: str, pattern: str, final_ack: object) -> cython.int:
    """The outcome's index in ``_OUTCOMES``."""
    both_fins: cython.bint = pattern != _CLOSE_NONE and pattern != _CLOSE_ONE_FIN_ONLY
    if status == _HS_REFUSED:
        return _REFUSED
    resets = conn._resets
    if resets is not None:
        for x in resets:
            # the first RST that took effect (not one answering a stray ACK in SYN-SENT)
            if x["validity"] != "out_of_window" and x["situation"] != "stray_ack":
                closed_before = both_fins and final_ack is not None and final_ack < x["frame"]
                return _CLOSED if closed_before else _RESET
    if both_fins:
        return _CLOSED
    if status == _HS_NO_ANSWER:
        return _NO_SYNACK
    if status == _HS_INCOMPLETE and not (conn.a.bytes or conn.b.bytes):
        return _HANDSHAKE_INCOMPLETE
    return _OPEN


@cython.ccall
def derive_outcome(conn: ConnRecord, handshake: dict[str, Any],
                   close: dict[str, Any]) -> Outcome:
    """The connection's outcome; see :class:`Outcome` and the README's schema."""
    return _OUTCOMES[
        _outcome(conn, handshake["status"], close["pattern"], close["final_ack_frame"])]


@cython.ccall
def outcome_text(conn: ConnRecord, handshake: dict[str, Any], close: dict[str, Any]) -> str:
    """:func:`derive_outcome`'s display text (``closed``, ``reset`` ...)."""
    return _OUTCOME_TEXTS[
        _outcome(conn, handshake["status"], close["pattern"], close["final_ack_frame"])]


@cython.ccall
def derive_zeek(conn: ConnRecord) -> dict[str, Any]:
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
