"""Zeek compatibility: Zeek's seven-state endpoint model, its history string and conn_state.

This module reproduces the rules of Zeek's TCP session adapter as documented in
``shared/reference/tcp-semantics.md`` §1 (and checked against Zeek's regression traces by
``tests/conformance/zeek.py``), so that users can diff our output against a ``conn.log``:

* each endpoint carries a Zeek state (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL,
  ESTABLISHED, CLOSED, RESET) next to its RFC 9293 state; the two models are independent;
* the history string: upper case for the originator, lower case for the responder, ``S H A
  D F R`` with Zeek's repetition rules, ``T W C G`` on a logarithmic scale (1st, 10th,
  100th ... occurrence), ``I`` for FIN+RST, ``Q`` for SYN+FIN / SYN+RST, ``^`` on a role flip;
* :func:`zeek_conn_state` derives ``conn_state`` exactly as Zeek's ``conn/main.zeek`` does.

Everything here is pure and driven by the orchestrator (:class:`.tracker.Connection`): it
reads the connection record (:mod:`.record`) and the segment and writes only the record's
Zeek fields (``z_*``, ``history``, ``hist_seen``, the timers, ``z_swap`` and, for a role
flip, ``orig_is_a``); nothing is stored that can be derived.  It imports no other peer.

Typed for Cython 3 in pure Python mode (STYLE §8, ``history.pxd``): the per-segment helpers
are C functions on the record's C fields, with declared C constants.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import segment as _segment

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .record import ConnExtra, ConnRecord, Endpoint
    from .segment import Segment
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

from sys import intern

if not cython.compiled:  # compiled, history.pxd cimports these (C calls, C types)
    from .record import ConnExtra, ConnRecord, Endpoint
    from .seqnum import seq_diff

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

# Zeek endpoint states (TCP_Endpoint.h), C constants (the index in ZEEK_STATE_NAMES)
Z_INACTIVE = cython.declare(cython.int, 0)
Z_SYN_SENT = cython.declare(cython.int, 1)
Z_SYN_ACK_SENT = cython.declare(cython.int, 2)
Z_PARTIAL = cython.declare(cython.int, 3)
Z_ESTABLISHED = cython.declare(cython.int, 4)
Z_CLOSED = cython.declare(cython.int, 5)
Z_RESET = cython.declare(cython.int, 6)

ZEEK_STATE_NAMES = ("INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED",
                    "CLOSED", "RESET")

# The flag bits as C constants (segment.py's values; checked below)
_FIN = cython.declare(cython.int, 0x01)
_SYN = cython.declare(cython.int, 0x02)
_RST = cython.declare(cython.int, 0x04)
_ACK = cython.declare(cython.int, 0x10)
_SFR = cython.declare(cython.int, 0x07)
_FR = cython.declare(cython.int, 0x05)
if (_FIN, _SYN, _RST, _ACK) != (_segment.FIN, _segment.SYN, _segment.RST, _segment.ACK):
    raise ImportError("history: TCP flag constants disagree with segment.py")

# History bits (one per letter kind and role), as in Zeek's hist_seen mask
_H_SYN = cython.declare(cython.longlong, 1)
_H_FIN = cython.declare(cython.longlong, 2)
_H_RST = cython.declare(cython.longlong, 4)
_H_FIN_RST = cython.declare(cython.longlong, 8)
_H_DATA = cython.declare(cython.longlong, 16)
_H_ACK = cython.declare(cython.longlong, 32)
_H_MULTI = cython.declare(cython.longlong, 64)
_H_LOW = cython.declare(cython.longlong, 0xFFFF)

_TOO_LARGE_SEQ_DELTA = cython.declare(cython.longlong, 1048576)
_MASK = cython.declare(cython.longlong, 0xFFFFFFFF)
_HISTORY_MAX = cython.declare(cython.Py_ssize_t, 128)

#: Ports Zeek's default analyzers register as likely server ports; the role-flip heuristic
#: for connections whose first packet is not a SYN uses them (TCPAnalyzer::WantConnection).
LIKELY_SERVER_PORTS = frozenset({
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 137, 139, 143, 179, 194, 389, 443, 445, 464,
    465, 502, 514, 530, 563, 585, 587, 614, 631, 636, 989, 990, 992, 993, 994, 995,
    1433, 1521, 1723, 1812, 1883, 2049, 2082, 2083, 2181, 2379, 3128, 3268, 3306, 3389, 3544,
    4369, 5060, 5061, 5222, 5269, 5432, 5672, 5900, 6379, 6666, 6667, 6668, 6669, 8000, 8080,
    8081, 8443, 8888, 9092, 11211, 27017,
})

_RSTOS0 = re.compile(r"^\^?S[^HAFGIQ]*R")


def want_flip_at_start(flags: int, sport: int, dport: int) -> bool:
    """Zeek's first-packet role heuristic: should the first packet's sender be the responder?

    A connection whose first packet is not a pure SYN is flipped when its source port is a
    likely server port and the destination port is not (or both are, the packet is not a
    SYN-ACK and the source port is the lower one).
    """
    if flags & _SYN and not flags & _ACK:
        return False
    if sport not in LIKELY_SERVER_PORTS:
        return False
    if dport not in LIKELY_SERVER_PORTS:
        return True
    return not (flags & _SYN and flags & _ACK) and sport < dport


@cython.cfunc
def _add(conn: ConnRecord, letter: str, is_orig: cython.bint) -> cython.void:
    # interned: connections with the same history share one string (most held connections
    # read "ShAD" or so: 54 bytes each otherwise); the interned table holds only the
    # strings some connection still references (CPython drops an interned string when the
    # last reference goes), so it is bounded by the connections held
    if len(conn.history) < _HISTORY_MAX:  # bounded: a hostile stream cannot grow it forever
        conn.history = intern(conn.history + (letter if is_orig else letter.lower()))


@cython.cfunc
def _check(conn: ConnRecord, bit: cython.longlong, letter: str,
           is_orig: cython.bint) -> cython.bint:
    """Zeek's CheckHistory: add the letter the first time; True if it was seen before."""
    mask: cython.longlong = bit if is_orig else bit << 16
    if conn.hist_seen & mask:
        return True
    conn.hist_seen |= mask
    _add(conn, letter, is_orig)
    return False


