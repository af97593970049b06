"""The capture report as one self-contained HTML file, and one connection's graphs as HTML.

Everything the page needs is inside it: the CSS, uPlot (a 50 kB MIT-licensed canvas
charting library, vendored in ``render/assets`` with its licence) and the report's own
script; no CDN, no web font, no request of any kind, so it opens from ``file://`` with the
network off.  The data is JSON in ``<script type="application/json">`` blocks: one for the
summary, listeners, timeline and the columnar connection table, and one per connection
with detail (its ladder and graph data), parsed only when that connection is opened.  The
table is paginated (100 rows a page) and sorted and filtered in the browser, so a
100,000-connection capture gives a few-MB file that opens in about a second.

Reads only :func:`~tcpflow_analyzer.reportdata.build_report_data`'s data (ladders are drawn
here, as ``show`` draws them without a terminal: plain text, 100 columns).
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any

from ..graphdata import MARKS, mark_severity
from ..ladder import format_duration
from ..listeners import listener_endpoint
from .graphs import (
    ACK_COLOUR,
    ADV_WINDOW_COLOUR,
    ADV_WINDOW_FILL,
    DIRECTION_COLOURS,
    SACK_COLOUR,
    WINDOW_COLOUR,
    ZERO_WINDOW_COLOUR,
    _colour,
)
from .ladder import PLAIN_WIDTH, ladder_lines, to_plain
from .listeners import signatures

#: The page may run its inline script and styles and show data: images, and fetch nothing.
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:")


def _asset(name: str) -> str:
    return (resources.files("tcpflow_analyzer.render") / "assets" / name).read_text("utf-8")


def _json(data: Any) -> str:
    """JSON safe inside a <script> element: ``<`` only ever occurs inside JSON strings,
    where ``\\u003c`` means the same, so no ``</script>`` or ``<!--`` can end the block."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).replace("<", "\\u003c")


def _colours() -> dict[str, Any]:
    marks = {m: _colour(m) for m in (*MARKS, "data", "syn", "fin", "rst")}
    return {
        "ack": ACK_COLOUR, "window": WINDOW_COLOUR, "sack": SACK_COLOUR,
        "zero_window": ZERO_WINDOW_COLOUR + "cc", "adv_window": ADV_WINDOW_COLOUR,
        "adv_window_fill": ADV_WINDOW_FILL + "aa", "direction": DIRECTION_COLOURS,
        "marks": marks, "mark_severity": {m: mark_severity(m) for m in marks},
    }


def _ms(v: float | None) -> str:
    return "–" if v is None else format_duration(v)


