"""Endpoint states: RFC 9293's eleven states plus the two only an observer needs."""

from __future__ import annotations

from enum import Enum
from operator import attrgetter


class TcpState(Enum):
    """One endpoint's TCP state as reconstructed by a passive observer.

    Values display with the RFC 9293 spellings (``SYN-SENT``, ``TIME-WAIT``).  ``INACTIVE``
    means nothing of the endpoint has been seen yet and ``PARTIAL`` that it was picked up
    mid-stream (no SYN seen), as in Zeek's endpoint model.
    """

    INACTIVE = "INACTIVE"
    PARTIAL = "PARTIAL"
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    # Members are singletons: identity hashing (C) instead of Enum's hash of the name
    # (Python), which set and dict look-ups on the per-segment path would otherwise pay.
    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


# ``member.value`` is Enum's ``enum.property``, a Python-level ``__get__`` on every read (the
# tracker reads two per state change it emits: ~110,000 calls per 200,000 packets).  The same
# value through a C property over C ``attrgetter``: no Python frame.  Set after the class is
# made, since a ``value`` in the class body would be taken for a member.
type.__setattr__(TcpState, "value", property(attrgetter("_value_")))

#: States in which an endpoint has a synchronized connection (RFC 9293 §3.3.2) or, for
#: PARTIAL, is assumed to have one.
SYNCHRONIZED = frozenset({
    TcpState.PARTIAL, TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2,
    TcpState.CLOSE_WAIT, TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT,
})

#: Legal observer transitions (from -> allowed targets).  Property tests check that the
#: tracker never records an edge outside this table.
LEGAL_EDGES: dict[TcpState, frozenset[TcpState]] = {
    TcpState.INACTIVE: frozenset(TcpState) - {TcpState.INACTIVE},
    TcpState.LISTEN: frozenset({TcpState.SYN_RECEIVED, TcpState.SYN_SENT, TcpState.CLOSED}),
    TcpState.CLOSED: frozenset({TcpState.SYN_SENT, TcpState.SYN_RECEIVED}),
    TcpState.SYN_SENT: frozenset({
        TcpState.SYN_RECEIVED, TcpState.ESTABLISHED, TcpState.CLOSED, TcpState.FIN_WAIT_1,
    }),
    TcpState.SYN_RECEIVED: frozenset({
        TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.CLOSE_WAIT, TcpState.CLOSED,
    }),
    TcpState.PARTIAL: frozenset({
        TcpState.FIN_WAIT_1, TcpState.CLOSE_WAIT, TcpState.CLOSED, TcpState.SYN_SENT,
    }),
    TcpState.ESTABLISHED: frozenset({
        TcpState.FIN_WAIT_1, TcpState.CLOSE_WAIT, TcpState.CLOSED,
    }),
    TcpState.FIN_WAIT_1: frozenset({
        TcpState.FIN_WAIT_2, TcpState.CLOSING, TcpState.TIME_WAIT, TcpState.CLOSED,
    }),
    TcpState.FIN_WAIT_2: frozenset({TcpState.TIME_WAIT, TcpState.CLOSED}),
    TcpState.CLOSE_WAIT: frozenset({TcpState.LAST_ACK, TcpState.CLOSED}),
    TcpState.CLOSING: frozenset({TcpState.TIME_WAIT, TcpState.CLOSED}),
    TcpState.LAST_ACK: frozenset({TcpState.CLOSED}),
    TcpState.TIME_WAIT: frozenset({TcpState.CLOSED}),
}
