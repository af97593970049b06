"""The compiled reader maps an uncompressed capture file in read-only windows instead of
copying it into read buffers (``sources/pcapfile.py``, ``_Windows``).  What it delivers is
the Python loop's, frame for frame and warning for warning (``tests/test_engine_differential.py``
compares them on generated, damaged and cut captures, windows of every size); here: a file
that shrinks under the mapping (another program truncating it) ends in a one-line error
instead of killing the process with SIGBUS, progress is counted in the file's bytes, and
windows are mapped a few at a time (memory does not grow with the file)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tcpflow_analyzer import _engine
from tcpflow_analyzer.sources import pcapfile

from . import capbuild as cb

ROOT = Path(__file__).resolve().parent.parent


def _compiled_or_skip() -> None:
    if _engine.engine() != "compiled":
        pytest.skip(f"the reader maps files only when compiled ({_engine.describe()})")


def _capture(path: Path, frames: int = 2000, payload: int = 600) -> int:
    """A pcap of ``frames`` TCP segments of ``payload`` bytes each; its size."""
    data = cb.pcap_header()
    for n in range(frames):
        frame = cb.ether(cb.tcp4(seq=1000 + n * payload, flags=cb.ACK,
                                 payload=bytes([n & 0xFF]) * payload))
        data += cb.pcap_record(1_700_000_000 + n // 1000, n % 1000, frame)
    path.write_bytes(data)
    return len(data)


_TRUNCATE_WHILE_READING = textwrap.dedent("""
    import os, sys
    from tcpflow_analyzer.errors import TcpflowError
    from tcpflow_analyzer.sources.pcapfile import open_capture
    path = sys.argv[1]
    reader = open_capture(path)
    frames = iter(reader)
    for _ in range(10):
        next(frames)
    os.truncate(path, 65536)  # as another program would, under the mapping
    try:
        n = sum(1 for _ in frames)
    except TcpflowError as exc:
        print(exc)
        sys.exit(3)
    print(f"no error after {n} more frames; warnings: {reader.warnings}")
""")


def test_a_capture_file_truncated_while_it_is_read_ends_in_a_one_line_error_not_sigbus(
        tmp_path: Path) -> None:
    _compiled_or_skip()
    cap = tmp_path / "shrinking.pcap"
    _capture(cap)
    done = subprocess.run([sys.executable, "-c", _TRUNCATE_WHILE_READING, str(cap)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.count("\n") == 1 and not done.stderr
    assert "shrank while it was being read" in done.stdout and str(cap) in done.stdout


def test_progress_of_a_mapped_capture_counts_its_bytes_up_to_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _compiled_or_skip()
    cap = tmp_path / "c.pcap"
    size = _capture(cap)
    monkeypatch.setattr(pcapfile, "MAP_WINDOW", 1 << 16)  # many windows
    reader = pcapfile.open_capture(str(cap))
    seen = []
    for n, _frame in enumerate(reader):
        if n % 100 == 0:
            seen.append(reader.progress())
    reader.close()
    assert reader.frames == 2000 and not reader.warnings
    assert seen == sorted(seen) and 0 < seen[len(seen) // 2] < size
    assert seen[-1] > size * 0.9 and reader.progress() == size


def test_a_gzip_capture_and_standard_input_are_read_not_mapped(tmp_path: Path) -> None:
    import gzip

    cap = tmp_path / "c.pcap"
    _capture(cap, frames=50)
    plain = pcapfile.open_capture(str(cap))
    assert (plain._windows is not None) == (_engine.engine() == "compiled")
    plain.close()
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(cap.read_bytes()))
    packed = pcapfile.open_capture(str(gz))
    assert packed._windows is None and sum(1 for _ in packed) == 50
    packed.close()
    with cap.open("rb") as f:
        piped = pcapfile.CaptureReader(f, "<stdin>", None)
        assert piped._windows is None and sum(1 for _ in piped) == 50
