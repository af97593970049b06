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

Everything here is pure and driven by the tracker; nothing is stored that can be derived.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .segment import ACK, FIN, RST, SYN
from .seqnum import MASK, seq_diff

if TYPE_CHECKING:
    from .segment import Segment
    from .tracker import Connection, Endpoint

# Zeek endpoint states (TCP_Endpoint.h)
Z_INACTIVE = 0
Z_SYN_SENT = 1
Z_SYN_ACK_SENT = 2
Z_PARTIAL = 3
Z_ESTABLISHED = 4
Z_CLOSED = 5
Z_RESET = 6

ZEEK_STATE_NAMES = ("INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED",
                    "CLOSED", "RESET")

# History bits (one per letter kind and role), as in Zeek's hist_seen mask
_H_SYN, _H_FIN, _H_RST, _H_FIN_RST, _H_DATA, _H_ACK, _H_MULTI = (1, 2, 4, 8, 16, 32, 64)
H_DATA = _H_DATA
H_ACK = _H_ACK

_TOO_LARGE_SEQ_DELTA = 1048576

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
    if flags & SYN and not flags & ACK:
        return False
    if sport not in LIKELY_SERVER_PORTS:
        return False
    if dport not in LIKELY_SERVER_PORTS:
        return True
    return not (flags & SYN and flags & ACK) and sport < dport


def _add(conn: Connection, letter: str, is_orig: bool) -> None:
    if len(conn.history) < 128:  # bounded: a hostile stream cannot grow it forever
        conn.history += letter if is_orig else letter.lower()


def _check(conn: Connection, bit: int, letter: str, is_orig: bool) -> bool:
    """Zeek's CheckHistory: add the letter the first time; True if it was seen before."""
    mask = bit if is_orig else bit << 16
    if conn.hist_seen & mask:
        return True
    conn.hist_seen |= mask
    _add(conn, letter, is_orig)
    return False


def _scaled(conn: Connection, ep: Endpoint, idx: int, letter: str, is_orig: bool) -> None:
    """Zeek's ScaledHistoryEntry: add the letter on the 1st, 10th, 100th ... occurrence."""
    counts = ep.z_counts
    if counts is None:
        counts = ep.z_counts = [0, 0, 0, 0]
    counts[idx] += 1
    n = counts[idx]
    if n == 1 or (n >= 10 and _is_power_of_ten(n)):
        _add(conn, letter, is_orig)


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1


def record_once(conn: Connection, bit: int, letter: str, is_orig: bool) -> None:
    """Record a once-per-direction letter (D, A) for the steady-state fast path."""
    _check(conn, bit, letter, is_orig)


def zero_window(conn: Connection, ep: Endpoint, is_orig: bool) -> None:
    """A zero window on a plain segment between synchronized endpoints (``W``/``w``)."""
    _scaled(conn, ep, 1, "W", is_orig)


def retransmitted(conn: Connection, ep: Endpoint, is_orig: bool) -> None:
    """A payload that did not advance the sender's highest sequence (``T``/``t``)."""
    _scaled(conn, ep, 2, "T", is_orig)


def zeek_bad_checksum(conn: Connection, ep: Endpoint, is_orig: bool) -> None:
    """A segment Zeek drops for its checksum: only the ``C``/``c`` letter records it."""
    _scaled(conn, ep, 0, "C", is_orig != conn.z_swap)


def zeek_gap(conn: Connection, ep: Endpoint, is_orig: bool) -> None:
    """The peer acknowledged bytes of ``ep``'s stream never seen (``G``/``g``)."""
    _scaled(conn, ep, 3, "G", is_orig != conn.z_swap)


