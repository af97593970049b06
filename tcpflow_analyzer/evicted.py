"""What the flow table remembers of the connections it evicted above the active-connection cap.

A connection reported early because more than ``max_active`` were open at once is often
still alive: its later segments must not open a new connection (with no handshake), nor be
analysed as one.  For each such connection the table keeps 16 bytes in three packed arrays
(no Python object per entry), in an open-addressing hash set with linear probing:

* a 64-bit fingerprint of its flow-index key (4-tuple and VLAN ids; BLAKE2b, so the same
  capture always gives the same answers), whose low bits choose its slot;
* a 16-bit tag of each endpoint's ISN (0: that endpoint's SYN was never seen): a SYN whose
  seq has the sender's tag is that connection's SYN re-sent, any other SYN opens a new
  connection;
* its last activity, in 1/64 s since the first eviction (after ``idle_timeout_s`` of
  silence the 4-tuple is free again).

False positives: a new 4-tuple is taken for an evicted one only when its 64-bit fingerprint
equals one in the slots its lookup probes (the slot bits already agree, so below one in
2^40 per new 4-tuple with four million slots); a SYN with a new ISN on the 4-tuple of an
evicted connection still alive is taken for its retransmission when the two ISNs share a
16-bit tag (1 in 65,536 of those rare SYNs).  Memory grows with use up to ``max_slots``:
64 slots per unit of the active-connection cap, at least 2^17 (1 KB per unit of the cap, a
quarter of what one active connection takes; 256 MiB at the default cap of 262,144), and a
table holds 3/4 of its slots: 48 times the cap, more below a cap of 2,048.  Idle entries are
dropped as they are met and when the arrays are rebuilt; when the table is full of live
entries, the least recently active half is forgotten and counted in :attr:`folded` (their
later segments read as new connections again, which the pipeline's warning says).
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Any

_MIN_SLOTS = 1024
_FLOOR_SLOTS = 1 << 17
_SLOTS_PER_CAP = 64
_SAMPLE = 4096
_TICKS = 64  # last-activity units per second
_TICK_MAX = (1 << 32) - 1


def evicted_slots(max_active: int) -> int:
    """The largest number of slots the evicted set of a table capped at ``max_active`` uses:
    a power of two, at least ``_SLOTS_PER_CAP * max_active`` and 2^17."""
    want = max(_FLOOR_SLOTS, _SLOTS_PER_CAP * max_active)
    return 1 << (want - 1).bit_length()


def _fingerprint(key: tuple[Any, ...]) -> int:
    """64 bits of BLAKE2b over the key's addresses, ports and VLAN ids; never 0, which
    marks an empty slot."""
    src, sport, dst, dport, vlan = key
    h = blake2b(digest_size=8)
    h.update(src)
    h.update(dst)  # both of one family: the lengths are unambiguous
    h.update(bytes((sport >> 8, sport & 255, dport >> 8, dport & 255)))
    for v in vlan:
        h.update(v.to_bytes(4, "big"))
    return int.from_bytes(h.digest(), "big") or 1


def _isn_tag(isn: int | None) -> int:
    """16 bits of an ISN (its two halves folded), never 0; 0 for an unknown ISN."""
    if isn is None:
        return 0
    return (isn ^ (isn >> 16)) & 0xFFFF or 0xFFFF


class EvictedSet:
    """The evicted connections still remembered, keyed by flow-index key; see the module
    docstring.  :meth:`get` returns a slot number, valid until the next :meth:`add` or
    :meth:`remove`."""

    __slots__ = ("base", "count", "folded", "fps", "idle_s", "last", "limit", "mask",
                 "max_slots", "tags")

    def __init__(self, max_active: int, idle_s: float, max_slots: int | None = None) -> None:
        want = max(_MIN_SLOTS, max_slots or evicted_slots(max_active))
        self.max_slots = 1 << (want - 1).bit_length()
        self.idle_s = idle_s
        self.count = 0
        self.folded = 0  # live entries forgotten because the table was full
        self.base: float | None = None  # capture second of last-activity tick 0
        self._alloc(_MIN_SLOTS)

    def _alloc(self, slots: int) -> None:
        self.mask = slots - 1
        self.limit = slots * 3 // 4
        self.fps = array("Q", bytes(8 * slots))
        self.tags = array("I", bytes(4 * slots))
        self.last = array("I", bytes(4 * slots))
        assert self.tags.itemsize == self.last.itemsize == 4

    def __len__(self) -> int:
        return self.count

    @property
    def slots(self) -> int:
        """The slots allocated now (each 16 bytes)."""
        return self.mask + 1

    def get(self, key: tuple[Any, ...]) -> int | None:
        """The slot of the evicted connection under ``key``, or None."""
        return self._find(_fingerprint(key))

    def _find(self, fp: int) -> int | None:
        fps = self.fps
        mask = self.mask
        i = fp & mask
        while True:
            f = fps[i]
            if not f:
                return None
            if f == fp:
                return i
            i = (i + 1) & mask

    def is_its_syn(self, slot: int, first: bool, seq: int) -> bool:
        """Whether a SYN with ``seq`` from the key's first endpoint (the lower port) or
        from the second has that endpoint's ISN (by its 16-bit tag; False when unknown)."""
        tag = self.tags[slot]
        tag = tag >> 16 if first else tag & 0xFFFF
        return tag != 0 and tag == _isn_tag(seq)

    def _tick(self, ts: float) -> int:
        base = self.base
        if base is None:
            base = self.base = float(int(ts)) - 1.0
        t = int((ts - base) * _TICKS)
        return 0 if t < 0 else _TICK_MAX if t > _TICK_MAX else t

    def last_ts(self, slot: int) -> float:
        """Capture time of the connection's last segment, evicted or counted since, to
        1/64 s."""
        base = self.base
        assert base is not None
        return base + self.last[slot] / _TICKS

    def touch(self, slot: int, ts: float) -> None:
        """One more segment of that connection, at ``ts`` (never moving its time back)."""
        t = self._tick(ts)
        if t > self.last[slot]:
            self.last[slot] = t

    def add(self, key: tuple[Any, ...], isn_first: int | None, isn_second: int | None,
            last_ts: float, now: float) -> None:
        """Remember one evicted connection (replacing what was kept under ``key``)."""
        fp = _fingerprint(key)
        slot = self._find(fp)
        if slot is None:
            if self.count >= self.limit:
                self._make_room(now)
            slot = self._free_slot(fp)
            self.count += 1
        self.fps[slot] = fp
        self.tags[slot] = _isn_tag(isn_first) << 16 | _isn_tag(isn_second)
        self.last[slot] = self._tick(last_ts)

    def _free_slot(self, fp: int) -> int:
        fps = self.fps
        mask = self.mask
        i = fp & mask
        while fps[i]:
            i = (i + 1) & mask
        return i

    def remove(self, slot: int) -> None:
        """Forget the entry in ``slot`` (backward-shift deletion: no deleted markers)."""
        fps, tags, last, mask = self.fps, self.tags, self.last, self.mask
        i = slot
        j = slot
        while True:
            j = (j + 1) & mask
            f = fps[j]
            if not f:
                break
            home = f & mask
            # the entry at j may move into the hole at i unless its home lies in (i, j]
            if (j - home) & mask >= (j - i) & mask:
                fps[i] = f
                tags[i] = tags[j]
                last[i] = last[j]
                i = j
        fps[i] = 0
        self.count -= 1

    def _make_room(self, now: float) -> None:
        """Full: rebuild without the idle entries, into twice the slots while below
        ``max_slots``; at ``max_slots`` with the table still over half full, also without
        the least recently active live entries, down to half (counted in ``folded``).
        No Python object per entry even here: the passes read the packed arrays."""
        fps, tags, last = self.fps, self.tags, self.last
        n = len(fps)
        base = self.base if self.base is not None else now
        horizon = (now - self.idle_s - base) * _TICKS  # in ticks: live entries are above it
        live = 0
        for i in range(n):
            if fps[i] and last[i] > horizon:
                live += 1
        cutoff = horizon  # entries at or below it are dropped ...
        ties = 0  # ... but for this many at exactly ``cutoff`` (in slot order)
        slots = n
        if n < self.max_slots and live >= n // 2:
            slots = 2 * n
        elif n >= self.max_slots and live > n // 2:
            keep = n // 2
            cutoff = self._fold_cutoff(horizon, live, keep)
            above = 0
            for i in range(n):
                if fps[i] and last[i] > cutoff:
                    above += 1
            ties = max(0, keep - above)
        self._alloc(slots)
        new_fps, new_tags, new_last, mask = self.fps, self.tags, self.last, self.mask
        count = 0
        for i in range(n):
            f = fps[i]
            if not f:
                continue
            t = last[i]
            if t <= cutoff:
                if t != cutoff or ties <= 0 or t <= horizon:
                    continue
                ties -= 1
            j = f & mask
            while new_fps[j]:
                j = (j + 1) & mask
            new_fps[j] = f
            new_tags[j] = tags[i]
            new_last[j] = t
            count += 1
        self.folded += live - count
        self.count = count

    def _fold_cutoff(self, horizon: float, live: int, keep: int) -> float:
        """The last-activity tick below which ``live - keep`` of the live entries lie,
        estimated from a sample of about ``_SAMPLE`` slots (sorting every entry's time would
        cost a Python float each)."""
        fps, last = self.fps, self.last
        step = max(1, len(fps) // (2 * _SAMPLE))
        sample = sorted(last[i] for i in range(0, len(fps), step)
                        if fps[i] and last[i] > horizon)
        if not sample:
            return horizon
        return sample[min(len(sample) - 1, (live - keep) * len(sample) // live)]
