"""Streaming pcap / pcapng reader: capture bytes in, ``(frame, ts, linktype, data)`` out.

* pcap: microsecond and nanosecond magics, both byte orders, the 24-byte-record variant.
* pcapng: SHB/IDB/EPB/SPB/OPB blocks, several sections (each with its own byte order) and
  several interfaces with their own link types, ``if_tsresol`` and ``if_tsoffset``.
* gzip, bzip2 and xz compression, recognised by magic bytes rather than file name.
* ``-`` reads standard input; nothing here ever seeks, so pipes work.

Reading is chunked and streaming: memory does not grow with the file.  Compiled, an
uncompressed capture file is not read into buffers at all but mapped, a few MiB at a time
(``_Windows``: no copy, no read system call; a file truncated under the mapping stops the
reader with a one-line error); compressed data and standard input are read.  Damage never raises
once the header was accepted: a record header that cannot be right (a 4 GB record, a bad
pcapng block length) or a file cut short ends up as a line in :attr:`CaptureReader.warnings`,
after every frame before the damage has been delivered.  A corrupt pcap record header (the
first one too) or pcapng block is followed by a bounded scan for the next plausible record
or block, so later connections survive; the warning says how many bytes were skipped.
Frames too short for their link header are damage: noted once, and a long run of them (a
decompression bomb of zeros) ends the capture.  What a capture can multiply is capped:
warnings of one kind (five, then a count), interfaces per pcapng section.

dpkt is deliberately not used on this path: its pcapng reader applies the first interface's
link type to every packet, and its per-record objects are too slow for the hot loop.  The
tests use dpkt's writers and readers as an independent reference.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import mmap
import os
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from .. import _records
from ..errors import CaptureFormatError, CaptureOpenError

Frame = tuple[int, float, int, bytes]

CHUNK = 1 << 20
MAX_RECORD = 1 << 18  # 256 KiB: libpcap's MAXIMUM_SNAPLEN; larger claims are damage
MAX_BLOCK = 1 << 24  # 16 MiB: no sane pcapng block is larger
RESYNC_LIMIT = 1 << 24  # bytes to scan for a plausible record after a corrupt header
MAX_WARNINGS_PER_KIND = 5  # listed one by one; the rest are summed up in one line
MAX_INTERFACES = 1 << 16  # interface blocks kept per pcapng section (~6 MiB at most)
MAX_SHORT_RUN = 1024  # frames in a row too short for their link header before we stop
# Candidates a file's resynchronisations may judge in all (each costs a few microseconds of
# Python; honest damage needs a handful per resync, crafted junk could need millions)
MAX_RESYNC_TRIES = 1 << 20

# Shortest frame each link type can carry: its link header (BSD loopback's 4 bytes for the
# rest; no IP header is shorter than 20 bytes, so raw IP below 4 bytes is nothing either).
# A shorter frame is damage, and a long run of them (a decompression bomb of zeros) ends
# the capture.
_MIN_FRAME = {1: 14, 10: 21, 113: 16, 276: 20}
_MIN_FRAME_DEFAULT = 4
_LINK_NAMES = {0: "BSD loopback", 1: "Ethernet", 10: "FDDI", 101: "raw IP", 108: "loopback",
               113: "Linux cooked", 276: "Linux cooked v2"}

# pcapng block types a resynchronisation may land on (pcapng spec, section 11.1)
_SHB_TYPE = 0x0A0D0D0A
_PCAPNG_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x00000BAD, 0x40000BAD})
_ALL_TYPES = _PCAPNG_TYPES | {_SHB_TYPE}

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, 16), b"\xa1\xb2\xc3\xd4": (">", 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, 16), b"\xa1\xb2\x3c\x4d": (">", 1e-9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e-6, 24), b"\xa1\xb2\xcd\x34": (">", 1e-6, 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_COMPRESSION = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)
# Compiled, a typed cutter delivers a pcap file's well-formed records (see .._records); the
# differential test switches it off to compare with the Python loop alone
_CUT_RECORDS = _records.COMPILED
# Compiled, an uncompressed capture file is read through read-only windows mapped from it
# (see _Windows): no read buffer is filled and no chunk copied.  Interpreted (no SIGBUS
# guard), gzip, bzip2, xz and standard input are read into buffers.
_MAP_FILES = _records.COMPILED
MAP_WINDOW = 4 << 20  # bytes mapped at a time (more when one record needs more)


def _link_name(linktype: int) -> str:
    return _LINK_NAMES.get(linktype, f"linktype {linktype}")


@functools.lru_cache(maxsize=64)
def _record_shape(order: str, nano: bool, uppers: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """Positions where a pcap record header of a plausible shape starts: the upper half of
    its seconds is one of ``uppers`` (any when empty), the fraction is below one second and
    the captured length between 14 bytes and 16 MiB (a superset of what
    :meth:`CaptureReader._pcap_resync` accepts, found at C speed)."""
    upper = b"(?:" + b"|".join(re.escape(u) for u in uppers) + b")" if uppers else b".."
    if order == "<":
        sec = b".." + upper
        frac = rb"...[\x00-\x3b]" if nano else rb"..[\x00-\x0f]\x00"
        incl = rb"(?:[\x0e-\xff]..|.[\x01-\xff].|..[\x01-\xff])\x00"
    else:
        sec = upper + b".."
        frac = rb"[\x00-\x3b]..." if nano else rb"\x00[\x00-\x0f].."
        incl = rb"\x00(?:[\x01-\xff]..|.[\x01-\xff].|..[\x0e-\xff])"
    return re.compile(rb"(?=" + sec + frac + incl + rb")", re.DOTALL)


_BLOCK_STARTS: dict[str, re.Pattern[bytes]] = {}


def _block_start(order: str) -> re.Pattern[bytes]:
    """Positions where a pcapng block of a known type and a plausible length starts (a
    multiple of 4, at most 16 MiB); any section header, whose byte order is its own."""
    pattern = _BLOCK_STARTS.get(order)
    if pattern is None:
        types = b"|".join(re.escape(struct.pack(order + "I", t)) for t in sorted(_PCAPNG_TYPES))
        low = b"[" + b"".join(re.escape(bytes([v])) for v in range(0, 256, 4)) + b"]"
        length = low + rb"..[\x00\x01]" if order == "<" else rb"[\x00\x01].." + low
        pattern = _BLOCK_STARTS[order] = re.compile(
            rb"(?=(?:" + types + rb")" + length + rb"|" + re.escape(PCAPNG_SHB) + rb")",
            re.DOTALL)
    return pattern


class _Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (files, pipes, decompressors, our wrappers)."""

    def read(self, n: int = -1, /) -> bytes: ...


