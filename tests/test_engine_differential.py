"""The compiled and the interpreted engine give byte-identical results.

Reports: every sample and every Zeek-corpus trace, under both ``--semantics``, analysed by
two subprocesses, one with the compiled modules and one with ``TCPFLOW_ANALYZER_PURE=1``
(which makes the package skip them at import).  Typed functions: hypothesis-generated
inputs to the compiled module and to the same source loaded interpreted, side by side.

Without a compiled build the tests skip, saying why (``tcpflow-analyzer --version``); CI
sets ``TCPFLOW_REQUIRE_COMPILED=1`` (tests/run_ci.py) so that a silent pure build fails.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer import _engine, checksum, seqnum

ROOT = Path(__file__).resolve().parent.parent
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".gz", ".bz2", ".xz")


def _compiled_or_skip() -> None:
    if _engine.engine() == "compiled":
        return
    why = _engine.describe()
    if os.environ.get("TCPFLOW_REQUIRE_COMPILED") == "1":
        pytest.fail(f"the compiled engine is required here, but this is the {why}")
    pytest.skip(f"no compiled engine to compare with ({why})")


def _captures() -> list[str]:
    found = [p for d in ("samples", "tests/data/zeek-corpus")
             for p in sorted((ROOT / d).rglob("*")) if p.is_file()
             and p.name.endswith(CAPTURE_SUFFIXES)]
    return [str(p.relative_to(ROOT)) for p in found]


def _reports(pure: bool, paths: list[str]) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != _engine.PURE_ENV}
    if pure:
        env[_engine.PURE_ENV] = "1"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "engine_reports.py"), *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    name, _, body = proc.stdout.partition("\n")
    return name, body


def test_every_sample_and_corpus_trace_reports_identically_in_both_engines() -> None:
    _compiled_or_skip()
    paths = _captures()
    assert len(paths) > 100  # the samples and the corpus are really there
    compiled_name, compiled = _reports(False, paths)
    pure_name, pure = _reports(True, paths)
    assert (compiled_name, pure_name) == ("compiled", "pure")
    if compiled != pure:  # name the first capture that differs, not a 10 MB diff
        import json

        a, b = json.loads(compiled), json.loads(pure)
        bad = [(p, s) for p in a for s in a[p] if a[p][s] != b[p][s]]
        pytest.fail(f"{len(bad)} reports differ between the engines, first: {bad[0]}")


def _interpreted(module: ModuleType) -> ModuleType:
    """The same source as ``module``, loaded as plain Python under another name."""
    name = module.__name__ + "_interpreted"
    source = ROOT / "tcpflow_analyzer" / (module.__name__.rpartition(".")[2] + ".py")
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    assert loaded.COMPILED is False
    return loaded


PURE_SEQNUM = _interpreted(seqnum)
PURE_CHECKSUM = _interpreted(checksum)

# raw 32-bit values, values just outside them, and unwrapped offsets (|value| < 2**62)
seq = st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000,
                                                            0xFFFFFFFF, 0x100000000, -1]),
                st.integers(-(1 << 40), 1 << 40))
wide = st.integers(-(1 << 61), 1 << 61)


@settings(max_examples=300, deadline=None)
@given(seq, seq, wide)
def test_seqnum_helpers_agree_bit_for_bit(a: int, b: int, ref: int) -> None:
    _compiled_or_skip()
    for name in ("seq_add", "seq_diff", "seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_max"):
        assert getattr(seqnum, name)(a, b) == getattr(PURE_SEQNUM, name)(a, b), name
    assert seqnum.unwrap(a, ref) == PURE_SEQNUM.unwrap(a, ref)
    size = abs(b) & 0xFFFFFFFF
    assert seqnum.in_window(a, b, size) == PURE_SEQNUM.in_window(a, b, size)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=20, max_size=1600), st.integers(0, 40), st.integers(0, 40),
       st.sampled_from([4, 16]), st.data())
def test_checksum_verdicts_agree(data: bytes, lead: int, trail: int, alen: int,
                                 draw: st.DataObject) -> None:
    _compiled_or_skip()
    frame = bytes(lead) + data + bytes(trail)
    addrs = draw.draw(st.binary(min_size=2 * alen, max_size=2 * alen))
    start, end = lead, lead + len(data)
    pseudo = int.from_bytes(addrs, "big") + 6 + len(data)
    partial = pseudo % 0xFFFF or 0xFFFF
    # a random field, the offload value (pseudo-header sum only), and the correct checksum
    correct = 0xFFFF - (int.from_bytes(data[:16] + bytes(2) + data[18:], "big")
                        * (256 if len(data) & 1 else 1) + pseudo) % 0xFFFF
    fields = {draw.draw(st.integers(0, 0xFFFF)), partial, correct, 0}
    for field in fields:
        seg = data[:16] + field.to_bytes(2, "big") + data[18:]
        f = frame[:start] + seg + frame[end:]
        expected = PURE_CHECKSUM.checksum_verdict(seg, pseudo, field)
        assert checksum.tcp_checksum_verdict(f, start, end, addrs, field) == expected
        assert PURE_CHECKSUM.tcp_checksum_verdict(f, start, end, addrs, field) == expected
        assert checksum.tcp_checksum_verdict(memoryview(f), start, end, addrs, field) \
            == expected
