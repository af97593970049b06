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
from typing import TYPE_CHECKING

from .segment import ACK, FIN, RST, SYN
from .seqnum import MASK, seq_diff

if TYPE_CHECKING:
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
    _scaled(conn, ep, 0, "C", is_orig)


def zeek_process(
    conn: Connection, ep: Endpoint, peer: Endpoint, is_orig: bool, flags: int, seq: int,
    ack: int, plen: int, win: int, wscale: int | None,
) -> None:
    """Run one segment through Zeek's endpoint model and history rules.

    ``ep`` sent the segment, ``peer`` receives it; ``is_orig`` is Zeek's view of the sender.
    """
    if conn.history == "H" and not flags & (SYN | FIN | RST):
        o, r = (ep, peer) if is_orig else (peer, ep)
        if o.z_state == Z_SYN_ACK_SENT and r.z_state == Z_INACTIVE:
            # The connection began with a SYN-ACK and now its first plain ACK or data packet
            # arrives (from either side): the SYN-ACK sender is the responder.  Zeek flips
            # the roles and the history reads ^h from then on.
            conn.orig_is_a = not conn.orig_is_a
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
            else:
                if not flags & ACK and peer.z_state == Z_SYN_ACK_SENT:
                    # SYN / SYN-ACK seen in reverse order (two capture interfaces): flip
                    conn.zeek_flip()
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
            if not is_orig and plen == 0 and conn.zeek_orig_state() == Z_SYN_SENT:
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
        ep.z_did_close = True


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
