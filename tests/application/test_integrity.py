"""The chain guard (ADR 0009): a process serves nothing that a verified, linked, signed
ledger entry does not vouch for. Forged rows — as an attacker with the runtime role, or a
superuser, would insert them — raise the alarm instead of granting anything; writers
never chain onto a forged head; a new process starts from a verified-through mark.
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ledger
from application import integrity
from application.config import Settings
from application.integrity import IntegrityAlarm
from application.journal import Journal
from application.service import Ejournal
from domain.access import Credentials
from domain.lessons import Lesson
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.conftest import Clock, School


@pytest.fixture
def elsewhere(database_url: str, key_dir: Path, school: School) -> Iterator[Journal]:
    service = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    yield service.journal(school.slug)
    service.close()


def oid(raw: RawDb, aggregate_id: object) -> str:
    return aggregate_id.hex if raw.kind == "sqlite" else str(aggregate_id)  # type: ignore[attr-defined]


def forge_copy(raw: RawDb, aggregate_id: object, version: int, new_version: int) -> None:
    """An event row copied from a genuine one at another version, without a ledger entry
    (a superuser can; the runtime role cannot on PostgreSQL, see test_privileges)."""
    raw.run("INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, ?, topic, state FROM {events}"
            " WHERE originator_id = ? AND originator_version = ?",
            (new_version, oid(raw, aggregate_id), version))


def last_position(raw: RawDb) -> int:
    return int(raw.run("SELECT max(position) FROM {ledger}", bypass=False)[0][0])


def test_an_event_inserted_without_a_ledger_entry_raises_the_alarm(
        ejournal: Ejournal, school: School) -> None:
    lesson_id = school.lesson()
    forge_copy(RawDb(ejournal, school.slug), lesson_id, 1, 2)
    for _ in range(2):  # and it stays raised
        with pytest.raises(IntegrityAlarm) as alarm:
            school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                               MarkValue.FIVE)
        assert alarm.value.failure.kind is ledger.FailureKind.INSERTED
    with pytest.raises(IntegrityAlarm):
        school.journal.get(Lesson, lesson_id)


def test_a_revoked_token_revived_by_an_inserted_event_admits_nobody(
        ejournal: Ejournal, school: School) -> None:
    token = ejournal.issue_token(school.slug, school.student.person_id, "student")
    ejournal.authenticate(token)
    ejournal.revoke_tokens(school.slug, school.student.person_id, "Утеря")
    credentials = Credentials.create_id(school.student.person_id)
    forge_copy(RawDb(ejournal, school.slug), credentials, 2, 4)  # TokenIssued again
    with pytest.raises(IntegrityAlarm):
        ejournal.authenticate(token)


def test_a_forged_entry_raises_the_alarm_and_no_write_chains_onto_it(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    lesson_id = school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    forge_copy(raw, lesson_id, 1, 2)
    nid = raw.run("SELECT max({nid}) FROM {events}", bypass=False)[0][0]
    raw.run("INSERT INTO {ledger} (position, notification_id, prev_hash, event_digest,"
            " entry_hash, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (head + 1, nid, b"\0" * 32, b"\1" * 32, b"\2" * 32, "0" * 32, b"\3" * 64))
    with pytest.raises(IntegrityAlarm) as alarm:
        school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                           MarkValue.FIVE)
    assert alarm.value.failure.position == head + 1
    assert last_position(raw) == head + 1  # nothing genuine was chained onto the forgery
    # The operator removes the forged rows: the chain verifies and work goes on.
    raw.run("DELETE FROM {ledger} WHERE position = ?", (head + 1,))
    raw.run("DELETE FROM {events} WHERE {nid} = ?", (nid,))
    fresh = Ejournal(Settings(database_url=ejournal.settings.database_url, key_dir=key_dir),
                     Clock())
    try:
        fresh.journal(school.slug).lessons.record_mark(school.teacher, lesson_id,
                                                       school.students[0], MarkValue.FIVE)
        assert fresh.verify(school.slug, ledger.KeyRing.from_directory(key_dir)).ok
    finally:
        fresh.close()


def test_a_ledger_entry_without_its_event_raises_the_alarm(
        ejournal: Ejournal, school: School) -> None:
    school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    raw.run("INSERT INTO {ledger} (position, notification_id, prev_hash, event_digest,"
            " entry_hash, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (head + 1, 10**9, b"\0" * 32, b"\1" * 32, b"\2" * 32, "0" * 32, b"\3" * 64))
    with pytest.raises(IntegrityAlarm) as alarm:
        school.journal.get(Lesson, school.lesson(number=2))
    assert alarm.value.failure.kind is ledger.FailureKind.INSERTED


def test_writes_of_another_process_are_verified_and_own_writes_are_not_checked_again(
        school: School, elsewhere: Journal) -> None:
    guard = school.journal.store.chain.guard
    lesson_id = school.lesson()
    school.journal.get(Lesson, lesson_id)
    checked = guard.checked
    school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                       MarkValue.FIVE)
    school.journal.get(Lesson, lesson_id)
    assert guard.checked == checked  # this process signed it
    elsewhere.lessons.record_mark(school.teacher, lesson_id, school.students[1],
                                  MarkValue.FOUR)
    assert len(school.journal.get(Lesson, lesson_id).marks) == 2
    assert guard.checked == checked + 1


def test_a_new_process_starts_from_the_newest_verified_mark(
        database_url: str, key_dir: Path, school: School,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integrity, "MARK_EVERY", 10)
    for number in range(1, 6):
        school.lesson(number=number)  # the guard marks as it goes
    raw = RawDb(_service(school), school.slug)
    total = last_position(raw)
    marked = int(raw.run("SELECT max(position) FROM {ledger}_verified", bypass=False)[0][0])
    assert 0 < marked <= total
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        later.journal(school.slug).get(Lesson, school.lesson(number=7))
        assert later.journal(school.slug).store.chain.guard.checked <= total - marked + 3
    finally:
        later.close()


def test_a_verified_mark_that_does_not_verify_is_ignored(
        database_url: str, key_dir: Path, school: School) -> None:
    school.lesson()
    raw = RawDb(_service(school), school.slug)
    total = last_position(raw)
    raw.run("INSERT INTO {ledger}_verified VALUES (?, ?, ?, ?)",
            (total, b"\0" * 32, "0" * 32, b"\0" * 64), bypass=False)
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        later.journal(school.slug).get(Lesson, school.lesson(number=2))
        assert later.journal(school.slug).store.chain.guard.checked >= total
    finally:
        later.close()


def _service(school: School) -> Ejournal:
    """The fixture's service for RawDb (it needs only the backend)."""
    class Shim:
        backend = school.journal.store.backend
    return Shim()  # type: ignore[return-value]


