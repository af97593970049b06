"""What every ``analyze`` output format shares: the streaming writer protocol, and the
on-disk spool that lets a sorted document be written with bounded memory.

A writer receives each connection report once, as the connection ends (``flow``), and the
capture totals and summary once, at the end (``finish``).  It keeps no report: NDJSON writes
each line at once; JSON, CSV and conn.log encode the connection at once and keep only the
encoded bytes, in a :class:`SortedSpool` that holds a bounded amount in memory and sorts
the rest on disk; the terminal view keeps the few connections it will show.  Memory is
therefore bounded by the connections active at once, whatever the capture holds.

``finish`` takes optional extra ``sections``: constant-size summaries (name -> plain data)
that a format able to hold them writes after the connections (the JSON document's keys
after ``connections``, NDJSON's summary line).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Protocol

from ..report import FlowReport

#: Bytes of encoded records a :class:`SortedSpool` keeps in memory before it writes them,
#: sorted, as one run to its spool file.
SPOOL_MEMORY = 32 << 20
#: Bytes of read buffers shared by the runs while they are merged.
MERGE_MEMORY = 16 << 20
_MIN_CHUNK = 8 << 10
# Each record in memory also costs its list slot, tuple, key and bytes object headers.
_RECORD_OVERHEAD = 120

# a spooled record: sort key (float, int), then the length of its bytes
_HEAD = struct.Struct("<dqI")


class FlowWriter(Protocol):
    """An output format as ``analyze`` drives it."""

    def flow(self, flow: FlowReport) -> None:
        """Take one finished connection (called once per connection, as it ends)."""

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Write whatever is still due, given the capture totals and the summary."""


SortKey = tuple[float, int]


