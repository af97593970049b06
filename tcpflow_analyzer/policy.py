"""Parse ``check`` rules: TOML policy files and inline ``--max rst_abort=0`` rules.

Pure: takes text, returns :class:`~tcpflow_analyzer.checks.Rule` objects or raises
:class:`~tcpflow_analyzer.errors.PolicyError`.  Nothing is silently ignored: an unknown key,
metric, field, value or unit is an error, and a policy error names its line as
``policy.toml:12: ...``.  ``tomllib`` reports no line numbers for valid TOML, so
:func:`locate_keys` scans the text for the line of every key.

Policy file shape (the full reference is in ``docs/check.md``)::

    version = 1                              # optional; only 1 exists

    [rules.no-resets-from-api]               # one table per rule, keyed by its name
    description = "the API never aborts a connection"   # optional
    severity = "error"                       # error (default) | warning
    select = { ports = [8080], direction = "inbound" }  # optional; see Selector
    max = { rst_abort = 0 }                  # exactly one of max, min, require, forbid
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from .checks import (
    FIELDS,
    ConditionKind,
    Direction,
    Limit,
    Membership,
    Metric,
    MetricKind,
    Rule,
    Selector,
    Severity,
    Threshold,
    metric_names,
    resolve_metric,
)
from .errors import PolicyError

Path = tuple[str, ...]

TOP_KEYS = ("version", "rules")
RULE_KEYS = ("description", "severity", "select", "max", "min", "require", "forbid")
SELECT_KEYS = ("hosts", "ports", "direction", "initiator")
CONDITION_KEYS = tuple(k.value for k in ConditionKind)

#: Duration units and their value in seconds.
DURATION_UNITS: dict[str, Fraction] = {
    "us": Fraction(1, 1_000_000), "µs": Fraction(1, 1_000_000), "ms": Fraction(1, 1000),
    "s": Fraction(1), "min": Fraction(60),
}
_QUANTITY = re.compile(r"^\s*(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[^\s0-9.]*)\s*$")


class _Problem(Exception):
    """A policy problem at a key path; turned into a PolicyError naming the line."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# -- values and units ----------------------------------------------------------------------------


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _number_text(raw: object) -> str:
    """The text of a limit as written: TOML numbers keep their decimal spelling."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"a limit must be a number or a string such as \"200ms\", not {raw!r}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError(f"{raw!r} is not a usable limit")
    return raw if isinstance(raw, str) else repr(raw)


def parse_limit(raw: object, metric: Metric) -> Limit:
    """Parse a limit for ``metric`` from a TOML value or an inline string.

    Counts take plain integers (and ``N%`` for a share of the selected connections when the
    metric counts connections), rates take ``N%``, durations need a unit (``us``, ``ms``,
    ``s``, ``min``).  Raises ValueError with a user-facing message.
    """
    text = _number_text(raw).strip()
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(
            f"{text!r} is not a non-negative number with an optional unit "
            f"(e.g. 0, 200ms, 1.5s, 1%)"
        )
    num, unit = Fraction(m.group("num")), m.group("unit")
    kind = metric.kind
    if unit not in ("", "%", *DURATION_UNITS):
        raise ValueError(f"unknown unit {unit!r} in {text!r} (durations: us, ms, s, min; "
                         f"percentages: %)")
    if kind is MetricKind.DURATION:
        if unit not in DURATION_UNITS:
            raise ValueError(f"{metric.name} is a duration: give a unit, e.g. 200ms or 1.5s "
                             f"(got {text!r})")
        return Limit(value=num * DURATION_UNITS[unit], text=text)
    if unit in DURATION_UNITS:
        raise ValueError(f"{metric.name} is not a duration: {text!r} has a time unit")
    if unit == "%":
        if num > 100:
            raise ValueError(f"{text!r} is more than 100%")
        if kind is MetricKind.EVENTS:
            raise ValueError(f"{metric.name} counts occurrences, so a percentage has no "
                             f"meaning: give a plain count such as 0")
        return Limit(value=num / 100, share=kind is MetricKind.CONNECTIONS, text=text)
    if kind is MetricKind.RATIO:
        raise ValueError(f"{metric.name} is a rate: write it as a percentage, e.g. 1% or 0% "
                         f"(got {text!r})")
    if num.denominator != 1:
        raise ValueError(f"{metric.name} is a count: {text!r} is not a whole number")
    return Limit(value=num, text=text)


def parse_metric(name: str) -> Metric:
    """The metric called ``name`` (ValueError, with a suggestion, for an unknown one)."""
    metric = resolve_metric(name)
    if metric is None:
        raise ValueError(f"unknown metric {name!r}{_suggest(name, metric_names())} "
                         f"(see docs/check.md for the list)")
    return metric


def parse_membership(kind: ConditionKind, field_name: str, raw: object) -> Membership:
    """A require/forbid condition; ``raw`` is a value, a list of values or a comma list."""
    fld = FIELDS.get(field_name)
    if fld is None:
        raise ValueError(f"unknown field {field_name!r}{_suggest(field_name, FIELDS)} "
                         f"(fields: {', '.join(FIELDS)})")
    if isinstance(raw, str):
        values = [v.strip() for v in raw.split(",")]
    elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        values = [v.strip() for v in raw]
    else:
        raise ValueError(f"{kind.value} {field_name} takes a value or a list of values, "
                         f"not {raw!r}")
    if not values or any(not v for v in values):
        raise ValueError(f"{kind.value} {field_name}: empty value")
    for v in values:
        if v not in fld.values:
            listing = ("run `tcpflow-analyzer anomalies` for the list" if field_name == "anomaly"
                       else f"values: {', '.join(sorted(fld.values))}")
            raise ValueError(f"{field_name} has no value {v!r}{_suggest(v, fld.values)} "
                             f"({listing})")
    return Membership(kind=kind, field=fld, values=tuple(dict.fromkeys(values)))


# -- inline rules --------------------------------------------------------------------------------


def parse_inline_rule(kind: ConditionKind, spec: str) -> Rule:
    """A rule from the command line: ``--max rst_abort=0``, ``--require handshake=complete``.

    The rule is named after its condition, has severity ``error`` and selects every
    connection (the command line's ``--host``/``--port`` still narrow it).
    """
    subject, eq, value = spec.partition("=")
    subject, value = subject.strip(), value.strip()
    example = "FIELD=VALUE, e.g. outcome=open" if kind in (
        ConditionKind.REQUIRE, ConditionKind.FORBID) else "METRIC=VALUE, e.g. rst_abort=0"
    if not eq or not subject or not value:
        raise PolicyError(f"--{kind.value} {spec!r}: expected {example}")
    try:
        if kind in (ConditionKind.MAX, ConditionKind.MIN):
            metric = parse_metric(subject)
            cond: Threshold | Membership = Threshold(
                kind=kind, metric=metric, limit=parse_limit(value, metric))
        else:
            cond = parse_membership(kind, subject, value)
    except ValueError as exc:
        raise PolicyError(f"--{kind.value} {spec!r}: {exc}") from None
    return Rule(name=cond.text, condition=cond)


# -- locating keys in the TOML text --------------------------------------------------------------


class _KeyScanner:
    """Finds the line of every key in a *valid* TOML document (tables, dotted keys, inline
    tables).  Values are skipped with just enough TOML lexing (strings, arrays, comments)."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found: dict[Path, int] = {}
        self.aot: dict[Path, int] = {}

    def _advance(self, n: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + n)
        self.pos += n

    def _at(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _blank(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t\r" or (c == "\n" and newlines):
                self._advance()
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self._advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def _string(self) -> str:
        """Skip a string of any of the four kinds; return its raw source text."""
        start = self.pos
        for delim, escapes in (('"""', True), ("'''", False), ('"', True), ("'", False)):
            if self._at(delim):
                self._advance(len(delim))
                while self.pos < len(self.text) and not self._at(delim):
                    self._advance(2 if escapes and self._peek() == "\\" else 1)
                self._advance(len(delim))
                if len(delim) == 3:  # up to two quotes may sit right before the closing ones
                    for _ in range(2):
                        if self._at(delim[0]):
                            self._advance()
                break
        return self.text[start:self.pos]

    def _key(self) -> Path:
        parts: list[str] = []
        while True:
            self._blank(False)
            if self._peek() in ('"', "'"):
                raw = self._string()
                parts.append(str(tomllib.loads(f"k = {raw}")["k"]))
            else:
                m = self._BARE.match(self.text, self.pos)
                if m is None:
                    raise ValueError("not a key")
                parts.append(m.group())
                self._advance(len(m.group()))
            self._blank(False)
            if self._peek() != ".":
                return tuple(parts)
            self._advance()

    def _record(self, path: Path) -> None:
        for i in range(1, len(path) + 1):
            self.found.setdefault(path[:i], self.line)

    def _value(self, path: Path) -> None:
        c = self._peek()
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self._advance()
            while True:
                self._blank(True)
                if self._peek() in ("]", ""):
                    self._advance()
                    return
                self._value(path)
                self._blank(True)
                if self._peek() == ",":
                    self._advance()
        elif c == "{":
            self._advance()
            while True:
                self._blank(True)
                if self._peek() in ("}", ""):
                    self._advance()
                    return
                key = path + self._key()
                self._record(key)
                self._blank(False)
                self._advance()  # "="
                self._blank(False)
                self._value(key)
                self._blank(True)
                if self._peek() == ",":
                    self._advance()
        else:
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}\n#":
                self._advance()
            if self.pos == start:
                self._advance()

    def scan(self) -> dict[Path, int]:
        """Map every key path (and table path) to the line where it first appears."""
        table: Path = ()
        try:
            while True:
                self._blank(True)
                if self.pos >= len(self.text):
                    break
                start = self.pos
                if self._at("[["):
                    self._advance(2)
                    key = self._key()
                    self._record(key)
                    self._advance(2)
                    index = self.aot.get(key, 0)
                    self.aot[key] = index + 1
                    table = (*key, str(index))
                elif self._at("["):
                    self._advance()
                    table = self._key()
                    self._record(table)
                    self._advance()
                else:
                    key = table + self._key()
                    self._record(key)
                    self._blank(False)
                    self._advance()  # "="
                    self._blank(False)
                    self._value(key)
                if self.pos == start:
                    self._advance()
        except (ValueError, IndexError, tomllib.TOMLDecodeError):
            pass  # best effort: lines found so far still help
        return self.found


def locate_keys(text: str) -> dict[Path, int]:
    """Line number (1-based) of every key path in a valid TOML document, e.g.
    ``("rules", "no-resets", "max", "rst_abort") -> 7``; tables map to their header line."""
    return _KeyScanner(text).scan()


def _line_of(lines: Mapping[Path, int], path: Path) -> int | None:
    for i in range(len(path), 0, -1):
        if path[:i] in lines:
            return lines[path[:i]]
    return None


# -- the policy document -------------------------------------------------------------------------


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], path: Path,
                where: str) -> None:
    for key in table:
        if key not in allowed:
            raise _Problem((*path, key), f"{where}: unknown key {key!r}{_suggest(key, allowed)}"
                                         f" (allowed: {', '.join(allowed)})")


