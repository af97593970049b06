"""``show`` on the samples: golden text, and the states and arrows in textbook order.

Golden files live in ``tests/golden/show/``.  Regenerate them only on purpose, then read
the diff::

    TCPFLOW_UPDATE_GOLDEN=1 pytest tests/test_show_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "show"
UPDATE = os.environ.get("TCPFLOW_UPDATE_GOLDEN") == "1"
ALL_SAMPLES = sorted(p.name for p in (ROOT / "samples").iterdir()
                     if p.suffix in (".pcap", ".pcapng"))
GOLDEN_SAMPLES = [
    "handshake-basic.pcap", "simultaneous-close.pcapng", "simultaneous-open.pcap",
    "half-close.pcap", "close-three-way.pcap", "refused.pcap", "syn-timeout.pcap",
    "missing-syn.pcap", "rst-by-orig.pcap", "rst-by-resp.pcap", "rst-after-fin.pcap",
    "time-wait-reuse.pcap", "time-wait-assassination.pcap", "synack-unacked.pcap",
    "lone-rst.pcap", "seq-wrap.pcap", "ipv6-basic.pcap", "kernel-server-closes.pcap",
]

runner = CliRunner()


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root with nothing that would force colour."""
    monkeypatch.chdir(ROOT)
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)


def show(*args: str) -> str:
    """Run ``show`` and return stdout (asserting success and an empty stderr)."""
    result = runner.invoke(app, ["show", *args])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def columns(text: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Parse a drawing: orig states, resp states (top to bottom) and arrows (flags, way)."""
    orig: list[str] = []
    resp: list[str] = []
    arrows: list[tuple[str, str]] = []
    for line in text.split("\nVerdict")[0].splitlines():
        if line.count("│") != 2:
            continue
        left, middle, right = line.split("│")
        words = left.split()
        if words and words[-1] not in ("orig", "Δt") and words[-1][0].isupper():
            orig.append(words[-1])
        if right.strip() and right.strip() != "resp":
            resp.append(right.strip())
        if "▶" in middle or "◀" in middle:
            label = middle.strip("─▶◀ ").split()[0]
            arrows.append((label, "→" if "▶" in middle else "←"))
    return orig, resp, arrows


@pytest.mark.parametrize("sample", GOLDEN_SAMPLES)
def test_golden(sample: str) -> None:
    out = show(f"samples/{sample}")
    golden = GOLDEN / (Path(sample).stem + ".txt")
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with TCPFLOW_UPDATE_GOLDEN=1"
    assert out == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("sample", ALL_SAMPLES)
def test_every_sample_draws_within_100_columns(sample: str) -> None:
    out = show(f"samples/{sample}")
    assert "Verdict" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_handshake_basic_reads_like_the_textbook() -> None:
    orig, resp, arrows = columns(show("samples/handshake-basic.pcap"))
    assert orig == ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"]
    assert resp == ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"]
    assert arrows == [
        ("SYN", "→"), ("SYN+ACK", "←"), ("ACK", "→"), ("PSH+ACK", "→"), ("ACK", "←"),
        ("PSH+ACK", "←"), ("ACK", "→"), ("FIN+ACK", "→"), ("ACK", "←"), ("FIN+ACK", "←"),
        ("ACK", "→"),
    ]


def test_simultaneous_close_passes_closing_on_both_sides() -> None:
    orig, resp, arrows = columns(show("samples/simultaneous-close.pcapng"))
    assert orig == ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "CLOSING", "TIME-WAIT"]
    assert resp == ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "CLOSING",
                    "TIME-WAIT"]
    assert arrows[-4:] == [("FIN+ACK", "→"), ("FIN+ACK", "←"), ("ACK", "→"), ("ACK", "←")]


def test_simultaneous_open_goes_through_syn_received_on_both_sides() -> None:
    orig, resp, arrows = columns(show("samples/simultaneous-open.pcap"))
    assert orig[:4] == ["CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]
    assert resp[:4] == ["CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]
    assert arrows[:4] == [("SYN", "→"), ("SYN", "←"), ("SYN+ACK", "→"), ("SYN+ACK", "←")]


def test_half_close_keeps_the_data_flowing_after_the_first_fin() -> None:
    text = show("samples/half-close.pcap")
    orig, resp, arrows = columns(text)
    assert orig[-3:] == ["FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"]
    assert resp[-3:] == ["CLOSE-WAIT", "LAST-ACK", "CLOSED"]
    after_fin = arrows[arrows.index(("FIN+ACK", "→")) + 1:]
    assert after_fin.count(("ACK", "←")) >= 3  # resp's data segments after orig's FIN
    assert "Half-close: orig closed its sending side first (FIN, frame 5)" in text


def test_refused_and_mid_stream() -> None:
    orig, resp, arrows = columns(show("samples/refused.pcap"))
    assert orig == ["CLOSED", "SYN-SENT", "CLOSED"]
    assert arrows == [("SYN", "→"), ("RST+ACK", "←")]
    text = show("samples/missing-syn.pcap")
    orig, resp, _ = columns(text)
    assert orig[0] == "PARTIAL" and resp[0] == "PARTIAL"
    assert "relative to the first numbers seen" in text
    assert "PSH+ACK seq=0 ack=0 len=200" in text


@pytest.mark.parametrize(("sample", "phrases"), [
    ("handshake-basic.pcap", ["orig closed first (FIN, frame 8); resp ACKed it 20.0 ms later "
                              "(frame 9) and closed 500 µs after that (FIN, frame 10)",
                              "orig held TIME-WAIT from frame 11."]),
    ("kernel-server-closes.pcap", ["resp closed first", "resp held TIME-WAIT from frame 11"]),
    ("close-three-way.pcap", ["resp ACKed it and closed in one segment"]),
    ("simultaneous-close.pcapng", ["Simultaneous close", "resp held TIME-WAIT from frame 9; "
                                   "orig held TIME-WAIT from frame 10."]),
    ("simultaneous-open.pcap", ["Simultaneous open"]),
    ("refused.pcap", ["resp refused the connection", "nothing was listening on port 80"]),
    ("syn-timeout.pcap", ["No answer: orig sent 4 SYNs over 7 s"]),
    ("synack-unacked.pcap", ["resp stays in SYN-RECEIVED"]),
    ("missing-syn.pcap", ["Picked up mid-stream at frame 1"]),
    ("rst-by-orig.pcap", ["orig reset the connection with RST at frame 7 while in ESTABLISHED",
                          "so it is valid"]),
    ("rst-by-resp.pcap", ["resp reset the connection with RST+ACK at frame 7"]),
    ("rst-after-fin.pcap", ["It follows a FIN"]),
    ("time-wait-assassination.pcap", ["TIME-WAIT assassination (RFC 1337)"]),
    ("lone-rst.pcap", ["A lone RST+ACK from orig (frame 1)"]),
    ("time-wait-reuse.pcap", ["reuses the 4-tuple of connection #1"]),
])
def test_verdict(sample: str, phrases: list[str]) -> None:
    verdict = show(f"samples/{sample}").split("\nVerdict\n", 1)[-1]
    flat = " ".join(verdict.split())
    for phrase in phrases:
        assert phrase in flat


def test_anomalies_are_marked_under_their_arrow() -> None:
    lines = show("samples/syn-timeout.pcap").splitlines()
    marks = [i for i, line in enumerate(lines) if "syn_retransmission: SYN #" in line]
    assert len(marks) == 3
    for i in marks:
        assert lines[i - 1].split()[0] in ("2", "3", "4") and "SYN seq=0" in lines[i - 1]
