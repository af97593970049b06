"""The ``check`` command: gate a CI build on how the TCP connections in captures behaved.

Wiring only: policy text -> :mod:`policy`, captures -> :mod:`pipeline`, rules x flows ->
:mod:`checks`, results -> ``render/checkout.py`` and ``render/junit.py``.  Exit codes: 0 every
``error`` rule passed (or ``--exit-zero``), 1 an ``error`` rule failed, 2 tool or policy error
(never hidden by ``--exit-zero``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from .checks import CheckReport, ConditionKind, Rule, Selector, evaluate, exit_code
from .clikit import (
    PROG,
    ChecksumOpt,
    Semantics,
    SemanticsOpt,
    TimeWaitOpt,
    VlanMode,
    VlanOpt,
    count_value,
    err_console,
    host_value,
    make_config,
    output_stream,
    output_value,
    port_value,
    run_guarded,
    silence_stdout,
)
from .errors import PolicyError, TcpflowError
from .listeners import PerFileListeners
from .pipeline import analyze_captures
from .policy import parse_inline_rule, parse_policy
from .render.checkout import (
    CheckFormat,
    render_check_github,
    render_check_json,
    render_check_text,
)
from .render.junit import render_junit
from .report import FlowReport


def load_policy(path: str) -> list[Rule]:
    """Read and parse a policy file (the only file read besides the captures)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_policy(text, path)


def collect_rules(policy: str | None, inline: list[tuple[ConditionKind, list[str] | None]],
                  ) -> list[Rule]:
    """Policy rules first (in file order), then inline rules: every --max, --min, --require,
    then --forbid (typer does not keep the order across different options)."""
    rules = load_policy(policy) if policy is not None else []
    for kind, specs in inline:
        rules += [parse_inline_rule(kind, s) for s in specs or []]
    if not rules:
        raise PolicyError("no rules: give --policy FILE or inline rules "
                          "(--max, --min, --require, --forbid)")
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PolicyError(f"rule {duplicates[0]!r} is defined twice (policy and command line "
                          f"rules share one namespace)")
    return rules


def build_scope(hosts: list[str] | None, ports: list[int] | None) -> Selector | None:
    """The command line's ``--host``/``--port``: narrows every rule (None selects all)."""
    if not hosts and not ports:
        return None
    nets = []
    for h in hosts or []:
        try:
            nets.append(ipaddress.ip_network(h, strict=False))
        except ValueError:
            raise TcpflowError(f"--host {h!r} is not an IP address or CIDR") from None
    for p in ports or []:
        if not 0 <= p <= 65535:
            raise TcpflowError(f"--port {p} is not a port number (0-65535)")
    return Selector(hosts=tuple(nets), ports=frozenset(ports or []))


def analyze_per_capture(paths: list[str], checksums: str, time_wait: float,
                        semantics: str = "default", vlan: str = VlanMode.AUTO,
                        ) -> tuple[list[tuple[str, list[FlowReport]]], list[str],
                                   list[list[dict[str, Any]]]]:
    """Analyze the captures (all opened before any is read) and group connections by capture;
    also each capture's listener view, in the same order."""
    seen: set[str] = set()
    for p in paths:
        if p in seen:
            raise TcpflowError(f"capture {p} is given twice")
        seen.add(p)
    grouped: dict[str, list[FlowReport]] = {p: [] for p in paths}

    views = PerFileListeners()

    def collect(flow: FlowReport) -> None:
        views.add_flow(flow)
        grouped[flow.get("file", paths[0])].append(flow)

    # Results are grouped by capture, so ids restart in each: `show CAPTURE --conn N` then
    # draws the connection a result names.
    stats = analyze_captures(paths, make_config(checksums, time_wait, semantics, vlan), collect,
                             sink=views, ids_per_capture=True)
    for flows in grouped.values():
        flows.sort(key=lambda f: f["id"])
    named = [("<stdin>" if p == "-" else p, flows) for p, flows in grouped.items()]
    return named, list(stats.warnings), [views.to_list(p) for p in paths]


def _emit(fmt: CheckFormat, report: CheckReport, out: TextIO, limit: int, color: bool) -> None:
    if fmt is CheckFormat.JSON:
        render_check_json(report, out)
    elif fmt is CheckFormat.GITHUB:
        render_check_github(report, out, limit)
    elif fmt is CheckFormat.JUNIT:
        render_junit(report, out, hostname=socket.gethostname() or "localhost",
                     fallback_ts=time.time(), limit=limit)
    else:
        render_check_text(report, out, limit, color)


def _use_color(output: str | None) -> bool:
    if output not in (None, "-") or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


CapturesArg = Annotated[list[str], typer.Argument(
    help="Capture files (pcap or pcapng, optionally compressed); - for stdin. Each capture is "
         "checked on its own.")]
