"""CI policy evaluation: rules over flow reports -> pass/fail results (``check``).

Pure core: no file, clock, environment or terminal.  ``policy.py`` turns text (a TOML policy
or an inline ``--max rst_abort=0``) into :class:`Rule` objects; :func:`evaluate` applies them
to the flow reports of each capture; ``render/junit.py`` and ``render/checkout.py`` print the
:class:`CheckReport`; ``cmd_check.py`` wires them together.

Theory of operation
-------------------
A rule is a **selector**, a **condition** and a **severity**.

* The selector picks connections (by host/CIDR and port of an endpoint, the direction in which
  the selected endpoint took part, and the ``initiator`` field).  An empty selector picks all.
* Each rule is evaluated separately for every capture, over the selected connections of that
  capture only ("aggregates over the selected connections of each capture").
* A condition is either a **threshold** on an aggregate metric (``max``/``min``) or a
  **per-connection membership** test (``require``/``forbid``), which lists every offending
  connection.  Metric and field names form the vocabulary documented in ``docs/check.md``;
  :func:`resolve_metric` and :data:`FIELDS` are its single source of truth.
* ``error`` rules that fail make ``check`` exit 1; ``warning`` rules are reported only.

Numbers are compared exactly: counts and rates as :class:`fractions.Fraction`, durations as the
report's floats against the limit rounded to a float (the report rounds to the microsecond).
Percentiles use the nearest-rank method, so a percentile is always a value that some
connection actually had.  An aggregate with no data (a percentile over no measured RTT, a
share of zero connections) has no value: a ``max`` holds vacuously, a ``min`` fails.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .anomalies import CATALOGUE
from .errors import ExitCode
from .report import FlowReport
from .verdict import ClosePattern, HandshakeStatus, Outcome

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Describer = Callable[[FlowReport], tuple[int | None, str]]

#: Anomalies that count as retransmissions in ``retransmission_rate`` and ``retransmissions``.
RETRANSMISSION_ANOMALIES: tuple[str, ...] = (
    "retransmission", "fast_retransmission", "spurious_retransmission",
)
#: Zeek's published ``conn_state`` values (``conn/main.zeek``).
ZEEK_CONN_STATES: frozenset[str] = frozenset({
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
})


class Severity(Enum):
    """What a failing rule does: ``error`` fails the build (exit 1), ``warning`` does not."""

    ERROR = "error"
    WARNING = "warning"


class Direction(Enum):
    """Which endpoint of a connection a selector's ``hosts``/``ports`` must match.

    ``inbound``: the responder (connections *to* the selected endpoints); ``outbound``: the
    originator (connections *from* them); ``any``: either endpoint.
    """

    ANY = "any"
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ConditionKind(Enum):
    """The four condition forms: thresholds (``max``, ``min``) and per-connection tests."""

    MAX = "max"
    MIN = "min"
    REQUIRE = "require"
    FORBID = "forbid"


class MetricKind(Enum):
    """What an aggregate metric measures, which decides the units its limit accepts.

    ``connections``: a number of connections (a plain integer, or ``N%`` for a share of the
    selected connections); ``events``: a number of occurrences (plain integer); ``ratio``: a
    rate (``N%``); ``duration``: seconds (``us``, ``ms``, ``s`` or ``min`` required).
    """

    CONNECTIONS = "connections"
    EVENTS = "events"
    RATIO = "ratio"
    DURATION = "duration"


class Status(Enum):
    """Outcome of one rule on one capture."""

    PASS = "pass"
    FAIL = "fail"


# -- formatting helpers (shared with the renderers) ---------------------------------------------


def format_endpoint(ep: dict[str, Any]) -> str:
    """``ip:port``, with brackets around IPv6 addresses."""
    ip = ep["ip"]
    return f"[{ip}]:{ep['port']}" if ":" in ip else f"{ip}:{ep['port']}"


def format_seconds(value: float) -> str:
    """A duration for humans: ``20.1 ms`` below one second, ``1.5 s`` above."""
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.4g} s"


def format_ratio(value: Fraction | float) -> str:
    """A ratio as a percentage with three significant digits: ``1.23%``."""
    return f"{float(value) * 100:.3g}%"


def _frames(frames: Sequence[int]) -> str:
    return f"frame {frames[0]}" if len(frames) == 1 else f"frames {', '.join(map(str, frames))}"


# -- per-connection descriptions: "reset by resp at frame 7" -----------------------------------


def describe_outcome(f: FlowReport) -> tuple[int | None, str]:
    """The connection's outcome in words, with the frame that decided it."""
    outcome = f["outcome"]
    reset = f["reset"]
    hs = f["handshake"]
    if outcome == Outcome.RESET.value and reset:
        frame = reset["frames"][0]
        by = "both ends" if reset["by"] == "both" else reset["by"]
        return frame, f"reset by {by} at frame {frame}"
    if outcome == Outcome.REFUSED.value and reset:
        frame = reset["frames"][0]
        return frame, f"refused: RST from {reset['by']} at frame {frame} answered the SYN"
    if outcome == Outcome.OPEN.value:
        fs = f["final_state"]
        return f["last_frame"], (
            f"still open at the end of the capture (last frame {f['last_frame']}, "
            f"orig {fs['orig']}, resp {fs['resp']})"
        )
    if outcome == Outcome.NO_SYNACK.value:
        syns = hs["syn_frames"]
        return (syns[0] if syns else f["first_frame"]), f"SYN never answered ({_frames(syns)})"
    if outcome == Outcome.HANDSHAKE_INCOMPLETE.value:
        synacks = hs["synack_frames"]
        frame = synacks[0] if synacks else f["first_frame"]
        return frame, f"handshake incomplete: SYN-ACK at frame {frame} never acknowledged"
    frame = f["close"]["final_ack_frame"] or f["last_frame"]
    return frame, f"closed ({f['close']['pattern']}) at frame {frame}"