def test_an_event_hidden_below_the_guards_position_is_caught_by_a_new_process(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    """An event committed with a notification id the running guards have passed (a
    superuser can choose one; so could a transaction that stayed open): a process that
    opens the institution counts events, entries and positions before trusting a mark."""
    lesson_id = school.lesson()
    raw = RawDb(ejournal, school.slug)
    raw.run("INSERT INTO {events} ({nid}, originator_id, originator_version, topic, state)"
            " SELECT 0, originator_id, 2, topic, state FROM {events}"
            " WHERE originator_id = ? AND originator_version = 1", (oid(raw, lesson_id),))
    later = Ejournal(Settings(database_url=ejournal.settings.database_url, key_dir=key_dir),
                     Clock())
    try:
        with pytest.raises(IntegrityAlarm) as alarm:
            later.journal(school.slug).get(Lesson, lesson_id)
        assert alarm.value.failure.kind is ledger.FailureKind.INSERTED
    finally:
        later.close()


def test_the_ledger_refuses_a_position_below_one(ejournal: Ejournal, school: School) -> None:
    school.lesson()
    raw = RawDb(ejournal, school.slug)
    with pytest.raises(Exception, match=r"(?i)check"):
        raw.run("INSERT INTO {ledger} (position, notification_id, prev_hash, event_digest,"
                " entry_hash, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (-1, 10**9, b"\0" * 32, b"\1" * 32, b"\2" * 32, "0" * 32, b"\3" * 64),
                bypass=False)