def _as_list(raw: object) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


def _parse_selector(raw: object, path: Path, where: str) -> Selector:
    if not isinstance(raw, dict):
        raise _Problem(path, f"{where}: select must be a table, e.g. "
                             f"select = {{ ports = [8080] }}")
    _check_keys(raw, SELECT_KEYS, path, f"{where}: select")
    hosts = []
    for h in _as_list(raw.get("hosts", [])):
        if not isinstance(h, str):
            raise _Problem((*path, "hosts"), f"{where}: hosts must be addresses or CIDRs "
                                             f"as strings, not {h!r}")
        try:
            hosts.append(ipaddress.ip_network(h.strip(), strict=False))
        except ValueError:
            raise _Problem((*path, "hosts"),
                           f"{where}: {h!r} is not an IP address or CIDR") from None
    ports = []
    for p in _as_list(raw.get("ports", [])):
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 65535:
            raise _Problem((*path, "ports"), f"{where}: {p!r} is not a port number (0-65535)")
        ports.append(p)
    direction_raw = raw.get("direction", Direction.ANY.value)
    choices = [d.value for d in Direction]
    if direction_raw not in choices:
        raise _Problem((*path, "direction"), f"{where}: direction {direction_raw!r} is not one "
                                             f"of: {', '.join(choices)}")
    direction = Direction(direction_raw)
    if direction is not Direction.ANY and not (hosts or ports):
        raise _Problem((*path, "direction"), f"{where}: direction {direction.value} needs "
                                             f"hosts or ports to say which endpoint")
    initiators = _as_list(raw.get("initiator", []))
    allowed = FIELDS["initiator"].values
    for i in initiators:
        if i not in allowed:
            raise _Problem((*path, "initiator"), f"{where}: initiator {i!r} is not one of: "
                                                 f"{', '.join(sorted(allowed))}")
    return Selector(hosts=tuple(hosts), ports=frozenset(ports), direction=direction,
                    initiators=frozenset(initiators))