def describe_close(f: FlowReport) -> tuple[int | None, str]:
    """How the connection closed, with its first FIN."""
    close = f["close"]
    pattern = close["pattern"]
    fins = close["fin_frames"]
    first = min(fins["orig"][:1] + fins["resp"][:1], default=None)
    if pattern == ClosePattern.NONE.value:
        return f["last_frame"], "no FIN seen (close pattern none)"
    if pattern == ClosePattern.ONE_FIN_ONLY.value:
        return first, f"only {close['first_fin_by']} sent a FIN (frame {first}): one_fin_only"
    return first, f"close pattern {pattern}, first FIN by {close['first_fin_by']} at frame {first}"


def describe_handshake(f: FlowReport) -> tuple[int | None, str]:
    """How the connection opened, with the frame that shows it."""
    hs = f["handshake"]
    status = hs["status"]
    syns, synacks = hs["syn_frames"], hs["synack_frames"]
    if status == HandshakeStatus.COMPLETE.value:
        rtt = hs["rtt_s"]["total"]
        extra = f", RTT {format_seconds(rtt)}" if rtt is not None else ""
        return hs["ack_frame"], f"handshake complete at frame {hs['ack_frame']}{extra}"
    if status == HandshakeStatus.REFUSED.value:
        frame = f["reset"]["frames"][0] if f["reset"] else f["last_frame"]
        return frame, f"handshake refused by RST at frame {frame}"
    if status == HandshakeStatus.NO_ANSWER.value:
        frame = syns[0] if syns else None
        return frame, f"handshake no_answer: SYN never answered ({_frames(syns)})"
    if status == HandshakeStatus.INCOMPLETE.value:
        frame = synacks[0] if synacks else f["first_frame"]
        return frame, f"handshake incomplete: SYN-ACK at frame {frame} never acknowledged"
    if status == HandshakeStatus.SIMULTANEOUS_OPEN.value:
        return f["first_frame"], "handshake simultaneous_open (both ends sent a SYN)"
    if status == HandshakeStatus.SYNACK_NOT_CAPTURED.value:
        return hs["ack_frame"], (f"handshake synack_not_captured: completed unseen, orig's "
                                 f"ACK at frame {hs['ack_frame']}")
    if status == HandshakeStatus.SYN_NOT_CAPTURED.value:
        return f["first_frame"], f"handshake syn_not_captured (first frame {f['first_frame']})"
    return f["first_frame"], f"handshake not_captured: seen midstream from frame {f['first_frame']}"


def describe_conn_state(f: FlowReport) -> tuple[int | None, str]:
    """Zeek's conn_state and history."""
    z = f["zeek"]
    return f["last_frame"], f"Zeek conn_state {z['conn_state']} (history {z['history']})"