def zeek_process(
    conn: Connection, ep: Endpoint, peer: Endpoint, is_orig: bool, flags: int, seq: int,
    ack: int, plen: int, win: int, wscale: int | None,
) -> None:
    """Run one segment through Zeek's endpoint model and history rules.

    ``ep`` sent the segment, ``peer`` receives it; ``is_orig`` says whether it is our
    originator (Zeek's current row may name the roles the other way round: ``z_swap``).
    """
    if conn.z_swap:
        is_orig = not is_orig
    if conn.history == "H" and not flags & (SYN | FIN | RST):
        o, r = (ep, peer) if is_orig else (peer, ep)
        if o.z_state == Z_SYN_ACK_SENT and r.z_state == Z_INACTIVE:
            # The connection began with a SYN-ACK and now its first plain ACK or data packet
            # arrives (from either side): the SYN-ACK sender is the responder.  Zeek flips
            # the roles and the history reads ^h from then on.
            _swap_roles(conn)
            conn.history = "^h"
            conn.hist_seen = ((conn.hist_seen & 0xFFFF) << 16) | (conn.hist_seen >> 16)
            is_orig = not is_orig
    seg_len = plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if flags & RST:
        seg_len -= plen
    last_seq = (seq + seg_len) & MASK
    st = ep.z_state
    # init_endpoint: sequence bookkeeping for the first packet or a new SYN
    if st == Z_INACTIVE:
        if flags & SYN:
            ep.z_start = seq
            ep.z_last = last_seq
        else:  # partial: number as if a SYN preceded, and never flag the first packet
            ep.z_start = (seq - 1) & MASK
            ep.z_last = seq
    elif flags & SYN and (
        (st in (Z_SYN_SENT, Z_SYN_ACK_SENT, Z_ESTABLISHED, Z_PARTIAL) and seq != ep.z_start)
        or (st in (Z_ESTABLISHED, Z_PARTIAL))
        or (st == Z_RESET and ep.z_prev == Z_INACTIVE)
    ):
        ep.z_start = seq
        ep.z_last = last_seq
    rel_seq = (seq - ep.z_start) & MASK

    # update_history
    bits = (1 if flags & SYN else 0) + (1 if flags & FIN else 0) + (1 if flags & RST else 0)
    if bits > 1:
        if flags & FIN and flags & RST:
            _check(conn, _H_FIN_RST, "I", is_orig)
        else:
            _check(conn, _H_MULTI, "Q", is_orig)
    elif bits == 1:
        if flags & SYN:
            code = "H" if flags & ACK else "S"
            if _check(conn, _H_SYN, code, is_orig) and rel_seq != ep.z_hist_syn:
                _add(conn, code, is_orig)
            ep.z_hist_syn = rel_seq
        if flags & FIN:
            fin_rel = (rel_seq + plen) & MASK
            if _check(conn, _H_FIN, "F", is_orig) and fin_rel != ep.z_hist_fin:
                _add(conn, "F", is_orig)
            ep.z_hist_fin = fin_rel
        if flags & RST:
            if _check(conn, _H_RST, "R", is_orig) and rel_seq != ep.z_hist_rst:
                _add(conn, "R", is_orig)
            ep.z_hist_rst = rel_seq
    elif plen:
        _check(conn, _H_DATA, "D", is_orig)
    elif flags & ACK:
        _check(conn, _H_ACK, "A", is_orig)

    # update_window: zero windows (scaled by what the sender offered)
    if (
        not flags & RST and (win << ep.z_wscale) == 0 and peer.z_state != Z_CLOSED
        and st != Z_RESET
    ):
        _scaled(conn, ep, 1, "W", is_orig)
    if flags & SYN:  # init_window
        if wscale is None:
            ep.z_wscale = 0
            if flags & ACK:
                peer.z_wscale = 0
        else:
            ep.z_wscale = wscale

    # update_last_seq: retransmission ('T') when a payload does not advance the sequence
    # (a SYN or RST that jumps more than a megabyte is not trusted, nor anything after a RST)
    delta = seq_diff(last_seq, ep.z_last)
    huge_jump = flags & (SYN | RST) and abs(delta) > _TOO_LARGE_SEQ_DELTA
    if not huge_jump:
        if flags & FIN and ep.z_last == ((ep.z_start + 1) & MASK):
            ep.z_last = last_seq
        elif st != Z_RESET:
            if delta > 0:
                ep.z_last = last_seq
            elif plen > 0:
                _scaled(conn, ep, 2, "T", is_orig)

    _zeek_state_machine(conn, ep, peer, is_orig, flags, plen)


