"""Plain-data reports: one dict per connection (:func:`build_flow_report`) and the capture
report around them.  Renderers read only these; they never touch the tracker.

The schema is documented in the README ("JSON schema") and frozen by the golden files in
``samples/expected/``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter
from typing import Any

from .history import zeek_row_start
from .segment import format_ip
from .states import TcpState
from .tracker import Connection
from .verdict import (
    _EXACT_LIMIT,
    Outcome,
    derive_close,
    derive_handshake,
    derive_outcome,
    derive_zeek,
    round_us,
)

FlowReport = dict[str, Any]

SCHEMA_VERSION = 1


# display texts, looked up once (an Enum's ``.value`` is a Python-level descriptor)
_STATE_TEXT: dict[TcpState, str] = {st: st.value for st in TcpState}
_OUTCOME_TEXT: dict[Outcome, str] = {x: x.value for x in Outcome}
# role of endpoint a (index True) and b (index False), when a is / is not the originator
_ROLES_ORIG_IS_A = ("resp", "orig")
_ROLES_ORIG_IS_B = ("orig", "resp")
_BY_FRAME = itemgetter(1)
# Address texts, remembered: a capture's connections share few addresses, and an IPv6 text
# costs ~10 µs through ipaddress.  Bounded (least recently used out), as every table keyed
# by capture content must be; a hit is one C-level dict look-up.
_ip_text = lru_cache(maxsize=4096)(format_ip)


def build_flow_report(conn: Connection, file: str | None = None) -> FlowReport:
    """Everything a user needs to know about one connection, as JSON-ready data."""
    # This runs once per connection: each property is read once, empty sections are not
    # built, and a timestamp shared by consecutive records is rounded once.
    orig_is_a = conn.orig_is_a
    o, r = (conn.a, conn.b) if orig_is_a else (conn.b, conn.a)
    roles = _ROLES_ORIG_IS_A if orig_is_a else _ROLES_ORIG_IS_B
    state_text = _STATE_TEXT
    # first: the detector settles late verdicts (lost segments, TFO, D-SACK) when asked
    measurements = conn.seq.measurements(conn) if conn.seq is not None else None
    handshake = derive_handshake(conn)
    close = derive_close(conn)
    outcome = derive_outcome(conn, handshake, close)
    resets = conn.resets
    reset = None
    if resets:
        role = conn.role
        first = resets[0]
        by = {role(x["by_a"]) for x in resets}
        reset = {
            "by": by.pop() if len(by) == 1 else "both",
            "frames": [x["frame"] for x in resets],
            "states": {
                role(first["by_a"]): first["sender_state"],
                role(not first["by_a"]): first["receiver_state"],
            },
            "validity": first["validity"],
            "situation": first["situation"],
            "challenge_ack": conn.anomalies.get("challenge_ack", 0) > 0,
        }
    first_ts = conn.first_ts
    last_ts = conn.last_ts
    # ``prev_ts`` is the last timestamp rounded, ``prev_us`` its rounding.  Zero is always
    # rounded again: 0.0 == -0.0, but they print differently.
    prev_ts = first_ts
    prev_us = start_us = round_us(first_ts)
    transitions: list[dict[str, Any]] = []
    add = transitions.append
    for f, ts, is_a, a, b in conn.transitions:
        if ts != prev_ts or not ts:
            prev_ts = ts
            # round_us(ts), inlined (a call per transition is a quarter of this loop)
            y = ts * 1e6
            n = round(y) if -_EXACT_LIMIT < y < _EXACT_LIMIT else 0
            prev_us = n / 1e6 if n and -0.25 < y - n < 0.25 else round(ts, 6)
        add({"frame": f, "ts": prev_us, "endpoint": roles[is_a],
             "from": state_text[a], "to": state_text[b]})
    time_wait = []
    for is_a, frame, ts in conn.time_wait:
        if ts != prev_ts or not ts:
            prev_ts = ts
            prev_us = round_us(ts)
        time_wait.append({"endpoint": roles[is_a], "frame": frame, "ts": prev_us})
    end_us = prev_us if last_ts == prev_ts and last_ts else round_us(last_ts)
    duration = last_ts - first_ts
    duration_us = round_us(duration)
    zeek: dict[str, Any] = derive_zeek(conn)
    zeek_duration = conn.zeek_last_ts - zeek_row_start(conn)
    zeek["duration_s"] = (
        duration_us if zeek_duration == duration and duration else round_us(zeek_duration)
    )
    anomalies = conn.anomalies
    events = conn.anomaly_events
    initiator = "both" if conn.sim_open else ("unknown" if conn.roles_inferred else "orig")
    vlan = conn.vlan
    report: FlowReport = {
        "id": conn.id,
        "orig": {"ip": _ip_text(o.addr), "port": o.port},
        "resp": {"ip": _ip_text(r.addr), "port": r.port},
        "vlan": list(vlan) if vlan else [],
        "initiator": initiator,
        "roles_inferred": conn.roles_inferred,
        "start_ts": start_us,
        "end_ts": end_us,
        "duration_s": duration_us,
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "outcome": _OUTCOME_TEXT[outcome],
        "handshake": handshake,
        "close": close,
        "reset": reset,
        "time_wait": time_wait,
        "initial_state": {"orig": state_text[o.initial], "resp": state_text[r.initial]},
        "final_state": {"orig": state_text[o.state], "resp": state_text[r.state]},
        "transitions": transitions,
        "port_reuse": conn.port_reuse,
        "anomalies": dict(sorted(anomalies.items())) if anomalies else {},
        "anomaly_events": [
            {"name": name, "frame": f, "ts": round_us(ts), "endpoint": roles[is_a], "detail": d}
            for name, f, ts, is_a, d in sorted(events, key=_BY_FRAME)
        ] if events else [],
        "measurements": measurements,
        "packets": {"orig": o.pkts, "resp": r.pkts},
        "data_packets": {"orig": o.data_pkts, "resp": r.data_pkts},
        "bytes": {"orig": o.bytes, "resp": r.bytes},
        "missed_bytes": {"orig": o.missed_bytes, "resp": r.missed_bytes},
        "zeek": zeek,
    }
    if file is not None:
        report["file"] = file
    return report


class Summary:
    """Counts by outcome, close pattern, handshake status and anomaly, kept as connections
    end: constant size whatever the number of connections (every key comes from a closed
    set: outcomes, close patterns, handshake statuses, catalogue codes)."""

    __slots__ = ("connections", "outcomes", "closes", "handshakes", "anomalies", "time_wait")

    def __init__(self) -> None:
        self.connections = 0
        self.outcomes: dict[str, int] = {}
        self.closes: dict[str, int] = {}
        self.handshakes: dict[str, int] = {}
        self.anomalies: dict[str, int] = {}
        self.time_wait = 0

    def add(self, f: FlowReport) -> None:
        """Count one connection report."""
        self.connections += 1
        outcomes = self.outcomes
        outcomes[f["outcome"]] = outcomes.get(f["outcome"], 0) + 1
        closes = self.closes
        pattern = f["close"]["pattern"]
        closes[pattern] = closes.get(pattern, 0) + 1
        handshakes = self.handshakes
        hs = f["handshake"]["status"]
        handshakes[hs] = handshakes.get(hs, 0) + 1
        found = f["anomalies"]
        if found:
            anomalies = self.anomalies
            for k, v in found.items():
                anomalies[k] = anomalies.get(k, 0) + v
        if f["time_wait"]:
            self.time_wait += 1

    def to_dict(self) -> dict[str, Any]:
        """The ``summary`` section of a report."""
        return {
            "connections": self.connections,
            "outcomes": dict(sorted(self.outcomes.items())),
            "close_patterns": dict(sorted(self.closes.items())),
            "handshakes": dict(sorted(self.handshakes.items())),
            "with_time_wait": self.time_wait,
            "anomalies": dict(sorted(self.anomalies.items())),
        }


def summarize(flows: Iterable[FlowReport]) -> dict[str, Any]:
    """Counts by outcome, close pattern, handshake status and anomaly over ``flows``."""
    acc = Summary()
    for f in flows:
        acc.add(f)
    return acc.to_dict()


class FlowFilter:
    """Selects connections by host (address or CIDR), port, outcome, close pattern and anomaly.

    Each criterion is a set of alternatives (OR); different criteria combine with AND.
    An empty criterion selects everything.
    """

    def __init__(
        self, hosts: list[str] | None = None, ports: list[int] | None = None,
        outcomes: list[str] | None = None, closes: list[str] | None = None,
        anomalies: list[str] | None = None,
    ) -> None:
        self.nets = [ipaddress.ip_network(h, strict=False) for h in hosts or []]
        self.ports = set(ports or [])
        self.outcomes = set(outcomes or [])
        self.closes = set(closes or [])
        self.anomalies = set(anomalies or [])

    @property
    def is_empty(self) -> bool:
        """True when the filter selects everything."""
        return not (self.nets or self.ports or self.outcomes or self.closes or self.anomalies)

    def matches(self, f: FlowReport) -> bool:
        """Whether one flow report is selected."""
        if self.outcomes and f["outcome"] not in self.outcomes:
            return False
        if self.closes and f["close"]["pattern"] not in self.closes:
            return False
        if self.ports and f["orig"]["port"] not in self.ports and \
                f["resp"]["port"] not in self.ports:
            return False
        if self.anomalies and not self.anomalies.intersection(f["anomalies"]):
            return False
        if self.nets:
            addrs = (ipaddress.ip_address(f["orig"]["ip"]), ipaddress.ip_address(f["resp"]["ip"]))
            if not any(a.version == n.version and a in n for a in addrs for n in self.nets):
                return False
        return True