@cython.cfunc
def _scaled(conn: ConnRecord, ep: Endpoint, idx: cython.int, letter: str,
            is_orig: cython.bint) -> cython.void:
    """Zeek's ScaledHistoryEntry: add the letter on the 1st, 10th, 100th ... occurrence
    (``idx``: 0 C, 1 W, 2 T, 3 G)."""
    n: cython.uint
    if idx == 0:
        ep.z_n_c += 1
        n = ep.z_n_c
    elif idx == 1:
        ep.z_n_w += 1
        n = ep.z_n_w
    elif idx == 2:
        ep.z_n_t += 1
        n = ep.z_n_t
    else:
        ep.z_n_g += 1
        n = ep.z_n_g
    if n == 1 or (n >= 10 and _is_power_of_ten(n)):
        _add(conn, letter, is_orig)


@cython.cfunc
@cython.exceptval(check=False)
def _is_power_of_ten(n: cython.uint) -> cython.bint:
    while n % 10 == 0:
        n //= 10
    return n == 1


@cython.ccall
def record_once(conn: ConnRecord, bit: cython.longlong, letter: str,
                is_orig: cython.bint) -> cython.void:
    """Record a once-per-direction letter (D, A) for the steady-state fast path."""
    _check(conn, bit, letter, is_orig)


@cython.ccall
def zero_window(conn: ConnRecord, ep: Endpoint, is_orig: cython.bint) -> cython.void:
    """A zero window on a plain segment between synchronized endpoints (``W``/``w``)."""
    _scaled(conn, ep, 1, "W", is_orig)


