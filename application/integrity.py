"""The chain guard: a process reads no event that a verified, linked, signed ledger entry
does not vouch for (ADR 0009).

Every unit of work begins by following the institution's log from where this process
last verified it: each new event must have the ledger entry at the next position, whose
hash links to the previous one and recomputes from the event's bytes, signed by a
trusted key — exactly `ledger.verify`, continued from the last verified head. Entries
this process wrote itself are taken without checking them again (it has just signed
them). Anything else — an event without a ledger entry, an entry that does not verify, a
ledger that runs ahead of the events — raises the alarm: from then on the process
refuses every command and read of that institution (`IntegrityAlarm`, 423) until an
operator has looked (`ejournal ledger verify`) and restarted it. Writers chain only onto
a head the guard has verified, so nobody's new entries ever hang from a forged one.

A process starting later need not re-verify the whole history: every `MARK_EVERY`
entries the guard stores a verified-through mark, (position, entry hash) signed by the
service's key under its own domain tag; the newest mark whose signature verifies and
whose entry hash is still the one stored at that position is where a new guard starts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from threading import Lock
from typing import Protocol
from uuid import UUID

import ledger
from application.storage.chain import FollowRow, content_of
from application.unit_of_work import Retry

log = logging.getLogger("ejournal.integrity")

PAGE = 1000
MARK_EVERY = 5000
MARKS_TRIED = 100


class IntegrityAlarm(Exception):
    """The institution's stored history does not verify: nothing of it is served."""

    def __init__(self, slug: str, failure: ledger.Failure) -> None:
        super().__init__(f"{slug}: {failure.kind.value} at position {failure.position}: "
                         f"{failure.detail}")
        self.slug = slug
        self.failure = failure


class ChainMoved(Retry):
    """The ledger's head is not the one the guard verified: follow it first, then run the
    command again."""


class ChainSource(Protocol):
    def follow_rows(self, after: int, limit: int) -> tuple[int, Sequence[FollowRow]]: ...
    def entry_at(self, position: int) -> tuple[bytes, int] | None: ...
    def counts(self) -> tuple[int, int, int, int]: ...
    def verified_marks(self, limit: int, at_most: int = ...
                       ) -> Sequence[tuple[int, bytes, str, bytes]]: ...
    def add_verified_mark(self, position: int, entry_hash: bytes, key_id: str,
                          signature: bytes) -> None: ...