class SortedSpool:
    """Byte records that come out in the order of their keys, with bounded memory.

    Records stay in memory until they pass :data:`SPOOL_MEMORY` bytes; then they are
    sorted and written as one run to an anonymous temporary file (in ``directory``, or
    ``$TMPDIR``), already unlinked, so nothing is left behind however the process ends.
    :meth:`drain` merges the runs.  A small report never touches the disk.
    """

    def __init__(self, directory: str | None = None, memory: int | None = None) -> None:
        self.directory = directory
        self.memory = SPOOL_MEMORY if memory is None else memory
        self._pending: list[tuple[SortKey, bytes]] = []
        self._pending_bytes = 0
        self._file: IO[bytes] | None = None
        self._runs: list[tuple[int, int]] = []  # (start, end) offsets in the spool file
        self._size = 0
        self.records = 0

    def add(self, key: SortKey, data: bytes) -> None:
        """Keep one record; ``key`` orders it (keys should be unique)."""
        self._pending.append((key, data))
        self.records += 1
        self._pending_bytes += len(data) + _RECORD_OVERHEAD
        if self._pending_bytes >= self.memory:
            self._write_run()

    def _write_run(self) -> None:
        pending = self._pending
        pending.sort(key=_first)
        if self._file is None:
            # closed by close(), which drain() always reaches
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                dir=self.directory, prefix=".tcpflow-spool-")
        self._runs.append(self._append_run(pending))
        pending.clear()
        self._pending_bytes = 0

    def _append_run(self, records: Iterable[tuple[SortKey, bytes]]) -> tuple[int, int]:
        """Write sorted records as one run at the end of the spool file, in writes of about
        :data:`WRITE_BATCH` bytes; return the run's (start, end) offsets."""
        assert self._file is not None
        f = self._file
        start = self._size
        pack = _HEAD.pack
        out: list[bytes] = []
        size = batch = 0
        for (ts, ident), data in records:
            out.append(pack(ts, ident, len(data)))
            out.append(data)
            n = _HEAD.size + len(data)
            size += n
            batch += n
            if batch >= WRITE_BATCH:
                f.write(b"".join(out))
                out.clear()
                batch = 0
        f.write(b"".join(out))
        f.flush()
        self._size = start + size
        return start, self._size

    def drain(self) -> Iterator[bytes]:
        """Every record, in key order; the spool is empty (and its file gone) afterwards."""
        try:
            if not self._runs:
                self._pending.sort(key=_first)
                for _key, data in self._pending:
                    yield data
                return
            if self._pending:
                self._write_run()
            assert self._file is not None
            fd = self._file.fileno()
            fan_in = max(2, MERGE_MEMORY // _MIN_CHUNK)
            while len(self._runs) > fan_in:
                self._merge_pass(fd, fan_in)
            chunk = max(_MIN_CHUNK, MERGE_MEMORY // len(self._runs))
            readers = [_read_run(fd, start, end, chunk) for start, end in self._runs]
            for _key, data in heapq.merge(*readers, key=_first):
                yield data
        finally:
            self.close()

    def _merge_pass(self, fd: int, fan_in: int) -> None:
        """Merge the runs ``fan_in`` at a time into longer runs at the end of the file, so
        that the final merge's read buffers (one per run) stay within MERGE_MEMORY however
        many runs there were.  Each pass writes the records once more to the (unlinked) file."""
        assert self._file is not None
        self._file.seek(0, os.SEEK_END)
        chunk = max(_MIN_CHUNK, MERGE_MEMORY // fan_in)
        merged: list[tuple[int, int]] = []
        for i in range(0, len(self._runs), fan_in):
            group = self._runs[i:i + fan_in]
            if len(group) == 1:
                merged.append(group[0])
                continue
            readers = [_read_run(fd, a, b, chunk) for a, b in group]
            merged.append(self._append_run(heapq.merge(*readers, key=_first)))
        self._runs = merged

    def close(self) -> None:
        """Forget every record and remove the spool file."""
        self._pending = []
        self._pending_bytes = 0
        self._runs = []
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def _first(item: tuple[SortKey, bytes]) -> SortKey:
    return item[0]


def _read_run(fd: int, start: int, end: int, chunk: int) -> Iterator[tuple[SortKey, bytes]]:
    """The records of one run, read ``chunk`` bytes at a time with ``pread`` (the runs
    share one file descriptor and no file position)."""
    unpack = _HEAD.unpack_from
    head = _HEAD.size
    pos = start
    buf = b""
    off = 0
    while True:
        if len(buf) - off < head:
            if pos >= end:
                return
            more = os.pread(fd, min(chunk, end - pos), pos)
            if not more:
                raise OSError("spool file truncated")
            pos += len(more)
            buf = buf[off:] + more
            off = 0
            continue
        ts, ident, n = unpack(buf, off)
        stop = off + head + n
        while len(buf) < stop:
            more = os.pread(fd, min(max(chunk, stop - len(buf)), end - pos), pos)
            if not more:
                raise OSError("spool file truncated")
            pos += len(more)
            buf = buf[off:] + more
            stop -= off
            off = 0
        yield (ts, ident), buf[off + head:stop]
        off = stop


#: Bytes of encoded text gathered before one write when a spool is drained to the output.
WRITE_BATCH = 64 << 10


class BinaryOut:
    """Write UTF-8 bytes to a text stream: straight to its binary buffer when it has one
    (no decoding, and no dependence on the stream's encoding), else decoded."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        buffer = getattr(out, "buffer", None)
        self._buffer: IO[bytes] | None = buffer if _is_binary(buffer) else None
        self._flushed = False

    def write(self, data: bytes) -> None:
        """Write encoded text."""
        if self._buffer is not None:
            if not self._flushed:
                self.out.flush()  # whatever was written as text goes first
                self._flushed = True
            self._buffer.write(data)
        else:
            self.out.write(data.decode("utf-8", "surrogateescape"))

    def write_all(self, records: Iterator[bytes], sep: bytes = b"", first: bytes = b"") -> int:
        """Write every record, ``sep`` between them and ``first`` before the first one,
        gathered into writes of about :data:`WRITE_BATCH` bytes; return how many."""
        batch: list[bytes] = []
        size = n = 0
        lead = first
        for rec in records:
            if lead:
                batch.append(lead)
            batch.append(rec)
            size += len(lead) + len(rec)
            lead = sep
            n += 1
            if size >= WRITE_BATCH:
                self.write(b"".join(batch))
                batch.clear()
                size = 0
        if batch:
            self.write(b"".join(batch))
        return n

    def flush(self) -> None:
        """Flush the stream."""
        if self._buffer is not None:
            self._buffer.flush()
        self.out.flush()


def _is_binary(buffer: Any) -> bool:
    return buffer is not None and hasattr(buffer, "write")