@cython.ccall
def retransmitted(conn: ConnRecord, ep: Endpoint, is_orig: cython.bint) -> cython.void:
    """A payload that did not advance the sender's highest sequence (``T``/``t``)."""
    _scaled(conn, ep, 2, "T", is_orig)


@cython.ccall
def zeek_bad_checksum(conn: ConnRecord, ep: Endpoint, is_orig: cython.bint) -> cython.void:
    """A segment Zeek drops for its checksum: only the ``C``/``c`` letter records it."""
    _scaled(conn, ep, 0, "C", is_orig != conn.z_swap)


@cython.ccall
def zeek_gap(conn: ConnRecord, ep: Endpoint, is_orig: cython.bint) -> cython.void:
    """The peer acknowledged bytes of ``ep``'s stream never seen (``G``/``g``)."""
    _scaled(conn, ep, 3, "G", is_orig != conn.z_swap)


@cython.ccall
def zeek_process(
    conn: ConnRecord, ep: Endpoint, peer: Endpoint, is_orig: cython.bint, flags: cython.int,
    seq: cython.longlong, ack: cython.longlong, plen: cython.longlong, win: cython.longlong,
    wscale: cython.int,
) -> cython.void:
    """Run one segment through Zeek's endpoint model and history rules.

    ``ep`` sent the segment, ``peer`` receives it; ``is_orig`` says whether it is our
    originator (Zeek's current row may name the roles the other way round: ``z_swap``).
    ``wscale`` is the window scale its SYN options offered, -1 for none.
    """
    o: Endpoint
    r: Endpoint
    if conn.z_swap:
        is_orig = not is_orig
    if not flags & _SFR and conn.history == "H":
        o, r = (ep, peer) if is_orig else (peer, ep)
        if o.z_state == Z_SYN_ACK_SENT and r.z_state == Z_INACTIVE:
            # The connection began with a SYN-ACK and now its first plain ACK or data packet
            # arrives (from either side): the SYN-ACK sender is the responder.  Zeek flips
            # the roles and the history reads ^h from then on.
            _swap_roles(conn)
            conn.history = "^h"
            conn.hist_seen = ((conn.hist_seen & _H_LOW) << 16) | (conn.hist_seen >> 16)
            is_orig = not is_orig
    seg_len: cython.longlong = plen + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)
    if flags & _RST:
        seg_len -= plen
    last_seq: cython.longlong = (seq + seg_len) & _MASK
    st: cython.int = ep.z_state
    # init_endpoint: sequence bookkeeping for the first packet or a new SYN
    if st == Z_INACTIVE:
        if flags & _SYN:
            ep.z_start = seq
            ep.z_last = last_seq
        else:  # partial: number as if a SYN preceded, and never flag the first packet
            ep.z_start = (seq - 1) & _MASK
            ep.z_last = seq
    elif flags & _SYN and (
        (st in (Z_SYN_SENT, Z_SYN_ACK_SENT, Z_ESTABLISHED, Z_PARTIAL) and seq != ep.z_start)
        or (st in (Z_ESTABLISHED, Z_PARTIAL))
        or (st == Z_RESET and ep.z_prev == Z_INACTIVE)
    ):
        ep.z_start = seq
        ep.z_last = last_seq
    rel_seq: cython.longlong = (seq - ep.z_start) & _MASK

    # update_history
    bits: cython.int = (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0) + (
        1 if flags & _RST else 0)
    if bits > 1:
        if flags & _FR == _FR:
            _check(conn, _H_FIN_RST, "I", is_orig)
        else:
            _check(conn, _H_MULTI, "Q", is_orig)
    elif bits == 1:
        if flags & _SYN:
            code = "H" if flags & _ACK else "S"
            if _check(conn, _H_SYN, code, is_orig) and rel_seq != ep.z_hist_syn:
                _add(conn, code, is_orig)
            ep.z_hist_syn = rel_seq
        if flags & _FIN:
            fin_rel: cython.longlong = (rel_seq + plen) & _MASK
            if _check(conn, _H_FIN, "F", is_orig) and fin_rel != ep.z_hist_fin:
                _add(conn, "F", is_orig)
            ep.z_hist_fin = fin_rel
        if flags & _RST:
            if _check(conn, _H_RST, "R", is_orig) and rel_seq != ep.z_hist_rst:
                _add(conn, "R", is_orig)
            ep.z_hist_rst = rel_seq
    elif plen:
        _check(conn, _H_DATA, "D", is_orig)
    elif flags & _ACK:
        _check(conn, _H_ACK, "A", is_orig)

    # update_window: zero windows (a window scaled by what the sender offered is zero
    # exactly when the raw window is)
    if not flags & _RST and win == 0 and peer.z_state != Z_CLOSED and st != Z_RESET:
        _scaled(conn, ep, 1, "W", is_orig)
    if flags & _SYN:  # init_window
        if wscale < 0:
            ep.z_wscale = 0
            if flags & _ACK:
                peer.z_wscale = 0
        else:
            ep.z_wscale = wscale

    # update_last_seq: retransmission ('T') when a payload does not advance the sequence
    # (a SYN or RST that jumps more than a megabyte is not trusted, nor anything after a RST)
    delta: cython.longlong = seq_diff(last_seq, ep.z_last)
    huge_jump: cython.bint = (flags & (_SYN | _RST)) != 0 and abs(delta) > _TOO_LARGE_SEQ_DELTA
    if not huge_jump:
        if flags & _FIN and ep.z_last == ((ep.z_start + 1) & _MASK):
            ep.z_last = last_seq
        elif st != Z_RESET:
            if delta > 0:
                ep.z_last = last_seq
            elif plen > 0:
                _scaled(conn, ep, 2, "T", is_orig)

    _zeek_state_machine(conn, ep, peer, is_orig, flags, plen)


