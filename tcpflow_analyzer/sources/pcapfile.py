"""Streaming pcap / pcapng reader: capture bytes in, ``(frame, ts, linktype, data)`` out.

* pcap: microsecond and nanosecond magics, both byte orders, the 24-byte-record variant.
* pcapng: SHB/IDB/EPB/SPB/OPB blocks, several sections (each with its own byte order) and
  several interfaces with their own link types, ``if_tsresol`` and ``if_tsoffset``.
* gzip, bzip2 and xz compression, recognised by magic bytes rather than file name.
* ``-`` reads standard input; nothing here ever seeks, so pipes work.

Reading is chunked and streaming: memory does not grow with the file.  Damage never raises
once the header was accepted: a record header that cannot be right (a 4 GB record, a bad
pcapng block length) or a file cut short ends up as a line in :attr:`CaptureReader.warnings`,
after every frame before the damage has been delivered.  A corrupt pcap record header is
followed by a bounded scan for the next plausible record so later connections survive.

dpkt is deliberately not used on this path: its pcapng reader applies the first interface's
link type to every packet, and its per-record objects are too slow for the hot loop.  The
tests use dpkt's writers and readers as an independent reference.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from ..errors import CaptureFormatError, CaptureOpenError

Frame = tuple[int, float, int, bytes]

CHUNK = 1 << 20
MAX_RECORD = 1 << 18  # 256 KiB: libpcap's MAXIMUM_SNAPLEN; larger claims are damage
MAX_BLOCK = 1 << 24  # 16 MiB: no sane pcapng block is larger
RESYNC_LIMIT = 1 << 24  # bytes to scan for a plausible record after a corrupt header
_MAX_DAMAGE_WARNINGS = 5  # listed one by one; the rest are summed up in one line

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, 16), b"\xa1\xb2\xc3\xd4": (">", 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, 16), b"\xa1\xb2\x3c\x4d": (">", 1e-9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e-6, 24), b"\xa1\xb2\xcd\x34": (">", 1e-6, 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_COMPRESSION = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)


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


class CaptureReader:
    """Iterates over the frames of one capture; see the module docstring.

    Attributes: ``name`` (as given by the user), ``format`` (``pcap`` / ``pcapng``),
    ``compression`` (None or the codec), ``warnings`` (damage found while reading),
    ``frames`` (records delivered so far), ``size`` (file size in bytes, None for stdin).
    Use :meth:`progress` for bytes consumed.
    """

    def __init__(self, raw: BinaryIO, name: str, size: int | None) -> None:
        self.name = name
        self.size = size
        self.warnings: list[str] = []
        self.frames = 0
        self.compression: str | None = None
        self._raw = raw
        self._guard: _Guarded | None = None
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

    def close(self) -> None:
        """Close the underlying file (not stdin)."""
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def progress(self) -> int:
        """Bytes of the underlying file consumed so far (compressed bytes if compressed)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[Frame]:
        try:
            if self.format == "pcap":
                yield from self._pcap()
            else:
                yield from self._pcapng()
        except _DECOMPRESS_ERRORS as exc:
            self.warnings.append(
                f"{self.name}: {self.compression or 'read'} error after frame {self.frames} "
                f"({exc}); stopped reading"
            )
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
        stream = self._stream
        buf = b""
        pos = 0
        offset_base = 24  # file offset of buf[0]
        frame = 0
        last_sec: int | None = None
        damaged = 0  # corrupt record headers met so far
        skipped_total = 0
        while True:
            if len(buf) - pos < rec_size:
                offset_base += pos
                buf = buf[pos:] + _read_fully(stream, CHUNK)
                pos = 0
                if len(buf) < rec_size:
                    if buf:
                        self.warnings.append(
                            f"{self.name}: capture cut off inside a record header at byte "
                            f"{offset_base} after frame {frame}; stopped reading"
                        )
                    break
            sec, frac, incl, orig = rec.unpack_from(buf, pos)
            if incl > limit:
                bad_at = offset_base + pos
                damaged += 1
                if last_sec is None:
                    self.warnings.append(
                        f"{self.name}: corrupt record header at byte {bad_at} after frame "
                        f"{frame} (claims a {incl}-byte packet); stopped reading"
                    )
                    break
                found = self._pcap_resync(buf, pos, rec, rec_size, limit, last_sec, order,
                                          1_000_000 if scale > 1e-7 else 1_000_000_000)
                if found is None:
                    self.warnings.append(
                        f"{self.name}: corrupt record header at byte {bad_at} after frame "
                        f"{frame} (claims a {incl}-byte packet); no plausible record within "
                        f"{RESYNC_LIMIT >> 20} MiB, stopped reading"
                    )
                    break
                buf, pos, skipped = found
                offset_base = bad_at + skipped - pos
                skipped_total += skipped
                if damaged <= _MAX_DAMAGE_WARNINGS:
                    self.warnings.append(
                        f"{self.name}: corrupt record header at byte {bad_at} after frame "
                        f"{frame} (claims a {incl}-byte packet); skipped {skipped} bytes to "
                        "the next plausible record"
                    )
                continue
            end = pos + rec_size + incl
            if end > len(buf):
                offset_base += pos
                buf = buf[pos:] + _read_fully(stream, max(CHUNK, incl + rec_size))
                pos = 0
                end = rec_size + incl
                if end > len(buf):
                    self.warnings.append(
                        f"{self.name}: capture cut off inside frame {frame + 1} at byte "
                        f"{offset_base} ({len(buf) - rec_size} of {incl} bytes present); "
                        "stopped reading"
                    )
                    break
            frame += 1
            self.frames = frame
            last_sec = sec
            yield frame, sec + frac * scale, linktype, buf[pos + rec_size : end]
            pos = end
        if damaged > _MAX_DAMAGE_WARNINGS:
            self.warnings.append(
                f"{self.name}: {damaged} corrupt record headers in all ({skipped_total} bytes "
                f"skipped); only the first {_MAX_DAMAGE_WARNINGS} are listed"
            )

    def _pcap_resync(
        self, buf: bytes, pos: int, rec: struct.Struct, rec_size: int, limit: int,
        last_sec: int, order: str, frac_limit: int,
    ) -> tuple[bytes, int, int] | None:
        """Find the next plausible record after a corrupt header at ``buf[pos]``.

        A candidate is accepted when its header is sane (timestamp within a day of the last
        good record, fraction below one second, lengths within the snaplen) and the header
        after it is sane too, or is itself damaged in the same way, or the capture ends
        exactly there.  The position right after the corrupt header is tried first; then the
        timestamp's upper half is searched with ``bytes.find`` in windows that double in
        size, so the scan runs at C speed and every byte is scanned at most a few times.
        At most :data:`RESYNC_LIMIT` bytes are scanned and the buffer only grows by what the
        scan needs, so damage costs linear time and bounded memory.
        Returns ``(buf, pos, skipped)`` on the recovered record, or None.
        """
        state = _ResyncBuffer(self._stream, buf, pos)

        def header(p: int) -> tuple[int, int, int, int] | None:
            if not state.ensure(p + rec_size):
                return None
            return rec.unpack_from(state.buf, p)

        def sane(h: tuple[int, int, int, int]) -> bool:
            sec, frac, incl, orig = h
            return (abs(sec - last_sec) <= 86400 and frac < frac_limit and 14 <= incl <= limit
                    and incl <= orig)

        def located(h: tuple[int, int, int, int]) -> bool:
            return abs(h[0] - last_sec) <= 86400 and h[1] < frac_limit

        def accept(c: int) -> bool:
            h = header(c)
            if h is None or not sane(h):
                return False
            nxt = c + rec_size + h[2]
            if not state.ensure(nxt):
                return False  # claims more bytes than the capture holds
            if state.at_end(nxt):
                return True  # the last record of the capture
            h2 = header(nxt)
            if h2 is None:
                return False  # a partial header after it: not a record boundary
            if sane(h2):
                after = nxt + rec_size + h2[2]
                if not state.ensure(after):
                    return state.eof  # the next record runs to the cut-off end of the file
                if state.at_end(after):
                    return True
                h3 = header(after)
                return h3 is None or located(h3)
            return located(h2) and h2[2] > limit  # damaged again right after

        upper = (last_sec >> 16) & 0xFFFF
        halves = {upper, ((last_sec - 86400) >> 16) & 0xFFFF, ((last_sec + 86400) >> 16) & 0xFFFF}
        patterns = [struct.pack(order + "H", v) for v in sorted(halves)]
        hi_off = 2 if order == "<" else 0  # where the upper half of ts_sec sits in a header
        if accept(state.origin + rec_size):
            return state.result(state.origin + rec_size)
        q = state.origin + 1
        window = 256
        while q - state.origin <= RESYNC_LIMIT:
            state.ensure(q + window + rec_size)
            stop = min(len(state.buf), q + window)
            if stop <= q:
                return None
            hits: list[int] = []
            for pt in patterns:
                h = state.buf.find(pt, q + hi_off, stop + hi_off)
                while h >= 0:
                    hits.append(h - hi_off)
                    h = state.buf.find(pt, h + 1, stop + hi_off)
            for c in sorted(hits):
                if accept(c):
                    return state.result(c)
            q = stop
            window = min(window * 2, 1 << 16)
            q -= state.compact(q)
        return None

    # -- pcapng -------------------------------------------------------------------------
    def _pcapng(self) -> Iterator[Frame]:
        stream = self._stream
        buf = b""
        pos = 0
        offset_base = 0
        order = "<"
        u32 = struct.Struct("<I")
        # (linktype, seconds per unit, offset, snaplen)
        ifaces: list[tuple[int, float, float, int]] = []
        frame = 0
        last_ts = 0.0
        seen_shb = False
        while True:
            if len(buf) - pos < 12:
                offset_base += pos
                buf = buf[pos:] + _read_fully(stream, CHUNK)
                pos = 0
                if len(buf) < 12:
                    if buf:
                        self.warnings.append(
                            f"{self.name}: capture cut off inside a block header at byte "
                            f"{offset_base} after frame {frame}; stopped reading"
                        )
                    break
            btype_raw = buf[pos : pos + 4]
            if btype_raw == PCAPNG_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    if not seen_shb:
                        raise CaptureFormatError(f"{self.name}: bad pcapng byte-order magic")
                    self.warnings.append(
                        f"{self.name}: bad section header at byte {offset_base + pos} after "
                        f"frame {frame}; stopped reading"
                    )
                    break
                u32 = struct.Struct(order + "I")
                ifaces = []
                seen_shb = True
            elif not seen_shb:
                raise CaptureFormatError(f"{self.name}: pcapng does not start with a section")
            btype = u32.unpack_from(buf, pos)[0]
            blen = u32.unpack_from(buf, pos + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self.warnings.append(
                    f"{self.name}: corrupt block header at byte {offset_base + pos} after frame "
                    f"{frame} (block length {blen}); stopped reading"
                )
                break
            end = pos + blen
            if end > len(buf):
                offset_base += pos
                buf = buf[pos:] + _read_fully(stream, max(CHUNK, blen))
                pos = 0
                end = blen
                if end > len(buf):
                    self.warnings.append(
                        f"{self.name}: capture cut off inside a block at byte {offset_base} "
                        f"after frame {frame}; stopped reading"
                    )
                    break
            if u32.unpack_from(buf, end - 4)[0] != blen:
                self.warnings.append(
                    f"{self.name}: corrupt block at byte {offset_base + pos} after frame {frame} "
                    "(trailing length does not match); stopped reading"
                )
                break
            body = pos + 8
            if (btype == 6 or btype == 2) and blen < 32:
                frame += 1
                self.warnings.append(
                    f"{self.name}: frame {frame} at byte {offset_base + pos} skipped (packet "
                    f"block of {blen} bytes is shorter than its header)"
                )
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
                    self.warnings.append(
                        f"{self.name}: frame {frame} at byte {offset_base + pos} skipped ({why})"
                    )
                    pos = end
                    continue
                linktype, unit, tsoff, _snap = ifaces[iface]
                last_ts = ((hi << 32) | lo) * unit + tsoff
                self.frames = frame
                yield frame, last_ts, linktype, buf[data_off : data_off + caplen]
            elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
                frame += 1
                if not ifaces:
                    self.warnings.append(
                        f"{self.name}: frame {frame} skipped (simple packet before any interface)"
                    )
                    pos = end
                    continue
                if blen < 16:
                    self.warnings.append(f"{self.name}: frame {frame} skipped (block too short)")
                    pos = end
                    continue
                origlen = u32.unpack_from(buf, body)[0]
                caplen = min(origlen, blen - 16)
                if ifaces[0][3]:  # no captured length in an SPB: the snaplen cuts it
                    caplen = min(caplen, ifaces[0][3])
                self.frames = frame
                yield frame, last_ts, ifaces[0][0], buf[body + 4 : body + 4 + caplen]
            elif btype == 1:  # Interface Description Block
                ifaces.append(self._idb(buf, body, end - 4, order))
            pos = end

    def _idb(
        self, buf: bytes, body: int, end: int, order: str
    ) -> tuple[int, float, float, int]:
        """Parse an IDB: link type, snaplen and the ``if_tsresol`` / ``if_tsoffset`` options."""
        if end - body < 8:
            return 0xFFFF, 1e-6, 0.0, 0
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
        return linktype, unit, tsoff, snaplen


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
