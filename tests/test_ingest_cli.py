"""Capture ingestion through the CLI (issue #2): unreadable or non-capture input is one line
on stderr and exit code 2, never a traceback; damaged captures are analysed up to the damage
and the warning reaches stderr.  Uses typer's CliRunner (stdout and stderr apart)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

from . import capbuild as cb

runner = CliRunner()


def _analyze(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["analyze", *args, "-f", "json"])


def _assert_one_line_error(result, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tcpflow-analyzer: error: ")
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    for needle in needles:
        assert needle in lines[0]
    return str(lines[0])


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.pcap")
    _assert_one_line_error(_analyze(path), path, "No such file")


def test_directory(tmp_path: Path) -> None:
    _assert_one_line_error(_analyze(str(tmp_path)), str(tmp_path), "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = cb.write(tmp_path, "empty.dat", b"")
    _assert_one_line_error(_analyze(path), path, "empty")


@pytest.mark.parametrize(
    "content",
    [b"hello world\n", b"\x00", b"PK\x03\x04zipfile", b"\x7fELF\x02\x01\x01" + b"\x00" * 60,
     b"\xd4\xc3\xb2"],
    ids=["text", "one-byte", "zip", "elf", "three-magic-bytes"],
)
def test_not_a_capture(tmp_path: Path, content: bytes) -> None:
    path = cb.write(tmp_path, "thing.dat", content)
    _assert_one_line_error(_analyze(path), path, "not a pcap or pcapng capture")


def test_pcap_header_cut_short(tmp_path: Path) -> None:
    path = cb.write(tmp_path, "short.dat", cb.pcap_header()[:12])
    _assert_one_line_error(_analyze(path), path)


@pytest.mark.parametrize("keep", [4, 20])
def test_pcapng_cut_inside_its_section_header(tmp_path: Path, keep: int) -> None:
    """Issue 12: exited 0 as an empty capture, while a pcap cut in its header exits 2."""
    path = cb.write(tmp_path, "short.pcapng", cb.png_shb()[:keep])
    _assert_one_line_error(_analyze(path), path, "section header cut short")


def test_pcapng_with_bad_byte_order_magic(tmp_path: Path) -> None:
    shb = bytearray(cb.png_shb())
    shb[8:12] = b"ABCD"
    path = cb.write(tmp_path, "bom.dat", bytes(shb))
    _assert_one_line_error(_analyze(path), path, "byte-order")


@pytest.mark.parametrize("magic", [b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"],
                         ids=["gzip", "bzip2", "xz"])
def test_compressed_garbage(tmp_path: Path, magic: bytes) -> None:
    """Regression (bzip2, xz): these used to end as "internal error: TypeError"."""
    path = cb.write(tmp_path, "garbage.dat", magic + b"\x08\x00not really compressed")
    _assert_one_line_error(_analyze(path), path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a mode-000 file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = cb.write(tmp_path, "secret.pcap", cb.pcap_header())
    os.chmod(path, 0)
    _assert_one_line_error(_analyze(path), path, "Permission denied")


def test_one_bad_file_among_good_ones_fails_before_any_output(tmp_path: Path) -> None:
    good = cb.write(tmp_path, "good.dat", cb.pcap_bytes([(1, 0, cb.ether(cb.tcp4()))]))
    _assert_one_line_error(_analyze(good, str(tmp_path / "missing.pcap")), "missing.pcap")


def test_debug_flag_shows_the_traceback_instead(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "x.pcap"), "--debug"])
    assert result.exit_code != 0 and result.exception is not None


# -- damaged but readable: analysed, with the warning on stderr -------------------------------
def test_damaged_capture_is_analysed_and_warned_about(tmp_path: Path) -> None:
    frames = [cb.ether(cb.tcp4(seq=1000)),
              cb.ether(cb.tcp4(src=cb.RESP4, dst=cb.ORIG4, sport=80, dport=40000, seq=5000,
                               ack=1001, flags=cb.SYN | cb.ACK)),
              cb.ether(cb.tcp4(seq=1001, ack=5001, flags=cb.ACK))]
    data = cb.pcap_bytes([(100 + i, 0, f) for i, f in enumerate(frames)])
    data += struct.pack("<IIII", 103, 0, 0xFFFFFFFF, 60) + b"\x00" * 10  # corrupt tail
    path = cb.write(tmp_path, "damaged.dat", data)
    result = _analyze(path)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["capture"]["frames"], report["summary"]["connections"]) == (3, 1)
    assert len(report["capture"]["warnings"]) == 1
    assert "corrupt record header" in report["capture"]["warnings"][0]
    assert "tcpflow-analyzer: warning:" in result.stderr
    assert "corrupt record header" in result.stderr
    assert "Traceback" not in result.stderr


def test_unsupported_link_type_capture_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = cb.write(tmp_path, "wifi.dat", cb.pcap_bytes([(1, 0, b"\x80" * 40)], linktype=105))
    result = _analyze(path)
    assert result.exit_code == 0, result.stderr
    capture = json.loads(result.stdout)["capture"]
    assert capture["skipped"] == {"unsupported_linktype": 1}
    assert "802.11" in result.stderr and "105" in result.stderr