def _flatten(table: Mapping[str, Any], prefix: Path = ()) -> list[tuple[Path, Any]]:
    """``{anomaly = {zero_window = 0}}`` (a dotted TOML key) -> ``[(("anomaly",
    "zero_window"), 0)]``: metric names may contain dots."""
    out: list[tuple[Path, Any]] = []
    for k, v in table.items():
        if isinstance(v, dict):
            out += _flatten(v, (*prefix, k))
        else:
            out.append(((*prefix, k), v))
    return out


def _parse_condition(rule: Mapping[str, Any], path: Path, where: str) -> Threshold | Membership:
    present = [k for k in CONDITION_KEYS if k in rule]
    if len(present) != 1:
        got = f"got {', '.join(present)}" if present else "got none"
        raise _Problem(path, f"{where}: a rule needs exactly one condition: max, min, require "
                             f"or forbid ({got})")
    key = present[0]
    kind = ConditionKind(key)
    raw = rule[key]
    cpath = (*path, key)
    example = "{ handshake = \"complete\" }" if kind in (
        ConditionKind.REQUIRE, ConditionKind.FORBID) else "{ rst_abort = 0 }"
    if not isinstance(raw, dict):
        raise _Problem(cpath, f"{where}: {key} must be a table such as {key} = {example}")
    entries = _flatten(raw)
    if len(entries) != 1:
        raise _Problem(cpath, f"{where}: {key} must name exactly one "
                              f"{'field' if kind.value in ('require', 'forbid') else 'metric'}"
                              f" (got {len(entries)}); write one rule per condition")
    subject_path, value = entries[0]
    subject = ".".join(subject_path)
    try:
        if kind in (ConditionKind.MAX, ConditionKind.MIN):
            metric = parse_metric(subject)
            return Threshold(kind=kind, metric=metric, limit=parse_limit(value, metric))
        return parse_membership(kind, subject, value)
    except ValueError as exc:
        raise _Problem((*cpath, *subject_path), f"{where}: {exc}") from None


