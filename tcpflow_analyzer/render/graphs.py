"""Static graphs of one connection (SVG or PNG) drawn with matplotlib.

Reads only :func:`~tcpflow_analyzer.graphdata.build_graph_data`'s plain data.  matplotlib is
an optional extra (``pip install 'tcpflow-analyzer[graphs]'``), imported only here and only
when a graph is drawn; without it :func:`draw_graph` raises a one-line
:class:`~tcpflow_analyzer.errors.TcpflowError`.

In SVG every segment, ACK sample and RTT sample carries a ``<title>`` (hover text in a
browser) naming its frame, so the frame behind any mark is one hover away.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any
from xml.sax.saxutils import escape

from ..errors import TcpflowError

#: Colours of the anomaly severities (shared with the HTML report).
SEVERITY_COLOURS = {"info": "#3b6fb6", "note": "#2a9d8f", "warning": "#e08a00",
                    "error": "#d62728"}
CONTROL_COLOURS = {"syn": "#6a3d9a", "fin": "#6a3d9a", "rst": "#d62728"}
ACK_COLOUR = "#2ca02c"
WINDOW_COLOUR = "#b8a000"
SACK_COLOUR = "#9467bd"
ZERO_WINDOW_COLOUR = "#f4cccc"
ADV_WINDOW_COLOUR = "#4d7c0f"
ADV_WINDOW_FILL = "#e3efd3"
DIRECTION_COLOURS = {"orig": "#3b6fb6", "resp": "#e08a00"}
INSTALL_HINT = "pip install 'tcpflow-analyzer[graphs]'"
_TITLE_CAP = 20_000  # hover titles per graph (beyond: the marks still draw)


def _mpl() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise TcpflowError(f"graphs need matplotlib, which is not installed: {INSTALL_HINT}"
                           ) from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def _colour(mark: str) -> str:
    from ..graphdata import mark_severity

    if mark in CONTROL_COLOURS:
        return CONTROL_COLOURS[mark]
    return SEVERITY_COLOURS[mark_severity(mark)]


def _label(mark: str) -> str:
    from ..graphdata import mark_severity

    if mark == "data":
        return "data segment"
    if mark in ("syn", "fin", "rst"):
        return mark.upper()
    return f"{mark.replace('_', ' ')} ({mark_severity(mark)})"


def _bytes_axis(ax: Any, what: str) -> None:
    from matplotlib.ticker import EngFormatter, MaxNLocator

    ax.yaxis.set_major_formatter(EngFormatter(unit=what, sep=" "))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # never "50 mB"


def _time_axis(ax: Any, duration_s: float | None = None) -> None:
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter(unit="s", sep=" "))
    ax.set_xlabel("time since the connection's first segment")
    if duration_s is not None:
        # time starts at the first segment; a one-segment connection still gets an axis
        ax.set_xlim(left=0, right=max(duration_s * 1.02, 1e-3))


def _nothing(ax: Any, text: str) -> None:
    """Say on an empty graph why it is empty, rather than draw bare axes."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
            color="#555555")
    ax.set_ylim(0, 1)
    ax.set_yticks([])


class _Titles:
    """Hover titles for the SVG: one list of texts per artist gid, in drawing order."""

    def __init__(self) -> None:
        self.by_gid: dict[str, list[str]] = {}

    def add(self, artist: Any, texts: list[str]) -> None:
        gid = f"tfa{len(self.by_gid)}"
        artist.set_gid(gid)
        self.by_gid[gid] = texts[:_TITLE_CAP]


def _ratios(dirs: dict[str, Any], roles: list[str]) -> list[float]:
    """More room for the direction that carried the data (at least a quarter each)."""
    sent = [sum(x[2] - x[1] for x in dirs[r]["segments"]) for r in roles]
    total = sum(sent) or 1
    return [max(0.25, n / total) for n in sent] if len(roles) > 1 else [1.0]


def _tseq_range(d: dict[str, Any]) -> tuple[float, float]:
    """The sequence axis follows the data and the ACKs; the window edge only when it is
    close (a window far above the data limits nothing, and would squash the data flat).
    The HTML drawing (``report.js``, ``tseqRange``) uses the same rule."""
    lows = [s[1] for s in d["segments"]] + [p[1] for p in d["acks"]]
    highs = ([s[2] for s in d["segments"]] + [p[1] for p in d["acks"]]
             + [p[2] for p in d["sack"]])
    if not lows:
        return (0.0, 1.0)
    lo, hi = min(lows), max(highs)
    span = max(hi - lo, 1)
    win = max((p[2] for p in d["acks"] if p[2] is not None), default=hi)
    if win <= hi + 0.5 * span:
        hi = max(hi, win)
    pad = max((hi - lo) * 0.05, 1)
    return (lo - pad, hi + pad)