PolicyOpt = Annotated[str | None, typer.Option(
    "--policy", "-p", help="TOML policy file with named rules (see docs/check.md).")]
MaxOpt = Annotated[list[str] | None, typer.Option(
    "--max", metavar="METRIC=VALUE",
    help="Fail when the metric exceeds VALUE, e.g. rst_abort=0, retransmission_rate=1%, "
         "handshake_rtt_p95=200ms (repeatable).")]
MinOpt = Annotated[list[str] | None, typer.Option(
    "--min", metavar="METRIC=VALUE",
    help="Fail when the metric is below VALUE, e.g. connections=1 (repeatable).")]
RequireOpt = Annotated[list[str] | None, typer.Option(
    "--require", metavar="FIELD=VALUE[,VALUE]",
    help="Every connection must have one of the values, e.g. handshake=complete (repeatable).")]
ForbidOpt = Annotated[list[str] | None, typer.Option(
    "--forbid", metavar="FIELD=VALUE[,VALUE]",
    help="No connection may have any of the values, e.g. outcome=open, close=one_fin_only, "
         "anomaly=zero_window (repeatable).")]
HostOpt = Annotated[list[str] | None, typer.Option(
    "--host", metavar="ADDR|CIDR", parser=host_value,
    help="Check only connections with an endpoint in this address or CIDR (repeatable; "
         "narrows every rule).")]
PortOpt = Annotated[list[int] | None, typer.Option(
    "--port", metavar="PORT", parser=port_value,
    help="Check only connections with this port on an endpoint (repeatable; narrows every "
         "rule).")]
FormatOpt = Annotated[CheckFormat, typer.Option(
    "--format", "-f", envvar="TCPFLOW_CHECK_FORMAT", case_sensitive=False,
    help="text (readable summary), json, github (workflow annotations), junit (XML).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="FILE", parser=output_value,
    help="Write the results to FILE instead of stdout.")]
JunitOpt = Annotated[str | None, typer.Option(
    "--junit", metavar="FILE", parser=output_value,
    help="Also write JUnit XML to FILE (one test suite per capture, one test case per rule).")]
ExitZeroOpt = Annotated[bool, typer.Option(
    "--exit-zero", help="Exit 0 even when error rules fail (tool and policy errors still "
                        "exit 2).")]
LimitOpt = Annotated[int, typer.Option(
    "--list-limit", metavar="N", parser=count_value(0),
    help="Offending connections listed per rule in text, github and junit output (0 = all; "
         "json always lists all).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def check(
    captures: CapturesArg,
    policy: PolicyOpt = None,
    max_: MaxOpt = None,
    min_: MinOpt = None,
    require: RequireOpt = None,
    forbid: ForbidOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    fmt: FormatOpt = CheckFormat.TEXT,
    output: OutputOpt = None,
    junit: JunitOpt = None,
    exit_zero: ExitZeroOpt = False,
    list_limit: LimitOpt = 20,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    debug: DebugOpt = False,
) -> None:
    """Check the connections in captures against rules; exit 1 when an error rule fails.

    Rules come from a TOML policy (--policy) and the inline --max, --min, --require, --forbid.

    Exit codes: 0 every error rule passed, 1 an error rule failed, 2 tool or policy error.
    """


    def body() -> int:
        rules = collect_rules(policy, [(ConditionKind.MAX, max_), (ConditionKind.MIN, min_),
                                       (ConditionKind.REQUIRE, require),
                                       (ConditionKind.FORBID, forbid)])
        scope = build_scope(host, port)
        grouped, warnings, listeners = analyze_per_capture(captures, checksums, time_wait,
                                                           semantics, vlan)
        report = evaluate(rules, grouped, scope, warnings, listeners=listeners)
        try:
            with output_stream(output) as out:
                _emit(fmt, report, out, list_limit,
                      _use_color(output) and fmt is CheckFormat.TEXT)
        except BrokenPipeError:
            # `check ... | head`: the reader has seen enough, but the verdict still decides
            # the exit code and --junit is still written (a CI gate must not pass by a pipe)
            silence_stdout()
        if junit is not None:
            with output_stream(junit) as out:
                _emit(CheckFormat.JUNIT, report, out, list_limit, False)
        console = err_console()
        for w in warnings:
            console.print(f"{PROG}: warning: {w}", markup=False, soft_wrap=True)
        for c in report.captures:
            if c.connections == 0:
                console.print(f"{PROG}: warning: {c.capture}: no TCP connection to check "
                              f"(maximums pass vacuously; add --min connections=1 to catch an "
                              f"empty capture)", markup=False, soft_wrap=True)
        return int(exit_code(report, exit_zero))

    raise typer.Exit(run_guarded(debug, body))


def register(app: typer.Typer) -> None:
    """Add ``check`` to the CLI (called by ``cli._register_plugins``)."""
    app.command("check")(check)