def _parse_rule(name: str, raw: object, source: str, lines: Mapping[Path, int]) -> Rule:
    path: Path = ("rules", name)
    where = f"rule {name!r}"
    if not name.strip():
        raise _Problem(path, "rule names must not be empty")
    if not isinstance(raw, dict):
        raise _Problem(path, f"{where}: a rule must be a table: [rules.{name}]")
    _check_keys(raw, RULE_KEYS, path, where)
    severity_raw = raw.get("severity", Severity.ERROR.value)
    if severity_raw not in [s.value for s in Severity]:
        raise _Problem((*path, "severity"),
                       f"{where}: severity {severity_raw!r} is not one of: error, warning")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _Problem((*path, "description"), f"{where}: description must be a string")
    selector = (_parse_selector(raw["select"], (*path, "select"), where)
                if "select" in raw else Selector())
    condition = _parse_condition(raw, path, where)
    return Rule(name=name, condition=condition, severity=Severity(severity_raw),
                selector=selector, description=description, file=source,
                line=_line_of(lines, path))


def parse_policy(text: str, source: str) -> list[Rule]:
    """Parse a TOML policy document; ``source`` names it in errors and results.

    Raises PolicyError (``source:line: message``) for invalid TOML and for every unknown or
    invalid key, metric, field, value or unit.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from None
    lines = locate_keys(text)
    try:
        _check_keys(doc, TOP_KEYS, (), "policy")
        version = doc.get("version", 1)
        if version != 1 or isinstance(version, bool):
            raise _Problem(("version",), f"policy: version {version!r} is not supported "
                                         f"(only 1)")
        rules_raw = doc.get("rules")
        if rules_raw is None:
            raise _Problem((), "policy defines no rules: add a [rules.NAME] table")
        if not isinstance(rules_raw, dict):
            raise _Problem(("rules",), "policy: rules must be tables named [rules.NAME], "
                                       "not an array")
        if not rules_raw:
            raise _Problem(("rules",), "policy defines no rules: add a [rules.NAME] table")
        return [_parse_rule(name, raw, source, lines) for name, raw in rules_raw.items()]
    except _Problem as problem:
        line = _line_of(lines, problem.path)
        where = f"{source}:{line}" if line else source
        raise PolicyError(f"{where}: {problem.message}") from None