def _listener_table(listeners: list[dict[str, Any]]) -> str:
    if not listeners:
        return '<p class="note">No listener: no SYN or SYN-ACK was captured.</p>'
    head = ("listener", "attempted", "established", "refused", "unanswered", "incomplete",
            "handshake RTT p50", "p95", "max", "SYN retx", "SYN-ACK retx", "half-open peak",
            "reset after established", "signatures")
    rows = []
    for e in listeners:
        rtt = e["handshake_rtt_s"]
        peak = str(e["half_open_peak"])
        if e.get("half_open_peak_frame"):
            peak += f" (frame {e['half_open_peak_frame']})"
        sig = "; ".join(signatures(e))
        cells = [listener_endpoint(e), e["attempted"], e["established"], e["refused"],
                 e["unanswered"], e["incomplete"], _ms(rtt["p50"]), _ms(rtt["p95"]),
                 _ms(rtt["max"]), e["syn_retransmissions"], e["synack_retransmissions"], peak,
                 e["reset_after_established"]]
        tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        rows.append(f'<tr>{tds}<td class="sig">{escape(sig)}</td></tr>')
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="table-wrap"><table id="listeners"><thead><tr>{ths}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _summary(data: dict[str, Any]) -> str:
    cap = data["capture"]
    summ = data["summary"]
    rows = data["rows"]
    items: list[tuple[str, str]] = [
        ("files", ", ".join(cap["files"]) or "–"),
        ("frames", f"{cap['frames']:,} ({cap['tcp_segments']:,} TCP segments)"),
        # the flow table's peak: closed and reset connections linger there for their close
        # delay, unanswered ones until their timeout (not the listeners' half-open peak)
        ("connections", f"{summ['connections']:,} (most open at once, incl. lingering: "
                        f"{cap['max_active_connections']:,})"),
    ]
    if rows["start"]:
        t0 = min(rows["start"])
        t1 = max(s + d for s, d in zip(rows["start"], rows["duration"], strict=True))
        import datetime as _dt

        first = _dt.datetime.fromtimestamp(t0, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        items.append(("time span", f"{format_duration(t1 - t0)} from {first}"))
    for key, label in (("outcomes", "outcomes"), ("close_patterns", "closes"),
                       ("handshakes", "handshakes")):
        part = summ.get(key) or {}
        if part:
            items.append((label, ", ".join(f"{k.replace('_', ' ')} {v:,}"
                                           for k, v in part.items())))
    anomalies = summ.get("anomalies") or {}
    if anomalies:
        top = sorted(anomalies.items(), key=lambda kv: (-kv[1], kv[0]))
        items.append(("anomalies", ", ".join(f"{k} {v:,}" for k, v in top)))
    if cap["skipped"]:
        items.append(("skipped frames", ", ".join(f"{k} {v:,}"
                                                  for k, v in cap["skipped"].items())))
    if cap["bad_checksums"]:
        items.append(("bad checksums", f"{cap['bad_checksums']:,}"))
    lim = data["detail_limits"]
    shown = len(data["detail"])
    items.append(("ladders and graphs",
                  f"{shown:,} connection{'s' if shown != 1 else ''} (marked ◆; at most "
                  f"{lim['max_detail']:,}, the most telling first"
                  + (f"; {lim['dropped']:,} others have a table row only" if lim["dropped"]
                     else "") + ")"))
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    warn = "".join(f"<li>{escape(w)}</li>" for w in cap["warnings"])
    return f'<dl class="summary">{body}</dl>' + (f"<h4>Warnings</h4><ul>{warn}</ul>"
                                                   if warn else "")


def render_report(data: dict[str, Any], title: str) -> str:
    """The whole report page (see the module docstring)."""
    detail = data["detail"]
    head = {k: v for k, v in data.items() if k != "detail"}
    head["colours"] = _colours()
    blocks = "".join(
        f'<script type="application/json" id="detail-{cid}">'
        f'{_json(dict(d, ladder=to_plain(ladder_lines(d["ladder"], PLAIN_WIDTH))))}</script>\n'
        for cid, d in sorted(detail.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{escape(title)}</title>
<style>{_asset("uPlot.min.css")}</style>
<style>{_asset("report.css")}</style>
</head><body>
<p id="error-banner" hidden></p>
<h1>{escape(title)}</h1>
<p class="muted">tcpflow-analyzer report · self-contained: opens offline, nothing is fetched</p>
<h2>Capture</h2>
{_summary(data)}
<h2>Listeners (the endpoints that received the SYN)</h2>
{_listener_table(data["listeners"])}
<h2>Timeline of connection starts and failures</h2>
<div id="timeline"></div>
<h2>Connections</h2>
<div class="controls">
<input id="f-text" type="search" placeholder="filter: address, port, outcome, history, anomaly…">
<label>outcome <select id="f-outcome"><option value="">any</option></select></label>
<label>anomalies <select id="f-sev"><option value="">any</option>
<option value="1">note or worse</option><option value="2">warning or worse</option>
<option value="3">error</option></select></label>
<label><input id="f-detail" type="checkbox"> with ladder and graphs only (◆)</label>
<button id="prev" type="button">◀ previous</button><button id="next" type="button">next ▶</button>
<span id="conn-count" class="muted"></span>
</div>
<div class="table-wrap"><table id="connections"><thead id="conn-head"></thead>
<tbody id="conn-body"></tbody></table></div>
<p class="muted">Click a column to sort, a row to open its ladder and graphs below.
Hover a graph: the legend names the point under the cursor and its frame.</p>
<h2>Connection detail</h2>
<div id="detail"><p class="note">Click a connection marked ◆.</p></div>
<script type="application/json" id="report-data">{_json(head)}</script>
{blocks}<script>{_asset("uPlot.iife.min.js")}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""


def render_graph_page(points: dict[str, Any], kind: str, title: str) -> str:
    """One connection's graph of ``kind`` as a standalone interactive HTML page (the
    report's drawing code, with only that connection and that graph)."""
    row_cols = ("id", "file", "orig", "resp", "start", "duration", "outcome", "state",
                "history", "pkts_orig", "pkts_resp", "bytes_orig", "bytes_resp", "hs_rtt",
                "anomalies", "severity", "detail")
    data: dict[str, Any] = {
        "files": [], "timeline": None, "strings": [], "severity_names": [],
        "rows": {c: [] for c in row_cols}, "detail_limits": {"max_detail": 1},
        "colours": _colours(), "only_kind": kind, "only_id": points["conn_id"],
    }
    det = {"ladder": "", "graph": points, "truncated_at": None, "file": None}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{escape(title)}</title>
<style>{_asset("uPlot.min.css")}</style>
<style>{_asset("report.css")}</style>
</head><body class="graph-only">
<p id="error-banner" hidden></p>
<h1>{escape(title)}</h1>
<p class="muted">Hover the graph: the legend names the point under the cursor and its frame.</p>
<div id="detail"></div>
<script type="application/json" id="report-data">{_json(data)}</script>
<script type="application/json" id="detail-{points["conn_id"]}">{_json(det)}</script>
<script>{_asset("uPlot.iife.min.js")}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
