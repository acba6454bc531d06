"""Appending to a chain and verifying it, streaming, with typed diagnoses.

One chain per institution, named by `chain_id`. Position 1 links to
`genesis_hash(chain_id)`; position n links to the entry hash of position n - 1. Each
entry hash is signed (Ed25519 over SIGNATURE_TAG || entry_hash). Chain order is commit
order: the storage adapter appends under the institution's write lock (ADR 0003).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from ledger.encoding import HASH_SIZE, entry_hash, event_digest, genesis_hash
from ledger.errors import EncodingError
from ledger.keys import KeyRing, Signer
from ledger.rotation import KeySchedule


@dataclass(frozen=True)
class EventContent:
    """An event row exactly as stored: the aggregate's UUID as 16 bytes, its version,
    the topic, and the state bytes written by the event store."""

    originator_id: bytes
    originator_version: int
    topic: str
    state: bytes

    def digest(self) -> bytes:
        """event_digest(originator_id, originator_version, topic, state): SHA-256 of
        EVENT_TAG || originator_id || u64(version) || lp(topic) || lp(state).
        Preconditions as `ledger.encoding.event_digest` (EncodingError)."""
        return event_digest(self.originator_id, self.originator_version, self.topic,
                            self.state)


@dataclass(frozen=True)
class ChainHead:
    """The last entry of a chain: its position (0 for an empty chain) and entry hash
    (the genesis hash for an empty chain)."""

    position: int
    entry_hash: bytes

    @classmethod
    def empty(cls, chain_id: str) -> ChainHead:
        """The head of an empty chain: position 0, entry_hash = genesis_hash(chain_id)."""
        return cls(0, genesis_hash(chain_id))


@dataclass(frozen=True)
class NewEntry:
    """A signed entry to store: `signature` is Ed25519 over SIGNATURE_TAG || entry_hash,
    entry_hash = H(ENTRY_TAG || lp(chain_id) || u64(position) || prev_hash ||
    event_digest)."""

    position: int
    prev_hash: bytes
    event_digest: bytes
    entry_hash: bytes
    key_id: str
    signature: bytes


def append(chain_id: str, head: ChainHead, events: Sequence[EventContent],
           signer: Signer) -> tuple[list[NewEntry], ChainHead]:
    """The entries for `events` at positions head.position + 1, + 2, …, and the new head.

    Entry k: digest = event.digest(); prev_hash = head.entry_hash for the first, else
    the previous entry's hash; entry_hash = H(ENTRY_TAG || lp(chain_id) ||
    u64(position) || prev_hash || digest); signature = Ed25519 over SIGNATURE_TAG ||
    entry_hash by `signer`. An empty `events` returns ([], head).

    Preconditions: `head` is the chain's current head (the caller holds the chain's
    write lock, so chain order is commit order) with position >= 0 and a 32-byte hash;
    every event satisfies `event_digest`'s preconditions. Violations raise
    EncodingError before anything is signed for the offending event."""
    if not isinstance(head.position, int) or head.position < 0:
        raise EncodingError(f"head position out of range: {head.position!r}")
    entries: list[NewEntry] = []
    for event in events:
        digest = event.digest()
        position = head.position + 1
        h = entry_hash(chain_id, position, head.entry_hash, digest)
        entries.append(NewEntry(position, head.entry_hash, digest, h, signer.key_id,
                                signer.sign(h)))
        head = ChainHead(position, h)
    return entries, head


@dataclass(frozen=True)
class StoredEntry(NewEntry):
    """A ledger row read back in position order, joined to its event row (`event` is
    None when the event row is gone). Fields, in order: position, prev_hash,
    event_digest, entry_hash, key_id, signature (those of NewEntry), event. Every hash
    here is untrusted: verification recomputes them from `event` and uses the stored
    ones only to diagnose."""

    event: EventContent | None


class FailureKind(str, Enum):
    """What went wrong at the first failing position."""

    CHANGED = "changed"  # the event or entry differs from what was signed
    MISSING = "missing"  # an entry or its event row is gone, or the tail was cut
    INSERTED = "inserted"  # an entry (or event) that the chain did not sign
    REORDERED = "reordered"  # an authentic event or entry in the wrong place
    BAD_SIGNATURE = "bad_signature"  # the signature does not verify
    UNKNOWN_KEY = "unknown_key"  # signed by a key the key ring does not hold
    WRONG_KEY = "wrong_key"  # validly signed, but not by the key in force (ADR 0016)


@dataclass(frozen=True)
class Failure:
    """The first failure: the expected position, its kind, and a concise English detail
    (with stored vs calculated hex where relevant)."""

    position: int
    kind: FailureKind
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """`ok`; `count`, the entries verified before stopping; `head`, the last verified
    head (position 0 and the genesis hash if none verified); `failure` if not ok."""

    ok: bool
    count: int
    head: ChainHead
    failure: Failure | None
    # The key schedule after the last verified entry (ADR 0016): the key in force there,
    # the keys retired and announced so far.
    keys: KeySchedule | None = field(default=None, compare=False)


def verify(
    chain_id: str,
    entries: Iterable[StoredEntry],
    keyring: KeyRing,
    *,
    locate_digest: Callable[[bytes], int | None] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10000,
    expect_head: ChainHead | None = None,
    start: ChainHead | None = None,
    keys: KeySchedule | None = None,
) -> VerifyReport:
    """Verifies the chain `chain_id` from position 1 and reports the first failure.

    `entries` are the stored entries in position order. They are consumed once, lazily,
    with O(1) state: no entry is pulled after the first failure. For expected position
    p (from 1) and the recomputed previous hash h (from genesis_hash(chain_id)):

    a. entry.position > p: MISSING (entries p..position-1 absent); < p: INSERTED.
    b. entry.event is None: MISSING (the event row is gone).
    c. entry.key_id not in keyring: UNKNOWN_KEY.
    d. d = entry.event.digest(); e = entry_hash(chain_id, p, h, d); the entry passes iff
       keyring.verify(entry.key_id, e, entry.signature), i.e. the key signed
       SIGNATURE_TAG || e. Then h = e and p += 1. An event that cannot be encoded at
       all is CHANGED.
       A validly signed entry must be signed by the key in force (`ledger.rotation`):
       otherwise, or if it is a malformed announcement, it is WRONG_KEY. A key announced
       by the key in force is trusted from the next entry on, in the ring or not. The
       row's stored prev hash, event digest and entry hash must then equal h, d and e
       (writers, proofs and links-only verification read them): else CHANGED.
    e. Otherwise the stored (untrusted) values diagnose: d != stored digest: REORDERED
       if locate_digest(d) names another position q (the event signed at q stands at
       p), else CHANGED. Else if the stored entry hash recomputes from the stored prev
       hash and is validly signed: REORDERED (authentic, but linked to another
       predecessor). Else if its signature does not verify: BAD_SIGNATURE. Else CHANGED.

    A chain alone cannot show that its tail was cut off. With `expect_head` (a head
    published earlier), a chain that verifies but has no entry at expect_head.position
    whose recomputed hash is expect_head.entry_hash fails as MISSING at that position
    (truncated or rewritten since the published head).

    With `start` (a head verified before, e.g. from a verified-through mark), the entries
    continue the chain after it: p starts at start.position + 1 and h at start.entry_hash;
    the report's `count` is the number of entries verified in this call. `keys` is the
    key schedule at `start` (a previous report's `keys`; not changed here); without it
    the first entry's key becomes the key in force. The report's `keys` is the schedule
    after the last verified entry.

    `progress(p)` is called after every `progress_every` verified entries.
    `locate_digest(d)` returns the position whose stored event digest is d, or None.

    Preconditions: chain_id encodable as UTF-8 (EncodingError); progress_every >= 1 and
    expect_head, if given, has position >= 0 and a 32-byte hash (ValueError). Tampered
    entries never raise: they are the report's failure."""
    if not isinstance(progress_every, int) or progress_every < 1:
        raise ValueError("progress_every must be a positive integer")
    if expect_head is not None and (
        not isinstance(expect_head.position, int) or expect_head.position < 0
        or not isinstance(expect_head.entry_hash, bytes)
        or len(expect_head.entry_hash) != HASH_SIZE
    ):
        raise ValueError("expect_head needs a position >= 0 and a 32-byte entry hash")
    # `start`: a head already verified (a verified-through mark): the entries continue
    # after it, at position start.position + 1, linked to start.entry_hash.
    head = start if start is not None else ChainHead.empty(chain_id)
    # The recomputed hash at the published head's position, once reached.
    published: bytes | None = None
    if expect_head is not None and expect_head.position == 0:
        published = head.entry_hash

    base = head.position
    schedule = keys.copy() if keys is not None else KeySchedule()
    ring = keyring
    if any(k not in ring for k in schedule.announced):
        ring = ring.including(schedule.announced)

    def stop(failure: Failure) -> VerifyReport:
        return VerifyReport(False, head.position - base, head, failure, schedule)

    for entry in entries:
        p = head.position + 1
        if entry.position > p:
            last = entry.position - 1
            absent = f"entry {p} is" if last == p else f"entries {p}..{last} are"
            return stop(Failure(p, FailureKind.MISSING,
                                f"{absent} absent (next stored position {entry.position})"))
        if entry.position < p:
            return stop(Failure(p, FailureKind.INSERTED,
                                f"an extra entry claims position {entry.position} "
                                f"after position {head.position}"))
        if entry.event is None:
            return stop(Failure(p, FailureKind.MISSING, "the event row of this entry is gone"))
        if entry.key_id not in ring:
            return stop(Failure(p, FailureKind.UNKNOWN_KEY,
                                f"signed with unknown key {entry.key_id!r}"))
        try:
            digest = entry.event.digest()
        except EncodingError as error:
            return stop(Failure(p, FailureKind.CHANGED, f"the event row is malformed: {error}"))
        h = entry_hash(chain_id, p, head.entry_hash, digest)
        if not ring.verify(entry.key_id, h, entry.signature):
            return stop(_diagnose(chain_id, p, head.entry_hash, h, entry, digest, ring,
                                  locate_digest))
        wrong = schedule.wrong_key(p, entry.key_id) or schedule.signed(
            p, entry.key_id, entry.event.topic, entry.event.state)
        if wrong is not None:
            return stop(Failure(p, FailureKind.WRONG_KEY, wrong))
        altered = stored_values_differ(entry, head.entry_hash, digest, h)
        if altered is not None:
            return stop(Failure(p, FailureKind.CHANGED, altered))
        if schedule.in_force not in ring:
            ring = ring.including(schedule.announced)
        head = ChainHead(p, h)
        if expect_head is not None and p == expect_head.position:
            published = h
        if progress is not None and p % progress_every == 0:
            progress(p)

    if expect_head is not None:
        want = f"{expect_head.position}:{expect_head.entry_hash.hex()}"
        if published is None:
            return stop(Failure(expect_head.position, FailureKind.MISSING,
                                f"truncated since the published head {want}: the chain "
                                f"ends at position {head.position}"))
        if published != expect_head.entry_hash:
            return stop(Failure(expect_head.position, FailureKind.MISSING,
                                f"rewritten since the published head {want}: calculated "
                                f"{published.hex()} at that position"))
    return VerifyReport(True, head.position - base, head, None, schedule)


def stored_values_differ(entry: StoredEntry, prev_hash: bytes, digest: bytes,
                         calculated: bytes) -> str | None:
    """Whether the row's stored prev hash, event digest or entry hash differ from the
    values recomputed for a signed, intact entry (what writers, proofs and links-only
    verification read): a description naming the column, else None."""
    for name, stored, value in (("prev hash", entry.prev_hash, prev_hash),
                                ("event digest", entry.event_digest, digest),
                                ("entry hash", entry.entry_hash, calculated)):
        if stored != value:
            return (f"the stored {name} {_hex(stored)} is not the recomputed "
                    f"{value.hex()}: the ledger row was altered (its event and signature "
                    "are intact)")
    return None


def _diagnose(chain_id: str, p: int, prev: bytes, calculated: bytes, entry: StoredEntry,
              digest: bytes, keyring: KeyRing,
              locate_digest: Callable[[bytes], int | None] | None) -> Failure:
    """Why the entry at p failed, from its stored (untrusted) hashes. Never raises for
    malformed stored values."""
    stored_digest = _hex(entry.event_digest)
    if digest != entry.event_digest:
        q = locate_digest(digest) if locate_digest is not None else None
        if q is not None and q != p:
            return Failure(p, FailureKind.REORDERED,
                           f"the event signed at position {q} stands at position {p}")
        return Failure(p, FailureKind.CHANGED,
                       f"event digest stored {stored_digest}, calculated {digest.hex()}")
    authentic = keyring.verify(entry.key_id, entry.entry_hash, entry.signature)
    if authentic and _recomputes(chain_id, p, entry.prev_hash, digest, entry.entry_hash):
        return Failure(p, FailureKind.REORDERED,
                       f"broken link: an authentic entry follows another predecessor; "
                       f"prev hash stored {_hex(entry.prev_hash)}, calculated {prev.hex()}")
    if not authentic:
        return Failure(p, FailureKind.BAD_SIGNATURE,
                       f"the signature by key {entry.key_id} does not verify; entry hash "
                       f"stored {_hex(entry.entry_hash)}, calculated {calculated.hex()}")
    return Failure(p, FailureKind.CHANGED,
                   f"the signed entry hash does not recompute at this position of this "
                   f"chain; entry hash stored {_hex(entry.entry_hash)}, calculated "
                   f"{calculated.hex()}")


def _recomputes(chain_id: str, p: int, prev_hash: bytes, digest: bytes,
                stored: bytes) -> bool:
    try:
        return entry_hash(chain_id, p, prev_hash, digest) == stored
    except EncodingError:  # a stored prev hash that is not 32 bytes
        return False


def _hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else repr(value)
