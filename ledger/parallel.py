"""Faster verification (issue 10 §7), with the same verdicts as `ledger.chain.verify`.

`verify_parallel`: the chain is linked and hashed in this process (SHA-256 is cheap);
the Ed25519 signatures — most of the cost — are checked by worker processes in batches,
at most 2 × workers batches in flight (memory stays flat). Any failure is diagnosed by
running `verify` itself again from the last head before the failing batch, so kinds,
positions and details are exactly those of the sequential verifier.

`verify_links`: no signatures at all. It recomputes every event digest, entry hash and
link and compares them with the stored values, and recomputes the Merkle root of the
chain; the caller compares that root with a checkpoint whose signature it verified (one
signature authenticates every entry the checkpoint covers: RFC 9162's guarantee).
Entries past the newest checkpoint are only linked, not authenticated: say so.

Standalone, like the rest of `ledger/`: the standard library and `cryptography`."""

from __future__ import annotations

import contextlib
import multiprocessing
import struct
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.chain import (
    ChainHead,
    EventContent,
    Failure,
    FailureKind,
    StoredEntry,
    VerifyReport,
    stored_values_differ,
    verify,
)
from ledger.encoding import (
    EVENT_TAG,
    MAX_U32,
    MAX_VERSION,
    entry_bytes,
    entry_hash,
    genesis_hash,
    signing_message,
)
from ledger.errors import EncodingError
from ledger.keys import KeyRing
from ledger.merkle import LEAF_PREFIX as LEAF
from ledger.merkle import NODE_PREFIX as NODE
from ledger.merkle import MerkleFrontier
from ledger.rotation import (
    ANNOUNCEMENT_TOPIC,
    AnnouncementError,
    KeySchedule,
    read_announcement,
)

BATCH = 4096
_worker_keys: dict[bytes, Ed25519PublicKey] = {}


def _check_batch(items: list[tuple[bytes, bytes, bytes]]) -> int | None:
    """The index of the first item (raw public key, entry hash, signature) whose
    signature does not verify, or None."""
    for i, (raw, h, signature) in enumerate(items):
        key = _worker_keys.get(raw)
        if key is None:
            key = _worker_keys[raw] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(signature, signing_message(h))
        except (InvalidSignature, ValueError, TypeError):
            return i
    return None


