"""The capture reader's hot loop, typed: cut well-formed records out of the read buffer.

:class:`~tcpflow_analyzer.sources.pcapfile.CaptureReader` reads a capture in chunks and
cuts each record out of the chunk.  Compiled (STYLE §8), a :class:`PcapCutter` does that
for every *well-formed* pcap record: its header complete in the buffer, its captured
length within the limit and not shorter than the link header, its bytes complete in the
buffer; a :class:`PcapngCutter` for every well-formed Enhanced Packet Block (its length
sane and repeated at its end, its interface known, its data inside it and not shorter than
the link header).  The buffer is the reader's: bytes read, or (an uncompressed file)
a read-only window mapped from the file (``sources/pcapfile.py``, ``_Windows``), held
through a buffer view.  It reads the header through a C pointer and makes the frame's bytes with one
``PyBytes_FromStringAndSize``; the reader's iterator is the cutter itself, so a frame costs
one C call and no generator.  Everything else (a record across the end of the chunk, the
file header, damage and resynchronisation, frames too short for their link header, the
warnings, the end of the capture) the cutter leaves to the reader's own Python loop
(``slow``, a generator), which hands the buffer back with :meth:`PcapCutter.resume` before
each frame it delivers.  The frames are the same ``(frame, ts, linktype, bytes)`` tuples, with
the same values, as the Python loop's (``tests/test_engine_differential.py`` compares the
two readers on intact and damaged captures).

Interpreted, the reader does not use this module: its own loop is faster in plain Python
than this C-style code would be.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import starmap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, _records.pxd cimports them (C-level access)
    from .decode import Decoder

    decode_at: Any = None  # a C function of decode.pxd: only the compiled cutter calls it
    # the C functions of the window guard (_records.pxd): only called compiled
    tfa_guard_install: Any = None
    tfa_guard_window: Any = None
    tfa_guard_faults: Any = None
if TYPE_CHECKING:
    from .segment import Segment

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (the reader uses it only then)."""

Frame = tuple[int, float, int, bytes]


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.nogil
def _u32(p: cython.p_const_uchar, o: cython.Py_ssize_t, big: cython.bint) -> cython.uint:
    """The 32-bit word at ``p[o]`` in the file's byte order (each byte widened first)."""
    if big:
        return ((cython.cast(cython.uint, p[o]) << 24) | (cython.cast(cython.uint, p[o + 1]) << 16)
                | (cython.cast(cython.uint, p[o + 2]) << 8) | cython.cast(cython.uint, p[o + 3]))
    return ((cython.cast(cython.uint, p[o + 3]) << 24) | (cython.cast(cython.uint, p[o + 2]) << 16)
            | (cython.cast(cython.uint, p[o + 1]) << 8) | cython.cast(cython.uint, p[o]))


@cython.cclass
class _Cutter:
    """What both cutters share: an iterator that cuts the next frame itself when it can
    (:meth:`_cut`, each format's own) and asks ``slow`` (the reader's own generator)
    otherwise; ``buf``, ``pos`` and ``frame`` are the reader's to hand over (``resume``).

    It delivers ``(frame, ts, linktype, bytes)`` tuples, or, once :func:`segments` gave it a
    decoder (``dec``), what that decoder makes of each frame (a Segment or None): a frame
    it cuts is then decoded in place, from the read buffer, with no tuple, no bytes and no
    number object made for it.
    """

    def __init__(self, slow: Iterator[Frame]) -> None:
        self.slow = slow
        self._take(b"")
        self.pos = 0
        self.frame = 0
        self.dec = None
        self._ts = 0.0
        self._lt = 0
        self._at = 0
        self._len = 0

    @cython.cfunc
    @cython.exceptval(-1, check=False)
    def _cut(self) -> cython.int:
        """Cut the next frame if this format's fast path can: its time, link type, offset
        in ``buf`` and length into ``_ts``, ``_lt``, ``_at`` and ``_len``; False if not."""
        return False

    @cython.cfunc
    @cython.exceptval(check=True)
    def _take(self, buf: object) -> cython.void:
        """Cut from ``buf`` from now on: bytes, or a read-only window of the capture file
        (an ``mmap``), read through a pointer into its buffer."""
        self.buf = buf
        if cython.compiled:  # (interpreted, the reader does not use the cutters)
            self._view = buf
            self._n = len(self._view)
            if self._n:  # (an empty one is never read: _cut checks the length first)
                self._p = cython.address(self._view[0])

    def __iter__(self) -> _Cutter:
        return self

    def __next__(self) -> Any:
        if self._cut():
            if self.dec is None:
                cp: cython.p_const_char = cython.cast(cython.p_const_char, self._p)
                return (self.frame, self._ts, self._lt, cp[self._at : self._at + self._len])
            return decode_at(self.dec, self.frame, self._ts, self._lt, self._p + self._at,
                             self._len, None)
        if self.dec is None:
            return next(self.slow)
        frame, ts, linktype, data = next(self.slow)
        dec: Decoder = self.dec
        return dec.decode(frame, ts, linktype, data)


