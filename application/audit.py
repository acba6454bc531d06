"""What auditors read, and families' receipts (issue 10 §3, ADR 0011).

An auditor (appointed from the command line, `ejournal users add --role auditor`) reads
the institution's signed record and nothing of the journal: the latest checkpoint and
their history, inclusion proofs of any entry, consistency proofs between two tree sizes,
and the raw canonical entries of a range. A student or guardian downloads a receipt for
one of their own marks: a `c2sp.org/tlog-proof@v1` with the entry (ledger/receipt.py).

Proofs come from the stored Merkle tree in O(log n) reads; each one served is checked
against the root first, so a tampered `merkle_nodes` raises the integrity alarm instead
of handing out a proof that does not verify."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn, TypeVar
from uuid import UUID

import ledger
from application import checkpoints
from application.actors import Actor
from application.integrity import IntegrityAlarm
from application.service import CheckpointRefused, Ejournal, chain_id_of
from application.storage import tree
from application.storage.layout import ChainReader
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.lessons import Lesson
from domain.people import Student
from domain.values import Role

ENTRIES_PAGE = 10_000  # entries in one response of the range read
STREAM_PAGE = 1_000  # entries read from the store at once while streaming
CHECKPOINTS_PAGE = 1_000
MARK_NOT_FOUND = "Отметка не найдена."
T = TypeVar("T")


@dataclass(frozen=True)
class CheckpointRecord:
    size: int
    origin: str
    root: bytes
    note: str
    signed_at: str


@dataclass(frozen=True)
class InclusionProof:
    index: int  # leaf index: chain position - 1
    size: int
    leaf_hash: bytes
    root: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class Receipt:
    text: str
    verifier_key: str
    position: int
    checkpoint_size: int


class Audit:
    """The auditor's reads and the families' receipts of one deployment."""

    def __init__(self, ejournal: Ejournal) -> None:
        self.ejournal = ejournal

    # Auditors -------------------------------------------------------------------------
    @staticmethod
    def _require_auditor(actor: Actor) -> None:
        if Role.AUDITOR not in actor.roles:
            raise Forbidden("Реестр и доказательства доступны проверяющему.")

    def _tree(self, actor: Actor) -> tuple[ChainReader, int]:
        """The reader and the size of the stored tree (built first for an older chain)."""
        store = self.ejournal.journal(actor.slug).store
        store.institution_ro()  # a unit of work: the chain guard verifies what is new
        store.recorder.ensure_tree()  # type: ignore[attr-defined]
        reader = self.ejournal.backend.chain_reader(actor.slug)
        size, leaves = reader.tree_size()
        if leaves != size:
            self._alarm(actor.slug, size, f"merkle_nodes holds {leaves} leaves, the ledger "
                                          f"{size} entries")
        return reader, size

    def _stored(self, slug: str, reader: ChainReader,
                compute: Callable[[Callable[[int, int], bytes]], T]) -> T:
        """`compute` over the stored subtrees; the integrity alarm if one is missing."""
        try:
            return tree.from_store(compute, reader.subtrees)
        except tree.TreeIncomplete as error:
            self._alarm(slug, 1, f"merkle_nodes: {error}")

    def _alarm(self, slug: str, position: int, detail: str) -> NoReturn:
        """The integrity alarm of the institution — raised in its chain guard, so that
        what the 423 says holds: the process serves nothing of it until an administrator
        has looked (logged CRITICAL) — and raised here."""
        failure = ledger.Failure(max(position, 1), ledger.FailureKind.CHANGED, detail)
        guard = self.ejournal.journal(slug).store.chain.guard
        if guard is not None:
            guard.alarm(failure)
        raise IntegrityAlarm(slug, failure)

    def checkpoint(self, actor: Actor) -> str:
        """The latest checkpoint, as a signed note: a new one is signed first if the tree
        grew since the last (the same as `ejournal ledger checkpoint`)."""
        self._require_auditor(actor)
        return self._signed(actor.slug)

    def _signed(self, slug: str, position: int = 1) -> str:
        """The service's latest checkpoint (signed now if the tree grew; it builds the
        tree and follows the chain itself); a refusal is the integrity alarm."""
        try:
            return self.ejournal.checkpoint(slug)
        except (CheckpointRefused, tree.TreeIncomplete) as error:
            self._alarm(slug, position, str(error))

    def checkpoints(self, actor: Actor, after_size: int = 0,
                    limit: int = CHECKPOINTS_PAGE) -> list[CheckpointRecord]:
        """The checkpoints the service signed of trees larger than `after_size`, smallest
        first, at most `limit` (a page: the next starts after the last size)."""
        self._require_auditor(actor)
        if after_size < 0 or not 1 <= limit <= CHECKPOINTS_PAGE:
            raise InvalidValue(f"after_size ≥ 0, limit от 1 до {CHECKPOINTS_PAGE}.",
                               field="limit")
        reader = self.ejournal.backend.chain_reader(actor.slug)
        tree_size, keyring = reader.tree_size()[0], self.ejournal.keyring()
        # Rows are claims (the runtime role inserts): only those the service's keys sign,
        # with the row's size and root, are served; the rest are logged (ADR 0011).
        return [CheckpointRecord(*row) for row in reader.checkpoints(after_size, limit)
                if checkpoints.row_fault(row[:4], tree_size, keyring) is None]

    def inclusion(self, actor: Actor, index: int, size: int | None = None) -> InclusionProof:
        """The inclusion proof of leaf `index` (chain position index + 1) in the tree of
        `size` leaves (default: the whole current tree), with the leaf hash and root."""
        self._require_auditor(actor)
        reader, current = self._tree(actor)
        size = current if size is None else size
        if not 0 < size <= current:
            raise InvalidValue(f"Размер дерева: от 1 до {current}.", field="size",
                               tree_size=current)
        if not 0 <= index < size:
            raise InvalidValue(f"Номер листа: от 0 до {size - 1}.", field="index")
        entries = reader.entries_between(index + 1, index + 1)
        if len(entries) != 1:
            self._alarm(actor.slug, index + 1, f"the ledger has no entry {index + 1}")
        e = entries[0]
        leaf = ledger.chain_leaf_hash(self._chain_id(actor), e.position, e.prev_hash,
                                      e.event_digest)
        slug = actor.slug
        root = self._stored(slug, reader, lambda st: ledger.root_hash_from(size, st))
        proof = self._stored(slug, reader,
                             lambda st: ledger.inclusion_proof_from(index, size, st))
        if not ledger.verify_inclusion(leaf, index, size, proof, root):
            self._alarm(actor.slug, index + 1, "the stored Merkle tree does not prove the "
                                               f"entry {index + 1}")
        return InclusionProof(index, size, leaf, root, proof)

    def consistency(self, actor: Actor, old_size: int, new_size: int | None = None
                    ) -> ConsistencyProof:
        """The consistency proof from the tree of `old_size` leaves to that of `new_size`
        (default: the current tree), with both roots."""
        self._require_auditor(actor)
        reader, current = self._tree(actor)
        new_size = current if new_size is None else new_size
        if not 0 < new_size <= current:
            raise InvalidValue(f"Новый размер дерева: от 1 до {current}.", field="new_size",
                               tree_size=current)
        if not 0 < old_size <= new_size:
            raise InvalidValue(f"Прежний размер дерева: от 1 до {new_size}.",
                               field="old_size")
        slug = actor.slug
        old_root = self._stored(slug, reader, lambda st: ledger.root_hash_from(old_size, st))
        new_root = self._stored(slug, reader, lambda st: ledger.root_hash_from(new_size, st))
        proof = self._stored(
            slug, reader, lambda st: ledger.consistency_proof_from(old_size, new_size, st))
        if not ledger.verify_consistency(old_size, new_size, old_root, new_root, proof):
            self._alarm(actor.slug, old_size, "the stored Merkle tree gives no consistency "
                                              f"proof from {old_size} to {new_size}")
        return ConsistencyProof(old_size, new_size, old_root, new_root, proof)

    def entries(self, actor: Actor, first: int, last: int | None = None) -> Iterator[str]:
        """The entries at chain positions first..last (at most ENTRIES_PAGE; default: up to
        the head) as the JSON lines of `ejournal ledger export`, header first, read from
        the store a page at a time. Checked before the first line is produced."""
        self._require_auditor(actor)
        reader = self.ejournal.backend.chain_reader(actor.slug)
        head, _ = reader.tree_size()
        if not 1 <= first <= max(head, 1):
            raise InvalidValue(f"Первая позиция: от 1 до {max(head, 1)}.", field="from",
                               chain_length=head)
        last = min(head, first + ENTRIES_PAGE - 1) if last is None else last
        if not first <= last < first + ENTRIES_PAGE or last > head:
            raise InvalidValue(f"Последняя позиция: от {first} до "
                               f"{min(head, first + ENTRIES_PAGE - 1)} (не более "
                               f"{ENTRIES_PAGE} записей за запрос).", field="to",
                               chain_length=head)
        return self._lines(reader, self._chain_id(actor), first, last)

    @staticmethod
    def _lines(reader: ChainReader, chain_id: str, first: int, last: int) -> Iterator[str]:
        yield ledger.export_header(chain_id) + "\n"
        for start in range(first, last + 1, STREAM_PAGE):
            for entry in reader.entries_between(start, min(last, start + STREAM_PAGE - 1)):
                yield ledger.export_line(entry) + "\n"

    def _chain_id(self, actor: Actor) -> str:
        return chain_id_of(self.ejournal.journal(actor.slug).store.institution_ro().id)

    # Families -------------------------------------------------------------------------
    def receipt(self, actor: Actor, lesson_id: UUID, mark_id: UUID) -> Receipt:
        """A receipt for the latest record of one of the caller's own marks (a student's,
        or their guardian's): the entry of the event that gave the mark its current value,
        proved included in a signed checkpoint (signed now if the last one predates it).
        Anyone else's mark is the 404 of an unknown one."""
        if actor.kind not in ("student", "guardian"):
            raise Forbidden("Квитанцию об отметке получает обучающийся или его законный "
                            "представитель.")
        journal = self.ejournal.journal(actor.slug)
        lesson = journal.store.get(Lesson, lesson_id)
        try:
            mark = lesson.mark(mark_id)
            journal.access.check_reads_student(actor, journal.store.get(Student,
                                                                         mark.student_id))
        except NotFound:
            raise NotFound(MARK_NOT_FOUND, mark_id=str(mark_id)) from None
        version = max(e.originator_version
                      for e in journal.store.repository.event_store.get(lesson_id)
                      if getattr(e, "mark_id", None) == mark_id)
        reader = self.ejournal.backend.chain_reader(actor.slug)
        entry = reader.entry_of_event(lesson_id, version)
        if entry is None or entry.event is None:
            self._alarm(actor.slug, 1, f"event {lesson_id} v{version} is not in the ledger")
        assert entry is not None and entry.event is not None
        origin = self.ejournal.log_origin(actor.slug)
        latest = self.ejournal.latest_checkpoint(actor.slug)  # only rows the keys sign
        if latest is not None and latest[0] >= entry.position and latest[1] == origin:
            size, note = latest[0], latest[3]
        else:
            note = self._signed(actor.slug, entry.position)
            size = ledger.Checkpoint.parse(ledger.parse_note(note).text).size
        index = entry.position - 1
        proof = self._stored(actor.slug, reader,
                             lambda st: ledger.inclusion_proof_from(index, size, st))
        receipt_entry = ledger.ReceiptEntry(self._chain_id(actor), entry.position,
                                            entry.prev_hash, entry.event)
        text = ledger.make_receipt(receipt_entry, proof, note)
        vkey = self.ejournal.verifier_key(actor.slug)
        try:  # never hand out a receipt that does not verify
            ledger.open_receipt(text, [ledger.parse_vkey(vkey)], origin=origin)
        except ledger.NoteError as error:
            self._alarm(actor.slug, entry.position, f"receipt does not verify: {error}")
        return Receipt(text, vkey, entry.position, size)
