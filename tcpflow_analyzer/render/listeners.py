"""The listener view as text: a rich table for the terminal and CSV rows.

Reads only the plain data of :meth:`~tcpflow_analyzer.listeners.ListenerView.to_list`.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

from ..listeners import listener_endpoint

CSV_COLUMNS = [
    "listener_ip", "listener_port", "attempted", "established", "refused", "unanswered",
    "incomplete", "handshake_rtt_p50_s", "handshake_rtt_p95_s", "handshake_rtt_max_s",
    "syn_retransmissions", "synack_retransmissions", "half_open_peak", "half_open_peak_ts",
    "half_open_peak_frame", "reset_after_established", "reset_by_listener",
    "accept_queue_full", "syn_flood_suspected", "half_open_sources", "listeners_folded",
]


def _s(v: float | None) -> str:
    return "" if v is None else f"{v:.6f}"


def listener_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One listener flattened into the CSV columns."""
    rtt = entry["handshake_rtt_s"]
    return {
        "listener_ip": entry["ip"] or "", "listener_port": entry["port"] or "",
        "attempted": entry["attempted"], "established": entry["established"],
        "refused": entry["refused"], "unanswered": entry["unanswered"],
        "incomplete": entry["incomplete"], "handshake_rtt_p50_s": _s(rtt["p50"]),
        "handshake_rtt_p95_s": _s(rtt["p95"]), "handshake_rtt_max_s": _s(rtt["max"]),
        "syn_retransmissions": entry["syn_retransmissions"],
        "synack_retransmissions": entry["synack_retransmissions"],
        "half_open_peak": entry["half_open_peak"],
        "half_open_peak_ts": _s(entry["half_open_peak_ts"]),
        "half_open_peak_frame": entry["half_open_peak_frame"] or "",
        "reset_after_established": entry["reset_after_established"],
        "reset_by_listener": entry["reset_by_listener"],
        "accept_queue_full": entry["accept_queue_full"]["connections"],
        "syn_flood_suspected": int(entry["syn_flood"]["suspected"]),
        "half_open_sources": entry["syn_flood"]["half_open_sources"],
        "listeners_folded": entry.get("listeners_folded", ""),
    }


def render_listeners_csv(listeners: list[dict[str, Any]], out: TextIO) -> None:
    """A header and one row per listener (the folded remainder last, with empty ip/port)."""
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for entry in listeners:
        w.writerow(listener_row(entry))


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f} ms" if v >= 0.0001 else f"{v * 1e6:.0f} µs"


def signatures(entry: dict[str, Any]) -> list[str]:
    """Plain-language warnings for one listener (full accept queue, SYN flood, ...)."""
    out = []
    aq = entry["accept_queue_full"]
    if aq["connections"]:
        parts = []
        if aq["synack_after_ack"]:
            parts.append(f"re-sent its SYN-ACK after the client's ACK in {aq['synack_after_ack']}")
        if aq["first_data_retransmitted"]:
            parts.append(f"left the client's first data unacknowledged in "
                         f"{aq['first_data_retransmitted']}")
        out.append(f"accept queue full? {' and '.join(parts)} connection(s)")
    flood = entry["syn_flood"]
    if flood["suspected"]:
        more = "+" if flood["sources_capped"] else ""
        out.append(f"SYN flood? {entry['half_open_peak']} half-open at once from "
                   f"{flood['half_open_sources']}{more} sources")
    return out


def render_listeners_terminal(listeners: list[dict[str, Any]], console: Any,
                              limit: int = 50) -> None:
    """A table of listeners (the side that received the SYN) on a rich console."""
    from rich.table import Table
    from rich.text import Text

    if not listeners:
        return
    table = Table(title="listeners (the side that received the SYN)", title_justify="left",
                  header_style="bold", expand=False)
    for col in ("listener", "tried", "estab.", "refused", "no answer", "incompl.",
                "handshake RTT p50/p95/max", "rtx SYN/SYN-ACK", "half-open peak",
                "RST after est."):
        if col == "listener":
            table.add_column(col, no_wrap=True, min_width=max(
                len(listener_endpoint(e)) for e in listeners[:limit]))
        else:
            table.add_column(col, justify="right")
    for e in listeners[:limit]:
        rtt = e["handshake_rtt_s"]
        peak = str(e["half_open_peak"])
        if e["half_open_peak_frame"] is not None:
            peak += f" (frame {e['half_open_peak_frame']})"
        table.add_row(
            listener_endpoint(e), str(e["attempted"]), str(e["established"]),
            Text(str(e["refused"]), style="red" if e["refused"] else ""),
            Text(str(e["unanswered"]), style="yellow" if e["unanswered"] else ""),
            str(e["incomplete"]),
            " / ".join(_ms(rtt[k]) for k in ("p50", "p95", "max")) if rtt["count"] else "-",
            f"{e['syn_retransmissions']}/{e['synack_retransmissions']}", peak,
            str(e["reset_after_established"]))
    console.print(table)
    if len(listeners) > limit:
        console.print(f"… {len(listeners) - limit} more listeners (use `listeners -f csv`)")
    for e in listeners:
        for text in signatures(e):
            console.print(Text(f"{listener_endpoint(e)}: {text}", style="yellow"))