class _Prefixed:
    """A read-only stream that first returns ``prefix`` and then the rest of ``raw``."""

    def __init__(self, prefix: bytes, raw: _Readable) -> None:
        self._prefix = prefix
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n < 0:
                out, self._prefix = self._prefix + self._raw.read(), b""
                return out
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(out) < n:
                out += self._raw.read(n - len(out))
            return out
        return self._raw.read(n)

    def readable(self) -> bool:
        return True


class _Guarded:
    """Wraps a decompressor so damage ends the stream instead of losing a whole read.

    A decompressor raises (EOFError, zlib.error, ...) when it reaches damage, discarding
    what the failing ``read(n)`` had already decompressed; ``read1`` in small pieces keeps the
    loss to one piece, and the error is kept for the reader's warning.
    """

    PIECE = 1 << 13

    def __init__(self, inner: _Readable) -> None:
        self._inner = inner
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        if self.error is not None:
            return b""
        parts: list[bytes] = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            try:
                piece = self._inner.read1(min(want, self.PIECE))  # type: ignore[attr-defined]
            except _DECOMPRESS_ERRORS as exc:
                self.error = exc
                break
            if not piece:
                break
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)

    def readable(self) -> bool:
        return True


def _read_fully(stream: _Readable, n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads (pipes, decompressors)."""
    data = stream.read(n)
    if len(data) >= n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class _ResyncBuffer:
    """The read buffer during a resynchronisation: grows on demand, drops scanned bytes."""

    def __init__(self, stream: _Readable, buf: bytes, origin: int) -> None:
        self.stream = stream
        self.buf = buf
        self.origin = origin  # index of the corrupt header (negative once dropped)
        self.eof = False

    def ensure(self, upto: int) -> bool:
        """Make ``buf[:upto]`` available if the stream has it."""
        while len(self.buf) < upto and not self.eof:
            more = _read_fully(self.stream, max(CHUNK, upto - len(self.buf)))
            if not more:
                self.eof = True
                break
            self.buf += more
        return len(self.buf) >= upto

    def at_end(self, p: int) -> bool:
        """True when ``p`` is exactly the end of the capture."""
        return p == len(self.buf) and not self.ensure(p + 1)

    def compact(self, keep_from: int) -> int:
        """Forget scanned bytes before ``keep_from`` once they are a large share; returns
        how far positions moved."""
        if keep_from <= CHUNK:
            return 0
        self.buf = self.buf[keep_from:]
        self.origin -= keep_from
        return keep_from

    def result(self, c: int) -> tuple[bytes, int, int]:
        """(buf, position, bytes skipped since the corrupt header)."""
        return self.buf, c, c - self.origin


class _Windows:
    """A regular capture file read through read-only windows mapped from it.

    :meth:`at` maps a window holding the file from a given offset (its start rounded down
    to a page): as many bytes as asked for, at least :data:`MAP_WINDOW`, or up to the end of
    the file as it is now (a file still being written is read up to where it has got).  The
    reader's loops then work on the window as they do on a read buffer (slices copy out of
    it; the compiled cutter reads it through a pointer), and it is unmapped when the last
    of them lets go of it.  A resynchronisation after damage reads on from the stream:
    :meth:`detach` copies the rest of the current window (at most :data:`CHUNK` bytes) and
    positions the file after it; the loop goes on in those bytes (and what the
    resynchronisation read after them, the file positioned after it, as when reading)
    until they run out, and maps the next window only then.  Each window is put under the
    SIGBUS guard (``_records.guard_window``): when the file shrinks under a mapping, the
    pages it lost read as zeros, and :meth:`check` (at each window and at the end) then
    raises."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self._raw = raw
        self._fd = raw.fileno()
        self._name = name
        self._faults = _records.guard_faults()
        self.start = 0  # file offset of the current window
        self.window: Any = b""

    def check(self) -> None:
        """Raise when a guarded page was found missing (the file shrank under us)."""
        if _records.guard_faults() != self._faults:
            raise CaptureOpenError(
                f"{self._name}: the capture file shrank while it was being read (truncated "
                "by another program?); stopped")

    def at(self, offset: int, need: int) -> tuple[Any, int, int]:
        """(window, position of ``offset`` in it, file offset of its first byte), holding
        ``need`` bytes from ``offset`` unless the file ends first; empty past the end."""
        self.check()
        size = os.fstat(self._fd).st_size
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        if offset >= size:
            self.start = offset
            self.window = b""
            return b"", 0, offset
        length = min(size - start, max(MAP_WINDOW, offset - start + need))
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        window = mmap.mmap(self._fd, length, flags=flags, prot=mmap.PROT_READ, offset=start)
        _records.guard_window(window)
        self.start = start
        self.window = window
        return window, offset - start, start

    def detach(self, buf: Any, pos: int, offset_base: int,
               need: int = 0) -> tuple[bytes, int, int]:
        """(bytes, 0, file offset) of ``buf[pos:]`` (at most :data:`CHUNK` bytes of it, or
        ``need``), the file positioned right after them: a resynchronisation reads on from
        the stream."""
        rest = bytes(buf[pos : pos + max(CHUNK, need)])
        self._raw.seek(offset_base + pos + len(rest))
        return rest, 0, offset_base + pos