@cython.cclass
class PcapCutter(_Cutter):
    """Iterator over a pcap capture's frames: cuts well-formed records from ``buf`` at
    ``pos`` and asks ``slow`` (the reader's own generator) for everything else.

    Fields: ``buf`` (the read buffer), ``pos`` (where the next record header starts),
    ``frame`` (frames delivered so far), ``last_sec`` (seconds of the last record cut, -1
    before any), ``slow`` (the generator that reads the capture record by record).
    """

    def __init__(self, slow: Iterator[Frame]) -> None:
        _Cutter.__init__(self, slow)
        self.last_sec = -1
        self._big = False
        self._rec_size = 16
        self._limit = 0
        self._min_len = 0
        self._scale = 1e-6
        self._linktype = 0

    def setup(self, big: cython.bint, rec_size: cython.Py_ssize_t, limit: cython.Py_ssize_t,
              min_len: cython.Py_ssize_t, scale: cython.double, linktype: int) -> None:
        """The file header's parameters: byte order, record header size, the largest and
        smallest captured length a well-formed record has, the timestamp unit, link type."""
        self._big = big
        self._rec_size = rec_size
        self._limit = limit
        self._min_len = min_len
        self._scale = scale
        self._linktype = linktype

    def resume(self, buf: Any, pos: cython.Py_ssize_t, frame: cython.longlong,
               last_sec: cython.longlong) -> None:
        """Go on cutting from ``buf[pos]`` (the reader's loop is about to deliver ``frame``,
        whose seconds are ``last_sec``)."""
        if buf is not self.buf:
            self._take(buf)
        self.pos = pos
        self.frame = frame
        self.last_sec = last_sec

    @cython.cfunc
    @cython.exceptval(-1, check=False)
    def _cut(self) -> cython.int:
        """Cut the record at ``pos`` if it is well formed and whole."""
        n: cython.Py_ssize_t = self._n
        pos: cython.Py_ssize_t = self.pos
        rec_size: cython.Py_ssize_t = self._rec_size
        if n - pos < rec_size:
            return False
        p: cython.p_const_uchar = self._p
        incl: cython.Py_ssize_t = _u32(p, pos + 8, self._big)
        if incl > self._limit or incl < self._min_len:
            return False
        end: cython.Py_ssize_t = pos + rec_size + incl
        if end > n:
            return False
        sec: cython.uint = _u32(p, pos, self._big)
        frac: cython.uint = _u32(p, pos + 4, self._big)
        self.frame += 1
        self.last_sec = sec
        self.pos = end
        # the Python loop computes sec + frac * scale on ints and a float: the same doubles
        self._ts = cython.cast(cython.double, sec) + (
            cython.cast(cython.double, frac) * self._scale)
        self._lt = self._linktype
        self._at = pos + rec_size
        self._len = incl
        return True


_MAX_BLOCK = cython.declare(cython.Py_ssize_t, 1 << 24)  # pcapfile.MAX_BLOCK
_EPB = cython.declare(cython.uint, 6)