def describe_initiator(f: FlowReport) -> tuple[int | None, str]:
    """Who opened the connection, as far as the capture shows."""
    return f["first_frame"], f"initiator {f['initiator']} (first frame {f['first_frame']})"


def _first_event(f: FlowReport, names: Iterable[str]) -> int | None:
    wanted = set(names)
    return next((e["frame"] for e in f["anomaly_events"] if e["name"] in wanted), None)


def describe_anomalies(f: FlowReport, names: Sequence[str]) -> tuple[int | None, str]:
    """Which of ``names`` the connection has, how often, and where first."""
    present = [n for n in names if f["anomalies"].get(n, 0)]
    if not present:
        return None, f"has none of: {', '.join(names)}"
    parts = [f"{n} x{f['anomalies'][n]}" for n in present]
    frame = _first_event(f, present)
    where = f" (first at frame {frame})" if frame is not None else ""
    return frame, f"{', '.join(parts)}{where}"


def _reset_by(f: FlowReport) -> frozenset[str]:
    """Who aborted the connection: only for outcome ``reset``; ``both`` also counts for each."""
    reset = f["reset"]
    if f["outcome"] != Outcome.RESET.value or not reset:
        return frozenset()
    if reset["by"] == "both":
        return frozenset({"orig", "resp", "both"})
    return frozenset({reset["by"]})


def describe_reset_by(f: FlowReport) -> tuple[int | None, str]:
    """Who reset the connection (or that it was not reset)."""
    if _reset_by(f):
        return describe_outcome(f)
    frame, text = describe_outcome(f)
    return frame, f"not reset: {text}"


# -- per-connection fields (require / forbid) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowField:
    """A per-connection field usable in ``require``/``forbid`` and as ``<field>.<value>`` count.

    ``values`` is the closed set of accepted values; ``values_of`` gives a connection's values
    (a set, because a connection can have several anomalies); ``describe`` explains a
    connection with respect to the values a rule names.
    """

    name: str
    values: frozenset[str]
    values_of: Callable[[FlowReport], frozenset[str]]
    describe: Callable[[FlowReport, Sequence[str]], tuple[int | None, str]]
    meaning: str


def _ignore_values(fn: Describer) -> Callable[[FlowReport, Sequence[str]], tuple[int | None, str]]:
    return lambda f, _values: fn(f)


#: The per-connection fields, by name.
FIELDS: dict[str, FlowField] = {
    "outcome": FlowField(
        "outcome", frozenset(o.value for o in Outcome),
        lambda f: frozenset({f["outcome"]}), _ignore_values(describe_outcome),
        "how the connection ended (outcome)"),
    "close": FlowField(
        "close", frozenset(c.value for c in ClosePattern),
        lambda f: frozenset({f["close"]["pattern"]}), _ignore_values(describe_close),
        "close pattern (close.pattern)"),
    "handshake": FlowField(
        "handshake", frozenset(h.value for h in HandshakeStatus),
        lambda f: frozenset({f["handshake"]["status"]}), _ignore_values(describe_handshake),
        "handshake status (handshake.status)"),
    "anomaly": FlowField(
        "anomaly", frozenset(CATALOGUE),
        lambda f: frozenset(k for k, v in f["anomalies"].items() if v), describe_anomalies,
        "anomalies seen on the connection (anomalies)"),
    "conn_state": FlowField(
        "conn_state", ZEEK_CONN_STATES,
        lambda f: frozenset({f["zeek"]["conn_state"]}), _ignore_values(describe_conn_state),
        "Zeek conn_state (zeek.conn_state)"),
    "reset_by": FlowField(
        "reset_by", frozenset({"orig", "resp", "both"}), _reset_by,
        _ignore_values(describe_reset_by),
        "who aborted a connection whose outcome is reset (reset.by; both counts for each)"),
    "initiator": FlowField(
        "initiator", frozenset({"orig", "both", "unknown"}),
        lambda f: frozenset({f["initiator"]}), _ignore_values(describe_initiator),
        "who opened it: orig, both (simultaneous open), unknown (SYN not captured)"),
}


