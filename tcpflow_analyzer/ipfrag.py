"""IP fragment reassembly (RFC 791 §3.2 for IPv4, RFC 8200 §4.5 for IPv6), bounded and pure.

The decoder hands every fragment of a protocol that can carry TCP to a
:class:`Reassembler`; when the last missing piece of a datagram arrives, :meth:`add` returns
the datagram's whole fragmentable part (what follows the IPv4 header, or the IPv6 fragment
header) and the decoder decodes it as if it had arrived unfragmented, in the frame that
completed it (as Wireshark reports "reassembled in frame N").

Policy, chosen to match a Linux receiver (``net/ipv4/inet_fragment.c``), so the analysis
sees what the endpoint saw:

* **Overlaps**: a fragment that lies wholly inside a run of contiguous data already held is
  a duplicate and is dropped (the first copy wins, byte for byte); a fragment that *partly*
  overlaps held data discards the whole datagram, as RFC 5722 requires for IPv6 and as Linux
  does for both IPv4 and IPv6 since 4.19 (FragmentSmack).  A last fragment (MF clear) that
  disagrees with data or another last fragment about the datagram's end, or a fragment past
  a known end, also discards it.
* **Timeout**: a datagram not complete 30 s (capture time, the ``ts`` of the packets) after
  its first fragment arrived is dropped, like Linux's ``ipfrag_time`` / ``ip6frag_time``.
  Expiry runs when fragments arrive (oldest first, an amortised O(1) sweep); :meth:`finish`
  counts what is still incomplete when the capture ends, apart from what timed out.
* **Bounds**: at most ``max_fragments`` fragments per datagram, ``max_datagrams`` datagrams
  and ``max_bytes`` bytes held at once (Linux's 4 MiB ``ipfrag_high_thresh``), and no
  datagram beyond 65,535 bytes.  A fragment that would exceed a bound, or that is malformed
  (empty, or not a multiple of 8 bytes while more follow), is dropped and counted; its
  datagram then times out.  Memory is therefore bounded whatever the capture holds.

Counters (:attr:`Reassembler.counts`; the JSON ``capture`` shows them, prefixed
``ip_fragments_``, when non-zero): ``seen`` (fragments handed in), ``reassembled``
(datagrams completed), ``duplicate`` (fragments dropped as wholly duplicate),
``overlapping`` (datagrams discarded for a partial overlap or conflicting ends),
``over_limit`` (fragments dropped by a bound or as malformed), ``timed_out`` (datagrams
dropped 30 s after their first fragment) and ``incomplete`` (datagrams still missing a
piece when the capture ended).
"""

from __future__ import annotations

from typing import Any

#: Linux's default ``net.ipv4.ipfrag_time`` / ``net.ipv6.ip6frag_time`` (seconds)
FRAG_TIMEOUT_S = 30.0
MAX_FRAGMENTS_PER_DATAGRAM = 128
MAX_DATAGRAMS = 1024
MAX_BYTES = 4 * 1024 * 1024  # Linux's ipfrag_high_thresh
MAX_DATAGRAM_LEN = 65535

COUNTER_NAMES = ("seen", "reassembled", "duplicate", "overlapping", "over_limit", "timed_out",
                 "incomplete")


class _Datagram:
    """Fragments held for one datagram: sorted, disjoint runs ``[start, end, chunks]`` of
    contiguous data (Linux keeps "fragment runs" too, and judges duplicates against them)."""

    __slots__ = ("first_ts", "head", "nbytes", "nfrags", "runs", "total")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.runs: list[list[Any]] = []
        self.total = -1  # end of the datagram, known once the last fragment arrived
        self.nbytes = 0
        self.nfrags = 0
        self.head: Any = None  # what the caller stored with the offset-0 fragment