class CaptureReader:
    """Iterates over the frames of one capture; see the module docstring.

    Attributes: ``name`` (as given by the user), ``format`` (``pcap`` / ``pcapng``),
    ``compression`` (None or the codec), ``warnings`` (damage found while reading; at most
    :data:`MAX_WARNINGS_PER_KIND` of a kind, then one line with the count of the rest),
    ``frames`` (records delivered so far), ``size`` (file size in bytes, None for stdin).
    Use :meth:`progress` for bytes consumed.
    """

    def __init__(self, raw: BinaryIO, name: str, size: int | None) -> None:
        self.name = name
        self.size = size
        self.warnings: list[str] = []
        self._delivered = 0  # frames delivered by our own loops (see frames)
        # compiled: the record cutter (see __iter__)
        self._cut: _records.PcapCutter | _records.PcapngCutter | None = None
        self.compression: str | None = None
        self._raw = raw
        self._guard: _Guarded | None = None
        self._kinds: dict[str, int] = {}  # warning kind -> occurrences (kinds are ours: bounded)
        self._short = 0  # frames too short for their link header
        self._tries = MAX_RESYNC_TRIES  # resynchronisation candidates left to judge
        head = _read_fully(raw, 6)
        if not head:
            raise CaptureFormatError(f"{name}: empty file, not a capture")
        stream: _Readable = _Prefixed(head, raw)
        for magic, codec in _COMPRESSION:
            if head.startswith(magic):
                self.compression = codec
                src: Any = stream  # the stdlib stubs want real file objects; ours duck-type
                if codec == "gzip":
                    stream = gzip.GzipFile(fileobj=src, mode="rb")
                elif codec == "bzip2":
                    stream = bz2.BZ2File(src, mode="rb")  # noqa: SIM115 - closed with raw
                else:
                    stream = lzma.LZMAFile(src, mode="rb")  # noqa: SIM115 - closed with raw
                guarded = _Guarded(stream)
                head = _read_fully(guarded, 4)
                if guarded.error is not None and len(head) < 4:
                    raise CaptureFormatError(f"{name}: corrupt {codec} data ({guarded.error})")
                self._guard = guarded
                stream = _Prefixed(head, guarded)
                break
        self._stream = stream
        self._windows: _Windows | None = None
        if _MAP_FILES and self.compression is None and size is not None:
            try:
                regular = os.path.isfile(name) and os.fstat(raw.fileno()).st_size == size
            except (OSError, ValueError, AttributeError):
                regular = False
            if regular and _records.guard_install():
                self._windows = _Windows(raw, name)
                raw.seek(0)  # seekable: the stream is the file itself (see _Windows.detach)
                self._stream = raw
        magic4 = head[:4]
        if magic4 in PCAP_MAGICS:
            self.format = "pcap"
        elif magic4 == PCAPNG_SHB:
            self.format = "pcapng"
        else:
            what = f"{self.compression}-compressed data" if self.compression else "data"
            raise CaptureFormatError(
                f"{name}: not a pcap or pcapng capture ({what} starts with 0x{head[:4].hex()})"
            )

    @property
    def frames(self) -> int:
        """Records delivered so far."""
        return self._delivered if self._cut is None else int(self._cut.frame)

    def close(self) -> None:
        """Close the underlying file (not stdin)."""
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def progress(self) -> int:
        """Bytes of the underlying file consumed so far (compressed bytes if compressed)."""
        windows = self._windows
        if windows is not None:
            cut = self._cut
            if cut is not None and cut.buf is windows.window:
                return windows.start + int(cut.pos)
            return windows.start + len(windows.window)
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def _warn(self, kind: str, text: str) -> None:
        """Keep a warning unless :data:`MAX_WARNINGS_PER_KIND` of its kind were kept already
        (a capture can hold a million bad blocks; stderr gets five and a count)."""
        n = self._kinds.get(kind, 0) + 1
        self._kinds[kind] = n
        if n <= MAX_WARNINGS_PER_KIND:
            self.warnings.append(f"{self.name}: {text}")

    def _fold_warnings(self) -> None:
        for kind, n in self._kinds.items():
            if n > MAX_WARNINGS_PER_KIND:
                self.warnings.append(
                    f"{self.name}: … and {n - MAX_WARNINGS_PER_KIND} more warnings of this kind "
                    f"({kind})"
                )
        self._kinds.clear()

    def _short_frames(self, frame: int, at: int, linktype: int, run: int) -> bool:
        """Account for a frame too short for its link header; True when the run of them
        is long enough to stop reading (zeros, or not a capture any more: a decompression
        bomb of zeros would otherwise be read as millions of empty frames)."""
        self._short += 1
        if run < MAX_SHORT_RUN:
            return False
        first = frame - run + 1
        self.warnings.append(
            f"{self.name}: frames {first} to {frame} (up to byte {at}) are all shorter than "
            f"the {_link_name(linktype)} header: the rest is not a capture (zeros?); stopped "
            "reading"
        )
        self._short = -1  # reported
        return True

    def _resync_failure(self, what: str = "record") -> str:
        if self._tries < 0:
            return (f"too much damage ({MAX_RESYNC_TRIES} candidate {what}s judged in this "
                    "capture)")
        return f"no plausible {what} within {RESYNC_LIMIT >> 20} MiB"

    def __iter__(self) -> Iterator[Frame]:
        frames = self._read()
        if _CUT_RECORDS:
            # the cutter is the iterator: a well-formed record costs one C call, and the
            # rest (damage, the ends of chunks and of the capture) comes from our loop
            self._cut = (_records.PcapCutter(frames) if self.format == "pcap"
                         else _records.PcapngCutter(frames))
            return self._cut
        return frames

    def _read(self) -> Iterator[Frame]:
        try:
            if self.format == "pcap":
                yield from self._pcap()
            else:
                yield from self._pcapng()
            if self._windows is not None:
                self._windows.check()
        except _DECOMPRESS_ERRORS as exc:
            self.warnings.append(
                f"{self.name}: {self.compression or 'read'} error after frame {self.frames} "
                f"({exc}); stopped reading"
            )
        if self._short > 0:
            self.warnings.append(
                f"{self.name}: {self._short} frame shorter than its link-layer header "
                "(damage)" if self._short == 1 else
                f"{self.name}: {self._short} frames shorter than their link-layer header "
                "(damage)"
            )
        self._fold_warnings()
        if self._guard is not None and self._guard.error is not None:
            # One warning: the decompressor's reason, plus where the capture itself broke off
            detail = "; ".join(w.removeprefix(f"{self.name}: ") for w in self.warnings)
            self.warnings[:] = [
                f"{self.name}: {self.compression} data is damaged or cut short "
                f"({self._guard.error}) after frame {self.frames}"
                + (f": {detail}" if detail else "; stopped reading")
            ]

    # -- pcap ---------------------------------------------------------------------------
    def _pcap(self) -> Iterator[Frame]:
        hdr = _read_fully(self._stream, 24)
        if len(hdr) < 24:
            raise CaptureFormatError(f"{self.name}: pcap file header cut short")
        order, scale, rec_size = PCAP_MAGICS[hdr[:4]]
        snaplen, linktype = struct.unpack_from(order + "II", hdr, 16)
        linktype &= 0xFFFF  # the upper bits carry FCS information (pcap-savefile(5))
        rec = struct.Struct(order + "IIII")
        limit = max(MAX_RECORD, min(snaplen, MAX_BLOCK))
        min_len = _MIN_FRAME.get(linktype, _MIN_FRAME_DEFAULT)
        # compiled: the cutter delivers the well-formed records between ours
        cut = self._cut if isinstance(self._cut, _records.PcapCutter) else None
        if cut is not None:
            cut.setup(order == ">", rec_size, limit, min_len, scale, linktype)
        handed = 0  # the frame count the cutter was last given
        stream = self._stream
        buf: Any = b""  # bytes read, or a window mapped from the file (_Windows)
        pos = 0
        offset_base = 24  # file offset of buf[0]
        frame = 0
        last_sec: int | None = None
        damaged = 0  # corrupt record headers met so far
        skipped_total = 0
        short_run = 0
        windows = self._windows  # mapped windows of the file instead of read buffers
        while True:
            if cut is not None and cut.frame != handed:  # it cut records since our last one
                frame, pos, last_sec, short_run = cut.frame, cut.pos, cut.last_sec, 0
                handed = frame
            if len(buf) - pos < rec_size:
                if windows is not None:
                    buf, pos, offset_base = windows.at(offset_base + pos, CHUNK)
                else:
                    offset_base += pos
                    # a header cut by the chunk's end: read only the rest of it here (and of
                    # its record below), so that the next chunk is read whole, never copied
                    rest = buf[pos:]
                    buf = (rest + _read_fully(stream, rec_size - len(rest)) if rest
                           else _read_fully(stream, CHUNK))
                    pos = 0
                if len(buf) - pos < rec_size:
                    if len(buf) > pos:
                        self.warnings.append(
                            f"{self.name}: capture cut off inside a record header at byte "
                            f"{offset_base + pos} after frame {frame}; stopped reading"
                        )
                    break
            sec, frac, incl, orig = rec.unpack_from(buf, pos)
            if incl > limit:
                if windows is not None and type(buf) is not bytes:  # it reads the stream
                    buf, pos, offset_base = windows.detach(buf, pos, offset_base)
                bad_at = offset_base + pos
                damaged += 1
                found = self._pcap_resync(buf, pos, rec, rec_size, limit, last_sec, order,
                                          1_000_000 if scale > 1e-7 else 1_000_000_000)
                if found is None:
                    self.warnings.append(
                        f"{self.name}: corrupt record header at byte {bad_at} after frame "
                        f"{frame} (claims a {incl}-byte packet); {self._resync_failure()}, "
                        "stopped reading"
                    )
                    break
                buf, pos, skipped = found
                offset_base = bad_at + skipped - pos
                skipped_total += skipped
                if damaged <= MAX_WARNINGS_PER_KIND:
                    self.warnings.append(
                        f"{self.name}: corrupt record header at byte {bad_at} after frame "
                        f"{frame} (claims a {incl}-byte packet); skipped {skipped} bytes to "
                        "the next plausible record"
                    )
                continue
            end = pos + rec_size + incl
            if end > len(buf):
                if windows is not None:
                    buf, pos, offset_base = windows.at(offset_base + pos, rec_size + incl)
                else:
                    offset_base += pos
                    buf = buf[pos:] + _read_fully(stream, end - len(buf))  # the rest of it
                    pos = 0
                end = pos + rec_size + incl
                if end > len(buf):
                    self.warnings.append(
                        f"{self.name}: capture cut off inside frame {frame + 1} at byte "
                        f"{offset_base + pos} ({len(buf) - pos - rec_size} of {incl} bytes "
                        "present); stopped reading"
                    )
                    break
            frame += 1
            if incl < min_len:
                short_run += 1
                if self._short_frames(frame, offset_base + end, linktype, short_run):
                    break
            else:
                short_run = 0
            self._delivered = frame
            last_sec = sec
            if cut is not None:
                cut.resume(buf, end, frame, sec)
                handed = frame
            yield frame, sec + frac * scale, linktype, buf[pos + rec_size : end]
            pos = end
        if damaged > MAX_WARNINGS_PER_KIND:
            self.warnings.append(
                f"{self.name}: {damaged} corrupt record headers in all ({skipped_total} bytes "
                f"skipped); only the first {MAX_WARNINGS_PER_KIND} are listed"
            )

    def _pcap_resync(
        self, buf: bytes, pos: int, rec: struct.Struct, rec_size: int, limit: int,
        last_sec: int | None, order: str, frac_limit: int,
    ) -> tuple[bytes, int, int] | None:
        """Find the next plausible record after a corrupt header at ``buf[pos]``.

        A candidate is accepted when its header is sane (timestamp within a day of the last
        good record, fraction below one second, lengths within the snaplen) and the header
        after it is sane too, or is itself damaged in the same way, or the capture ends
        exactly there.  The position right after the corrupt header is tried first; then a
        regular expression finds headers of the right shape (the upper half of the seconds
        near the last good record's, fraction below one second, length below 16 MiB) in
        windows that double in size, so the scan runs at C speed, every byte is scanned at
        most a few times, and runs of zeros cost nothing.  When the very first record is
        corrupt there is no good timestamp to go by: then any seconds match and each
        candidate is judged against its own timestamp (the records after it must lie
        within a day of it).
        At most :data:`RESYNC_LIMIT` bytes are scanned and the buffer only grows by what the
        scan needs, so damage costs linear time and bounded memory.
        Returns ``(buf, pos, skipped)`` on the recovered record, or None.
        """
        state = _ResyncBuffer(self._stream, buf, pos)

        def header(p: int) -> tuple[int, int, int, int] | None:
            if not state.ensure(p + rec_size):
                return None
            return rec.unpack_from(state.buf, p)

        def sane(h: tuple[int, int, int, int], ref: int) -> bool:
            sec, frac, incl, orig = h
            return (abs(sec - ref) <= 86400 and frac < frac_limit and 14 <= incl <= limit
                    and incl <= orig)

        def located(h: tuple[int, int, int, int], ref: int) -> bool:
            return abs(h[0] - ref) <= 86400 and h[1] < frac_limit

        def accept(c: int) -> bool:
            self._tries -= 1
            h = header(c)
            if h is None:
                return False
            ref = h[0] if last_sec is None else last_sec
            if not sane(h, ref):
                return False
            nxt = c + rec_size + h[2]
            if not state.ensure(nxt):
                return False  # claims more bytes than the capture holds
            if state.at_end(nxt):
                return True  # the last record of the capture
            h2 = header(nxt)
            if h2 is None:
                return False  # a partial header after it: not a record boundary
            if sane(h2, ref):
                after = nxt + rec_size + h2[2]
                if not state.ensure(after):
                    return state.eof  # the next record runs to the cut-off end of the file
                if state.at_end(after):
                    return True
                h3 = header(after)
                return h3 is None or located(h3, ref)
            return located(h2, ref) and h2[2] > limit  # damaged again right after

        if accept(state.origin + rec_size):
            return state.result(state.origin + rec_size)
        uppers: tuple[bytes, ...] = ()
        if last_sec is not None:
            halves = {(last_sec >> 16) & 0xFFFF, ((last_sec - 86400) >> 16) & 0xFFFF,
                      ((last_sec + 86400) >> 16) & 0xFFFF}
            uppers = tuple(struct.pack(order + "H", v) for v in sorted(halves))
        shape = _record_shape(order, frac_limit > 1_000_000, uppers)

        def candidates(q: int, stop: int) -> list[int]:
            buf_now = state.buf
            return [m.start() for m in shape.finditer(buf_now, q, min(len(buf_now), stop + 15))
                    if m.start() < stop]

        q = state.origin + 1
        window = 256
        while q - state.origin <= RESYNC_LIMIT:
            state.ensure(q + window + rec_size)
            stop = min(len(state.buf), q + window)
            if stop <= q:
                return None
            for c in candidates(q, stop):
                if accept(c):
                    return state.result(c)
                if self._tries < 0:
                    return None
            q = stop
            window = min(window * 2, 1 << 16)
            q -= state.compact(q)
        return None

    # -- pcapng -------------------------------------------------------------------------
    def _pcapng(self) -> Iterator[Frame]:
        stream = self._stream
        windows = self._windows  # mapped windows of the file instead of read buffers
        buf: Any = b""  # bytes read, or a window mapped from the file (_Windows)
        pos = 0
        offset_base = 0
        order = "<"
        u32 = struct.Struct("<I")
        # (linktype, seconds per unit, offset, snaplen, shortest plausible frame)
        ifaces: list[tuple[int, float, float, int, int]] = []
        frame = 0
        last_ts = 0.0
        seen_shb = False  # a section header with a valid byte-order magic was read
        started = False  # a whole block was read: a cut or bad start is no longer fatal
        damaged = 0  # corrupt blocks met so far
        skipped_total = 0
        short_run = 0
        # compiled: the cutter delivers the well-formed packet blocks between ours
        cut = self._cut if isinstance(self._cut, _records.PcapngCutter) else None
        handed = 0  # the frame count the cutter was last given (skipped blocks count too)
        while True:
            if cut is not None and cut.frame != handed:  # it cut blocks since our last one
                frame, pos, last_ts, short_run = cut.frame, cut.pos, cut.last_ts, 0
                handed = frame
            if len(buf) - pos < 12:
                if windows is not None:
                    buf, pos, offset_base = windows.at(offset_base + pos, CHUNK)
                else:
                    offset_base += pos
                    buf = buf[pos:] + _read_fully(stream, CHUNK)
                    pos = 0
                if len(buf) - pos < 12:
                    if len(buf) > pos and not started:
                        raise CaptureFormatError(
                            f"{self.name}: pcapng section header cut short "
                            f"({len(buf) - pos} bytes)")
                    if len(buf) > pos:
                        self.warnings.append(
                            f"{self.name}: capture cut off inside a block header at byte "
                            f"{offset_base + pos} after frame {frame}; stopped reading"
                        )
                    break
            why = ""  # what is wrong with the block at pos, if anything
            blen = 0
            is_shb = buf[pos : pos + 4] == PCAPNG_SHB
            if is_shb:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                elif not seen_shb:
                    raise CaptureFormatError(f"{self.name}: bad pcapng byte-order magic")
                else:
                    why = "bad byte-order magic in a section header"
                if not why:
                    u32 = struct.Struct(order + "I")
                    ifaces = []
                    seen_shb = True
            elif not seen_shb:
                raise CaptureFormatError(f"{self.name}: pcapng does not start with a section")
            if not why:
                blen = u32.unpack_from(buf, pos + 4)[0]
                if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                    why = f"block length {blen}"
            end = pos + blen
            if not why and end > len(buf):
                if windows is not None:
                    buf, pos, offset_base = windows.at(offset_base + pos, max(CHUNK, blen))
                else:
                    offset_base += pos
                    buf = buf[pos:] + _read_fully(stream, max(CHUNK, blen))
                    pos = 0
                end = pos + blen
                if end > len(buf):
                    if not started and len(buf) - pos < 28:  # not even a whole section header
                        raise CaptureFormatError(
                            f"{self.name}: pcapng section header cut short "
                            f"({len(buf) - pos} of {blen} bytes)")
                    why = "cut"
            if not why and u32.unpack_from(buf, end - 4)[0] != blen:
                why = "trailing length does not match"
            if why:
                if windows is not None and type(buf) is not bytes:  # it reads the stream
                    buf, pos, offset_base = windows.detach(buf, pos, offset_base, blen)
                    end = pos + blen
                bad_at = offset_base + pos
                damaged += 1
                found = self._pcapng_resync(buf, pos, order, len(ifaces))
                if found is None:
                    if not started:  # nothing readable at all: as bad as a cut file header
                        raise CaptureFormatError(
                            f"{self.name}: pcapng section header cut short ({len(buf)} of "
                            f"{blen} bytes)" if why == "cut" else
                            f"{self.name}: corrupt pcapng section header ({why}) and no "
                            "plausible block after it")
                    if why == "cut":
                        self.warnings.append(
                            f"{self.name}: capture cut off inside a block at byte {bad_at} "
                            f"after frame {frame}; stopped reading")
                    else:
                        self.warnings.append(
                            f"{self.name}: corrupt block at byte {bad_at} after frame {frame} "
                            f"({why}); {self._resync_failure('block')}, stopped reading")
                    break
                buf, pos, skipped = found
                offset_base = bad_at + skipped - pos
                skipped_total += skipped
                if why == "cut":
                    why = f"block length {blen} runs past the end of the capture"
                if damaged <= MAX_WARNINGS_PER_KIND:
                    self.warnings.append(
                        f"{self.name}: corrupt block at byte {bad_at} after frame {frame} "
                        f"({why}); skipped {skipped} bytes to the next plausible block"
                    )
                continue
            started = True
            btype = u32.unpack_from(buf, pos)[0]
            body = pos + 8
            if (btype == 6 or btype == 2) and blen < 32:
                frame += 1
                self._warn("packet blocks shorter than their header",
                           f"frame {frame} at byte {offset_base + pos} skipped (packet "
                           f"block of {blen} bytes is shorter than its header)")
            elif btype == 6 or btype == 2:  # Enhanced Packet Block / obsolete Packet Block
                if btype == 6:
                    iface, hi, lo, caplen = struct.unpack_from(order + "IIII", buf, body)
                    data_off = body + 20
                else:
                    iface, _drops, hi, lo, caplen = struct.unpack_from(order + "HHIII", buf, body)
                    data_off = body + 20
                frame += 1
                if data_off + caplen > end - 4 or iface >= len(ifaces):
                    why = "bad interface id" if iface >= len(ifaces) else "bad captured length"
                    self._warn(f"frames skipped for a {why}",
                               f"frame {frame} at byte {offset_base + pos} skipped ({why})")
                    pos = end
                    continue
                linktype, unit, tsoff, _snap, min_len = ifaces[iface]
                if caplen < min_len:
                    short_run += 1
                    if self._short_frames(frame, offset_base + end, linktype, short_run):
                        break
                else:
                    short_run = 0
                last_ts = ((hi << 32) | lo) * unit + tsoff
                self._delivered = frame
                if cut is not None:
                    cut.resume(buf, end, frame, last_ts, ifaces, order == ">")
                    handed = frame
                yield frame, last_ts, linktype, buf[data_off : data_off + caplen]
            elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
                frame += 1
                if not ifaces:
                    self._warn("simple packets before any interface",
                               f"frame {frame} skipped (simple packet before any interface)")
                    pos = end
                    continue
                if blen < 16:
                    self._warn("simple packet blocks too short",
                               f"frame {frame} skipped (block too short)")
                    pos = end
                    continue
                origlen = u32.unpack_from(buf, body)[0]
                caplen = min(origlen, blen - 16)
                linktype, _unit, _tsoff, snap, min_len = ifaces[0]
                if snap:  # no captured length in an SPB: the snaplen cuts it
                    caplen = min(caplen, snap)
                if caplen < min_len:
                    short_run += 1
                    if self._short_frames(frame, offset_base + end, linktype, short_run):
                        break
                else:
                    short_run = 0
                self._delivered = frame
                if cut is not None:
                    cut.resume(buf, end, frame, last_ts, ifaces, order == ">")
                    handed = frame
                yield frame, last_ts, linktype, buf[body + 4 : body + 4 + caplen]
            elif btype == 1:  # Interface Description Block
                if len(ifaces) < MAX_INTERFACES:
                    ifaces.append(self._idb(buf, body, end - 4, order))
                else:
                    self._warn("interfaces beyond the limit",
                               f"interface block at byte {offset_base + pos} ignored: more "
                               f"than {MAX_INTERFACES} interfaces in one section (packets "
                               "naming it are skipped)")
            pos = end
        if damaged > MAX_WARNINGS_PER_KIND:
            self.warnings.append(
                f"{self.name}: {damaged} corrupt blocks in all ({skipped_total} bytes "
                f"skipped); only the first {MAX_WARNINGS_PER_KIND} are listed"
            )

    def _pcapng_resync(
        self, buf: bytes, pos: int, order: str, nifaces: int,
    ) -> tuple[bytes, int, int] | None:
        """Find the next plausible block after a damaged one at ``buf[pos]``.

        A candidate has a known block type, a sane length (at least 12, a multiple of 4,
        at most :data:`MAX_BLOCK`) that its trailing length repeats, and (for an EPB) an
        interface that exists and a captured length that fits.  The block after it must be
        plausible too, or run to the cut-off end of the file, or start with a known type
        (damaged again right after), or the capture ends exactly after the candidate.
        Candidates are found in windows that double in size, at most :data:`RESYNC_LIMIT`
        bytes past the damage, as in :meth:`_pcap_resync`, by one regular expression that
        checks the type and the shape of the length at C speed.
        Returns ``(buf, pos, skipped)`` or None.
        """
        state = _ResyncBuffer(self._stream, buf, pos)
        starts = _block_start(order)

        def block_order(c: int) -> str | None:
            if state.buf[c : c + 4] != PCAPNG_SHB:
                return order
            if not state.ensure(c + 12):
                return None
            bom = state.buf[c + 8 : c + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                return "<"
            return ">" if bom == b"\x1a\x2b\x3c\x4d" else None

        def header(c: int) -> tuple[int, str] | None:
            """The block length at ``c`` when its type and length are plausible."""
            if not state.ensure(c + 12):
                return None
            o = block_order(c)
            if o is None:
                return None
            btype, blen = struct.unpack_from(o + "II", state.buf, c)
            if btype not in _ALL_TYPES:
                return None
            if blen < 12 or blen % 4 or blen > MAX_BLOCK or (btype == _SHB_TYPE and blen < 28):
                return None
            return blen, o

        def whole(c: int, blen: int, o: str, check_iface: bool) -> bool:
            if struct.unpack_from(o + "I", state.buf, c + blen - 4)[0] != blen:
                return False
            btype = struct.unpack_from(o + "I", state.buf, c)[0]
            if check_iface and btype == 6 and blen >= 32:
                iface, caplen = struct.unpack_from(o + "I8xI", state.buf, c + 8)
                return (iface < nifaces or not nifaces) and 28 + caplen <= blen - 4
            return True

        def accept(c: int) -> bool:
            self._tries -= 1
            hd = header(c)
            if hd is None or not state.ensure(c + hd[0]) or not whole(c, *hd, True):
                return False
            nxt = c + hd[0]
            if state.at_end(nxt):
                return True
            if not state.ensure(nxt + 12):
                return state.eof  # the file is cut off inside the next block header
            hd2 = header(nxt)
            if hd2 is None:  # damaged again right after, if it starts like a block
                o = block_order(nxt) or order
                return struct.unpack_from(o + "I", state.buf, nxt)[0] in _ALL_TYPES
            if not state.ensure(nxt + hd2[0]):
                return state.eof  # the next block runs to the cut-off end of the file
            return whole(nxt, *hd2, False)

        q = state.origin + 1
        window = 256
        while q - state.origin <= RESYNC_LIMIT:
            state.ensure(q + window + 12)
            stop = min(len(state.buf), q + window)
            if stop <= q:
                return None
            buf_now = state.buf
            for m in starts.finditer(buf_now, q, min(len(buf_now), stop + 8)):
                c = m.start()
                if c >= stop:
                    break
                if accept(c):
                    return state.result(c)
                if self._tries < 0:
                    return None
            q = stop
            window = min(window * 2, 1 << 16)
            q -= state.compact(q)
        return None

    def _idb(
        self, buf: bytes, body: int, end: int, order: str
    ) -> tuple[int, float, float, int, int]:
        """Parse an IDB: link type, snaplen and the ``if_tsresol`` / ``if_tsoffset`` options
        (plus the shortest frame its link type can carry)."""
        if end - body < 8:
            return 0xFFFF, 1e-6, 0.0, 0, _MIN_FRAME_DEFAULT
        linktype, _res, snaplen = struct.unpack_from(order + "HHI", buf, body)
        unit = 1e-6
        tsoff = 0.0
        o = body + 8
        opt = struct.Struct(order + "HH")
        while o + 4 <= end:
            code, olen = opt.unpack_from(buf, o)
            if code == 0:
                break
            val = o + 4
            if val + olen > end:
                break
            if code == 9 and olen >= 1:
                r = buf[val]
                unit = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -r
            elif code == 14 and olen >= 8:
                tsoff = float(struct.unpack_from(order + "q", buf, val)[0])
            o = val + ((olen + 3) & ~3)
        return linktype, unit, tsoff, snaplen, _MIN_FRAME.get(linktype, _MIN_FRAME_DEFAULT)


def open_capture(path: str) -> CaptureReader:
    """Open a capture file (or ``-`` for stdin) and check its header.

    Raises :class:`CaptureOpenError` when it cannot be read and :class:`CaptureFormatError`
    when it is not a capture; both carry a one-line message for the user.
    """
    if path == "-":
        return CaptureReader(sys.stdin.buffer, "<stdin>", None)
    try:
        if os.path.isdir(path):
            raise CaptureOpenError(f"{path}: is a directory, not a capture file")
        raw = open(path, "rb")  # noqa: SIM115 - the reader owns it; CaptureReader.close()
    except OSError as exc:
        raise CaptureOpenError(f"{path}: cannot open capture ({exc.strerror or exc})") from None
    try:
        size = os.fstat(raw.fileno()).st_size
        return CaptureReader(raw, path, size)
    except OSError as exc:
        raw.close()
        raise CaptureOpenError(f"{path}: cannot read capture ({exc.strerror or exc})") from None
    except BaseException:
        raw.close()
        raise


def iter_frames(path: str) -> Iterator[Frame]:
    """Convenience: every frame of one capture (warnings are discarded)."""
    reader = open_capture(path)
    yield from reader