# -- aggregate metrics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metric:
    """An aggregate over the selected connections of one capture.

    ``per_flow`` gives each connection's contribution: 1/0 for a ``connections`` metric, the
    occurrences for ``events``, the numerator for a ``ratio`` (with ``denominator``), the value
    (or None when unmeasured) for a ``duration``, whose statistic is ``percentile`` (0 is the
    minimum, 100 the maximum).
    """

    name: str
    kind: MetricKind
    per_flow: Callable[[FlowReport], float | None]
    describe: Describer
    meaning: str
    denominator: Callable[[FlowReport], int] | None = None
    percentile: int | None = None
    #: a per-listener figure (a key of :mod:`.listeners` entries): the metric is its
    #: maximum over the selected listeners, not an aggregate over connections
    listener_stat: str | None = None


#: Short names for the common outcome counts (the issue's vocabulary).
OUTCOME_ALIASES: dict[str, str] = {
    "closed": "closed", "reset": "reset", "rst_abort": "reset", "refused": "refused",
    "no_synack": "no_synack", "handshake_incomplete": "handshake_incomplete",
    "open": "open", "leaked": "open",
}

_STAT = re.compile(r"^(?P<base>handshake_rtt|duration)_(?:(?P<edge>min|max)|p(?P<p>[1-9][0-9]?))$")


def data_packets(f: FlowReport) -> int:
    """Denominator of ``retransmission_rate``: the connection's data-carrying segments.

    Uses the report's ``data_packets`` when present; the current report has only ``packets``
    (every segment), which this falls back to (see docs/check.md).
    """
    counts = f.get("data_packets") or f["packets"]
    return int(counts["orig"]) + int(counts["resp"])


def _retransmissions(f: FlowReport) -> int:
    return sum(int(f["anomalies"].get(n, 0)) for n in RETRANSMISSION_ANOMALIES)


def _describe_retransmissions(f: FlowReport) -> tuple[int | None, str]:
    frame = _first_event(f, RETRANSMISSION_ANOMALIES)
    where = f", first at frame {frame}" if frame is not None else ""
    return frame, f"{_retransmissions(f)} retransmissions in {data_packets(f)} packets{where}"


def _rtt(f: FlowReport) -> float | None:
    total = f["handshake"]["rtt_s"]["total"]
    return None if total is None else float(total)


def _describe_rtt(f: FlowReport) -> tuple[int | None, str]:
    hs = f["handshake"]
    rtt = _rtt(f)
    if rtt is None:
        return hs["ack_frame"], "no handshake RTT"
    syn = hs["syn_frames"][-1] if hs["syn_frames"] else None
    return hs["ack_frame"], (
        f"handshake RTT {format_seconds(rtt)} (SYN frame {syn}, ACK frame {hs['ack_frame']})"
    )


def _describe_duration(f: FlowReport) -> tuple[int | None, str]:
    return f["first_frame"], (
        f"lasted {format_seconds(float(f['duration_s']))} "
        f"(frames {f['first_frame']}-{f['last_frame']})"
    )


def _field_count(fld: FlowField, value: str, name: str) -> Metric:
    return Metric(
        name, MetricKind.CONNECTIONS,
        lambda f: 1.0 if value in fld.values_of(f) else 0.0,
        lambda f: fld.describe(f, (value,)),
        f"connections with {fld.name} {value}",
    )


def _anomaly_events(name: str) -> Metric:
    return Metric(
        f"anomaly.{name}", MetricKind.EVENTS,
        lambda f: float(f["anomalies"].get(name, 0)),
        lambda f: describe_anomalies(f, (name,)),
        f"occurrences of the {name} anomaly",
    )


@lru_cache(maxsize=512)
def resolve_metric(name: str) -> Metric | None:
    """The metric called ``name``, or None when the vocabulary has no such metric."""
    if name == "connections":
        return Metric(name, MetricKind.CONNECTIONS, lambda f: 1.0, describe_outcome,
                      "selected connections")
    if name in OUTCOME_ALIASES:
        return _field_count(FIELDS["outcome"], OUTCOME_ALIASES[name], name)
    if name == "half_open_peak":
        return Metric(name, MetricKind.EVENTS, lambda f: None, describe_outcome,
                      "the most half-open connections (SYN-RECEIVED) at one listener at once",
                      listener_stat="half_open_peak")
    if name == "retransmissions":
        return Metric(name, MetricKind.EVENTS, lambda f: float(_retransmissions(f)),
                      _describe_retransmissions,
                      "retransmission + fast_retransmission + spurious_retransmission anomalies")
    if name == "retransmission_rate":
        return Metric(name, MetricKind.RATIO, lambda f: float(_retransmissions(f)),
                      _describe_retransmissions, "retransmissions / data packets",
                      denominator=data_packets)
    stat = _STAT.match(name)
    if stat:
        edge, p = stat.group("edge"), stat.group("p")
        pct = 0 if edge == "min" else 100 if edge == "max" else int(p)
        if stat.group("base") == "handshake_rtt":
            return Metric(name, MetricKind.DURATION, _rtt, _describe_rtt,
                          "handshake RTT (handshake.rtt_s.total)", percentile=pct)
        return Metric(name, MetricKind.DURATION, lambda f: float(f["duration_s"]),
                      _describe_duration, "connection duration (duration_s)", percentile=pct)
    prefix, dot, value = name.partition(".")
    if dot and prefix == "anomaly" and value in CATALOGUE:
        return _anomaly_events(value)
    if dot and prefix in FIELDS and value in FIELDS[prefix].values:
        return _field_count(FIELDS[prefix], value, name)
    return None


