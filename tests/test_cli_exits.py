"""Exits and files, through the real process (`python -m tcpflow_analyzer`): a closed pipe is
a normal end, a full disk / closed stdout / exhausted memory / SIGTERM each get their own
one-line message and exit code, and result files honour the umask."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .capbuild import ORIG4, RESP4, ether, pcap_bytes, tcp4

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SAMPLE = str(SAMPLES / "handshake-basic.pcap")
ALL_SAMPLES = sorted(str(p) for p in SAMPLES.glob("*.pcap"))
CMD = [sys.executable, "-m", "tcpflow_analyzer"]


def tool(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would; stdout/stderr captured separately."""
    kw.setdefault("capture_output", True)
    return subprocess.run([*CMD, *args], text=True, timeout=120, cwd=REPO, check=False,
                          **kw)  # type: ignore[call-overload, no-any-return]


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("tcpflow-analyzer: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    return err


# -- a closed pipe is a normal end -------------------------------------------------------
def _many_connections(tmp_path: Path, n: int = 400) -> str:
    """A capture whose every output is far larger than a pipe buffer."""
    from tcpflow_analyzer.segment import ACK, SYN

    packets = []
    for i in range(n):
        sport = 10000 + i
        packets.append((1 + i, 0, ether(tcp4(src=ORIG4, dst=RESP4, sport=sport, flags=SYN))))
        packets.append((1 + i, 5, ether(tcp4(src=RESP4, dst=ORIG4, sport=80, dport=sport,
                                            seq=5000, ack=1001, flags=SYN | ACK))))
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap_bytes(packets))
    return str(path)


PIPE_CASES = [
    *[("analyze", "-f", fmt) for fmt in ("terminal", "json", "ndjson", "csv", "zeek")],
    ("show",),
    ("check", "--require", "handshake=complete"),
    ("anomalies",),
]