@cython.cfunc
@cython.exceptval(check=False)
def _set(ep: Endpoint, state: cython.int) -> cython.void:
    ep.z_prev = ep.z_state
    ep.z_state = state


@cython.cfunc
def _zeek_state_machine(
    conn: ConnRecord, ep: Endpoint, peer: Endpoint, is_orig: cython.bint, flags: cython.int,
    plen: cython.longlong,
) -> cython.void:
    st: cython.int = ep.z_state
    closing: cython.bint = False
    if st == Z_INACTIVE:
        if flags & _SYN:
            if is_orig:
                _set(ep, Z_SYN_ACK_SENT if flags & _ACK else Z_SYN_SENT)
                _life(conn)
                conn.z_attempt = conn.last_ts + TCP_ATTEMPT_DELAY_S
            else:
                if not flags & _ACK and peer.z_state == Z_SYN_ACK_SENT:
                    # SYN / SYN-ACK seen in reverse order (two capture interfaces): flip
                    _swap_roles(conn)
                    if len(conn.history) < _HISTORY_MAX:
                        conn.history = intern(conn.history + "^")
                    _set(peer, Z_ESTABLISHED)
                if peer.z_state == Z_SYN_SENT:
                    _set(peer, Z_ESTABLISHED)
                _set(ep, Z_ESTABLISHED)
        if flags & _FIN:
            _set(ep, Z_CLOSED)
            closing = True
        if flags & _RST:
            _set(ep, Z_RESET)
            closing = True
        if ep.z_state == Z_INACTIVE:
            if not is_orig and plen == 0 and peer.z_state == Z_SYN_SENT:
                pass  # an ACK of the SYN before the SYN-ACK does not make a partial side
            elif flags & _ACK and peer.z_state == Z_ESTABLISHED:
                _set(ep, Z_ESTABLISHED)  # missed the SYN, saw SYN-ACK then ACK
            else:
                _set(ep, Z_PARTIAL)
    elif st in (Z_SYN_SENT, Z_SYN_ACK_SENT):
        if flags & _FIN:
            _set(ep, Z_CLOSED)
            closing = True
        if flags & _RST:
            _set(ep, Z_RESET)
            closing = True
    elif st in (Z_ESTABLISHED, Z_PARTIAL):
        if flags & _SYN and st == Z_PARTIAL and peer.z_state == Z_INACTIVE and not flags & _ACK:
            _set(ep, Z_SYN_SENT)
        if flags & _FIN and not flags & _RST:
            _set(ep, Z_CLOSED)
            if peer.z_state == Z_RESET and peer.z_prev == Z_CLOSED:
                _set(peer, Z_CLOSED)  # FIN then RST from the peer: a normal termination
            closing = True
        if flags & _RST:
            _set(ep, Z_RESET)
            closing = True
    elif st == Z_CLOSED and flags & _RST and peer.z_state != Z_CLOSED:
        _set(ep, Z_RESET)
        closing = True
    if closing:
        _connection_closed(conn, ep, peer)