def metric_names() -> list[str]:
    """Every metric name (percentiles shown as p50/p90/p95/p99), for suggestions and docs."""
    names = ["connections", *OUTCOME_ALIASES, "retransmissions", "retransmission_rate",
             "half_open_peak"]
    for base in ("handshake_rtt", "duration"):
        names += [f"{base}_{s}" for s in ("min", "p50", "p90", "p95", "p99", "max")]
    names += [f"anomaly.{a}" for a in CATALOGUE]
    for fname, fld in FIELDS.items():
        if fname != "anomaly":
            names += [f"{fname}.{v}" for v in sorted(fld.values)]
    return names


# -- rules ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """Which connections a rule looks at.  Criteria combine with AND; alternatives with OR.

    ``hosts`` and ``ports`` constrain one endpoint (the same one must match both), chosen by
    ``direction``; ``initiators`` matches the report's ``initiator`` field.
    """

    hosts: tuple[IPNetwork, ...] = ()
    ports: frozenset[int] = frozenset()
    direction: Direction = Direction.ANY
    initiators: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        """True when the selector picks every connection."""
        return not (self.hosts or self.ports or self.initiators)

    def _endpoint_matches(self, ep: dict[str, Any]) -> bool:
        if self.ports and ep["port"] not in self.ports:
            return False
        if self.hosts:
            addr = _ip(ep["ip"])
            return any(addr.version == n.version and addr in n for n in self.hosts)
        return True

    def matches(self, f: FlowReport) -> bool:
        """Whether the connection is selected."""
        if self.initiators and f["initiator"] not in self.initiators:
            return False
        if not (self.hosts or self.ports):
            return True
        if self.direction is Direction.INBOUND:
            return self._endpoint_matches(f["resp"])
        if self.direction is Direction.OUTBOUND:
            return self._endpoint_matches(f["orig"])
        return self._endpoint_matches(f["orig"]) or self._endpoint_matches(f["resp"])

    def describe(self) -> str:
        """Short human description, e.g. ``inbound port 8080, hosts 10.0.0.0/8``; ``all``."""
        if self.is_empty:
            return "all connections"
        parts = []
        if self.direction is not Direction.ANY:
            parts.append("inbound to" if self.direction is Direction.INBOUND else "outbound from")
        if self.hosts:
            parts.append("hosts " + ",".join(str(n) for n in self.hosts))
        if self.ports:
            parts.append("ports " + ",".join(str(p) for p in sorted(self.ports)))
        if self.initiators:
            parts.append("initiator " + ",".join(sorted(self.initiators)))
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """The limit of a threshold.  ``value`` is exact: a count, a ratio (1% is 1/100) or
    seconds.  ``share`` marks a percentage on a connections metric (a share of the selected
    connections).  ``text`` is the limit as the user wrote it."""

    value: Fraction
    share: bool = False
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """``max``/``min`` condition: the metric's aggregate must stay at most/at least ``limit``."""

    kind: ConditionKind
    metric: Metric
    limit: Limit

    @property
    def text(self) -> str:
        """The condition in inline syntax, e.g. ``max rst_abort=0``."""
        return f"{self.kind.value} {self.metric.name}={self.limit.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    """``require``/``forbid`` condition: every selected connection must have (require) or must
    not have (forbid) one of ``values`` in ``field``."""

    kind: ConditionKind
    field: FlowField
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        """The condition in inline syntax, e.g. ``forbid outcome=open``."""
        return f"{self.kind.value} {self.field.name}={','.join(self.values)}"


Condition = Threshold | Membership


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A named check: selector + condition + severity, and where it was written."""

    name: str
    condition: Condition
    severity: Severity = Severity.ERROR
    selector: Selector = Selector()
    description: str = ""
    file: str | None = None
    line: int | None = None

    @property
    def source(self) -> str:
        """``policy.toml:12`` for a policy rule, ``command line`` for an inline one."""
        if self.file is None:
            return "command line"
        return f"{self.file}:{self.line}" if self.line else self.file


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Offender:
    """A connection that made a rule fail, with the frame that shows why."""

    conn_id: int
    orig: str
    resp: str
    frame: int | None
    detail: str

    @property
    def line(self) -> str:
        """``conn #3 10.0.0.1:40000 -> 10.0.0.2:80 reset by resp at frame 7``."""
        return f"conn #{self.conn_id} {self.orig} -> {self.resp} {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON)."""
        return {"id": self.conn_id, "orig": self.orig, "resp": self.resp, "frame": self.frame,
                "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleResult:
    """One rule on one capture: status, the observed value and the offending connections.

    ``observed`` is a number for JSON (an integer count, a ratio between 0 and 1, or seconds)
    or None when the aggregate has no value; ``observed_text`` is the same for humans.  For
    ``require``/``forbid`` it is the number of offending connections.
    """

    rule: Rule
    status: Status
    selected: int
    observed: float | int | None
    observed_text: str
    message: str
    offenders: tuple[Offender, ...]

    @property
    def failed(self) -> bool:
        """True when the condition does not hold."""
        return self.status is Status.FAIL

    @property
    def blocking(self) -> bool:
        """True when this result fails the build (a failed ``error`` rule)."""
        return self.failed and self.rule.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON)."""
        r = self.rule
        return {
            "rule": r.name, "description": r.description, "severity": r.severity.value,
            "condition": r.condition.text, "selector": r.selector.describe(),
            "source": r.source, "status": self.status.value, "selected": self.selected,
            "observed": self.observed, "observed_text": self.observed_text,
            "message": self.message, "offenders": [o.to_dict() for o in self.offenders],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureResult:
    """Every rule on one capture.  ``connections`` counts the capture's connections within
    the command-line scope (``--host``/``--port``); ``start_ts`` is its first connection's."""

    capture: str
    connections: int
    start_ts: float | None
    results: tuple[RuleResult, ...]

    @property
    def failures(self) -> int:
        """Number of blocking failures (failed ``error`` rules)."""
        return sum(r.blocking for r in self.results)

    @property
    def warnings(self) -> int:
        """Number of failed ``warning`` rules."""
        return sum(r.failed and not r.blocking for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON)."""
        return {"capture": self.capture, "connections": self.connections,
                "failures": self.failures, "warnings": self.warnings,
                "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """The whole ``check`` run: one :class:`CaptureResult` per capture, plus tool warnings."""

    captures: tuple[CaptureResult, ...]
    warnings: tuple[str, ...] = ()

    @property
    def results(self) -> list[RuleResult]:
        """Every result, capture by capture."""
        return [r for c in self.captures for r in c.results]

    @property
    def passed(self) -> bool:
        """True when no ``error`` rule failed on any capture."""
        return not any(r.blocking for r in self.results)

    def counts(self) -> dict[str, int]:
        """Totals: rule evaluations, passed, failed (blocking), warnings (failed warnings)."""
        results = self.results
        return {
            "evaluated": len(results),
            "passed": sum(not r.failed for r in results),
            "failed": sum(r.blocking for r in results),
            "warnings": sum(r.failed and not r.blocking for r in results),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (the JSON document without its schema header)."""
        return {"passed": self.passed, "summary": self.counts(),
                "captures": [c.to_dict() for c in self.captures],
                "warnings": list(self.warnings)}