class ChainGuard:
    def __init__(self, slug: str, chain_id: str, keyring: ledger.KeyRing,
                 signer: Callable[[], ledger.Signer] | None,
                 holds: Callable[[str], bool] | None = None) -> None:
        """`signer`: the active signing key (it signs verified-through marks), as of
        each call: a rotation changes it while the process runs. `holds(key_id)`: whether
        the deployment still holds that private key — a mark signed by a retired key
        (destroyed on rotation, ADR 0016) is not trusted: whoever stole it could sign a
        mark over a forged tail."""
        self.slug, self.chain_id, self.keyring, self.signer = slug, chain_id, keyring, signer
        self.holds = holds
        # Checked once on opening, with the ledger's last position: whether the stored
        # log still extends the last checkpoint this deployment signed (the service sets
        # it; a failure is the alarm).
        self.remembered: Callable[[int], ledger.Failure | None] | None = None
        self.source: ChainSource | None = None  # the recorder, once constructed
        self._lock = Lock()
        self.head: ledger.ChainHead | None = None  # verified; None until opened
        # The key in force after the head, and the keys retired and announced since the
        # guard opened (ADR 0016); replaced whole, never mutated.
        self.keys: ledger.KeySchedule | None = None
        self.notification_id = 0  # of the event at the verified head
        self.failure: ledger.Failure | None = None
        self.checked = 0  # entries whose signature this guard verified
        self._marked = 0
        # Receives the changes `advance` verified (the aggregate cache evicts by them).
        self.listener: Callable[[list[tuple[int, UUID, int]]], None] | None = None

    # Following the log ------------------------------------------------------------------
    def follow(self) -> list[tuple[int, UUID, int]]:
        """Verifies everything stored since the last call; returns (notification id,
        aggregate id, version) of the new events, for the aggregate cache.

        The guard's lock is held only for CPU work, never across a database read or
        write: a writer holding a connection may need it (`advance`), and a lock held
        while waiting for a connection would deadlock with it."""
        with self._lock:
            self._check()
            if self.head is None:
                self._open()  # once per process, before anyone appends through it
        changes: list[tuple[int, UUID, int]] = []
        while True:
            after = self.notification_id
            last, rows = self._source().follow_rows(after, PAGE)
            with self._lock:
                self._check()
                # Another thread may have verified some of them meanwhile.
                fresh = [r for r in rows if r.notification_id > self.notification_id]
                if fresh:
                    self._verify(fresh)
                    changes.extend((r.notification_id, _uuid(r.originator_id),
                                    int(r.originator_version)) for r in fresh)
                if len(rows) < PAGE:
                    if self.notification_id == (rows[-1].notification_id if rows else after):
                        self._check_ends_at(last)
                    break
        self._mark()
        return changes

    def advance(self, last: int, rows: Sequence[FollowRow]) -> None:
        """Verifies what other processes appended since the guard's head, as a writer read
        it under the institution's write lock (`rows`: the events after the guard's
        notification id with their entries; `last`: the ledger's last position), so that
        the writer may chain onto it at once instead of running its command again. No
        I/O here: the writer holds a database connection. Their changes go to the
        listener (the aggregate cache)."""
        with self._lock:
            self._check()
            if self.head is None:
                raise ChainMoved  # not opened yet: follow first
            rows = [r for r in rows if r.notification_id > self.notification_id]
            if rows:
                self._verify(rows)
            self._check_ends_at(last)
            changes = [(r.notification_id, _uuid(r.originator_id), int(r.originator_version))
                       for r in rows]
        if changes and self.listener is not None:
            self.listener(changes)

    def _verify(self, rows: Sequence[FollowRow]) -> None:
        assert self.head is not None
        entries = []
        for row in rows:
            if row.position is None:
                self._raise(ledger.Failure(
                    self.head.position + len(entries) + 1, ledger.FailureKind.INSERTED,
                    f"event {row.originator_id} v{row.originator_version} (row "
                    f"{row.notification_id}) has no ledger entry"))
            entries.append(ledger.StoredEntry(
                position=int(row.position), prev_hash=bytes(row.prev_hash or b""),
                event_digest=bytes(row.event_digest or b""),
                entry_hash=bytes(row.entry_hash or b""), key_id=str(row.key_id),
                signature=bytes(row.signature or b""),
                event=content_of(row.originator_id, row.originator_version, row.topic,
                                 row.state)))
        report = ledger.verify(self.chain_id, entries, self.keyring, start=self.head,
                               keys=self.keys)
        if not report.ok:
            assert report.failure is not None
            self._raise(report.failure)
        self.checked += report.count
        self.head, self.keys = report.head, report.keys
        self.notification_id = rows[-1].notification_id

    def _check_ends_at(self, last: int) -> None:
        """The ledger's last position, read in the same statement as the events: a ledger
        that runs ahead of the events it vouches for (an entry inserted without its
        event) is as wrong as an event without an entry."""
        assert self.head is not None
        if last > self.head.position:
            self._raise(ledger.Failure(self.head.position + 1, ledger.FailureKind.INSERTED,
                                       f"the ledger ends at position {last}, past the last "
                                       f"event vouched for ({self.head.position})"))
        if last < self.head.position:
            self._raise(ledger.Failure(last + 1, ledger.FailureKind.MISSING,
                                       f"the ledger ends at position {last}, before the "
                                       f"last entry vouched for ({self.head.position}): "
                                       "truncated"))

    def wrote(self, first_position: int, head: ledger.ChainHead, notification_id: int,
              keys: ledger.KeySchedule | None = None) -> None:
        """This process committed entries first_position..head.position (it signed them
        itself, `keys` being the key schedule after them): the verified head moves on if
        they follow it directly; otherwise the next `follow` verifies them with whatever
        came between."""
        with self._lock:
            if (self.failure is None and self.head is not None and keys is not None
                    and self.head.position == first_position - 1):
                self.head, self.notification_id, self.keys = head, notification_id, keys
        self._mark()

    def key_schedule(self, head: ledger.ChainHead) -> ledger.KeySchedule | None:
        """A copy of the key schedule at `head` if it is the verified head (raises in
        alarm), else None: who signs the next entry (ADR 0016)."""
        self._check()
        with self._lock:
            if self.head != head or self.keys is None:
                return None
            return self.keys.copy()

    def at_head(self, position: int, entry_hash: bytes) -> bool:
        """Whether (position, entry_hash) is the verified head (raises in alarm). No lock:
        the head is replaced whole, never mutated."""
        self._check()
        head = self.head
        return head is not None and (head.position, head.entry_hash) == (position, entry_hash)

    def require_head(self, position: int, entry_hash: bytes) -> None:
        """Raises ChainMoved unless (position, entry_hash) is the verified head: a writer
        chains only onto a head the guard has verified."""
        if self.at_head(position, entry_hash):
            return
        head = self.head
        if head is not None and head.position == position:
            # Positions are unique and a committed entry never changes: a stored head
            # with another hash than the verified one is a ledger row altered in place.
            self._raise(ledger.Failure(position, ledger.FailureKind.CHANGED,
                                       f"the stored entry hash at the head {position} is "
                                       f"{_hex(entry_hash)}, the verified chain's is "
                                       f"{head.entry_hash.hex()}: the ledger row was "
                                       "altered"))
        raise ChainMoved

    def alarm(self, failure: ledger.Failure) -> None:
        """Raises the alarm for a failure found outside the follow — junk Merkle nodes
        met by a writer, a tree that is not the chain's (ADR 0011). No lock: the failure
        is set whole."""
        self._raise(failure)

    # Opening: from the newest valid verified-through mark ----------------------------------
    def _open(self) -> None:
        source = self._source()
        # Once per process: as many events as entries, and as many entries as the last
        # position — no entry or event stands outside the chain 1..head, where following
        # by notification id and by position could miss it. merkle_nodes has a leaf per
        # entry (or none yet: a chain older than the tree), none past the head.
        events, entries, last, leaves = source.counts()
        if not events == entries == last:
            self._raise(ledger.Failure(min(entries, last) + 1, ledger.FailureKind.INSERTED,
                                       f"{events} events, {entries} ledger entries, last "
                                       f"position {last}: rows outside the chain"))
        if leaves > last:
            self._raise(ledger.Failure(last + 1, ledger.FailureKind.INSERTED,
                                       f"merkle_nodes holds a leaf at index {leaves - 1}, "
                                       f"past the chain's {last} entries: a node the chain "
                                       "did not write"))
        cut = self.remembered(last) if self.remembered is not None else None
        if cut is not None:
            self._raise(cut)
        self.head, self.notification_id = ledger.ChainHead.empty(self.chain_id), 0
        self.keys = ledger.KeySchedule()
        start = self._start_mark(source, last)
        if start is not None:
            self.head, self.notification_id = start
            self.keys = self._keys_at(source, *start)
        self._marked = self.head.position

    def _keys_at(self, source: ChainSource, head: ledger.ChainHead, notification_id: int
                 ) -> ledger.KeySchedule:
        """The key in force after the entry at a verified-through mark: its signer's, or
        the successor it announces (ADR 0016). The entry is read again and its signature
        checked: the mark vouches for its hash, not for the stored key id."""
        _, rows = source.follow_rows(notification_id - 1, 1)
        row = rows[0] if rows else None
        if (row is None or row.position != head.position or row.key_id is None
                or bytes(row.entry_hash or b"") != head.entry_hash
                or not self.keyring.verify(row.key_id, head.entry_hash,
                                           bytes(row.signature or b""))):
            self._raise(ledger.Failure(head.position, ledger.FailureKind.CHANGED,
                                       "the entry at a verified-through mark no longer "
                                       "verifies (its key or signature was changed)"))
        assert row is not None and row.key_id is not None
        content = content_of(row.originator_id, row.originator_version, row.topic, row.state)
        try:
            in_force = ledger.key_after(row.key_id, content.topic, content.state)
        except ledger.AnnouncementError as error:
            self._raise(ledger.Failure(head.position, ledger.FailureKind.WRONG_KEY,
                                       f"a malformed key announcement: {error}"))
            raise
        return ledger.KeySchedule(in_force, head.position + 1)

    def _start_mark(self, source: ChainSource, last: int
                    ) -> tuple[ledger.ChainHead, int] | None:
        """The newest verified-through mark that verifies (a trusted key's signature, the
        entry hash still the one at its position), with its event's notification id.
        Bounded work whatever junk the table holds: the newest MARKS_TRIED marks (a
        genuine one past the ledger's end means it was cut back: the alarm), then, if
        none of them is usable, the newest MARKS_TRIED at or below the last position.
        Forged marks are ignored, in one log line."""
        forged: list[int] = []
        try:
            for read in (lambda: source.verified_marks(MARKS_TRIED),
                         lambda: source.verified_marks(MARKS_TRIED, last)):
                for position, entry_hash, key_id, signature in read():
                    if position in forged:
                        continue
                    if (self.holds is not None and not self.holds(key_id)) or \
                            not self.keyring.verify_verified(key_id, self.chain_id, position,
                                                             bytes(entry_hash),
                                                             bytes(signature)):
                        forged.append(position)
                        continue
                    stored = source.entry_at(position)  # afresh: others may append
                    if stored is None:
                        self._raise(ledger.Failure(
                            min(last + 1, position), ledger.FailureKind.MISSING,
                            f"a verified-through mark at position {position}, which the "
                            "ledger does not reach: truncated"))
                    assert stored is not None
                    if bytes(stored[0]) != bytes(entry_hash):
                        self._raise(ledger.Failure(position, ledger.FailureKind.CHANGED,
                                                   "the entry at a verified-through mark "
                                                   "differs from the one verified"))
                    return ledger.ChainHead(position, bytes(entry_hash)), int(stored[1])
            return None
        finally:
            if forged:
                log.warning("%s: %d verified-through marks do not verify or are signed by "
                            "a retired key (forged rows of ledger_verified, e.g. at %s); "
                            "ignored — `ejournal ledger "
                            "verify` lists them", self.slug, len(forged),
                            ", ".join(map(str, sorted(forged)[-5:])))

    def _mark(self) -> None:
        """Stores a verified-through mark if the head moved MARK_EVERY entries past the
        last one — outside the guard's lock (it writes to the database)."""
        with self._lock:
            head = self.head
            if (self.signer is None or head is None or self.failure is not None
                    or head.position - self._marked < MARK_EVERY):
                return
            self._marked = head.position
        signer = self.signer()
        signature = signer.sign_verified(self.chain_id, head.position, head.entry_hash)
        self._source().add_verified_mark(head.position, head.entry_hash, signer.key_id,
                                         signature)

    # The alarm --------------------------------------------------------------------------
    def _check(self) -> None:
        if self.failure is not None:
            raise IntegrityAlarm(self.slug, self.failure)

    def _raise(self, failure: ledger.Failure) -> None:
        self.failure = failure
        log.critical("INTEGRITY ALARM %s: %s at position %s: %s", self.slug,
                     failure.kind.value, failure.position, failure.detail)
        raise IntegrityAlarm(self.slug, failure)

    def _source(self) -> ChainSource:
        assert self.source is not None, "the guard has no recorder yet"
        return self.source


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else repr(value)