def _set(ep: Endpoint, state: int) -> None:
    ep.z_prev = ep.z_state
    ep.z_state = state


def _zeek_state_machine(
    conn: Connection, ep: Endpoint, peer: Endpoint, is_orig: bool, flags: int, plen: int,
) -> None:
    st = ep.z_state
    closing = False
    if st == Z_INACTIVE:
        if flags & SYN:
            if is_orig:
                _set(ep, Z_SYN_ACK_SENT if flags & ACK else Z_SYN_SENT)
                _life(conn).attempt = conn.last_ts + TCP_ATTEMPT_DELAY_S
            else:
                if not flags & ACK and peer.z_state == Z_SYN_ACK_SENT:
                    # SYN / SYN-ACK seen in reverse order (two capture interfaces): flip
                    _swap_roles(conn)
                    if len(conn.history) < 128:
                        conn.history += "^"
                    _set(peer, Z_ESTABLISHED)
                if peer.z_state == Z_SYN_SENT:
                    _set(peer, Z_ESTABLISHED)
                _set(ep, Z_ESTABLISHED)
        if flags & FIN:
            _set(ep, Z_CLOSED)
            closing = True
        if flags & RST:
            _set(ep, Z_RESET)
            closing = True
        if ep.z_state == Z_INACTIVE:
            if not is_orig and plen == 0 and peer.z_state == Z_SYN_SENT:
                pass  # an ACK of the SYN before the SYN-ACK does not make a partial side
            elif flags & ACK and peer.z_state == Z_ESTABLISHED:
                _set(ep, Z_ESTABLISHED)  # missed the SYN, saw SYN-ACK then ACK
            else:
                _set(ep, Z_PARTIAL)
    elif st in (Z_SYN_SENT, Z_SYN_ACK_SENT):
        if flags & FIN:
            _set(ep, Z_CLOSED)
            closing = True
        if flags & RST:
            _set(ep, Z_RESET)
            closing = True
    elif st in (Z_ESTABLISHED, Z_PARTIAL):
        if flags & SYN and st == Z_PARTIAL and peer.z_state == Z_INACTIVE and not flags & ACK:
            _set(ep, Z_SYN_SENT)
        if flags & FIN and not flags & RST:
            _set(ep, Z_CLOSED)
            if peer.z_state == Z_RESET and peer.z_prev == Z_CLOSED:
                _set(peer, Z_CLOSED)  # FIN then RST from the peer: a normal termination
            closing = True
        if flags & RST:
            _set(ep, Z_RESET)
            closing = True
    elif st == Z_CLOSED and flags & RST and peer.z_state != Z_CLOSED:
        _set(ep, Z_RESET)
        closing = True
    if closing:
        _connection_closed(conn, ep, peer)


def _set_reset_state(ep: Endpoint) -> None:
    ep.z_state = ep.z_prev = Z_INACTIVE
    ep.z_start = ep.z_last = 0
    ep.z_hist_syn = ep.z_hist_fin = ep.z_hist_rst = -1
    ep.z_wscale = 0
    ep.z_counts = None
    ep.z_did_close = False
    ep.z_hole = None


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


class ZeekLife:
    """Zeek's timers for the current row, and the rows already finished.

    ``attempt``/``delete``: AttemptTimer / ConnDeleteTimer times (0: none); ``expire``:
    first times of ExpireTimer chains (re-armed every ``tcp_session_timer``); ``active``:
    Zeek's ``is_active``; ``row_start``: ts of the row's first packet; ``base``: our
    packet and byte counters (a, b) when the row began; ``rows``: finished rows.
    """

    __slots__ = ("active", "attempt", "base", "delete", "expire", "row_start", "rows")

    def __init__(self, start: float) -> None:
        self.attempt = 0.0
        self.delete = 0.0
        self.expire = [start + TCP_SYN_TIMEOUT_S]
        self.active = True
        self.row_start = start
        self.base = (0, 0, 0, 0)
        self.rows: list[dict[str, object]] = []


