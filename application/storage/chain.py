"""What the SQLite and PostgreSQL recorders share: turning stored events into
signed ledger entries, and reading entries back for verification."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

import ledger
from application.unit_of_work import ABSENT, ReadChanged, Retry
from domain.errors import Forbidden

# position, originator id, version, prev_hash, event_digest, entry_hash, key_id, signature
Entry = tuple[int, UUID, int, bytes, bytes, bytes, str, bytes]
HEAD_SQL = "SELECT position, entry_hash FROM ledger ORDER BY position DESC LIMIT 1"


class Guard(Protocol):
    """application.integrity.ChainGuard, as the recorders use it."""

    def require_head(self, position: int, entry_hash: bytes) -> None: ...
    def at_head(self, position: int, entry_hash: bytes) -> bool: ...
    notification_id: int
    def advance(self, last: int, rows: Sequence[FollowRow]) -> None: ...
    def key_schedule(self, head: ledger.ChainHead) -> ledger.KeySchedule | None: ...
    def wrote(self, first_position: int, head: ledger.ChainHead, notification_id: int,
              keys: ledger.KeySchedule | None = None) -> None: ...
    def alarm(self, failure: ledger.Failure) -> None: ...


class Keys(Protocol):
    """application.signing.KeyDirectory, as the writer uses it."""

    def active(self) -> ledger.Signer: ...
    def signer(self, key_id: str) -> ledger.Signer: ...


class HeadNotVerified(Retry):
    """The head a writer would sign after is not the guard's verified head (a writer
    knowing its own last head while the guard was re-opened): read the head again."""


class AnnouncementRefused(Retry):
    """An announcement names another predecessor than the key in force when it is
    signed (a rotation raced with another): nothing is written; run it again."""


class ReadOnlyJournal(Forbidden):
    """A deployment without signing keys (an opened archive, ADR 0014) writes nothing."""

    code = "read_only"
    title = "Журнал только для чтения"


class JunkNodes(Exception):
    """merkle_nodes holds rows ahead of the chain (no chain guard to raise the alarm)."""


@dataclass(frozen=True)
class ChainWriter:
    """Appends to one institution's chain; `guard` (none in the benchmarks' ledger-less
    variants) sees that it chains only onto verified heads. Each entry is signed by the
    key in force at its position (ADR 0016), which the guard follows: `keys` loads it by
    id; `signer` (the active key when the writer was made) signs where no key is in force
    yet (a new chain) or there is no key directory (benchmarks, restore)."""

    chain_id: str
    signer: ledger.Signer | None  # None: a read-only deployment
    guard: Guard | None = None
    keys: Keys | None = None

    def head(self, row: tuple[int, bytes] | None) -> ledger.ChainHead:
        if row is None:
            return ledger.ChainHead.empty(self.chain_id)
        return ledger.ChainHead(position=int(row[0]), entry_hash=bytes(row[1]))

    def entries(self, head: ledger.ChainHead, stored: Sequence[StoredEvent]
                ) -> tuple[list[Entry], ledger.KeySchedule | None]:
        """Signed entries for `stored` after `head`, in order: (position, originator id,
        version, prev_hash, event_digest, entry_hash, key_id, signature); and the key
        schedule after them. An announcement is signed by the key it retires, the
        entries after it by its successor. Raises HeadNotVerified if `head` is not the
        guard's verified head, AnnouncementRefused for an announcement the key in force
        may not sign."""
        contents = [content_of(s.originator_id, s.originator_version, s.topic, s.state)
                    for s in stored]
        schedule = None
        if self.guard is not None:
            schedule = self.guard.key_schedule(head)
            if schedule is None:
                raise HeadNotVerified
        signed: list[ledger.NewEntry] = []
        start = 0
        while start < len(contents):
            signer = self._signer(schedule)
            # Up to and including the next announcement: one key signs the stretch.
            end = next((i + 1 for i in range(start, len(contents))
                        if ledger.is_announcement(contents[i].topic)), len(contents))
            new, head = ledger.append(self.chain_id, head, contents[start:end], signer)
            signed.extend(new)
            if schedule is not None:
                last = contents[end - 1]
                wrong = schedule.wrong_key(head.position, signer.key_id) or schedule.signed(
                    head.position, signer.key_id, last.topic, last.state)
                if wrong is not None:
                    raise AnnouncementRefused(wrong)
            start = end
        return [
            (e.position, s.originator_id, s.originator_version, e.prev_hash, e.event_digest,
             e.entry_hash, e.key_id, e.signature)
            for e, s in zip(signed, stored, strict=True)
        ], schedule

    def _signer(self, schedule: ledger.KeySchedule | None) -> ledger.Signer:
        if self.keys is None:
            if self.signer is None:
                raise ReadOnlyJournal("Журнал открыт только для чтения (архив): запись в "
                                      "него невозможна.")
            return self.signer
        if schedule is None or schedule.in_force is None:
            return self.keys.active()
        return self.keys.signer(schedule.in_force)


def junk_node_alarm(chain: ChainWriter, head_position: int,
                    created: Sequence[ledger.Subtree], found: Mapping[tuple[int, int], bytes]
                    ) -> None:
    """An append after `head_position` clashed on merkle_nodes under the write lock with
    the head unchanged: the stored rows `found` at the keys of the subtrees it `created`
    were not written by the chain. Raises the integrity alarm naming them (and logs it
    CRITICAL, through the guard)."""
    computed = {(s.level, s.index): s.hash for s in created}
    # (A row equal to the computed one may be this transaction's own, on SQLite.)
    junk = sorted((k, bytes(h)) for k, h in found.items() if computed.get(k) != bytes(h))
    named = "; ".join(f"(level {level}, index {idx}) = {h.hex()}, the chain's would be "
                      f"{computed[(level, idx)].hex()}" for (level, idx), h in junk[:4]
                      ) or "a row at one of " + ", ".join(map(str, computed))
    failure = ledger.Failure(
        head_position + 1, ledger.FailureKind.INSERTED,
        f"merkle_nodes holds a node the chain did not write (its head is at "
        f"{head_position}): {named}; remove it (`ejournal ledger verify` lists it)")
    if chain.guard is None:
        raise JunkNodes(failure.detail)
    chain.guard.alarm(failure)
    raise AssertionError("the guard raises the alarm")


@dataclass(frozen=True)
class FollowRow:
    """An event row after the guard's position, with its ledger entry (None fields when
    the event has none)."""

    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes | str
    position: int | None
    prev_hash: bytes | None
    event_digest: bytes | None
    entry_hash: bytes | None
    key_id: str | None
    signature: bytes | None


def content_of(originator_id: UUID | str, version: int, topic: str, state: bytes | str
               ) -> ledger.EventContent:
    """The event row as ledger content. Tolerates whatever a tampered row may hold
    (state stored as text or NULL, an id that is no UUID, a version that is no number):
    such a value becomes one that cannot verify, so verification reports the position
    instead of crashing."""
    if isinstance(originator_id, UUID):
        oid = originator_id.bytes
    else:
        try:
            oid = UUID(str(originator_id)).bytes
        except ValueError:
            oid = b""  # not 16 bytes: the event row is malformed (changed)
    try:
        number = int(version)
    except (TypeError, ValueError):
        number = -1  # out of range: the event row is malformed (changed)
    return ledger.EventContent(originator_id=oid, originator_version=number,
                               topic=str(topic), state=_blob(state))


def _blob(value: object) -> bytes:
    """A stored binary value as bytes; text as its UTF-8 bytes; anything else (NULL, a
    number) as no bytes — a value that cannot verify, never a crash."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return b""


def stored_entry(row: tuple) -> ledger.StoredEntry:  # type: ignore[type-arg]
    """Row: position, prev_hash, event_digest, entry_hash, key_id, signature,
    originator_id, originator_version, topic, state (the last four None when the
    event row is gone). Tampered values are kept as values that cannot verify."""
    position, prev, digest, entry_hash, key_id, signature, oid, version, topic, state = row
    event = None if oid is None else content_of(oid, version, topic, state)
    return ledger.StoredEntry(
        position=int(position), prev_hash=_blob(prev), event_digest=_blob(digest),
        entry_hash=_blob(entry_hash), key_id=key_id if isinstance(key_id, str) else repr(key_id),
        signature=_blob(signature), event=event,
    )


def changed_reads(reads: Mapping[UUID, int], latest: Iterable[tuple[UUID | str, int]]) -> None:
    """Raises ReadChanged (rolling the write back) when an aggregate the command read at
    one version now has another latest version — or exists, having been read as absent."""
    now = {oid if isinstance(oid, UUID) else UUID(oid): int(v) for oid, v in latest}
    changed = [i for i, version in reads.items() if now.get(i, ABSENT) != version]
    if changed:
        raise ReadChanged(changed)
