"""Plain-data reports: one dict per connection (:func:`build_flow_report`) and the capture
report around them.  Renderers read only these; they never touch the tracker.

The schema is documented in the README ("JSON schema") and frozen by the golden files in
``samples/expected/``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .segment import format_ip
from .tracker import Connection
from .verdict import derive_close, derive_handshake, derive_outcome, derive_zeek

FlowReport = dict[str, Any]

SCHEMA_VERSION = 1


def _round(x: float) -> float:
    return round(x, 6)


def build_flow_report(conn: Connection, file: str | None = None) -> FlowReport:
    """Everything a user needs to know about one connection, as JSON-ready data."""
    o, r = conn.orig, conn.resp
    # first: the detector settles late verdicts (lost segments, TFO, D-SACK) when asked
    measurements = conn.seq.measurements(conn) if conn.seq is not None else None
    handshake = derive_handshake(conn)
    close = derive_close(conn)
    outcome = derive_outcome(conn, handshake, close)
    role = conn.role
    reset = None
    if conn.resets:
        first = conn.resets[0]
        by = {role(x["by_a"]) for x in conn.resets}
        reset = {
            "by": by.pop() if len(by) == 1 else "both",
            "frames": [x["frame"] for x in conn.resets],
            "states": {
                role(first["by_a"]): first["sender_state"],
                role(not first["by_a"]): first["receiver_state"],
            },
            "validity": first["validity"],
            "situation": first["situation"],
            "challenge_ack": conn.anomalies.get("challenge_ack", 0) > 0,
        }
    initiator = "both" if conn.sim_open else ("unknown" if conn.roles_inferred else "orig")
    report: FlowReport = {
        "id": conn.id,
        "orig": {"ip": format_ip(o.addr), "port": o.port},
        "resp": {"ip": format_ip(r.addr), "port": r.port},
        "vlan": list(conn.vlan),
        "initiator": initiator,
        "roles_inferred": conn.roles_inferred,
        "start_ts": _round(conn.first_ts),
        "end_ts": _round(conn.last_ts),
        "duration_s": _round(conn.last_ts - conn.first_ts),
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "outcome": outcome.value,
        "handshake": handshake,
        "close": close,
        "reset": reset,
        "time_wait": [
            {"endpoint": role(is_a), "frame": frame, "ts": _round(ts)}
            for is_a, frame, ts in conn.time_wait
        ],
        "initial_state": {"orig": o.initial.value, "resp": r.initial.value},
        "final_state": {"orig": o.state.value, "resp": r.state.value},
        "transitions": [
            {"frame": f, "ts": _round(ts), "endpoint": role(is_a), "from": a.value, "to": b.value}
            for f, ts, is_a, a, b in conn.transitions
        ],
        "port_reuse": conn.port_reuse,
        "anomalies": dict(sorted(conn.anomalies.items())),
        "anomaly_events": [
            {"name": name, "frame": f, "ts": _round(ts), "endpoint": role(is_a), "detail": d}
            for name, f, ts, is_a, d in sorted(conn.anomaly_events, key=lambda e: e[1])
        ],
        "measurements": measurements,
        "packets": {"orig": o.pkts, "resp": r.pkts},
        "data_packets": {"orig": o.data_pkts, "resp": r.data_pkts},
        "bytes": {"orig": o.bytes, "resp": r.bytes},
        "missed_bytes": {"orig": o.missed_bytes, "resp": r.missed_bytes},
        "zeek": derive_zeek(conn) | {"duration_s": _round(conn.zeek_last_ts - conn.first_ts)},
    }
    if file is not None:
        report["file"] = file
    return report


def summarize(flows: list[FlowReport]) -> dict[str, Any]:
    """Counts by outcome, close pattern, handshake status and anomaly over ``flows``."""
    outcomes: dict[str, int] = {}
    closes: dict[str, int] = {}
    handshakes: dict[str, int] = {}
    anomalies: dict[str, int] = {}
    time_wait = 0
    for f in flows:
        outcomes[f["outcome"]] = outcomes.get(f["outcome"], 0) + 1
        closes[f["close"]["pattern"]] = closes.get(f["close"]["pattern"], 0) + 1
        hs = f["handshake"]["status"]
        handshakes[hs] = handshakes.get(hs, 0) + 1
        for k, v in f["anomalies"].items():
            anomalies[k] = anomalies.get(k, 0) + v
        time_wait += bool(f["time_wait"])
    return {
        "connections": len(flows),
        "outcomes": dict(sorted(outcomes.items())),
        "close_patterns": dict(sorted(closes.items())),
        "handshakes": dict(sorted(handshakes.items())),
        "with_time_wait": time_wait,
        "anomalies": dict(sorted(anomalies.items())),
    }


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