# -- evaluation ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: int) -> float | None:
    """Nearest-rank percentile (``pct`` 0 = minimum, 100 = maximum); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, (pct * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def _offender(f: FlowReport, describe: Describer) -> Offender:
    frame, detail = describe(f)
    return Offender(conn_id=int(f["id"]), orig=format_endpoint(f["orig"]),
                    resp=format_endpoint(f["resp"]), frame=frame, detail=detail)


def _holds(kind: ConditionKind, observed: Fraction | float | None, limit: Fraction) -> bool:
    if observed is None:
        return kind is ConditionKind.MAX
    if isinstance(observed, float):
        bound: Fraction | float = float(limit)
    else:
        bound = limit
    return observed <= bound if kind is ConditionKind.MAX else observed >= bound


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _evaluate_threshold(cond: Threshold, flows: Sequence[FlowReport]) -> tuple[
        bool, float | int | None, str, str, list[FlowReport]]:
    """(holds, observed number, observed text, message clause, offending flows)."""
    m, limit, kind = cond.metric, cond.limit, cond.kind
    n = len(flows)
    observed: Fraction | float | None
    if m.kind is MetricKind.CONNECTIONS:
        hits = [f for f in flows if m.per_flow(f)]
        if limit.share:
            observed = Fraction(len(hits), n) if n else None
            text = format_ratio(observed) if observed is not None else "n/a"
            clause = (f"{m.name} = {len(hits)} of {_plural(n, 'connection')} ({text})" if n
                      else f"{m.name} = n/a: no connection selected")
        else:
            observed = Fraction(len(hits))
            text = str(len(hits))
            clause = f"{m.name} = {len(hits)} of {_plural(n, 'connection')}"
        others = [f for f in flows if not m.per_flow(f)]
        culprits = hits if kind is ConditionKind.MAX else others
    elif m.kind is MetricKind.EVENTS:
        counted = [(f, int(m.per_flow(f) or 0)) for f in flows]
        total = sum(c for _f, c in counted)
        observed, text = Fraction(total), str(total)
        with_any = sum(1 for _f, c in counted if c)
        clause = f"{m.name} = {total} in {with_any} of {_plural(n, 'connection')}"
        culprits = [f for f, c in counted if c] if kind is ConditionKind.MAX else []
    elif m.kind is MetricKind.RATIO:
        assert m.denominator is not None
        num = sum(int(m.per_flow(f) or 0) for f in flows)
        den = sum(m.denominator(f) for f in flows)
        observed = Fraction(num, den) if den else None
        text = format_ratio(observed) if observed is not None else "n/a"
        clause = (f"{m.name} = {text} ({num} of {den} packets)" if den
                  else f"{m.name} = n/a: no packets in the selected connections")
        culprits = [f for f in flows if m.per_flow(f)] if kind is ConditionKind.MAX else []
    else:
        assert m.percentile is not None
        measured = [(f, v) for f in flows if (v := m.per_flow(f)) is not None]
        observed = percentile([v for _f, v in measured], m.percentile)
        text = format_seconds(observed) if observed is not None else "n/a"
        clause = (f"{m.name} = {text} over {_plural(len(measured), 'connection')}" if measured
                  else f"{m.name} = n/a: no measured value in {_plural(n, 'connection')}")
        bound = float(limit.value)
        culprits = [f for f, v in measured
                    if (v > bound if kind is ConditionKind.MAX else v < bound)]
    holds = _holds(kind, observed, limit.value)
    number: float | int | None
    if observed is None:
        number = None
    elif isinstance(observed, Fraction) and observed.denominator == 1 and not limit.share \
            and m.kind is not MetricKind.RATIO:
        number = int(observed)  # a count stays an integer in JSON
    else:
        number = float(observed)
    return holds, number, text, clause, culprits


def listener_matches(selector: Selector, entry: dict[str, Any]) -> bool:
    """Whether a listener (the endpoint that received the SYNs) is selected: its address and
    port are the responder's of its connections, so ``outbound`` selects none."""
    if not (selector.hosts or selector.ports):
        return True
    if entry["ip"] is None or selector.direction is Direction.OUTBOUND:
        return False
    return selector._endpoint_matches(entry)