@cython.cfunc
@cython.exceptval(check=False)
def _set_reset_state(ep: Endpoint) -> cython.void:
    ep.z_state = ep.z_prev = Z_INACTIVE
    ep.z_start = ep.z_last = 0
    ep.z_hist_syn = ep.z_hist_fin = ep.z_hist_rst = -1
    ep.z_wscale = 0
    ep.z_n_c = ep.z_n_w = ep.z_n_t = ep.z_n_g = 0
    ep.z_did_close = False
    ep._z_hole = -1


# -- Zeek's connection lifecycle: the rows it would log for one of our connections ---------
# Zeek removes a connection from its table on timers (TCPSessionAdapter.cc) and starts a
# new one (new uid, new conn.log row) for the next packet of the same 4-tuple; it also
# starts a new one when IsReuse() accepts a SYN.  Our connection is one thing that really
# happened; Zeek's reading of it may be several rows.  Timers run on packet time, so each
# is checked when this connection's next segment arrives (Zeek fires a timer before it
# processes the first packet at or past the timer's time).

#: tcp_attempt_delay: an orig SYN unanswered this long is logged as an attempt (S0)
TCP_ATTEMPT_DELAY_S = 5.0
#: tcp_close_delay: state kept after a complete close (or a RST)
TCP_CLOSE_DELAY_S = 5.0
#: tcp_SYN_timeout / tcp_session_timer / tcp_connection_linger (ExpireTimer)
TCP_SYN_TIMEOUT_S = 5.0
TCP_SESSION_TIMER_S = 6.0
TCP_CONNECTION_LINGER_S = 5.0
#: Zeek rows kept per connection before the rest fold into the last one (bounded memory)
MAX_ZEEK_ROWS = 32


# Zeek's timers for the current row and the rows already finished live in the record's
# ``z_*`` connection fields: ``z_life`` (timers started), ``z_attempt``/``z_delete``
# (AttemptTimer / ConnDeleteTimer times, 0: none), the first times of the ExpireTimer
# chains (re-armed every ``tcp_session_timer``: ``z_n_expire`` of them, the first in
# ``z_expire0``, the others in the list ``z_expire_more``), ``z_active`` (Zeek's
# ``is_active``), ``z_row_start`` (ts of the row's first packet), ``z_base`` (our packet
# and byte counters (a, b) when the row began, None: zeros) and ``z_rows`` (finished rows).

_ZEEK_EP = ("z_state", "z_prev", "z_start", "z_last", "z_hist_syn", "z_hist_fin", "z_hist_rst",
            "z_wscale", "z_did_close", "_z_hole", "z_n_c", "z_n_w", "z_n_t", "z_n_g")
