"""Rows altered in place behind the application's back (outside attack round 5): a
ledger row's stored hashes alone, the Merkle tree's nodes, values of the wrong type.
`ledger verify` names each at its position instead of passing it over or crashing; a
writer meeting an altered head, and an auditor's proof over an altered node, raise the
institution's integrity alarm (what the 423 says is then true: writes stop too).
SQLite and PostgreSQL; wrongly typed values on SQLite, whose columns take any value."""

from __future__ import annotations

from pathlib import Path

import pytest

import ledger
from application.audit import Audit
from application.config import Settings
from application.integrity import IntegrityAlarm
from application.service import Ejournal
from domain.lessons import Lesson
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.application.test_merkle_store import by_segments
from tests.conftest import Clock, School


def last_position(raw: RawDb) -> int:
    return int(raw.run("SELECT max(position) FROM {ledger}", bypass=False)[0][0])


def verify(ejournal: Ejournal, school: School) -> ledger.VerifyReport:
    return ejournal.verify(school.slug, ejournal.keyring())


@pytest.mark.parametrize("column", ["entry_hash", "prev_hash", "event_digest"])
def test_a_stored_hash_altered_alone_fails_verify_at_its_position(
        ejournal: Ejournal, school: School, column: str) -> None:
    raw = RawDb(ejournal, school.slug)
    position = last_position(raw) // 2
    raw.run(f"UPDATE {{ledger}} SET {column} = ? WHERE position = ?", (bytes(32), position))
    report = verify(ejournal, school)
    assert not report.ok and report.failure is not None
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.CHANGED)
    assert "ledger row was altered" in report.failure.detail


def test_a_head_whose_stored_hash_was_altered_raises_the_alarm_for_a_new_writer(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    lesson = school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    raw.run("UPDATE {ledger} SET entry_hash = ? WHERE position = ?", (bytes(32), head))
    later = Ejournal(Settings(database_url=ejournal.settings.database_url, key_dir=key_dir),
                     Clock())
    try:
        with pytest.raises(IntegrityAlarm) as alarm:  # not a conflict retried to 409
            later.journal(school.slug).lessons.record_mark(school.teacher, lesson,
                                                           school.students[0],
                                                           MarkValue.FIVE)
        assert alarm.value.failure.position == head
        assert alarm.value.failure.kind is ledger.FailureKind.CHANGED
    finally:
        later.close()
    assert last_position(raw) == head  # nothing written


def test_a_head_altered_under_a_running_writer_raises_the_alarm(
        ejournal: Ejournal, school: School) -> None:
    lesson = school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    raw.run("UPDATE {ledger} SET entry_hash = ? WHERE position = ?", (bytes(32), head))
    # The guard's verified head is the real one: a writer that reads the altered head
    # from the store is told so (the process's own remembered head is not the store's).
    guard = school.journal.store.chain.guard
    assert guard is not None
    with pytest.raises(IntegrityAlarm, match="ledger row was altered"):
        guard.require_head(head, bytes(32))
    with pytest.raises(IntegrityAlarm):
        school.journal.get(Lesson, lesson)


@pytest.mark.parametrize("level", [0, 1])
def test_a_changed_merkle_node_fails_verify_naming_it(ejournal: Ejournal, school: School,
                                                      level: int) -> None:
    raw = RawDb(ejournal, school.slug)
    raw.run("UPDATE {merkle} SET hash = ? WHERE level = ? AND idx = 3",
            (b"\x07" * 32, level))
    report = verify(ejournal, school)
    assert not report.ok and report.failure is not None
    assert report.failure.kind is ledger.FailureKind.CHANGED
    assert report.failure.position == 4 << level  # the last entry the node covers
    assert f"merkle_nodes (level {level}, index 3) holds {'07' * 32}" in \
        report.failure.detail


def test_a_changed_merkle_node_fails_verify_in_worker_processes_as_in_one(
        ejournal: Ejournal, school: School, monkeypatch: pytest.MonkeyPatch) -> None:
    """With workers, the stored tree is checked beside the segments: the same verdict."""
    raw = RawDb(ejournal, school.slug)
    raw.run("UPDATE {merkle} SET hash = ? WHERE level = 1 AND idx = 3", (b"\x07" * 32,))
    one = verify(ejournal, school)
    by_segments(monkeypatch)
    assert not one.ok and ejournal.verify(school.slug, ejournal.keyring(), workers=2) == one


def test_a_deleted_merkle_node_fails_verify_naming_it(ejournal: Ejournal,
                                                      school: School) -> None:
    raw = RawDb(ejournal, school.slug)
    raw.run("DELETE FROM {merkle} WHERE level = 3 AND idx = 1")
    report = verify(ejournal, school)
    assert not report.ok and report.failure is not None
    assert (report.failure.position, report.failure.kind) == (16,
                                                              ledger.FailureKind.MISSING)
    assert "merkle_nodes (level 3, index 1) is absent" in report.failure.detail


def test_a_proof_over_a_changed_node_raises_the_institutions_alarm_and_stops_writes(
        ejournal: Ejournal, school: School) -> None:
    audit = Audit(ejournal)
    lesson = school.lesson()
    size = ledger.open_checkpoint(
        audit.checkpoint(school.auditor),
        [ledger.parse_vkey(ejournal.verifier_key(school.slug))]).size
    RawDb(ejournal, school.slug).run(
        "UPDATE {merkle} SET hash = ? WHERE level = 0 AND idx = 10", (b"\x07" * 32,))
    with pytest.raises(IntegrityAlarm):
        audit.inclusion(school.auditor, 11, size)
    assert ejournal.alarmed() == [school.slug]
    with pytest.raises(IntegrityAlarm):
        school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                           MarkValue.FIVE)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("column, value", [
    ("prev_hash", "abc"), ("signature", "abc"), ("entry_hash", 5), ("prev_hash", b"\x00"),
    ("event_digest", "x"), ("key_id", 7),
])
def test_a_ledger_value_of_the_wrong_type_fails_verify_without_raising(
        ejournal: Ejournal, school: School, column: str, value: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = RawDb(ejournal, school.slug)
    raw.run(f"UPDATE {{ledger}} SET {column} = ? WHERE position = 7", (value,))
    by_segments(monkeypatch)  # with 2 workers: segments of 4 read by the workers
    for workers in (1, 2):
        report = ejournal.verify(school.slug, ejournal.keyring(), workers=workers)
        assert not report.ok and report.failure is not None
        assert report.failure.position == 7
    if column in ("prev_hash", "entry_hash", "event_digest"):  # links-only reads no signature
        links, _ = ejournal.verify_links(school.slug, ejournal.keyring())
        assert not links.ok and links.failure is not None and links.failure.position == 7


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("column, value", [
    ("state", None), ("originator_id", "zz"), ("originator_version", "x"), ("topic", None),
])
def test_an_event_value_of_the_wrong_type_fails_verify_without_raising(
        ejournal: Ejournal, school: School, column: str, value: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = RawDb(ejournal, school.slug)
    nid = raw.run("SELECT notification_id FROM {ledger} WHERE position = 7",
                  bypass=False)[0][0]
    raw.run(f"UPDATE {{events}} SET {column} = ? WHERE rowid = ?", (value, nid))
    by_segments(monkeypatch)
    for workers in (1, 2):
        report = ejournal.verify(school.slug, ejournal.keyring(), workers=workers)
        assert not report.ok and report.failure is not None
        assert report.failure.position == 7
        links, _ = ejournal.verify_links(school.slug, ejournal.keyring(), workers=workers)
        assert not links.ok and links.failure is not None and links.failure.position == 7