def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    """stdout is a pipe whose reader is already gone: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return tool(*args, stdout=write_end, stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", PIPE_CASES, ids=lambda a: "-".join(a))
def test_a_closed_pipe_on_stdout_is_a_normal_end(tmp_path: Path, args: tuple[str, ...]) -> None:
    where = [] if args[0] == "anomalies" else [_many_connections(tmp_path, 50)]
    res = _closed_pipe_run(args[0], *where, *args[1:])
    assert (res.returncode, res.stderr) == (1 if args[0] == "check" else 0, "")


@pytest.mark.parametrize("fmt", ["terminal", "json", "csv"])
def test_analyze_into_head_exits_0(tmp_path: Path, fmt: str) -> None:
    capture = _many_connections(tmp_path)
    shell = f"{' '.join(CMD)} analyze {capture} -f {fmt} | head -1 >/dev/null"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                         text=True, timeout=120, cwd=REPO, check=False)
    assert (res.returncode, res.stderr) == (0, "")


def test_check_keeps_its_verdict_and_writes_junit_when_the_pipe_closes(tmp_path: Path) -> None:
    capture = _many_connections(tmp_path)
    junit = tmp_path / "tcp.xml"
    shell = (f"{' '.join(CMD)} check {capture} --require handshake=complete --list-limit 0 "
             f"--junit {junit} | head -1")
    res = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                         text=True, timeout=120, cwd=REPO, check=False)
    assert res.returncode == 1  # the rule failed: a pipe must not turn a CI gate green
    assert res.stderr == "" and junit.read_text().startswith("<?xml")


# -- closed stdout, full disk, memory -------------------------------------------------------
@pytest.mark.parametrize("args", [("analyze", SAMPLE), ("analyze", SAMPLE, "-f", "json"),
                                  ("show", SAMPLE), ("check", SAMPLE, "--max", "rst_abort=0"),
                                  ("anomalies",)], ids=lambda a: "-".join(a[:1] + a[2:]))
def test_closed_stdout_is_its_own_one_line_error(args: tuple[str, ...]) -> None:
    res = tool(*args, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1),
               capture_output=False)
    assert res.returncode == 2
    assert "standard output is closed" in one_error_line(res.stderr)


def test_closed_stdout_with_an_output_file_is_fine(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    res = tool("analyze", SAMPLE, "-f", "json", "-o", str(target), stderr=subprocess.PIPE,
               preexec_fn=lambda: os.close(1), capture_output=False)
    assert res.returncode == 0 and target.stat().st_size > 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("fmt", ["terminal", "json", "ndjson", "csv", "zeek"])
def test_full_device_on_stdout_is_a_disk_full_error(fmt: str) -> None:
    with open("/dev/full", "w") as full:
        res = tool("analyze", *ALL_SAMPLES, "-f", fmt, stdout=full, stderr=subprocess.PIPE,
                   capture_output=False)
    assert res.returncode == 2
    err = one_error_line(res.stderr)
    assert "cannot write standard output: No space left on device (the disk is full)" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_full_device_as_output_file_is_a_disk_full_error() -> None:
    res = tool("analyze", *ALL_SAMPLES, "-f", "json", "-o", "/dev/full")
    assert res.returncode == 2
    assert "cannot write /dev/full: No space left on device (the disk is full)" in \
        one_error_line(res.stderr)


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root and unshare to mount a tmpfs")
def test_full_disk_leaves_no_file_and_says_so(tmp_path: Path) -> None:
    """A 16 KiB tmpfs in a private mount namespace: the report does not fit."""
    capture = _many_connections(tmp_path)
    mnt = tmp_path / "small"
    mnt.mkdir()
    shell = (f"mount -t tmpfs -o size=16k none {mnt} && "
             f"{' '.join(CMD)} analyze {capture} -f json -o {mnt}/r.json; rc=$?; "
             f"ls -A {mnt}; exit $rc")
    res = subprocess.run(["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True,
                         timeout=120, cwd=REPO, check=False)
    assert res.returncode == 2
    assert res.stdout == ""  # neither the report nor a temporary file was left behind
    assert f"cannot write {mnt}/r.json: No space left on device" in one_error_line(res.stderr)


def test_out_of_memory_is_its_own_one_line_error(tmp_path: Path) -> None:
    """The address space is capped a little above what the interpreter uses once the CLI
    is imported: the analysis of a few thousand connections cannot fit."""
    capture = _many_connections(tmp_path, 8000)
    code = (
        "import os, resource, sys\n"
        "import tcpflow_analyzer.cli as cli\n"
        "big, small = sys.argv[1:3]\n"
        "try:\n"  # a first run on a tiny capture imports everything the real run needs
        "    cli.app(['analyze', small, '-f', 'json', '-o', os.devnull])\n"
        "except SystemExit:\n"
        "    pass\n"
        "vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + (4 << 20), vm + (4 << 20)))\n"
        "cli.app(['analyze', big, '-f', 'json'])\n"
    )
    res = subprocess.run([sys.executable, "-c", code, capture, SAMPLE], capture_output=True,
                         text=True, timeout=120, cwd=REPO, check=False)
    assert res.returncode == 2, res.stderr
    assert "error: out of memory" in one_error_line(res.stderr)


# -- signals ------------------------------------------------------------------------------
SIGNALS = [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]


def _default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM at their defaults and unblocked,
    whatever the test runner left (a process started with SIGINT ignored, as ``cmd &`` in
    a script does, rightly keeps ignoring it)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _pipe_pending(fd: int) -> int:
    """Bytes written into a pipe and not yet read by the other end."""
    import fcntl
    import struct
    import termios

    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def _is_waiting(pid: int) -> bool:
    """The process sleeps (here: in a read of the stdin pipe, the only thing it waits on)."""
    stat_line = Path(f"/proc/{pid}/stat").read_text()
    return stat_line[stat_line.rindex(")") + 2] == "S"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("moment", ["at-start-up", "while-reading"])
@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS)
def test_signal_removes_the_temporary_output_and_exits_with_one_line(
        tmp_path: Path, sig: int, code: int, word: str, moment: str) -> None:
    """A capture on stdin that the test keeps open: the work cannot end before the signal.
    ``at-start-up``: as soon as the temporary output file exists, while the tool is still
    importing its reader and engine; ``while-reading``: once it has read all it was given
    and waits for more."""
    target = tmp_path / "out.ndjson"
    data = Path(SAMPLE).read_bytes()
    proc = subprocess.Popen([*CMD, "analyze", "-", "-f", "ndjson", "-o", str(target)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, preexec_fn=_default_signals)
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()

    def ready() -> bool:
        if moment == "at-start-up":
            return bool(list(tmp_path.glob(".tcpflow-*")))
        assert proc.stdin is not None
        return _pipe_pending(proc.stdin.fileno()) == 0 and _is_waiting(proc.pid)

    deadline = time.monotonic() + 60
    while not ready():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.005)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode(errors="replace")) == (code, f"tcpflow-analyzer: {word}\n")
    assert list(tmp_path.iterdir()) == []  # no temporary file, no half report


_INJECT = """
import signal, sys, tempfile, weakref
import tcpflow_analyzer.pipeline as pipeline
from tcpflow_analyzer.cli import main