_ZEEK_EP = ("z_state", "z_prev", "z_start", "z_last", "z_hist_syn", "z_hist_fin", "z_hist_rst",
            "z_wscale", "z_did_close", "z_hole")
_ZEEK_CONN = ("history", "hist_seen", "zeek_last_ts", "orig_is_a", "z_swap")


def zeek_snapshot(conn: Connection) -> tuple[Any, ...]:
    """All of the Zeek reading's state of ``conn``, for :func:`zeek_restore`."""
    life = conn.zeek_life
    return (
        tuple(getattr(conn.a, k) for k in _ZEEK_EP), list(conn.a.z_counts or ()),
        tuple(getattr(conn.b, k) for k in _ZEEK_EP), list(conn.b.z_counts or ()),
        tuple(getattr(conn, k) for k in _ZEEK_CONN),
        None if life is None else (life.attempt, life.delete, list(life.expire), life.active,
                                   life.row_start, life.base, list(life.rows)),
    )


def zeek_restore(conn: Connection, snap: tuple[Any, ...]) -> None:
    """Put back the Zeek reading as :func:`zeek_snapshot` found it: a segment Zeek never
    analysed leaves no trace in it."""
    a_vals, a_counts, b_vals, b_counts, c_vals, life = snap
    for ep, vals, counts in ((conn.a, a_vals, a_counts), (conn.b, b_vals, b_counts)):
        for k, v in zip(_ZEEK_EP, vals, strict=True):
            setattr(ep, k, v)
        ep.z_counts = list(counts) if counts else None
    for k, v in zip(_ZEEK_CONN, c_vals, strict=True):
        setattr(conn, k, v)
    if life is None:
        conn.zeek_life = None
    else:
        z = conn.zeek_life = ZeekLife(0.0)
        z.attempt, z.delete, z.expire, z.active, z.row_start, z.base, z.rows = life


def _life(conn: Connection) -> ZeekLife:
    life = conn.zeek_life
    if life is None:
        life = conn.zeek_life = ZeekLife(conn.first_ts)
    return life  # type: ignore[no-any-return]


def zeek_orig_resp(conn: Connection) -> tuple[Endpoint, Endpoint]:
    """(orig, resp) as Zeek's current row names them."""
    orig_is_a = conn.orig_is_a != conn.z_swap
    return (conn.a, conn.b) if orig_is_a else (conn.b, conn.a)


def _swap_roles(conn: Connection) -> None:
    """Zeek's FlipRoles.  In the first row our roles follow Zeek's (as they always have);
    in a later row only Zeek's naming flips, so our own roles keep saying who began."""
    life = conn.zeek_life
    if life is not None and life.rows:
        conn.z_swap = not conn.z_swap
    else:
        conn.orig_is_a = not conn.orig_is_a


def _connection_closed(conn: Connection, ep: Endpoint, peer: Endpoint) -> None:
    """TCPSessionAdapter::ConnectionClosed: a close complete schedules the deletion."""
    if ep.z_did_close:
        return
    ep.z_did_close = True
    life = _life(conn)
    if ep.z_state == Z_RESET or peer.z_did_close or peer.z_state == Z_INACTIVE:
        life.attempt = 0.0  # CancelTimers
        life.expire = []
        life.active = False
        life.delete = conn.zeek_last_ts + TCP_CLOSE_DELAY_S
    elif ep.z_prev != Z_INACTIVE:
        life.expire.append(conn.zeek_last_ts + TCP_SESSION_TIMER_S)
    if ep.z_state == Z_RESET:
        life.active = False


