"""Verification by segments (issue 10 §7, ADR 0015 addendum): a stored chain that a
worker process can read a stretch of by itself (a database, not a stream) is cut into
aligned segments of `SEGMENT` positions; each worker reads, hashes, links and (for the
full verification) checks the signatures of whole segments, so no process feeds the
others and every core does the same work the sequential verifier does.

A segment is checked on its own, from the link its first entry stores. The main process
then takes the segments in order and joins them: a segment holds only if its first
entry links to the head the segments before it ended at; the key schedule (ADR 0016) is
replayed over the few entries where the signing key changes or an announcement stands
(`marks`), with the checks of `ledger.chain.verify`; and, for links only, the Merkle
frontier is joined from the segments' subtree roots (a segment starts at a multiple of
its power-of-two size, so a whole segment is one complete subtree, RFC 9162 §2.1.1).

Anything a segment or the join does not accept — a gap, a changed row, a bad signature,
a key in the wrong place, a broken link between segments — is diagnosed by the
sequential verifier itself, run again from the last head the join accepted: kinds,
positions and details are exactly those of `verify` and `verify_links`.

Standalone, like the rest of `ledger/`: the standard library and `cryptography`."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.chain import ChainHead, StoredEntry, VerifyReport, stored_values_differ, verify
from ledger.encoding import HASH_SIZE, entry_bytes, signing_message
from ledger.errors import EncodingError
from ledger.keys import KeyRing
from ledger.merkle import NODE_PREFIX as NODE
from ledger.merkle import MerkleFrontier
from ledger.parallel import LinkReport, _digest, follow_links
from ledger.rotation import (
    ANNOUNCEMENT_TOPIC,
    AnnouncementError,
    KeySchedule,
    read_announcement,
)

SEGMENT = 1 << 15  # positions a segment; a power of two (aligned subtrees)
LOWEST = -(2**63)  # the first segment is read from here: a row below position 1 is seen
ReadRange = Callable[[int, int], Iterable[StoredEntry]]
_U64 = struct.Struct(">Q").pack


@dataclass(frozen=True)
class Segment:
    """What one worker found in positions `first`..`last`, on their own.

    `held`: how many entries from `first` on hold (position, event, digest, entry hash
    from the first entry's stored link, stored values, and — full verification — a
    valid signature by the key the entry names); `whole`: all of them did. `prev_hash`:
    the first entry's stored link (what the join checks); `head_hash`: the recomputed
    entry hash of the last entry held. `marks`: (position, key id, topic, state) of each
    held entry where the key schedule can change — the first, a change of key, an
    announcement and the entry after one (state only for announcements). `unknown_key`:
    the key id it stopped at, for want of its public key. Links only: `stack`, the
    segment's own Merkle frontier; `stacks_at`, that frontier at each asked position;
    `retired`, announcements' predecessors with their first position."""

    first: int
    last: int
    held: int
    whole: bool
    prev_hash: bytes = b""
    head_hash: bytes = b""
    marks: tuple[tuple[int, str, str, bytes], ...] = ()
    unknown_key: str | None = None
    stack: tuple[bytes, ...] = ()
    stacks_at: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)


def check_segment(chain_id: str, read_range: ReadRange, first: int, last: int,
                  keys: dict[str, bytes] | None, roots_at: tuple[int, ...] = ()) -> Segment:
    """Checks the stored entries first..last (read with `read_range(first, last)`; the
    first segment from LOWEST, so that a row below position 1 stops it) on their own:
    with `keys` (key id -> raw public key), every signature too; with None, links and
    the segment's Merkle subtree only. Never raises for tampered entries: the segment
    just stops holding there."""
    entries = iter(read_range(LOWEST if first == 1 else first, last))
    entry = next(entries, None)
    prev = entry.prev_hash if entry is not None else None
    if entry is None or entry.position != first or type(prev) is not bytes \
            or len(prev) != HASH_SIZE:
        return Segment(first, last, 0, False)
    head = ChainHead(first - 1, prev)
    entries = itertools.chain((entry,), entries)
    if keys is None:
        stack: list[bytes] = []
        stacks_at: dict[int, tuple[bytes, ...]] = {}
        retired: dict[str, int] = {}
        report = follow_links(chain_id, entries, head, stack, base=first - 1,
                              roots_at=roots_at, stacks_at=stacks_at, retired=retired)
        held = report.head.position - head.position
        return Segment(first, last, held, report.ok and report.head.position == last,
                       prev, report.head.entry_hash, (), None, tuple(stack), stacks_at,
                       retired)
    return _check_signed(chain_id, entries, head, first, last, dict(keys))