sig, where = int(sys.argv[1]), sys.argv[2]
if where == "weakref-callback":
    # the handler runs inside a weakref callback, as when it lands in the one that
    # releases an import's module lock: the exception it raises cannot propagate there
    real_open = pipeline.open_capture

    def open_capture(path):
        class Thing:
            pass

        thing = Thing()
        ref = weakref.ref(thing, lambda _ref: signal.raise_signal(sig))
        del thing
        return real_open(path)

    pipeline.open_capture = open_capture
else:  # just after the temporary output file was created
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        signal.raise_signal(sig)
        return made

    tempfile.mkstemp = mkstemp
sys.argv = ["tcpflow-analyzer", *sys.argv[3:]]
main()
"""


@pytest.mark.parametrize("where", ["weakref-callback", "temporary-file-created"])
@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS)
def test_a_signal_is_honoured_wherever_it_lands(
        tmp_path: Path, sig: int, code: int, word: str, where: str) -> None:
    """Python runs a signal handler at the next instruction, whatever it is: inside a
    weakref callback its exception was dropped ("Exception ignored", then exit 0 after the
    whole work), and right after the temporary file's creation it left that file behind."""
    target = tmp_path / "out.json"
    res = subprocess.run([sys.executable, "-c", _INJECT, str(int(sig)), where, "analyze",
                          SAMPLE, "-f", "json", "-o", str(target)], capture_output=True,
                         text=True, timeout=120, cwd=REPO, check=False,
                         preexec_fn=_default_signals)
    assert (res.returncode, res.stderr) == (code, f"tcpflow-analyzer: {word}\n")
    assert list(tmp_path.iterdir()) == []


# -- file modes ------------------------------------------------------------------------------
def _with_umask(mask: int) -> object:
    return lambda: os.umask(mask)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_output_files_honour_the_umask(tmp_path: Path, mask: int) -> None:
    files = {name: tmp_path / name for name in ("a.json", "b.xml", "c.xml", "d.svg", "e.html")}
    runs = [
        ("analyze", SAMPLE, "-f", "json", "-o", str(files["a.json"])),
        ("check", SAMPLE, "--max", "rst_abort=0", "-f", "junit", "-o", str(files["b.xml"]),
         "--junit", str(files["c.xml"])),
        ("show", SAMPLE, "--svg", str(files["d.svg"]), "--html", str(files["e.html"])),
    ]
    for args in runs:
        res = tool(*args, preexec_fn=_with_umask(mask))
        assert res.returncode == 0, res.stderr
    for path in files.values():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path
    # a device is written straight into, never replaced or re-moded
    null_mode = os.stat(os.devnull).st_mode
    res = tool("analyze", SAMPLE, "-f", "json", "-o", os.devnull, preexec_fn=_with_umask(mask))
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    assert os.stat(os.devnull).st_mode == null_mode


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    res = tool("analyze", SAMPLE, "-f", "json", "-o", str(target), preexec_fn=_with_umask(0o077))
    assert res.returncode == 0 and target.read_text().startswith("{")
    assert target.stat().st_mode & 0o777 == 0o640


def test_writing_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    res = tool("analyze", SAMPLE, "-f", "json", "-o", str(link))
    assert res.returncode == 0
    assert link.is_symlink() and real.read_text().startswith("{")