def _timer_fired(conn: Connection, life: ZeekLife, ts: float) -> bool:
    """Whether one of Zeek's timers removed the connection before a packet at ``ts``."""
    if life.delete:
        return ts >= life.delete
    o, r = zeek_orig_resp(conn)
    if life.attempt and ts >= life.attempt:
        life.attempt = 0.0
        if o.z_state in (Z_SYN_SENT, Z_SYN_ACK_SENT) and r.z_state == Z_INACTIVE:
            return True
    if not life.active:
        return False
    last = conn.zeek_last_ts
    idle_after = last + TCP_CONNECTION_LINGER_S
    os_, rs = o.z_state, r.z_state
    gone = ((o.z_did_close or r.z_did_close) and (
        (o.z_did_close and r.z_did_close) or Z_RESET in (os_, rs) or Z_INACTIVE in (os_, rs)
    )) or (os_ == Z_INACTIVE and rs == Z_INACTIVE)
    if not gone:
        return False
    for first in life.expire:
        tick = first
        if tick <= idle_after:  # the first tick of this chain after the idle period
            tick += TCP_SESSION_TIMER_S * (int((idle_after - first) // TCP_SESSION_TIMER_S) + 1)
        if tick <= ts:
            return True
    return False


def _is_reuse(conn: Connection, flags: int, seq: int) -> bool:
    """TCPSessionAdapter::IsReuse for a SYN (or a SYN-ACK on a half connection)."""
    o, r = zeek_orig_resp(conn)
    conn_orig = o
    if flags & ACK:
        if o.z_state != Z_INACTIVE:
            return False
        conn_orig = r
    if o.z_did_close or r.z_did_close:
        return True
    if seq == conn_orig.z_start:
        return False
    return not (not flags & ACK and conn_orig.z_state == Z_SYN_ACK_SENT
                and r.z_state == Z_INACTIVE and seq == r.z_start)


def zeek_before(conn: Connection, seg: Segment, from_a: bool) -> None:
    """Before a general-path segment is counted: does Zeek begin a new row with it?"""
    if not conn.a.pkts and not conn.b.pkts:
        return  # the connection's first segment
    life = conn.zeek_life
    ts = seg.ts
    # a timer removed the connection, or IsReuse takes this SYN for a new one
    if (life is not None and _timer_fired(conn, life, ts)) or (
        seg.flags & SYN and not seg.flags & (FIN | RST) and _is_reuse(conn, seg.flags, seg.seq)
    ):
        _new_row(conn, seg, from_a)
    elif life is None and seg.ts >= conn.first_ts + TCP_SYN_TIMEOUT_S:
        o, r = zeek_orig_resp(conn)
        if o.z_state == Z_INACTIVE and r.z_state == Z_INACTIVE:
            _new_row(conn, seg, from_a)  # nothing ever happened: ExpireTimer dropped it


def _current_row(conn: Connection) -> dict[str, object]:
    life = conn.zeek_life
    start = conn.first_ts if life is None else life.row_start
    base = (0, 0, 0, 0) if life is None else life.base
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


def _new_row(conn: Connection, seg: Segment, from_a: bool) -> None:
    life = _life(conn)
    if len(life.rows) >= MAX_ZEEK_ROWS - 1:
        return  # bounded: later segments stay in the last row
    life.rows.append(_current_row(conn))
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
    life.attempt = life.delete = 0.0
    life.expire = [seg.ts + TCP_SYN_TIMEOUT_S]
    life.active = True
    life.row_start = seg.ts
    life.base = (conn.a.pkts, conn.b.pkts, conn.a.bytes, conn.b.bytes)


def zeek_rows(conn: Connection) -> list[dict[str, object]]:
    """Every row Zeek's conn.log would hold for this connection, in order (usually one)."""
    life = conn.zeek_life
    rows = [] if life is None else list(life.rows)
    rows.append(_current_row(conn))
    return rows


def zeek_row_start(conn: Connection) -> float:
    """Capture time of the first packet of Zeek's current (last) row."""
    life = conn.zeek_life
    return conn.first_ts if life is None else life.row_start


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