def verify_parallel(
    chain_id: str,
    entries: Iterable[StoredEntry],
    keyring: KeyRing,
    *,
    workers: int,
    reread: Callable[[int], Iterable[StoredEntry]],
    start: ChainHead | None = None,
    keys: KeySchedule | None = None,
    locate_digest: Callable[[bytes], int | None] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10000,
    batch: int = BATCH,
) -> VerifyReport:
    """As `verify(chain_id, entries, keyring, start=start, keys=keys, ...)`, with
    signatures checked by `workers` processes (each item carries its raw public key; the
    key in force and announcements are followed here, as `verify` does).
    `reread(position)` yields the stored entries from `position` on again (used only to
    diagnose a failure). Precondition: workers >= 1."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    head = start if start is not None else ChainHead.empty(chain_id)
    base = head.position
    schedule = keys.copy() if keys is not None else KeySchedule()
    ring = keyring.including(schedule.announced) if schedule.announced else keyring
    raw_keys = {kid: ring.public_key(kid) for kid in ring}
    pending: deque[tuple[ChainHead, KeySchedule, Future[int | None]]] = deque()
    items: list[tuple[bytes, bytes, bytes]] = []
    batch_head, batch_keys = head, schedule.copy()
    stop: Failure | None = None

    def diagnose(from_head: ChainHead, from_keys: KeySchedule) -> VerifyReport:
        report = verify(chain_id, reread(from_head.position + 1), keyring, start=from_head,
                        keys=from_keys, locate_digest=locate_digest)
        return VerifyReport(report.ok, report.head.position - base, report.head,
                            report.failure, report.keys)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:

        def settle(limit: int) -> VerifyReport | None:
            while len(pending) > limit:
                at, at_keys, future = pending.popleft()
                if future.result() is not None:
                    for _, _, later in pending:
                        later.cancel()
                    return diagnose(at, at_keys)
            return None

        for entry in entries:
            p = head.position + 1
            raw = raw_keys.get(entry.key_id) if isinstance(entry.key_id, str) else None
            if entry.position != p or entry.event is None or raw is None \
                    or not isinstance(entry.signature, bytes):
                stop = Failure(p, FailureKind.CHANGED, "")
                break
            try:
                digest = entry.event.digest()
                h = entry_hash(chain_id, p, head.entry_hash, digest)
            except EncodingError:
                stop = Failure(p, FailureKind.CHANGED, "")
                break
            # The key in force and announcements: as `verify` (which re-diagnoses).
            if schedule.wrong_key(p, entry.key_id) or schedule.signed(
                    p, entry.key_id, entry.event.topic, entry.event.state):
                stop = Failure(p, FailureKind.WRONG_KEY, "")
                break
            if stored_values_differ(entry, head.entry_hash, digest, h) is not None:
                stop = Failure(p, FailureKind.CHANGED, "")
                break
            for kid in schedule.announced.keys() - raw_keys.keys():
                raw_keys[kid] = schedule.announced[kid]
            items.append((raw, h, entry.signature))
            head = ChainHead(p, h)
            if len(items) >= batch:
                pending.append((batch_head, batch_keys, pool.submit(_check_batch, items)))
                items, batch_head, batch_keys = [], head, schedule.copy()
                failed = settle(2 * workers)
                if failed is not None:
                    return failed
            if progress is not None and p % progress_every == 0:
                progress(p)
        if items:
            pending.append((batch_head, batch_keys, pool.submit(_check_batch, items)))
        failed = settle(0)
        if failed is not None:
            return failed
    if stop is not None:  # the structural failure, named as verify names it
        return diagnose(batch_head, batch_keys)
    return VerifyReport(True, head.position - base, head, None, schedule)


_U64 = struct.Struct(">Q").pack
_U32 = struct.Struct(">I").pack


def _digest(event: EventContent) -> bytes:
    """`event.digest()` without re-checking what the stored row's types guarantee; any
    value outside the plain case goes through the checked encoder (EncodingError)."""
    oid, version, topic, state = (event.originator_id, event.originator_version,
                                  event.topic, event.state)
    if (type(oid) is bytes and len(oid) == 16 and type(version) is int
            and 0 <= version <= MAX_VERSION and type(topic) is str and type(state) is bytes
            and topic.isascii() and len(state) <= MAX_U32):
        raw_topic = topic.encode("ascii")
        return sha256(EVENT_TAG + oid + _U64(version) + _U32(len(raw_topic)) + raw_topic
                      + _U32(len(state)) + state).digest()
    return event.digest()


@dataclass(frozen=True)
class LinkReport:
    """`ok` iff every stored digest, entry hash and link recomputes; `frontier` is the
    Merkle frontier of the entries checked (its root goes against a checkpoint)."""

    ok: bool
    count: int
    head: ChainHead
    frontier: MerkleFrontier
    failure: Failure | None
    roots: dict[int, bytes]  # the Merkle root at each size asked for (`roots_at`)
    # Each key the chain's announcements retired, with the announcement's position (ADR
    # 0016): a checkpoint past it signed by that key authenticates nothing.
    retired: dict[str, int] = field(default_factory=dict)


def verify_links(chain_id: str, entries: Iterable[StoredEntry], *,
                 roots_at: Iterable[int] = (),
                 progress: Callable[[int], None] | None = None,
                 progress_every: int = 100000) -> LinkReport:
    """Recomputes each entry's event digest, entry hash and link from position 1 and
    compares them with the stored values (no signature is checked), and the Merkle
    frontier of the chain, with its root at each size of `roots_at` reached. The first
    mismatch is the failure: MISSING or INSERTED for a gap or an extra position, CHANGED
    otherwise."""
    return follow_links(chain_id, entries, ChainHead(0, genesis_hash(chain_id)), [],
                        roots_at=roots_at, progress=progress, progress_every=progress_every)


def follow_links(chain_id: str, entries: Iterable[StoredEntry], head: ChainHead,
                 stack: list[bytes], *, base: int = 0, roots_at: Iterable[int] = (),
                 stacks_at: dict[int, tuple[bytes, ...]] | None = None,
                 retired: dict[str, int] | None = None,
                 progress: Callable[[int], None] | None = None,
                 progress_every: int = 100000) -> LinkReport:
    """`verify_links` continued after `head`: `entries` follow it (position
    head.position + 1 on) and `stack` is the Merkle frontier of the leaves base + 1 ..
    head.position (the whole chain's when `base` is 0; a segment's own when `base` is
    where an aligned segment starts, `ledger.segments`). `stack` is extended in place;
    `stacks_at` receives the frontier at each position of `roots_at` reached, `retired`
    each announcement's predecessor with the first position that retired it. The
    report's roots are those of the whole chain (meaningful when `base` is 0)."""
    wanted, roots = set(roots_at), {}
    retired = {} if retired is None else retired
    entry_prefix = entry_bytes(chain_id, 1, bytes(32), bytes(32))[:-(8 + 64)]

    def report(failure: Failure | None) -> LinkReport:
        frontier = (MerkleFrontier(head.position, tuple(stack)) if base == 0
                    else MerkleFrontier())
        return LinkReport(failure is None, head.position, head, frontier, failure, roots,
                          retired)

    for entry in entries:
        p = head.position + 1
        if entry.position != p:
            kind = FailureKind.MISSING if entry.position > p else FailureKind.INSERTED
            return report(Failure(p, kind, f"the next stored position is {entry.position}"))
        if entry.event is None:
            return report(Failure(p, FailureKind.MISSING, "the event row of this entry is "
                                                          "gone"))
        try:
            digest = _digest(entry.event)
            canonical = entry_prefix + _U64(p) + head.entry_hash + digest
        except EncodingError as error:
            return report(Failure(p, FailureKind.CHANGED, f"the event row is malformed: "
                                                          f"{error}"))
        h = sha256(canonical).digest()
        if digest != entry.event_digest or h != entry.entry_hash \
                or entry.prev_hash != head.entry_hash:
            return report(Failure(p, FailureKind.CHANGED, "the stored digest, hash or link "
                                  "does not recompute from the event and the chain"))
        node, index = sha256(LEAF + canonical).digest(), head.position - base
        while index & 1:  # the leaf completes subtrees to its left (RFC 9162 §2.1.1)
            node = sha256(NODE + stack.pop() + node).digest()
            index >>= 1
        stack.append(node)
        head = ChainHead(p, h)
        if entry.event.topic == ANNOUNCEMENT_TOPIC:
            # Links only: a malformed announcement is the full verification's to name.
            with contextlib.suppress(AnnouncementError):
                retired.setdefault(read_announcement(entry.event.state).predecessor, p)
        if p in wanted:
            if base == 0:
                roots[p] = MerkleFrontier(p, tuple(stack)).root()
            if stacks_at is not None:
                stacks_at[p] = tuple(stack)
        if progress is not None and p % progress_every == 0:
            progress(p)
    return report(None)
