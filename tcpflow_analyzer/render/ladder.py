"""Drawing ladder diagrams: plain text, rich terminal text, SVG and HTML.

Every output is made from the same list of styled lines (:func:`document_lines`), so the
terminal, the plain text written to a pipe and the SVG/HTML exports show the same drawing.
The layout depends only on the ladder and the width asked for, never on the terminal, so
golden files work (``samples/handshake-basic.pcap`` at width 84, cut)::

    frame       Δt         orig │                                         │ resp
                         CLOSED │                                         │ LISTEN
        1        0     SYN-SENT │────────────── SYN seq=0 ───────────────▶│
        2  +20.0ms  ESTABLISHED │◀────────── SYN+ACK seq=0 ack=1 ─────────│ SYN-RECEIVED
        3    +50µs              │─────────── ACK seq=1 ack=1 ────────────▶│ ESTABLISHED

Columns: frame number, time since the connection's previous segment, the state orig entered
(right-aligned against its line), the arrow between the two lifelines, the state resp
entered.  Notes (anomalies, RST judgements, TIME-WAIT, reuse) follow their arrow, between
the lifelines.  A state chain entered at one segment (FIN-WAIT-1 → CLOSING → TIME-WAIT)
is written one state per line.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from ..ladder import Arrow, Fold, Ladder, format_bytes, format_duration
from ..segment import FIN, RST, SYN
from .timefmt import utc_text

#: Width of the drawing when stdout is not a terminal (and of golden files).
PLAIN_WIDTH = 100
#: The widest a drawing gets on a wide terminal.
MAX_WIDTH = 120

_LIFELINE = "│"
_STATE_MIN = 12  # len("SYN-RECEIVED")
_DT_MIN = 8
_NOTE_MARK = {"error": "!", "warning": "!", "note": "•", "info": "•"}
_NOTE_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "info": "blue"}
_STATE_STYLE = {"TIME-WAIT": "bold yellow", "CLOSED": "bold", "INACTIVE": "dim"}


@dataclass(frozen=True, slots=True)
class _Layout:
    """Column widths: frame, Δt, orig state, diagram (between the lifelines)."""

    frame: int
    dt: int
    state: int
    diagram: int

    @property
    def left(self) -> int:
        """Characters before the orig lifeline."""
        return self.frame + 1 + self.dt + 1 + self.state + 1


def _frame_cell(row: Arrow | Fold) -> str:
    if isinstance(row, Fold):
        return f"{row.first_frame}…{row.last_frame}"
    return str(row.frame)


def _dt_cell(row: Arrow | Fold, first: bool) -> str:
    return "0" if first else "+" + format_duration(row.dt_s, sep="")


_FOLD_LABELS = {
    "retransmission": "retransmission", "fast_retransmission": "fast retransmission",
    "spurious_retransmission": "spurious retransmission", "out_of_order": "out-of-order segment",
    "duplicate_segment": "network duplicate", "duplicate_ack": "duplicate ACK", "sack": "SACK",
    "dsack": "D-SACK", "window_update": "window update", "keep_alive": "keep-alive",
    "keep_alive_ack": "keep-alive ACK",
}


def _fold_text(f: Fold, room: int | None = None) -> str:
    """The one line that stands for a folded run; within ``room`` columns when given, the
    byte counts and then the findings are left out as far as needed."""
    found = "".join(f", {n} {_FOLD_LABELS.get(code, code)}{'' if n == 1 else 's'}"
                    for code, n in f.anomalies)
    head = f"… {f.segments} segments in {format_duration(f.duration_s)}"
    text = (f"{head}: orig {format_bytes(f.orig_bytes)}, resp {format_bytes(f.resp_bytes)}"
            f"{found} …")
    if room is None or len(text) <= room:
        return text
    text = f"{head}{found} …"
    return text if len(text) <= room else f"{head} …"


def _layout(ladder: Ladder, width: int) -> _Layout:
    rows = ladder.rows
    frame = max([len("frame")] + [len(_frame_cell(r)) for r in rows])
    dt = max([_DT_MIN] + [len(_dt_cell(r, i == 0)) for i, r in enumerate(rows)])
    states = [*ladder.initial]
    for r in rows:
        if isinstance(r, Arrow):
            states += [*r.orig_states, *r.resp_states]
    state = max([_STATE_MIN] + [len(s) for s in states])
    need = 24
    for r in rows:
        need = max(need, len(r.label) + 7 if isinstance(r, Arrow)
                   else len(_fold_text(r, 0)) + 2)
    fixed = frame + 1 + dt + 1 + state + 1 + 2 + 1 + state
    return _Layout(frame, dt, state, max(width - fixed, need))


def _arrow_text(a: Arrow, width: int) -> Text:
    label = f" {a.label} "
    shaft = "╌" if a.dropped else "─"
    n = width - len(label) - 1
    left, right = n // 2, n - n // 2
    if a.flags & RST:
        style = "bold red"
    elif a.flags & SYN:
        style = "green"
    elif a.flags & FIN:
        style = "magenta"
    elif a.plen:
        style = "bold"
    else:
        style = "dim"
    if a.dropped:
        style = "red dim"
    if a.sender == "orig":
        head = "✕" if a.dropped else "▶"
        return Text(shaft * left + label + shaft * right + head, style=style)
    head = "✕" if a.dropped else "◀"
    return Text(head + shaft * right + label + shaft * left, style=style)


def _state_text(name: str, width: int, right: bool) -> Text:
    cell = name.rjust(width) if right else name
    return Text(cell, style=_STATE_STYLE.get(name, "bold cyan"))


def _line(lay: _Layout, frame: str, dt: str, orig: str, middle: Text | None,
          resp: str, *, frame_style: str = "dim") -> Text:
    """One row: frame, Δt, orig state, lifeline, middle, lifeline, resp state."""
    t = Text()
    t.append(frame.rjust(lay.frame), style=frame_style)
    t.append(" ")
    t.append(dt.rjust(lay.dt), style="dim")
    t.append(" ")
    t.append_text(_state_text(orig, lay.state, right=True) if orig else Text(" " * lay.state))
    t.append(" ")
    t.append(_LIFELINE, style="dim")
    if middle is None:
        middle = Text(" " * lay.diagram)
    else:
        middle.pad_right(lay.diagram - middle.cell_len)
    t.append_text(middle)
    t.append(_LIFELINE, style="dim")
    if resp:
        t.append(" ")
        t.append_text(_state_text(resp, lay.state, right=False))
    t.rstrip()
    return t


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width=max(width, 10), subsequent_indent=indent,
                         break_long_words=True, break_on_hyphens=False) or [""]


def _arrow_lines(lay: _Layout, a: Arrow, first: bool) -> list[Text]:
    out = [_line(lay, str(a.frame), _dt_cell(a, first),
                 a.orig_states[0] if a.orig_states else "", _arrow_text(a, lay.diagram),
                 a.resp_states[0] if a.resp_states else "", frame_style="")]
    notes: list[Text] = []
    for n in a.notes:
        mark = _NOTE_MARK.get(n.severity, "•")
        for i, piece in enumerate(_wrap(n.text, lay.diagram - 5)):
            notes.append(Text(f"  {mark if i == 0 else ' '} {piece}",
                              style=_NOTE_STYLE.get(n.severity, "")))
    extra = max(len(a.orig_states), len(a.resp_states)) - 1
    for i in range(max(extra, len(notes))):
        o = a.orig_states[i + 1] if i + 1 < len(a.orig_states) else ""
        r = a.resp_states[i + 1] if i + 1 < len(a.resp_states) else ""
        out.append(_line(lay, "", "", o, notes[i] if i < len(notes) else None, r))
    return out


def _fold_lines(lay: _Layout, f: Fold, first: bool) -> list[Text]:
    middle = Text(_fold_text(f, lay.diagram - 2).center(lay.diagram).rstrip(), style="italic")
    return [_line(lay, _frame_cell(f), _dt_cell(f, first), "", middle, "")]


def _start(ts: float) -> str:
    return f"{utc_text(ts)} UTC"  # any year a pcapng can name (see timefmt)


def ladder_lines(ladder: Ladder, width: int = PLAIN_WIDTH) -> list[Text]:
    """The drawing of one connection: heading, diagram and verdict, as styled lines."""
    lay = _layout(ladder, width)
    total = lay.left + 2 + lay.diagram + 1 + lay.state
    head = f"Connection #{ladder.conn_id}: orig {ladder.orig} → resp {ladder.resp}"
    facts = [ladder.outcome.replace("_", " "),
             f"{ladder.segments} segment{'s' if ladder.segments != 1 else ''} in "
             f"{format_duration(ladder.duration_s)}", f"from {_start(ladder.start_ts)}"]
    if ladder.vlan:
        facts.append("VLAN " + "/".join(map(str, ladder.vlan)))
    lines = [Text(piece, style="bold") for piece in _wrap(head, width, "    ")]
    lines += [Text(piece) for piece in _wrap(" · ".join(facts), width, "    ")]
    lines += [Text(ladder.numbering, style="dim"), Text()]
    hdr = Text()
    hdr.append("frame".rjust(lay.frame) + " " + "Δt".rjust(lay.dt) + " ", style="dim")
    hdr.append("orig".rjust(lay.state), style="bold")
    hdr.append(" " + _LIFELINE + " " * lay.diagram + _LIFELINE + " ", style="dim")
    hdr.append("resp", style="bold")
    lines.append(hdr)
    lines.append(_line(lay, "", "", ladder.initial[0], None, ladder.initial[1]))
    for i, row in enumerate(ladder.rows):
        if isinstance(row, Fold):
            lines += _fold_lines(lay, row, i == 0)
        else:
            lines += _arrow_lines(lay, row, i == 0)
    lines.append(_line(lay, "", "", "", None, ""))
    if ladder.verdict:
        lines.append(Text())
        lines.append(Text("Verdict", style="bold"))
        for sentence in ladder.verdict:
            for j, piece in enumerate(_wrap(sentence, total - 4, "")):
                lines.append(Text(("  - " if j == 0 else "    ") + piece))
    return lines


def document_lines(ladders: list[Ladder], width: int = PLAIN_WIDTH,
                   heading: str | None = None) -> list[Text]:
    """Several ladders one after another, with an optional heading line first."""
    lines: list[Text] = []
    if heading:
        lines += [Text(piece, style="bold") for piece in _wrap(heading, width, "    ")]
        lines.append(Text())
    for i, ladder in enumerate(ladders):
        if i:
            lines += [Text(), Text("─" * width, style="dim"), Text()]
        lines += ladder_lines(ladder, width)
    return lines


def to_plain(lines: list[Text]) -> str:
    """The lines as plain text (no styles), one per line, trailing spaces removed."""
    return "".join(line.plain.rstrip() + "\n" for line in lines)


def print_lines(lines: list[Text], console: Console) -> None:
    """Print the lines on a rich console without wrapping or cropping them."""
    for line in lines:
        console.print(line, no_wrap=True, overflow="ignore", crop=False, soft_wrap=True)


def _recorded(lines: list[Text], width: int) -> Console:
    widest = max([width] + [line.cell_len for line in lines])
    console = Console(record=True, file=io.StringIO(), width=widest, force_terminal=True,
                      color_system="truecolor", highlight=False, emoji=False, markup=False)
    print_lines(lines, console)
    return console


def export_svg(lines: list[Text], width: int = PLAIN_WIDTH, title: str = "tcpflow-analyzer") -> str:
    """The drawing as a standalone SVG document (rich's terminal export)."""
    return _recorded(lines, width).export_svg(title=title)


def export_html(lines: list[Text], width: int = PLAIN_WIDTH) -> str:
    """The drawing as a standalone HTML document (rich's export, inline styles)."""
    return _recorded(lines, width).export_html(inline_styles=True)
