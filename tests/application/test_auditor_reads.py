"""Auditors read the signed record — checkpoints, inclusion and consistency proofs, raw
entries — and nothing else; families get receipts for their own marks that verify with
the published key alone and stay valid as the log grows. SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest

import ledger
from application.audit import ENTRIES_PAGE, Audit
from application.integrity import IntegrityAlarm
from application.service import Ejournal, chain_id_of
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.conftest import School


def verifier(ejournal: Ejournal, slug: str) -> ledger.NoteVerifier:
    return ledger.parse_vkey(ejournal.verifier_key(slug))


def marked(school: School, student: int = 0, number: int = 1) -> tuple:
    lesson = school.lesson(number=number)
    mark = school.journal.lessons.record_mark(school.teacher, lesson, school.students[student],
                                              MarkValue.FOUR)
    return lesson, mark


def test_an_inclusion_proof_of_every_entry_verifies_against_the_signed_checkpoint(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    marked(school)
    checkpoint = ledger.open_checkpoint(audit.checkpoint(school.auditor),
                                        [verifier(ejournal, school.slug)])
    for index in range(checkpoint.size):
        proof = audit.inclusion(school.auditor, index, checkpoint.size)
        assert proof.root == checkpoint.root
        assert ledger.verify_inclusion(proof.leaf_hash, index, checkpoint.size, proof.proof,
                                       checkpoint.root)


def test_a_consistency_proof_links_an_older_checkpoint_to_the_grown_log(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    keys = [verifier(ejournal, school.slug)]
    old = ledger.open_checkpoint(audit.checkpoint(school.auditor), keys)
    marked(school)
    new = ledger.open_checkpoint(audit.checkpoint(school.auditor), keys)
    assert new.size > old.size
    proof = audit.consistency(school.auditor, old.size, new.size)
    assert (proof.old_root, proof.new_root) == (old.root, new.root)
    assert ledger.verify_consistency(old.size, new.size, old.root, new.root, proof.proof)


def test_the_checkpoint_history_lists_every_signed_checkpoint_by_size(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    first = audit.checkpoint(school.auditor)
    marked(school)
    second = audit.checkpoint(school.auditor)
    history = audit.checkpoints(school.auditor)
    assert [c.note for c in history] == [first, second]
    assert [c.note for c in audit.checkpoints(school.auditor, history[0].size)] == [second]


def test_the_entries_of_a_range_are_the_export_lines_and_verify_from_the_start(
        ejournal: Ejournal, school: School, key_dir) -> None:  # type: ignore[no-untyped-def]
    audit = Audit(ejournal)
    marked(school)
    text = "".join(audit.entries(school.auditor, 1))
    chain_id, entries = ledger.read_export(io.StringIO(text))
    report = ledger.verify(chain_id, entries, ledger.KeyRing.from_directory(key_dir))
    assert report.ok and report.count == len(text.splitlines()) - 1
    page = list(audit.entries(school.auditor, 3, 5))
    assert [int(line.split('"position": ')[1].split(",")[0]) for line in page[1:]] == [3, 4, 5]


@pytest.mark.parametrize("call", [
    lambda a, s: a.inclusion(s.auditor, 0, 10**9),
    lambda a, s: a.inclusion(s.auditor, 5, 5),
    lambda a, s: a.consistency(s.auditor, 0),
    lambda a, s: a.consistency(s.auditor, 3, 2),
    lambda a, s: list(a.entries(s.auditor, 10**9)),
    lambda a, s: list(a.entries(s.auditor, 1, ENTRIES_PAGE + 1)),
    lambda a, s: a.checkpoints(s.auditor, 0, 0),
], ids=["size past the log", "index = size", "old size 0", "old > new", "from past the head",
        "a page too long", "limit 0"])
def test_an_impossible_audit_request_is_refused(ejournal: Ejournal, school: School,
                                                call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidValue):
        call(Audit(ejournal), school)


@pytest.mark.parametrize("role", ["director", "admin", "teacher", "guardian", "student"])
def test_only_the_auditor_reads_the_record(ejournal: Ejournal, school: School,
                                           role: str) -> None:
    audit = Audit(ejournal)
    actor = getattr(school, role)
    for read in (lambda: audit.checkpoint(actor), lambda: audit.checkpoints(actor),
                 lambda: audit.inclusion(actor, 0), lambda: audit.consistency(actor, 1),
                 lambda: audit.entries(actor, 1)):
        with pytest.raises(Forbidden):
            read()


def test_nobody_of_the_institution_appoints_an_auditor(ejournal: Ejournal,
                                                       school: School) -> None:
    with pytest.raises(Forbidden):
        school.journal.access.appoint_auditor(school.director, "Кто-то", "Приказ")


def test_a_proof_from_a_tampered_tree_raises_the_alarm_instead_of_being_served(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    size = ledger.open_checkpoint(audit.checkpoint(school.auditor),
                                  [verifier(ejournal, school.slug)]).size
    RawDb(ejournal, school.slug).run(
        "UPDATE {merkle} SET hash = ? WHERE level = 0 AND idx = 1", (b"\x07" * 32,))  # a sibling
    with pytest.raises(IntegrityAlarm):
        audit.inclusion(school.auditor, 0, size)


def test_a_receipt_proves_the_own_mark_with_the_published_key_alone(
        ejournal: Ejournal, school: School) -> None:
    lesson, mark = marked(school)
    for family in (school.student, school.guardian):
        receipt = Audit(ejournal).receipt(family, lesson, mark)
        opened = ledger.open_receipt(receipt.text, [verifier(ejournal, school.slug)])
        assert opened.entry.event.originator_id == lesson.bytes
        assert opened.entry.event.topic.endswith("MarkRecorded")
        assert mark.hex in opened.entry.event.state.decode()
        assert opened.checkpoint.size >= opened.entry.position == receipt.position


def test_a_receipt_covers_the_marks_latest_record(ejournal: Ejournal, school: School) -> None:
    lesson, mark = marked(school)
    school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FIVE)
    receipt = Audit(ejournal).receipt(school.student, lesson, mark)
    opened = ledger.open_receipt(receipt.text, [verifier(ejournal, school.slug)])
    assert opened.entry.event.topic.endswith("MarkChanged")


def test_a_receipt_stays_provable_as_the_log_grows(ejournal: Ejournal, school: School) -> None:
    lesson, mark = marked(school)
    receipt = Audit(ejournal).receipt(school.student, lesson, mark)
    marked(school, 1, 2)
    keys = [verifier(ejournal, school.slug)]
    checkpoint = ledger.open_receipt(receipt.text, keys).checkpoint
    # The school's current log extends the checkpoint the receipt carries.
    ejournal.verify_against(school.slug, ledger.TlogProof.parse(receipt.text).checkpoint, keys)
    assert ejournal.checkpoint(school.slug) != checkpoint


def test_a_receipt_of_another_childs_mark_is_not_found(ejournal: Ejournal,
                                                       school: School) -> None:
    lesson, mark = marked(school, student=1)
    for family in (school.student, school.guardian):
        with pytest.raises(NotFound):
            Audit(ejournal).receipt(family, lesson, mark)


@pytest.mark.parametrize("role", ["director", "teacher", "auditor"])
def test_staff_and_auditors_get_no_receipts(ejournal: Ejournal, school: School,
                                            role: str) -> None:
    lesson, mark = marked(school)
    with pytest.raises(Forbidden):
        Audit(ejournal).receipt(getattr(school, role), lesson, mark)


def test_a_receipt_names_the_institutions_chain(ejournal: Ejournal, school: School) -> None:
    lesson, mark = marked(school)
    receipt = Audit(ejournal).receipt(school.student, lesson, mark)
    entry = ledger.open_receipt(receipt.text, [verifier(ejournal, school.slug)]).entry
    institution = ejournal.backend.directory.institution(school.slug)
    assert institution is not None
    assert entry.chain_id == chain_id_of(institution.institution_id)


def test_the_checkpoint_history_serves_only_checkpoints_the_service_signed(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    genuine = audit.checkpoint(school.auditor)
    size = ledger.Checkpoint.parse(ledger.parse_note(genuine).text).size
    # A row the runtime role could insert: the genuine note under a size it does not state.
    RawDb(ejournal, school.slug).run(
        "INSERT INTO {checkpoints} (size, origin, root, note) VALUES (?, ?, ?, ?)",
        (size - 1, f"ejournal.example/{school.slug}", bytes(32), genuine), bypass=False)
    assert [c.note for c in audit.checkpoints(school.auditor)] == [genuine]