def _evaluate_listeners(cond: Threshold, selector: Selector,
                        listeners: Sequence[dict[str, Any]]) -> tuple[bool, int | None, str, str]:
    """(holds, observed, observed text, message clause) of a per-listener metric: the
    maximum over the selected listeners, named with where and when it happened."""
    stat = cond.metric.listener_stat
    assert stat is not None
    chosen = [e for e in listeners if listener_matches(selector, e)]
    if not chosen:
        clause = f"{cond.metric.name} = n/a: no listener selected"
        return _holds(cond.kind, None, cond.limit.value), None, "n/a", clause
    from .listeners import listener_endpoint

    top = max(chosen, key=lambda e: int(e[stat]))
    value = int(top[stat])
    where = f" at {listener_endpoint(top)}"
    if stat == "half_open_peak" and top["half_open_peak_frame"] is not None:
        where += f" (frame {top['half_open_peak_frame']})"
    clause = (f"{cond.metric.name} = {value}{where}, over "
              f"{_plural(len(chosen), 'listener')}")
    return _holds(cond.kind, Fraction(value), cond.limit.value), value, str(value), clause


def evaluate_rule(rule: Rule, flows: Sequence[FlowReport],
                  listeners: Sequence[dict[str, Any]] | None = None) -> RuleResult:
    """Evaluate one rule over one capture's connections (the selector is applied here);
    ``listeners`` (the capture's listener view) feeds the per-listener metrics."""
    selected = [f for f in flows if rule.selector.matches(f)]
    n = len(selected)
    cond = rule.condition
    if isinstance(cond, Threshold) and cond.metric.listener_stat is not None:
        holds, number, text, clause = _evaluate_listeners(cond, rule.selector, listeners or [])
        return RuleResult(rule=rule, status=Status.PASS if holds else Status.FAIL, selected=n,
                          observed=number, observed_text=text,
                          message=f"{clause} ({cond.kind.value} {cond.limit.text})",
                          offenders=())
    if isinstance(cond, Threshold):
        holds, number, text, clause, culprits = _evaluate_threshold(cond, selected)
        message = f"{clause} ({cond.kind.value} {cond.limit.text})"
        describe = cond.metric.describe
    else:
        wanted = set(cond.values)
        forbid = cond.kind is ConditionKind.FORBID
        bad = [f for f in selected if bool(wanted & cond.field.values_of(f)) is forbid]
        holds = not bad
        number, text = len(bad), str(len(bad))
        values = "|".join(cond.values)
        if cond.kind is ConditionKind.REQUIRE:
            what = f"without {cond.field.name} {values}"
        else:
            what = f"with {cond.field.name} {values}"
        message = f"{len(bad)} of {_plural(n, 'connection')} {what}"
        culprits = bad

        def describe(f: FlowReport) -> tuple[int | None, str]:
            return cond.field.describe(f, cond.values)

    offenders = () if holds else tuple(
        _offender(f, describe) for f in sorted(culprits, key=lambda f: f["id"])
    )
    return RuleResult(rule=rule, status=Status.PASS if holds else Status.FAIL, selected=n,
                      observed=number, observed_text=text, message=message,
                      offenders=offenders)