_ZEEK_CONN = ("history", "hist_seen", "zeek_last_ts", "orig_is_a", "z_swap", "z_life",
              "z_active", "z_attempt", "z_delete", "z_row_start", "z_expire0", "z_n_expire",
              "z_base")


def zeek_snapshot(conn: ConnRecord) -> tuple[Any, ...]:
    """All of the Zeek reading's state of ``conn``, for :func:`zeek_restore`."""
    more, rows = conn.z_expire_more, conn.z_rows
    return (
        tuple(getattr(conn.a, k) for k in _ZEEK_EP),
        tuple(getattr(conn.b, k) for k in _ZEEK_EP),
        tuple(getattr(conn, k) for k in _ZEEK_CONN),
        None if more is None else list(more), None if rows is None else list(rows),
    )


def zeek_restore(conn: ConnRecord, snap: tuple[Any, ...]) -> None:
    """Put back the Zeek reading as :func:`zeek_snapshot` found it: a segment Zeek never
    analysed leaves no trace in it."""
    a_vals, b_vals, c_vals, more, rows = snap
    for ep, vals in ((conn.a, a_vals), (conn.b, b_vals)):
        for k, v in zip(_ZEEK_EP, vals, strict=True):
            setattr(ep, k, v)
    for k, v in zip(_ZEEK_CONN, c_vals, strict=True):
        setattr(conn, k, v)
    conn.z_expire_more = more
    conn.z_rows = rows


@cython.cfunc
def _life(conn: ConnRecord) -> cython.void:
    """Start Zeek's timers for the connection (once): its first row, begun at its start."""
    if conn.z_life:
        return
    conn.z_life = True
    conn.z_attempt = conn.z_delete = 0.0
    _expire_clear(conn)
    _expire_add(conn, conn.first_ts + TCP_SYN_TIMEOUT_S)
    conn.z_active = True
    conn.z_row_start = conn.first_ts
    x: ConnExtra = conn._x  # z_base and z_rows to None (they are None without it)
    if x is not None:
        x.z_base = None
        x.z_rows = None


@cython.cfunc
def _expire_clear(conn: ConnRecord) -> cython.void:
    conn.z_n_expire = 0
    x: ConnExtra = conn._x  # z_expire_more to None (it is None without it)
    if x is not None:
        x.z_expire_more = None


@cython.cfunc
def _expire_add(conn: ConnRecord, first: cython.double) -> cython.void:
    """Start one more ExpireTimer chain, first firing at ``first``."""
    if conn.z_n_expire == 0:
        conn.z_expire0 = first
    elif conn.z_expire_more is None:
        conn.z_expire_more = [first]
    else:
        conn.z_expire_more.append(first)
    conn.z_n_expire += 1


