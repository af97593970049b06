"""Shared pieces of the fuzz tests (reader, decoder, full pipeline).

The suite runs each fuzz test in a short form (tens to hundreds of examples, seconds).  The
long form is the same tests with more examples: ``TCPFLOW_FUZZ_SCALE=N`` multiplies every
fuzz test's example count by N (``TCPFLOW_FUZZ_SCALE=200 python -m pytest -q
tests/test_ingest_fuzz.py tests/test_decode_fuzz.py tests/test_pipeline_fuzz.py``, about an
hour on one core).  Hypothesis keeps the failing examples it finds in ``.hypothesis/`` and
replays them first on the next run.
"""

from __future__ import annotations

import os
import struct

from hypothesis import strategies as st


def examples(n: int) -> int:
    """``n`` examples, times ``TCPFLOW_FUZZ_SCALE`` (1 unless set: the short form)."""
    try:
        scale = int(os.environ.get("TCPFLOW_FUZZ_SCALE", "1"))
    except ValueError:
        scale = 1
    return max(1, n * max(1, scale))


BOUNDARY = [0, 1, 11, 12, 13, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 24, (1 << 24) + 4,
            1 << 18, (1 << 18) + 1, 65535, 0x0A0D0D0A, 0x1A2B3C4D]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 255)),
    st.tuples(st.just("set32"), st.integers(0, 1 << 16), st.sampled_from(BOUNDARY),
              st.sampled_from("<>")),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 64)),
    st.tuples(st.just("duplicate"), st.integers(0, 1 << 16), st.integers(1, 200)),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:  # type: ignore[type-arg]
    """Apply byte-level mutations (flip, boundary values in 32-bit fields, cut, insert,
    delete, duplicate), each at a position taken modulo the current length."""
    buf = bytearray(data)
    for m in mutations:
        if not buf:
            break
        at = m[1] % len(buf)
        if m[0] == "flip":
            buf[at] ^= m[2]
        elif m[0] == "set32":
            buf[at : at + 4] = struct.pack(m[3] + "I", m[2])
        elif m[0] == "truncate":
            del buf[at:]
        elif m[0] == "insert":
            buf[at:at] = m[2]
        elif m[0] == "delete":
            del buf[at : at + m[2]]
        else:
            buf[at:at] = buf[at : at + m[2]]
    return bytes(buf)