def _tseq(fig: Any, data: dict[str, Any], titles: _Titles) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    dirs = data["directions"]
    roles = [r for r in ("orig", "resp") if dirs[r]["segments"] or dirs[r]["acks"]]
    axes = fig.subplots(len(roles) or 1, 1, squeeze=False,
                        height_ratios=_ratios(dirs, roles))[:, 0]
    for ax, role in zip(axes, roles, strict=False):
        d = dirs[role]
        sender, receiver = (data["orig"], data["resp"]) if role == "orig" else \
            (data["resp"], data["orig"])
        for t0, t1 in d["zero_window"]:
            ax.axvspan(t0, t1, color=ZERO_WINDOW_COLOUR, lw=0, zorder=0)
        handles: list[Any] = []
        if d["zero_window"]:
            from matplotlib.patches import Patch

            handles.append(Patch(color=ZERO_WINDOW_COLOUR, label="zero-window stall"))
        if d["acks"]:
            t = [p[0] for p in d["acks"]]
            (ack_line,) = ax.step(t, [p[1] for p in d["acks"]], where="post", color=ACK_COLOUR,
                                  lw=1, label=f"ACK from {receiver}")
            # a RST's window edge is None: the line stops there (NaN breaks it)
            ax.step(t, [math.nan if p[2] is None else p[2] for p in d["acks"]], where="post",
                    color=WINDOW_COLOUR, lw=1, label="advertised window edge (ACK + window)")
            handles += [ack_line, Line2D([], [], color=WINDOW_COLOUR,
                                         label="advertised window edge (ACK + window)")]
            dots = ax.scatter(t, [p[1] for p in d["acks"]], s=2, color=ACK_COLOUR, zorder=3)
            titles.add(dots, [f"frame {p[3]}: ACK {p[1]}, "
                              + ("RST: no window" if p[2] is None else f"window edge {p[2]}")
                              for p in d["acks"]])
        if d["sack"]:
            lc = LineCollection([[(p[0], p[1]), (p[0], p[2])] for p in d["sack"]],
                                colors=SACK_COLOUR, linewidths=2, zorder=2)
            ax.add_collection(lc)
            titles.add(lc, [f"frame {p[3]}: SACK {p[1]}-{p[2]}" for p in d["sack"]])
            handles.append(Line2D([], [], color=SACK_COLOUR, lw=2, label="SACK block"))
        by_mark: dict[str, list[list[Any]]] = {}
        for seg in d["segments"]:
            by_mark.setdefault(seg[4], []).append(seg)
        order = sorted(by_mark, key=lambda m: (m != "data", m))
        for mark in order:
            segs = by_mark[mark]
            colour = _colour(mark)
            lc = LineCollection([[(s[0], s[1]), (s[0], max(s[2], s[1] + 1e-9))] for s in segs],
                                colors=colour, linewidths=1.6 if mark == "data" else 2.4,
                                zorder=4 if mark == "data" else 5)
            ax.add_collection(lc)
            titles.add(lc, [f"frame {s[3]}: {mark.replace('_', ' ')} seq {s[1]}-{s[2]}"
                            for s in segs])
            if mark != "data":
                ax.scatter([s[0] for s in segs], [s[2] for s in segs], s=14, color=colour,
                           marker="^" if mark in ("syn", "fin", "rst") else "o", zorder=6)
            handles.append(Line2D([], [], color=colour, lw=2, label=_label(mark)))
        ax.autoscale_view()
        ax.set_ylim(*_tseq_range(d))
        ax.set_title(f"{sender} → {receiver}: data sent by {role}", fontsize=10, loc="left")
        ax.set_ylabel("sequence number" + (" (relative)" if data["seq_numbers"] == "relative"
                                           else " (raw)"))
        _time_axis(ax, data["duration_s"])
        ax.grid(True, alpha=0.25)
        ax.legend(handles=handles, fontsize=7, loc="upper left", framealpha=0.85)


def _throughput(fig: Any, data: dict[str, Any], titles: _Titles) -> None:
    ax = fig.subplots()
    for role in ("orig", "resp"):
        pts = data["directions"][role]["throughput"]
        if not pts:
            continue
        w = data["directions"][role]["throughput_window_s"]
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], drawstyle="steps-post",
                          color=DIRECTION_COLOURS[role], lw=1.2,
                          label=f"sent by {role} ({data[role]}), {w * 1000:g} ms window")
        del line
    if not ax.lines:
        _nothing(ax, "no payload was sent: no throughput to draw")
    ax.set_title(f"Throughput of connection #{data['conn_id']} (payload bytes per second "
                 "over a sliding window)", fontsize=10, loc="left")
    _time_axis(ax, data["duration_s"])
    ax.grid(True, alpha=0.25)
    if ax.lines:
        _bytes_axis(ax, "B/s")
        ax.legend(fontsize=8, loc="upper left")
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 10))