def _check_signed(chain_id: str, entries: Iterable[StoredEntry], head: ChainHead,
                  first: int, last: int, keys: dict[str, bytes]) -> Segment:
    prev = head.entry_hash
    prefix = entry_bytes(chain_id, 1, bytes(32), bytes(32))[:-(8 + 64)]
    verifiers: dict[str, Ed25519PublicKey] = {}
    marks: list[tuple[int, str, str, bytes]] = []
    previous_key: str | None = None
    after_announcement = False
    unknown: str | None = None
    whole = False  # every entry held, and no row follows the last (a second one at it)
    for entry in entries:
        p = head.position + 1
        kid = entry.key_id
        if entry.position != p or entry.event is None or type(kid) is not str:
            break
        verifier = verifiers.get(kid)
        if verifier is None:
            raw = keys.get(kid)
            if raw is None:
                unknown = kid
                break
            try:
                verifier = verifiers[kid] = Ed25519PublicKey.from_public_bytes(raw)
            except ValueError:
                break
        try:
            digest = _digest(entry.event)
        except EncodingError:
            break
        h = sha256(prefix + _U64(p) + head.entry_hash + digest).digest()
        if stored_values_differ(entry, head.entry_hash, digest, h) is not None:
            break
        signature = entry.signature  # as KeyRing.verify: bytes only, not any buffer
        if not isinstance(signature, bytes | bytearray):
            break
        try:
            verifier.verify(bytes(signature), signing_message(h))
        except (InvalidSignature, ValueError, TypeError):
            break
        topic = entry.event.topic
        announcement = topic == ANNOUNCEMENT_TOPIC
        if kid != previous_key or after_announcement or announcement:
            marks.append((p, kid, topic, entry.event.state if announcement else b""))
        if announcement:  # the successor's key, for the entries after it (the join
            # decides whether the announcement counts; a key id names its key)
            with contextlib.suppress(AnnouncementError):
                successor = read_announcement(entry.event.state)
                keys.setdefault(successor.successor, successor.public_key)
        previous_key, after_announcement = kid, announcement
        head = ChainHead(p, h)
    else:
        whole = head.position == last
    held = head.position - first + 1
    return Segment(first, last, held, whole, prev, head.entry_hash, tuple(marks), unknown)


def _joined(top: list[bytes], first: int, local: tuple[bytes, ...], size: int,
            shift: int) -> tuple[bytes, ...]:
    """The frontier of the first `size` leaves, from `top` (that of the first - 1 leaves,
    a multiple of the segment size 2^shift) and a segment's own frontier `local` of its
    leaves first..size: a complete segment is one subtree, joined as a leaf joins
    (RFC 9162 §2.1.1); a partial one's subtrees are all smaller than any in `top`."""
    if size - first + 1 < 1 << shift:
        return (*top, *local)
    joined, (node,), index = list(top), local, (first - 1) >> shift
    while index & 1:
        node = sha256(NODE + joined.pop() + node).digest()
        index >>= 1
    return (*joined, node)


def _after(head: ChainHead) -> int:
    """Where to read again after `head`: from LOWEST at the start (a row below 1)."""
    return LOWEST if head.position == 0 else head.position + 1


def _segments(size: int, segment: int) -> Iterable[tuple[int, int]]:
    for first in range(1, size + 1, segment):
        yield first, min(first + segment - 1, size)


def _check(workers: int, size: int, segment: int | None) -> int:
    """The segment size (SEGMENT unless given), once the arguments are checked."""
    segment = SEGMENT if segment is None else segment
    if workers < 1 or size < 0:
        raise ValueError("workers must be at least 1 and size at least 0")
    if segment < 1 or segment & (segment - 1):
        raise ValueError("a segment is a power of two positions")
    return segment


class _Pool:
    """Segments in flight, in order, at most 2 × workers (memory stays flat)."""

    def __init__(self, workers: int, submit: Callable[[int, int], Future[Segment]],
                 ranges: Iterable[tuple[int, int]]) -> None:
        self.pending: deque[Future[Segment]] = deque()
        self.submit, self.ranges = submit, iter(ranges)
        self.limit = 2 * workers
        self.fill()

    def fill(self) -> None:
        while len(self.pending) < self.limit:
            nxt = next(self.ranges, None)
            if nxt is None:
                return
            self.pending.append(self.submit(*nxt))

    def __iter__(self) -> Iterator[Segment]:
        while self.pending:
            result = self.pending.popleft().result()
            yield result
            self.fill()

    def cancel(self) -> None:
        for future in self.pending:
            future.cancel()


