"""Frozen event records the tracker emits as things happen (used by live views and NDJSON).

Events are created only on transitions, never per packet.  Each class is one fact; none
subclasses another.

A sink is anything with ``append(event)``.  A sink that needs only some state changes says
so with an ``only_states`` attribute, a frozenset of :class:`~tcpflow_analyzer.states.TcpState`:
the tracker then sends it only the :class:`StateChanged` events into or out of those
states, and no other event (building a frozen record per transition costs more than the
rest of the tracker's work on it; the listener view needs only SYN-RECEIVED).  Such a sink
may also define ``state_changed(conn, endpoint, old, new, seg)``: the tracker then calls it
with the live connection, endpoint, old and new :class:`~tcpflow_analyzer.states.TcpState`
and segment instead of building a :class:`StateChanged` (read them during the call only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """An endpoint changed state. Fields: conn_id, frame, ts, endpoint ('orig'/'resp'),
    from_state, to_state (RFC 9293 spellings)."""

    conn_id: int
    frame: int
    ts: float
    endpoint: str
    from_state: str
    to_state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeCompleted:
    """The three-way handshake (or simultaneous open) completed. Fields: conn_id, frame, ts,
    rtt_s (total handshake RTT at the capture point, None if unknown)."""

    conn_id: int
    frame: int
    ts: float
    rtt_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWaitEntered:
    """An endpoint entered TIME-WAIT. Fields: conn_id, frame, ts, endpoint."""

    conn_id: int
    frame: int
    ts: float
    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetSeen:
    """A RST was sent. Fields: conn_id, frame, ts, by (endpoint), validity
    (exact / in_window / out_of_window / unknown), situation (abort, refused, after_fin,
    in_time_wait, no_connection)."""

    conn_id: int
    frame: int
    ts: float
    by: str
    validity: str
    situation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalySeen:
    """An anomaly from the catalogue. Fields: conn_id, name, frame, ts, endpoint, detail."""

    conn_id: int
    name: str
    frame: int
    ts: float
    endpoint: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened:
    """A new connection (incarnation) started. Fields: conn_id, frame, ts, orig, resp
    (``addr:port`` text)."""

    conn_id: int
    frame: int
    ts: float
    orig: str
    resp: str


Event = StateChanged | HandshakeCompleted | TimeWaitEntered | ResetSeen | AnomalySeen | \
    ConnectionOpened