def _rtt(fig: Any, data: dict[str, Any], titles: _Titles) -> None:
    ax = fig.subplots()
    for role in ("orig", "resp"):
        pts = data["directions"][role]["rtt"]
        if not pts:
            continue
        dots = ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12,
                          color=DIRECTION_COLOURS[role],
                          label=f"data sent by {role} ({data[role]}): {len(pts)} samples")
        titles.add(dots, [f"frame {p[2]}: RTT {p[1] * 1000:.3f} ms" for p in pts])
    ax.set_title(f"Round-trip time of connection #{data['conn_id']} (Karn-valid samples: "
                 "data → its first ACK, never from retransmitted data)", fontsize=10,
                 loc="left")
    from matplotlib.ticker import EngFormatter

    ax.yaxis.set_major_formatter(EngFormatter(unit="s", sep=" "))
    ax.set_ylabel("RTT")
    _time_axis(ax, data["duration_s"])
    ax.grid(True, alpha=0.25)
    ax.set_ylim(bottom=0)
    if ax.collections:
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no RTT sample (no new data was acknowledged)",
                transform=ax.transAxes, ha="center")


def _window(fig: Any, data: dict[str, Any], titles: _Titles) -> None:
    dirs = data["directions"]
    roles = [r for r in ("orig", "resp") if dirs[r]["window"]]
    axes = fig.subplots(len(roles) or 1, 1, squeeze=False)[:, 0]
    if not roles:
        _nothing(axes[0], "no segment advertised a window (no ACK was seen)")
        _time_axis(axes[0], data["duration_s"])
    for ax, role in zip(axes, roles, strict=False):
        d = dirs[role]
        receiver = data["resp"] if role == "orig" else data["orig"]
        t = [p[0] for p in d["window"]]
        ax.fill_between(t, [p[1] for p in d["window"]], step="post", color=ADV_WINDOW_FILL,
                        lw=0, zorder=1)
        ax.step(t, [p[1] for p in d["window"]], where="post", color=ADV_WINDOW_COLOUR, lw=1.2,
                label=f"window advertised by {receiver} (scaled)", zorder=2)
        ax.plot(t, [p[2] for p in d["window"]], drawstyle="steps-post",
                color=DIRECTION_COLOURS[role], lw=1.4, label=f"bytes in flight from {role}",
                zorder=3)
        for t0, t1 in d["zero_window"]:
            ax.axvspan(t0, t1, color=ZERO_WINDOW_COLOUR, lw=0, zorder=0,
                       label="zero-window stall")
        ax.set_title(f"Data sent by {role} ({data[role]}): receive window and bytes in flight",
                     fontsize=10, loc="left")
        _bytes_axis(ax, "B")
        _time_axis(ax, data["duration_s"])
        ax.grid(True, alpha=0.25)
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 10))
        ax.legend(fontsize=8, loc="upper left")


_DRAW = {"tseq": _tseq, "throughput": _throughput, "rtt": _rtt, "window": _window}


def draw_graph(data: dict[str, Any], kind: str, fmt: str) -> bytes:
    """One graph of one connection as SVG (UTF-8 bytes) or PNG bytes."""
    figure_cls = _mpl()
    fig = figure_cls(figsize=(11, 6.5), dpi=100, layout="constrained")
    titles = _Titles()
    _DRAW[kind](fig, data, titles)
    fig.suptitle(f"tcpflow-analyzer · connection #{data['conn_id']}: {data['orig']} → "
                 f"{data['resp']} · {kind}", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    out = buf.getvalue()
    if fmt == "svg":
        out = _add_titles(out.decode("utf-8"), titles).encode("utf-8")
    return out


def _add_titles(svg: str, titles: _Titles) -> str:
    """Put a ``<title>`` into each drawn element of the tagged groups (hover text)."""
    for gid, texts in titles.by_gid.items():
        start = svg.find(f'<g id="{gid}"')
        if start < 0:
            continue
        end = svg.find("</g>", start)
        body = svg[start:end]
        it = iter(texts)

        def put(m: re.Match[str], it: Any = it) -> str:
            text = next(it, None)
            if text is None:
                return m.group(0)
            tag = m.group(0)
            if tag.endswith("/>"):
                return f"{tag[:-2]}><title>{escape(text)}</title></{m.group(1)}>"
            return tag
        body = re.sub(r"<(path|use)\b[^>]*/>", put, body)
        svg = svg[:start] + body + svg[end:]
    return svg
