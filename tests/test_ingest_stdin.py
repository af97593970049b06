"""Capture ingestion from standard input (issue #2): ``-`` reads stdin, which is a pipe that
cannot seek and may return short reads.  In-process tests use a stand-in pipe that returns
a few bytes per read; subprocess tests pipe real bytes into ``python -m tcpflow_analyzer``."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tcpflow_analyzer.errors import CaptureFormatError
from tcpflow_analyzer.sources.pcapfile import open_capture

from . import capbuild as cb

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


class _Pipe:
    """A non-seekable byte stream that hands out at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data)
        n = min(n, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *_: object) -> int:
        raise OSError("Illegal seek")

    def tell(self) -> int:
        raise OSError("Illegal seek")


class _Stdin:
    def __init__(self, buffer: _Pipe) -> None:
        self.buffer = buffer


def _capture(kind: str) -> tuple[bytes, list[bytes]]:
    frames = [cb.ether(cb.tcp4(seq=i, flags=cb.DATA_FLAGS, payload=b"d" * (i * 97)))
              for i in range(30)]
    if kind == "pcapng":
        return (cb.png_shb() + cb.png_idb(1)
                + b"".join(cb.png_epb(0, i, f) for i, f in enumerate(frames))), frames
    raw = cb.pcap_bytes([(i, 0, f) for i, f in enumerate(frames)])
    return (raw if kind == "pcap" else cb.compress(raw, kind)), frames


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize("kind", ["pcap", "pcapng", "gzip", "xz"])
def test_dash_reads_a_non_seekable_stdin_with_short_reads(
    monkeypatch: pytest.MonkeyPatch, kind: str, step: int,
) -> None:
    data, frames = _capture(kind)
    monkeypatch.setattr(sys, "stdin", _Stdin(_Pipe(data, step)))
    reader = open_capture("-")
    got = list(reader)
    assert (reader.name, reader.size, reader.warnings) == ("<stdin>", None, [])
    assert [d for *_, d in got] == frames
    assert reader.progress() == 0  # no tell() on a pipe: progress degrades, not crashes


def test_dash_with_empty_stdin_is_a_format_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(_Pipe(b"", 10)))
    with pytest.raises(CaptureFormatError, match="<stdin>: empty"):
        open_capture("-")


# -- the real thing: a pipe into a subprocess ------------------------------------------------
def _cli(args: list[str], stdin: bytes | None = None, shell: str | None = None,
         ) -> subprocess.CompletedProcess[bytes]:
    if shell is not None:
        return subprocess.run(["sh", "-c", shell], capture_output=True, timeout=60, check=False)
    return subprocess.run([sys.executable, "-m", "tcpflow_analyzer", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


def _without_files(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    report["capture"] = {k: v for k, v in report["capture"].items() if k != "files"}
    return report


def test_cat_capture_into_analyze_dash_matches_analyzing_the_file() -> None:
    sample = SAMPLES / "handshake-basic.pcap"
    if not sample.exists():
        pytest.skip("samples/handshake-basic.pcap is missing")
    piped = _cli([], shell=f"cat {shlex.quote(str(sample))} | {shlex.quote(sys.executable)} "
                 "-m tcpflow_analyzer analyze - -f json")
    direct = _cli(["analyze", str(sample), "-f", "json"])
    assert (piped.returncode, piped.stderr) == (0, b"")
    assert direct.returncode == 0
    piped_report = json.loads(piped.stdout)
    assert piped_report["capture"]["files"] == ["<stdin>"]
    assert piped_report["capture"]["frames"] > 0
    assert _without_files(piped_report) == _without_files(json.loads(direct.stdout))


def test_compressed_pcapng_piped_into_analyze_dash(tmp_path: Path) -> None:
    data, frames = _capture("pcapng")
    proc = _cli(["analyze", "-", "-f", "json"], stdin=cb.compress(data, "gzip"))
    assert (proc.returncode, proc.stderr) == (0, b"")
    capture = json.loads(proc.stdout)["capture"]
    assert (capture["frames"], capture["tcp_segments"], capture["warnings"]) == (
        len(frames), len(frames), [])


def test_garbage_piped_into_analyze_dash_is_one_line_and_exit_2() -> None:
    proc = _cli(["analyze", "-", "-f", "json"], stdin=b"GET / HTTP/1.1\r\n\r\n")
    lines = proc.stderr.decode().splitlines()
    assert (proc.returncode, proc.stdout, len(lines)) == (2, b"", 1)
    assert lines[0].startswith("tcpflow-analyzer: error: <stdin>: not a pcap")