def evaluate_capture(rules: Sequence[Rule], capture: str, flows: Sequence[FlowReport],
                     scope: Selector | None = None,
                     listeners: Sequence[dict[str, Any]] | None = None) -> CaptureResult:
    """Evaluate every rule on one capture.  ``scope`` (the command line's ``--host``/``--port``)
    narrows the connections (and listeners) before any rule's own selector."""
    in_scope = [f for f in flows if scope is None or scope.matches(f)]
    lst = [e for e in listeners or [] if scope is None or listener_matches(scope, e)]
    start = min((float(f["start_ts"]) for f in flows), default=None)
    return CaptureResult(capture=capture, connections=len(in_scope), start_ts=start,
                         results=tuple(evaluate_rule(r, in_scope, lst) for r in rules))


def evaluate(rules: Sequence[Rule], captures: Sequence[tuple[str, Sequence[FlowReport]]],
             scope: Selector | None = None, warnings: Sequence[str] = (),
             listeners: Sequence[Sequence[dict[str, Any]]] | None = None) -> CheckReport:
    """Evaluate every rule on every capture (each capture on its own); ``listeners`` gives
    each capture's listener view, in the same order."""
    per = list(listeners) if listeners is not None else [[] for _ in captures]
    return CheckReport(
        captures=tuple(evaluate_capture(rules, name, flows, scope, lst)
                       for (name, flows), lst in zip(captures, per, strict=True)),
        warnings=tuple(warnings),
    )


def exit_code(report: CheckReport, exit_zero: bool = False) -> ExitCode:
    """``CHECKS_FAILED`` when an ``error`` rule failed (unless ``exit_zero``), else ``OK``.
    Tool errors never reach this point: they exit 2 before any report exists."""
    if report.passed or exit_zero:
        return ExitCode.OK
    return ExitCode.CHECKS_FAILED
