"""Plain-data reports: one dict per connection (:func:`build_flow_report`) and the capture
report around them.  Renderers read only these; they never touch the tracker.

The schema is documented in the README ("JSON schema") and frozen by the golden files in
``samples/expected/``.

Typed for Cython 3 in pure Python mode (``report.pxd``): compiled, the builder reads the
finished record's C fields (``record.pxd``), calls the verdict's derivations and the exact
rounding as C functions and keeps its numbers in C locals; interpreted, the very same code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .record import STATES
from .segment import format_ip

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .record import ConnRecord, Endpoint
    from .rounding import round_us
    from .verdict import derive_close, derive_handshake, derive_zeek, outcome_text
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, report.pxd cimports these (C types, C calls)
    from .record import ConnRecord, Endpoint
    from .rounding import round_us
    from .verdict import derive_close, derive_handshake, derive_zeek, outcome_text

    def _room(nbytes: int) -> bool:
        bytearray(nbytes)  # MemoryError when there is no room (zero-filled: slower)
        return True

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

FlowReport = dict[str, Any]

SCHEMA_VERSION = 1


# display texts of the RFC states, in the order of ``record.STATES``
_STATE_TEXTS: tuple[str, ...] = tuple(st.value for st in STATES)
# role of endpoint a (index 1) and b (index 0), when a is / is not the originator
_ROLES_ORIG_IS_A = ("resp", "orig")
_ROLES_ORIG_IS_B = ("orig", "resp")
_BY_FRAME = itemgetter(1)


@cython.cfunc
def _state_text(state: object) -> str:
    """The display text of an RFC state (an Enum is hashed, and its ``.value`` read, by
    Python-level code: an identity scan of 13 is cheaper)."""
    i: cython.Py_ssize_t
    states: tuple = STATES  # type: ignore[type-arg]  # compiled: C-level item reads
    for i in range(len(states)):
        if states[i] is state:
            return _STATE_TEXTS[i]
    return state.value  # type: ignore[attr-defined,no-any-return]


def reserve(nbytes: int) -> None:
    """Raise MemoryError unless ``nbytes`` can be allocated now, then free them: an encoder
    that does not survive an allocation failure (orjson) then finds room to reuse.  A C
    ``malloc``/``free`` compiled, a zero-filled ``bytearray`` interpreted."""
    if not _room(nbytes):
        raise MemoryError(f"cannot reserve {nbytes} bytes")


@cython.ccall
def reset_section(conn: ConnRecord) -> object:
    """The report's ``reset`` section: who reset the connection, in which states, how the
    first RST stood against the window; None when no RST was seen (the dict path and the
    direct NDJSON writer both use it)."""
    resets = conn._resets
    if not resets:
        return None
    anomalies = conn._anomalies
    role = conn.role
    first = resets[0]
    by = {role(x["by_a"]) for x in resets}
    return {
        "by": by.pop() if len(by) == 1 else "both",
        "frames": [x["frame"] for x in resets],
        "states": {
            role(first["by_a"]): first["sender_state"],
            role(not first["by_a"]): first["receiver_state"],
        },
        "validity": first["validity"],
        "situation": first["situation"],
        "challenge_ack": anomalies is not None and anomalies.get("challenge_ack", 0) > 0,
    }


@cython.ccall
def build_flow_report(conn: ConnRecord, file: str | None = None) -> dict[str, Any]:
    """Everything a user needs to know about one connection, as JSON-ready data."""
    # first: the detector settles late verdicts (lost segments, TFO, D-SACK) when asked
    seq = conn.seq
    return assemble_flow_report(conn, file, seq.measurements(conn) if seq is not None else None)


@cython.ccall
def assemble_flow_report(conn: ConnRecord, file: str | None,
                         measurements: object) -> dict[str, Any]:
    """:func:`build_flow_report` given the detector's ``measurements`` (asked for once: the
    direct NDJSON writer, ``ndjson.py``, falls back to this with the ones it has)."""
    # This runs once per connection: each field is read once, empty sections are not
    # built, and a timestamp shared by consecutive records is rounded once.
    o: Endpoint
    r: Endpoint
    i: cython.Py_ssize_t
    n: cython.Py_ssize_t
    n_c: cython.Py_ssize_t
    code: cython.longlong
    code_d: cython.double
    ts: cython.double
    prev_ts: cython.double
    first_ts: cython.double
    last_ts: cython.double
    duration: cython.double
    zeek_duration: cython.double
    if conn.orig_is_a:
        o, r = conn.a, conn.b
        roles = _ROLES_ORIG_IS_A
    else:
        o, r = conn.b, conn.a
        roles = _ROLES_ORIG_IS_B
    handshake = derive_handshake(conn)
    close = derive_close(conn)
    outcome = outcome_text(conn, handshake, close)
    anomalies = conn._anomalies
    reset = reset_section(conn)
    first_ts = conn.first_ts
    last_ts = conn.last_ts
    # ``prev_ts`` is the last timestamp rounded, ``prev_us`` its rounding.  Zero is always
    # rounded again: 0.0 == -0.0, but they print differently.
    prev_ts = first_ts
    prev_us = start_us = round_us(first_ts)
    transitions: list[dict[str, Any]] = []
    add = transitions.append
    # the packed transitions (record._tr_add): (code, ts) per change, the code holding
    # frame, endpoint and both states; compiled, the first four sit in C fields
    # (_tr0 ... _tr7) and the rest in _tr; interpreted, all of them in the record's _trp
    n_c = 0
    if cython.compiled:
        tr = conn._tr
        n_c = conn._tr_n if conn._tr_n < 4 else 4
    else:
        tr = conn._trp
    n = n_c + (len(tr) // 2 if tr is not None else 0)
    for i in range(n):
        if i >= n_c:
            code_d = tr[2 * (i - n_c)]
            ts = tr[2 * (i - n_c) + 1]
        elif i == 0:
            code_d, ts = conn._tr0, conn._tr1
        elif i == 1:
            code_d, ts = conn._tr2, conn._tr3
        elif i == 2:
            code_d, ts = conn._tr4, conn._tr5
        else:
            code_d, ts = conn._tr6, conn._tr7
        code = int(code_d)
        if ts != prev_ts or ts == 0:
            prev_ts = ts
            prev_us = round_us(ts)
        add({"frame": code >> 9, "ts": prev_us, "endpoint": roles[code >> 8 & 1],
             "from": _STATE_TEXTS[code >> 4 & 15], "to": _STATE_TEXTS[code & 15]})
    time_wait = []
    tw = conn._time_wait
    if tw:
        for tw_a, tw_frame, tw_ts in tw:
            ts = tw_ts
            if ts != prev_ts or ts == 0:
                prev_ts = ts
                prev_us = round_us(ts)
            time_wait.append({"endpoint": roles[tw_a], "frame": tw_frame, "ts": prev_us})
    end_us = prev_us if last_ts == prev_ts and last_ts != 0 else round_us(last_ts)
    duration = last_ts - first_ts
    duration_us = round_us(duration)
    zeek = derive_zeek(conn)
    zeek_duration = conn.zeek_last_ts - (conn.z_row_start if conn.z_life else first_ts)
    zeek["duration_s"] = (
        duration_us if zeek_duration == duration and duration != 0 else round_us(zeek_duration)
    )
    events = conn._events
    initiator = "both" if conn.sim_open else ("unknown" if conn.roles_inferred else "orig")
    vlan = conn.vlan
    report: FlowReport = {
        "id": conn.id,
        "orig": {"ip": format_ip(o.addr), "port": o.port},
        "resp": {"ip": format_ip(r.addr), "port": r.port},
        "vlan": list(vlan) if vlan else [],
        "initiator": initiator,
        "roles_inferred": conn.roles_inferred,
        "start_ts": start_us,
        "end_ts": end_us,
        "duration_s": duration_us,
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "outcome": outcome,
        "handshake": handshake,
        "close": close,
        "reset": reset,
        "time_wait": time_wait,
        "initial_state": {"orig": _state_text(o.initial), "resp": _state_text(r.initial)},
        "final_state": {"orig": _state_text(o.state), "resp": _state_text(r.state)},
        "transitions": transitions,
        "port_reuse": conn.port_reuse,
        "anomalies": dict(sorted(anomalies.items())) if anomalies else {},
        "anomaly_events": [
            {"name": ev[0], "frame": ev[1], "ts": round_us(ev[2]), "endpoint": roles[ev[3]],
             "detail": ev[4]}
            for ev in sorted(events, key=_BY_FRAME)
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
        # typed dicts: compiled, each get and set is a C call on the dict
        outcomes: dict[str, int] = self.outcomes
        closes: dict[str, int] = self.closes
        handshakes: dict[str, int] = self.handshakes
        self.connections += 1
        outcome = f["outcome"]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        pattern = f["close"]["pattern"]
        closes[pattern] = closes.get(pattern, 0) + 1
        hs = f["handshake"]["status"]
        handshakes[hs] = handshakes.get(hs, 0) + 1
        found = f["anomalies"]
        if found:
            anomalies: dict[str, int] = self.anomalies
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