def _chain_fired(first: Any, idle_after: Any, ts: Any) -> bool:
    """Whether the ExpireTimer chain first firing at ``first`` fired by ``ts`` after the
    idle period ending at ``idle_after`` (Python floats: the same arithmetic either way)."""
    tick = first
    if tick <= idle_after:  # the first tick of this chain after the idle period
        tick += TCP_SESSION_TIMER_S * (int((idle_after - first) // TCP_SESSION_TIMER_S) + 1)
    return bool(tick <= ts)


def zeek_orig_resp(conn: ConnRecord) -> tuple[Endpoint, Endpoint]:
    """(orig, resp) as Zeek's current row names them."""
    orig_is_a = conn.orig_is_a != conn.z_swap
    return (conn.a, conn.b) if orig_is_a else (conn.b, conn.a)


@cython.cfunc
def _swap_roles(conn: ConnRecord) -> cython.void:
    """Zeek's FlipRoles.  In the first row our roles follow Zeek's (as they always have);
    in a later row only Zeek's naming flips, so our own roles keep saying who began."""
    if conn.z_life and conn.z_rows:
        conn.z_swap = not conn.z_swap
    else:
        conn.orig_is_a = not conn.orig_is_a


@cython.cfunc
def _connection_closed(conn: ConnRecord, ep: Endpoint, peer: Endpoint) -> cython.void:
    """TCPSessionAdapter::ConnectionClosed: a close complete schedules the deletion."""
    if ep.z_did_close:
        return
    ep.z_did_close = True
    _life(conn)
    if ep.z_state == Z_RESET or peer.z_did_close or peer.z_state == Z_INACTIVE:
        conn.z_attempt = 0.0  # CancelTimers
        _expire_clear(conn)
        conn.z_active = False
        conn.z_delete = conn.zeek_last_ts + TCP_CLOSE_DELAY_S
    elif ep.z_prev != Z_INACTIVE:
        _expire_add(conn, conn.zeek_last_ts + TCP_SESSION_TIMER_S)
    if ep.z_state == Z_RESET:
        conn.z_active = False


@cython.cfunc
def _timer_fired(conn: ConnRecord, ts: cython.double) -> cython.bint:
    """Whether one of Zeek's timers removed the connection before a packet at ``ts``."""
    if conn.z_delete:
        return ts >= conn.z_delete
    o: Endpoint
    r: Endpoint
    o, r = zeek_orig_resp(conn)
    if conn.z_attempt and ts >= conn.z_attempt:
        conn.z_attempt = 0.0
        if o.z_state in (Z_SYN_SENT, Z_SYN_ACK_SENT) and r.z_state == Z_INACTIVE:
            return True
    if not conn.z_active:
        return False
    idle_after = conn.zeek_last_ts + TCP_CONNECTION_LINGER_S
    os_: cython.int = o.z_state
    rs: cython.int = r.z_state
    gone: cython.bint = ((o.z_did_close or r.z_did_close) and (
        (o.z_did_close and r.z_did_close) or Z_RESET in (os_, rs) or Z_INACTIVE in (os_, rs)
    )) or (os_ == Z_INACTIVE and rs == Z_INACTIVE)
    if not gone:
        return False
    if conn.z_n_expire and _chain_fired(conn.z_expire0, idle_after, ts):
        return True
    more = conn.z_expire_more
    if more is not None:
        for first in more:
            if _chain_fired(first, idle_after, ts):
                return True
    return False


@cython.cfunc
def _is_reuse(conn: ConnRecord, flags: cython.int, seq: cython.longlong) -> cython.bint:
    """TCPSessionAdapter::IsReuse for a SYN (or a SYN-ACK on a half connection)."""
    o, r = zeek_orig_resp(conn)
    conn_orig = o
    if flags & _ACK:
        if o.z_state != Z_INACTIVE:
            return False
        conn_orig = r
    if o.z_did_close or r.z_did_close:
        return True
    if seq == conn_orig.z_start:
        return False
    return not (not flags & _ACK and conn_orig.z_state == Z_SYN_ACK_SENT
                and r.z_state == Z_INACTIVE and seq == r.z_start)


@cython.ccall
def zeek_before(conn: ConnRecord, seg: Segment, from_a: cython.bint) -> cython.void:
    """Before a general-path segment is counted: does Zeek begin a new row with it?"""
    if not conn.a.pkts and not conn.b.pkts:
        return  # the connection's first segment
    life: cython.bint = conn.z_life
    ts: cython.double = seg.ts
    # a timer removed the connection, or IsReuse takes this SYN for a new one
    flags: cython.int = seg.flags
    if (life and _timer_fired(conn, ts)) or (
        flags & _SFR == _SYN and _is_reuse(conn, flags, seg.seq)
    ):
        _new_row(conn, seg, from_a)
    elif not life and ts >= conn.first_ts + TCP_SYN_TIMEOUT_S:
        o, r = zeek_orig_resp(conn)
        if o.z_state == Z_INACTIVE and r.z_state == Z_INACTIVE:
            _new_row(conn, seg, from_a)  # nothing ever happened: ExpireTimer dropped it


def _current_row(conn: ConnRecord) -> dict[str, object]:
    start = conn.z_row_start if conn.z_life else conn.first_ts
    base = conn.z_base if conn.z_life and conn.z_base is not None else (0, 0, 0, 0)
    o, r = zeek_orig_resp(conn)
    a_first = o is conn.a
    pkts = (conn.a.pkts - base[0], conn.b.pkts - base[1])
    byts = (conn.a.bytes - base[2], conn.b.bytes - base[3])
    return {
        "ts": start,
        "duration_s": conn.zeek_last_ts - start,
        "conn_state": zeek_conn_state(o, r, conn.history),
        "history": conn.history,
        "flipped": o is not conn.orig,
        "packets": {"orig": pkts[0] if a_first else pkts[1],
                    "resp": pkts[1] if a_first else pkts[0]},
        "bytes": {"orig": byts[0] if a_first else byts[1],
                  "resp": byts[1] if a_first else byts[0]},
    }


@cython.cfunc
def _new_row(conn: ConnRecord, seg: Segment, from_a: cython.bint) -> cython.void:
    _life(conn)
    rows = conn.z_rows
    if rows is not None and len(rows) >= MAX_ZEEK_ROWS - 1:
        return  # bounded: later segments stay in the last row
    if rows is None:
        rows = conn.z_rows = []
    rows.append(_current_row(conn))
    _set_reset_state(conn.a)
    _set_reset_state(conn.b)
    conn.history = ""
    conn.hist_seen = 0
    # Zeek's first-packet role decision for the new connection
    zeek_orig_is_a = from_a != want_flip_at_start(seg.flags, seg.sport, seg.dport)
    if zeek_orig_is_a != from_a:
        conn.history = "^"
    conn.z_swap = zeek_orig_is_a != conn.orig_is_a
    conn.zeek_last_ts = seg.ts
    conn.z_attempt = conn.z_delete = 0.0
    _expire_clear(conn)
    _expire_add(conn, seg.ts + TCP_SYN_TIMEOUT_S)
    conn.z_active = True
    conn.z_row_start = seg.ts
    conn.z_base = (conn.a.pkts, conn.b.pkts, conn.a.bytes, conn.b.bytes)


def zeek_rows(conn: ConnRecord) -> list[dict[str, object]]:
    """Every row Zeek's conn.log would hold for this connection, in order (usually one)."""
    rows = list(conn.z_rows) if conn.z_life and conn.z_rows else []
    rows.append(_current_row(conn))
    return rows


def zeek_row_start(conn: ConnRecord) -> float:
    """Capture time of the first packet of Zeek's current (last) row."""
    return conn.z_row_start if conn.z_life else conn.first_ts


def zeek_conn_state(orig: Endpoint, resp: Endpoint, history: str) -> str:
    """Zeek's ``conn_state`` from the two endpoints' Zeek states (first matching rule wins)."""
    os_, rs = orig.z_state, resp.z_state
    o_inactive = os_ in (Z_INACTIVE, Z_PARTIAL)
    r_inactive = rs in (Z_INACTIVE, Z_PARTIAL)
    if rs == Z_RESET:
        if os_ in (Z_SYN_SENT, Z_SYN_ACK_SENT) or (
            os_ == Z_RESET and orig.bytes == 0 and resp.bytes == 0
        ):
            return "REJ"
        if o_inactive:
            return "RSTRH"
        return "RSTR"
    if os_ == Z_RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.match(history) else "OTH"
        return "RSTO"
    if rs == Z_CLOSED and os_ == Z_CLOSED:
        return "SF"
    if os_ == Z_CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == Z_CLOSED:
        return "SHR" if o_inactive else "S3"
    if os_ == Z_SYN_SENT and rs == Z_INACTIVE:
        return "S0"
    if os_ == Z_ESTABLISHED and rs == Z_ESTABLISHED:
        return "S1"
    return "OTH"
