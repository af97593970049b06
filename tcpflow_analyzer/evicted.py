"""What the flow table remembers of the connections it evicted above the active-connection cap.

A connection reported early because more than ``max_active`` were open at once is often
still alive: its later segments must not open a new connection (with no handshake), nor be
analysed as one.  For each such connection the table keeps 24 bytes in three packed arrays
(no Python object per entry), in an open-addressing hash set with linear probing:

* a 62-bit fingerprint of its flow-index key (4-tuple and VLAN ids, BLAKE2b, so the same
  capture always gives the same answers) plus two bits saying which ISNs are known;
* both endpoints' ISNs (a SYN with the sender's ISN is that connection's SYN re-sent; any
  other SYN starts a new connection);
* its last activity in capture seconds (after ``idle_timeout_s`` of silence the 4-tuple is
  free again).

A false positive needs a 62-bit fingerprint collision among the few slots a lookup probes:
below one in 10^11 per new 4-tuple for a full table of four million slots, so it is
documented, not handled.  Memory grows with use up to ``max_slots`` (16 slots per unit of
the active-connection cap, at least 2^17: 100 MB at the default cap of 262,144, about a
tenth of what the active connections themselves take), and a full table holds 3/4 of its
slots: twelve times the default cap, 98,304 connections below a cap of 8,192.  Idle entries
are dropped as they are met and when the arrays are rebuilt; when the table is full of live
entries, the least recently active half is forgotten and counted in :attr:`folded` (their
later segments read as new connections again, which the pipeline's warning says).
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Any

_MIN_SLOTS = 1024
_FLOOR_SLOTS = 1 << 17
_SLOTS_PER_CAP = 16
_KNOWN_FIRST = 1
_KNOWN_SECOND = 2
_SAMPLE = 4096


def evicted_slots(max_active: int) -> int:
    """The largest number of slots the evicted set of a table capped at ``max_active`` uses:
    a power of two, at least ``_SLOTS_PER_CAP * max_active`` and 2^17."""
    want = max(_FLOOR_SLOTS, _SLOTS_PER_CAP * max_active)
    return 1 << (want - 1).bit_length()


def _fingerprint(key: tuple[Any, ...]) -> int:
    """62 bits of BLAKE2b over the key's addresses, ports and VLAN ids, shifted left by 2
    (the two low bits carry the ISN flags); never 0, which marks an empty slot."""
    src, sport, dst, dport, vlan = key
    h = blake2b(digest_size=8)
    h.update(src)
    h.update(dst)  # both of one family: the lengths are unambiguous
    h.update(bytes((sport >> 8, sport & 255, dport >> 8, dport & 255)))
    for v in vlan:
        h.update(v.to_bytes(4, "big"))
    fp = int.from_bytes(h.digest(), "big") & ~3
    return fp or 4


class EvictedSet:
    """The evicted connections still remembered, keyed by flow-index key; see the module
    docstring.  :meth:`get` returns a slot number, valid until the next :meth:`add` or
    :meth:`remove`."""

    __slots__ = ("count", "folded", "fps", "idle_s", "isns", "last", "limit", "mask",
                 "max_slots")

    def __init__(self, max_active: int, idle_s: float, max_slots: int | None = None) -> None:
        want = max(_MIN_SLOTS, max_slots or evicted_slots(max_active))
        self.max_slots = 1 << (want - 1).bit_length()
        self.idle_s = idle_s
        self.count = 0
        self.folded = 0  # live entries forgotten because the table was full
        self._alloc(_MIN_SLOTS)

    def _alloc(self, slots: int) -> None:
        self.mask = slots - 1
        self.limit = slots * 3 // 4
        self.fps = array("Q", bytes(8 * slots))
        self.isns = array("Q", bytes(8 * slots))
        self.last = array("d", bytes(8 * slots))

    def __len__(self) -> int:
        return self.count

    @property
    def slots(self) -> int:
        """The slots allocated now (each 24 bytes)."""
        return self.mask + 1

    def get(self, key: tuple[Any, ...]) -> int | None:
        """The slot of the evicted connection under ``key``, or None."""
        return self._find(_fingerprint(key))

    def _find(self, fp: int) -> int | None:
        fps = self.fps
        mask = self.mask
        want = fp >> 2
        i = want & mask
        while True:
            f = fps[i]
            if not f:
                return None
            if f >> 2 == want:
                return i
            i = (i + 1) & mask

    def isn(self, slot: int, first: bool) -> int | None:
        """The ISN of the key's first endpoint (the lower port) or of the second; None when
        that endpoint's SYN was never seen."""
        known = self.fps[slot] & (_KNOWN_FIRST if first else _KNOWN_SECOND)
        if not known:
            return None
        isns = self.isns[slot]
        return isns >> 32 if first else isns & 0xFFFFFFFF

    def last_ts(self, slot: int) -> float:
        """Capture time of the connection's last segment, evicted or counted since."""
        return self.last[slot]

    def touch(self, slot: int, ts: float) -> None:
        """One more segment of that connection, at ``ts`` (never moving its time back)."""
        if ts > self.last[slot]:
            self.last[slot] = ts

    def add(self, key: tuple[Any, ...], isn_first: int | None, isn_second: int | None,
            last_ts: float, now: float) -> None:
        """Remember one evicted connection (replacing what was kept under ``key``)."""
        fp = _fingerprint(key)
        if isn_first is not None:
            fp |= _KNOWN_FIRST
        if isn_second is not None:
            fp |= _KNOWN_SECOND
        isns = ((isn_first or 0) << 32) | (isn_second or 0)
        slot = self._find(fp)
        if slot is None:
            if self.count >= self.limit:
                self._make_room(now)
            slot = self._free_slot(fp)
            self.count += 1
        self.fps[slot] = fp
        self.isns[slot] = isns
        self.last[slot] = last_ts

    def _free_slot(self, fp: int) -> int:
        fps = self.fps
        mask = self.mask
        i = (fp >> 2) & mask
        while fps[i]:
            i = (i + 1) & mask
        return i

    def remove(self, slot: int) -> None:
        """Forget the entry in ``slot`` (backward-shift deletion: no deleted markers)."""
        fps, isns, last, mask = self.fps, self.isns, self.last, self.mask
        i = slot
        j = slot
        while True:
            j = (j + 1) & mask
            f = fps[j]
            if not f:
                break
            home = (f >> 2) & mask
            # the entry at j may move into the hole at i unless its home lies in (i, j]
            if (j - home) & mask >= (j - i) & mask:
                fps[i] = f
                isns[i] = isns[j]
                last[i] = last[j]
                i = j
        fps[i] = 0
        self.count -= 1

    def _make_room(self, now: float) -> None:
        """Full: rebuild without the idle entries, into twice the slots while below
        ``max_slots``; at ``max_slots`` with the table still over half full, also without
        the least recently active live entries, down to half (counted in ``folded``).
        No Python object per entry even here: the passes read the packed arrays."""
        fps, isns, last = self.fps, self.isns, self.last
        n = len(fps)
        horizon = now - self.idle_s
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
        new_fps, new_isns, new_last, mask = self.fps, self.isns, self.last, self.mask
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
            j = (f >> 2) & mask
            while new_fps[j]:
                j = (j + 1) & mask
            new_fps[j] = f
            new_isns[j] = isns[i]
            new_last[j] = t
            count += 1
        self.folded += live - count
        self.count = count

    def _fold_cutoff(self, horizon: float, live: int, keep: int) -> float:
        """The last-activity time below which ``live - keep`` of the live entries lie,
        estimated from a sample of about ``_SAMPLE`` slots (sorting every entry's time would
        cost a Python float each)."""
        fps, last = self.fps, self.last
        step = max(1, len(fps) // (2 * _SAMPLE))
        sample = sorted(last[i] for i in range(0, len(fps), step)
                        if fps[i] and last[i] > horizon)
        if not sample:
            return horizon
        return sample[min(len(sample) - 1, (live - keep) * len(sample) // live)]