class Reassembler:
    """Reassembles IP datagrams from fragments, keyed by whatever identifies a datagram
    (the decoder uses the VLAN ids, encapsulation depth, IP version, addresses, protocol
    and identification, as RFC 791 and RFC 8200 define it)."""

    def __init__(
        self, *, timeout_s: float = FRAG_TIMEOUT_S,
        max_fragments: int = MAX_FRAGMENTS_PER_DATAGRAM, max_datagrams: int = MAX_DATAGRAMS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_fragments = max_fragments
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.counts: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._held: dict[Any, _Datagram] = {}  # insertion order = order of first fragment
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        """Bytes held right now (for tests of the memory bound)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._held)

    def _expire(self, now: float) -> None:
        held = self._held
        limit = now - self.timeout_s
        while held:
            key = next(iter(held))
            dg = held[key]
            if dg.first_ts > limit:
                break
            self._drop(key, dg)
            self.counts["timed_out"] += 1

    def _drop(self, key: Any, dg: _Datagram) -> None:
        del self._held[key]
        self._bytes -= dg.nbytes

    def _discard(self, key: Any, dg: _Datagram) -> None:
        self._drop(key, dg)
        self.counts["overlapping"] += 1

    def add(
        self, key: Any, ts: float, offset: int, more: bool, data: bytes, head: Any = None,
    ) -> tuple[bytes, Any] | None:
        """Add one fragment: ``offset`` in bytes, ``more`` the MF flag, ``data`` its payload,
        ``head`` anything the caller needs back with the offset-0 fragment (its header).

        Returns ``(payload, head)`` when this fragment completed the datagram, else None.
        """
        counts = self.counts
        counts["seen"] += 1
        if self._held:
            self._expire(ts)
        size = len(data)
        end = offset + size
        if end > MAX_DATAGRAM_LEN or not size or (more and size & 7):
            # RFC 791 / 8200: every fragment but the last carries a multiple of 8 bytes
            counts["over_limit"] += 1
            return None
        dg = self._held.get(key)
        if dg is None:
            if len(self._held) >= self.max_datagrams:
                counts["over_limit"] += 1
                return None
            dg = self._held[key] = _Datagram(ts)
        runs = dg.runs
        if not more:
            if (dg.total >= 0 and dg.total != end) or (runs and runs[-1][1] > end):
                self._discard(key, dg)
                return None
        elif 0 <= dg.total < end:
            self._discard(key, dg)
            return None
        i = len(runs)  # where the new data goes (runs stay sorted and disjoint)
        for j, run in enumerate(runs):
            s, e = run[0], run[1]
            if e <= offset:
                continue
            if s >= end:
                i = j
                break
            if s <= offset and end <= e:  # wholly inside data held: a duplicate, first wins
                counts["duplicate"] += 1
                return None
            self._discard(key, dg)  # partial overlap: RFC 5722 / Linux discard the datagram
            return None
        if dg.nfrags >= self.max_fragments or self._bytes + size > self.max_bytes:
            counts["over_limit"] += 1
            if not runs:
                self._drop(key, dg)
            return None
        if not more:
            dg.total = end
        dg.nfrags += 1
        dg.nbytes += size
        self._bytes += size
        if offset == 0:
            dg.head = head
        # join the runs this fragment touches: [.. prev][new][next ..]
        prev = runs[i - 1] if i and runs[i - 1][1] == offset else None
        nxt = runs[i] if i < len(runs) and runs[i][0] == end else None
        if prev is not None:
            prev[1] = end
            prev[2].append(data)
            if nxt is not None:
                prev[1] = nxt[1]
                prev[2].extend(nxt[2])
                del runs[i]
        elif nxt is not None:
            nxt[0] = offset
            nxt[2].insert(0, data)
        else:
            runs.insert(i, [offset, end, [data]])
        if dg.total < 0 or len(runs) != 1 or runs[0][0] != 0 or runs[0][1] != dg.total:
            return None
        self._drop(key, dg)
        counts["reassembled"] += 1
        return b"".join(runs[0][2]), dg.head

    def finish(self) -> None:
        """End of capture: every datagram still held is incomplete; forget them."""
        self.counts["incomplete"] += len(self._held)
        self._held.clear()
        self._bytes = 0