def verify_segments(chain_id: str, read_range: ReadRange, size: int, keyring: KeyRing, *,
                    workers: int, reread: Callable[[int], Iterable[StoredEntry]],
                    locate_digest: Callable[[bytes], int | None] | None = None,
                    progress: Callable[[int], None] | None = None,
                    segment: int | None = None) -> VerifyReport:
    """As `verify(chain_id, reread(1), keyring, locate_digest=...)` over the entries at
    positions 1..`size`, by segments checked in `workers` processes.
    `read_range(first, last)` — picklable: it runs in the workers — yields the stored
    entries at positions first..last in order; `reread(position)` yields them from
    `position` on (only to diagnose; position may be LOWEST). Preconditions (else
    ValueError): workers >= 1, size >= 0, `segment` (default SEGMENT, read at the
    call) a power of two."""
    segment = _check(workers, size, segment)
    head = ChainHead.empty(chain_id)
    schedule = KeySchedule()
    raw_keys = {kid: keyring.public_key(kid) for kid in keyring}

    def diagnose() -> VerifyReport:
        report = verify(chain_id, reread(_after(head)), keyring, start=head,
                        keys=schedule, locate_digest=locate_digest)
        return VerifyReport(report.ok, report.head.position, report.head, report.failure,
                            report.keys)

    def join(seg: Segment) -> bool:
        """Whether the segment continues the head (and the schedule follows it)."""
        if seg.held == 0 or seg.prev_hash != head.entry_hash:
            return False
        for p, kid, topic, state in seg.marks:
            if kid not in keyring and kid not in schedule.announced:
                return False
            if schedule.wrong_key(p, kid) or schedule.signed(p, kid, topic, state):
                return False
        raw_keys.update(schedule.announced)
        return seg.whole

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:

        def submit(first: int, last: int) -> Future[Segment]:
            return pool.submit(check_segment, chain_id, read_range, first, last,
                               dict(raw_keys))

        flight = _Pool(workers, submit, _segments(size, segment))
        for seg in flight:
            # A key announced in an earlier segment, not yet known when this one left.
            while seg.unknown_key is not None and seg.unknown_key in raw_keys:
                seg = submit(seg.first, seg.last).result()
            before = schedule.copy()
            if not join(seg):
                flight.cancel()
                schedule = before
                return diagnose()
            head = ChainHead(seg.last, seg.head_hash)
            if progress is not None:
                progress(seg.last)
    return VerifyReport(True, head.position, head, None, schedule)


def verify_links_segments(chain_id: str, read_range: ReadRange, size: int, *,
                          workers: int, reread: Callable[[int], Iterable[StoredEntry]],
                          roots_at: Iterable[int] = (),
                          progress: Callable[[int], None] | None = None,
                          segment: int | None = None) -> LinkReport:
    """As `verify_links(chain_id, reread(1), roots_at=roots_at)` over the entries at
    positions 1..`size`, by segments hashed in `workers` processes (see
    `verify_segments` for `read_range` and `reread`)."""
    segment = _check(workers, size, segment)
    wanted = tuple(sorted(set(roots_at)))
    head = ChainHead.empty(chain_id)
    top: list[bytes] = []  # the frontier of the whole segments joined so far
    roots: dict[int, bytes] = {}
    retired: dict[str, int] = {}
    shift = segment.bit_length() - 1

    def diagnose() -> LinkReport:
        report = follow_links(chain_id, reread(_after(head)), head, list(top),
                              roots_at=wanted, retired=retired)
        return LinkReport(report.ok, report.count, report.head, report.frontier,
                          report.failure, {**roots, **report.roots}, report.retired)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:

        def submit(first: int, last: int) -> Future[Segment]:
            asked = tuple(m for m in wanted if first <= m <= last)
            return pool.submit(check_segment, chain_id, read_range, first, last, None,
                               asked)

        flight = _Pool(workers, submit, _segments(size, segment))
        for seg in flight:
            if not seg.whole or seg.prev_hash != head.entry_hash:
                flight.cancel()
                return diagnose()
            for m, local in seg.stacks_at.items():
                roots[m] = MerkleFrontier(m, _joined(top, seg.first, local, m,
                                                     shift)).root()
            for predecessor, position in seg.retired.items():
                retired.setdefault(predecessor, position)
            head = ChainHead(seg.last, seg.head_hash)
            top = list(_joined(top, seg.first, seg.stack, seg.last, shift))
            if progress is not None:
                progress(seg.last)
    return LinkReport(True, head.position, head, MerkleFrontier(head.position, tuple(top)),
                      None, roots, retired)