@cython.cclass
class PcapngCutter(_Cutter):
    """Iterator over a pcapng capture's frames: cuts well-formed Enhanced Packet Blocks from
    ``buf`` at ``pos`` and asks ``slow`` (the reader's own generator) for every other block.

    Fields: ``buf``, ``pos`` and ``frame`` as :class:`PcapCutter`'s; ``last_ts`` (the
    timestamp of the last packet, which a Simple Packet Block after it takes over).
    """

    def __init__(self, slow: Iterator[Frame]) -> None:
        _Cutter.__init__(self, slow)
        self.last_ts = 0.0
        ifaces: list[tuple[int, float, float, int, int]] = []
        self._ifaces = ifaces
        self._big = False

    def resume(self, buf: Any, pos: cython.Py_ssize_t, frame: cython.longlong,
               last_ts: cython.double, ifaces: list, big: cython.bint) -> None:
        """Go on cutting from ``buf[pos]`` in a section of byte order ``big`` whose
        interfaces are ``ifaces`` (``(linktype, unit, offset, snaplen, min_len)`` tuples;
        the reader's loop is about to deliver ``frame``, stamped ``last_ts``)."""
        if buf is not self.buf:
            self._take(buf)
        self.pos = pos
        self.frame = frame
        self.last_ts = last_ts
        self._ifaces = ifaces
        self._big = big

    @cython.cfunc
    @cython.exceptval(-1, check=False)
    def _cut(self) -> cython.int:
        """Cut the block at ``pos`` if it is a well-formed EPB."""
        n: cython.Py_ssize_t = self._n
        pos: cython.Py_ssize_t = self.pos
        if n - pos < 12:
            return False
        p: cython.p_const_uchar = self._p
        big: cython.bint = self._big
        if _u32(p, pos, big) != _EPB:
            return False
        blen: cython.Py_ssize_t = _u32(p, pos + 4, big)
        if blen < 32 or blen % 4 or blen > _MAX_BLOCK:
            return False
        end: cython.Py_ssize_t = pos + blen
        if end > n or _u32(p, end - 4, big) != blen:
            return False
        iface: cython.Py_ssize_t = _u32(p, pos + 8, big)
        caplen: cython.Py_ssize_t = _u32(p, pos + 20, big)
        data_off: cython.Py_ssize_t = pos + 28
        ifaces: list = self._ifaces
        if data_off + caplen > end - 4 or iface >= len(ifaces):
            return False
        desc: tuple = ifaces[iface]
        min_len: cython.Py_ssize_t = desc[4]
        if caplen < min_len:
            return False
        units: cython.ulonglong = (cython.cast(cython.ulonglong, _u32(p, pos + 12, big)) << 32) \
            | _u32(p, pos + 16, big)
        unit: cython.double = desc[1]
        tsoff: cython.double = desc[2]
        # the Python loop computes units * unit + tsoff on an int and floats: the same doubles
        ts: cython.double = cython.cast(cython.double, units) * unit + tsoff
        self.frame += 1
        self.last_ts = ts
        self.pos = end
        self._ts = ts
        self._lt = desc[0]
        self._at = data_off
        self._len = caplen
        return True


# -- the guard of mapped windows ---------------------------------------------------------
# Compiled, the reader maps a capture file in read-only windows (sources/pcapfile.py,
# _Windows) instead of copying it into read buffers.  Another program that truncates the
# file under a mapping would make the next access to a page past the new end raise SIGBUS,
# which kills the process; the guard (C code in _records.pxd) instead maps zeros over such a
# page of a window registered here and counts it, and the reader, which compares the count
# at each new window and at the end, stops with a one-line error.


def guard_install() -> bool:
    """Install the SIGBUS guard (once; compiled only): whether windows may be mapped."""
    if not cython.compiled:
        return False
    return bool(tfa_guard_install())


@cython.cclass
class _Pin:
    """A view of a window's buffer, for its address (compiled: a C field; guard_window)."""


def guard_window(window: Any) -> None:
    """Put ``window`` (a non-empty read-only mmap) under the guard (the last few windows
    registered are guarded: the reader holds two at most)."""
    if cython.compiled:
        pin: _Pin = _Pin.__new__(_Pin)
        pin.view = window
        tfa_guard_window(cython.address(pin.view[0]), len(pin.view))


def guard_faults() -> int:
    """Pages of guarded windows the file no longer had when read (0 unless it shrank)."""
    if not cython.compiled:
        return 0
    return int(tfa_guard_faults())


def segments(frames: Iterable[Frame], decoder: Decoder) -> Iterator[Segment | None]:
    """What ``decoder`` makes of each of ``frames`` (a Segment, or None for a frame it
    skips), in order.  Compiled, a capture reader's frames are decoded by its record cutter
    in place (see :class:`_Cutter`); any other frames, every frame interpreted, and those
    of a subclass of the Decoder (which may override ``decode``) go through
    ``decoder.decode`` one by one.  Frames that know better (a ``segments(decoder)``
    method, as the pipeline's progress wrapper has) are asked for them."""
    own = getattr(frames, "segments", None)
    if own is not None:
        return own(decoder)  # type: ignore[no-any-return]
    it = iter(frames)
    if cython.compiled and isinstance(it, _Cutter) and type(decoder) is Decoder:
        cutter: _Cutter = it
        cutter.dec = decoder  # type: ignore[assignment]  # (None until now)
        return cutter
    return starmap(decoder.decode, it)
