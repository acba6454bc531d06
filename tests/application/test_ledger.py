"""Every event is in the ledger, in the same transaction; verification re-hashes the
stored rows and catches each kind of tampering at the right position. SQLite and
PostgreSQL, with plain SQL against the real tables."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from application.config import Settings
from application.service import Ejournal
from application.storage.sqlite import SQLiteChainReader
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.conftest import School, build_school


def keyring(ejournal: Ejournal) -> ledger.KeyRing:
    return ledger.KeyRing.from_directory(ejournal.settings.key_dir)


def marked_school(school: School) -> School:
    anna, boris, _ = school.students
    for day in (date(2026, 10, 12), date(2026, 10, 13), date(2026, 10, 14)):
        lesson = school.lesson(day=day)
        school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.THREE)
        school.journal.lessons.record_mark(school.teacher, lesson, boris, MarkValue.FOUR)
    return school


@pytest.fixture
def marked(school: School) -> School:
    return marked_school(school)


def verify(ejournal: Ejournal, school: School) -> ledger.VerifyReport:
    return ejournal.verify(school.slug, keyring(ejournal))


def test_every_event_has_exactly_one_ledger_entry(ejournal: Ejournal, marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    assert raw.count("events") == raw.count("ledger")
    report = verify(ejournal, marked)
    assert report.ok and report.count == raw.count("events")


def test_positions_are_gapless_and_follow_commit_order(ejournal: Ejournal, marked: School
                                                       ) -> None:
    raw = RawDb(ejournal, marked.slug)
    rows = raw.run("SELECT position, notification_id FROM {ledger} ORDER BY position",
                   bypass=False)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def test_concurrent_writers_never_fork_the_chain(ejournal: Ejournal, school: School) -> None:
    days = [date(2026, 9, d) for d in range(1, 29) if date(2026, 9, d).weekday() < 5]
    errors: list[Exception] = []

    def conduct(number: int) -> None:
        try:
            for day in days[:10]:
                school.journal.lessons.conduct_lesson(school.teacher, school.assignment, day,
                                                      number,
                                              "Тема", None, "ordinary")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=conduct, args=(n,)) for n in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Lessons of one group share index aggregates: a writer that loses the race runs
    # again on fresh state (ADR 0008); the chain never forks.
    assert errors == []
    report = verify(ejournal, school)
    raw = RawDb(ejournal, school.slug)
    assert report.ok and report.count == raw.count("events") == raw.count("ledger")


def test_the_database_refuses_to_update_or_delete_history(ejournal: Ejournal, marked: School
                                                          ) -> None:
    raw = RawDb(ejournal, marked.slug)
    with pytest.raises(Exception, match="append-only"):
        raw.run("UPDATE {events} SET topic = topic", bypass=False)
    with pytest.raises(Exception, match="append-only"):
        raw.run("DELETE FROM {ledger}", bypass=False)
    assert verify(ejournal, marked).ok


def test_a_changed_mark_value_is_caught_at_its_position(ejournal: Ejournal, marked: School
                                                        ) -> None:
    raw = RawDb(ejournal, marked.slug)
    position, nid = raw.position_of("MarkRecorded", 2)
    state = bytes(raw.run("SELECT state FROM {events} WHERE {nid} = ?", (nid,))[0][0])
    forged = state.replace(b'"value":"3"', b'"value":"5"')
    assert forged != state
    raw.run("UPDATE {events} SET state = ? WHERE {nid} = ?", (forged, nid))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.CHANGED)
    assert report.count == position - 1


def test_a_deleted_event_is_caught_as_missing(ejournal: Ejournal, marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    position, nid = raw.position_of("MarkRecorded", 1)
    raw.run("DELETE FROM {events} WHERE {nid} = ?", (nid,))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.MISSING)


def test_a_deleted_event_with_its_entry_is_caught_as_missing(ejournal: Ejournal,
                                                             marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    position, nid = raw.position_of("MarkRecorded", 1)
    raw.run("DELETE FROM {events} WHERE {nid} = ?", (nid,))
    raw.run("DELETE FROM {ledger} WHERE position = ?", (position,))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.MISSING)


def test_a_forged_event_outside_the_ledger_is_caught_as_inserted(ejournal: Ejournal,
                                                                 marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    n = raw.count("ledger")
    topic, state = raw.run("SELECT topic, state FROM {events} WHERE {nid} = "
                           "(SELECT max({nid}) FROM {events})")[0]
    oid = uuid4()
    raw.run("INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " VALUES (?, 1, ?, ?)",
            (oid.hex if raw.kind == "sqlite" else oid, topic, bytes(state)))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (n + 1,
                                                              ledger.FailureKind.INSERTED)


def _append_forged(raw: RawDb, school: School, key: Ed25519PrivateKey | None,
                   ejournal: Ejournal) -> int:
    """Appends a forged event and a well-formed ledger entry for it; signed by `key`
    (an attacker's) or, with None, carrying garbage as signature."""
    n = raw.count("ledger")
    head_hash = bytes(raw.run("SELECT entry_hash FROM {ledger} WHERE position = ?", (n,))[0][0])
    topic, state = raw.run("SELECT topic, state FROM {events} WHERE {nid} = "
                           "(SELECT max({nid}) FROM {events})")[0]
    oid = uuid4()
    raw.run("INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " VALUES (?, 1, ?, ?)", (oid.hex if raw.kind == "sqlite" else oid, topic,
                                     bytes(state)))
    nid = raw.run("SELECT max({nid}) FROM {events}")[0][0]
    chain_id = f"ejournal:{school.journal.institution_id}"
    content = ledger.EventContent(oid.bytes, 1, topic, bytes(state))
    if key is None:
        signer = ledger.Signer.from_directory(ejournal.settings.key_dir)
        entries, _ = ledger.append(chain_id, ledger.ChainHead(n, head_hash), [content], signer)
        e = entries[0]
        signature, key_id = bytes(64), e.key_id
    else:
        signer = ledger.Signer(key)
        entries, _ = ledger.append(chain_id, ledger.ChainHead(n, head_hash), [content], signer)
        e = entries[0]
        signature, key_id = e.signature, e.key_id
    raw.run("INSERT INTO {ledger} VALUES (?,?,?,?,?,?,?)",
            (e.position, nid, e.prev_hash, e.event_digest, e.entry_hash, key_id, signature))
    return n + 1


def test_a_forged_entry_signed_with_an_unknown_key_is_caught(ejournal: Ejournal,
                                                             marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    position = _append_forged(raw, marked, Ed25519PrivateKey.generate(), ejournal)
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.UNKNOWN_KEY)


def test_a_forged_entry_with_a_bad_signature_is_caught(ejournal: Ejournal, marked: School
                                                       ) -> None:
    raw = RawDb(ejournal, marked.slug)
    position = _append_forged(raw, marked, None, ejournal)
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (
        position, ledger.FailureKind.BAD_SIGNATURE)


def test_two_swapped_events_are_caught_as_reordered(ejournal: Ejournal, marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    p1, n1 = raw.position_of("MarkRecorded", 0)
    p2, n2 = raw.position_of("MarkRecorded", 1)
    raw.run("UPDATE {ledger} SET notification_id = -1 WHERE position = ?", (p1,))
    raw.run("UPDATE {ledger} SET notification_id = ? WHERE position = ?", (n1, p2))
    raw.run("UPDATE {ledger} SET notification_id = ? WHERE position = ?", (n2, p1))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (p1,
                                                              ledger.FailureKind.REORDERED)


def test_a_replaced_signature_is_caught(ejournal: Ejournal, marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    position, _ = raw.position_of("MarkRecorded", 3)
    raw.run("UPDATE {ledger} SET signature = ? WHERE position = ?", (bytes(64), position))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (
        position, ledger.FailureKind.BAD_SIGNATURE)


def test_an_entry_resigned_with_an_unknown_key_is_caught(ejournal: Ejournal,
                                                         marked: School) -> None:
    raw = RawDb(ejournal, marked.slug)
    position, _ = raw.position_of("MarkRecorded", 3)
    entry_hash = bytes(raw.run("SELECT entry_hash FROM {ledger} WHERE position = ?",
                               (position,))[0][0])
    attacker = ledger.Signer(Ed25519PrivateKey.generate())
    raw.run("UPDATE {ledger} SET signature = ?, key_id = ? WHERE position = ?",
            (attacker.sign(entry_hash), attacker.key_id, position))
    report = verify(ejournal, marked)
    assert (report.failure.position, report.failure.kind) == (position,
                                                              ledger.FailureKind.UNKNOWN_KEY)


def test_a_key_made_active_by_hand_does_not_sign_while_another_is_in_force(
        tmp_path: Path, key_dir: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """Only an announcement changes the key in force (ADR 0016; rotations with it:
    test_key_rotation.py): a new ACTIVE key alone leaves the chain to its key."""
    keys = tmp_path / "keys"
    shutil.copytree(key_dir, keys)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e.sqlite3'}", key_dir=keys)
    first = Ejournal(settings, clock)
    school = marked_school(build_school(first))
    first.close()
    ledger.generate_key(keys)
    second = Ejournal(settings, clock)
    school.journal = second.journal(school.slug)
    school.lesson(day=date(2026, 10, 15), number=5)
    report = second.verify(school.slug, ledger.KeyRing.from_directory(keys))
    second.close()
    assert report.ok
    raw_keys = {r for r in RawDb(second, school.slug).run(
        "SELECT DISTINCT key_id FROM {ledger}", bypass=False)}
    assert len(raw_keys) == 1


# Any single changed byte of any stored event is detected (SQLite copy per example).
@pytest.fixture(scope="module")
def sealed_file(tmp_path_factory: pytest.TempPathFactory, key_dir: Path):  # type: ignore[no-untyped-def]
    from tests.conftest import Clock

    directory = tmp_path_factory.mktemp("sealed")
    ej = Ejournal(Settings(database_url=f"sqlite:///{directory / 'e.sqlite3'}",
                           key_dir=key_dir), Clock())
    school = marked_school(build_school(ej))
    path = ej.backend.institution_file(school.slug)  # type: ignore[attr-defined]
    chain_id = f"ejournal:{school.journal.institution_id}"
    ej.close()
    return path, chain_id, ledger.KeyRing.from_directory(key_dir)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(min_value=0), column=st.sampled_from(["state", "topic"]),
       offset=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_any_stored_event_is_detected(
    sealed_file, tmp_path: Path, row: int, column: str, offset: int, flip: int  # type: ignore[no-untyped-def]
) -> None:
    import sqlite3
    from contextlib import closing

    path, chain_id, ring = sealed_file
    copy = tmp_path / f"copy-{uuid4().hex}.sqlite3"
    shutil.copy(path, copy)
    with closing(sqlite3.connect(copy)) as conn, conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        rows = conn.execute(f"SELECT rowid, {column} FROM stored_events ORDER BY rowid"
                            ).fetchall()
        rowid, value = rows[row % len(rows)]
        data = bytearray(value.encode() if isinstance(value, str) else value)
        i = offset % len(data)
        if column == "topic":  # keep the topic valid text: flip within ASCII
            data[i] = (data[i] ^ (flip & 0x7F or 1)) or 0x21
            new: object = bytes(data).decode("ascii")
        else:
            data[i] ^= flip
            new = bytes(data)
        conn.execute(f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (new, rowid))
        position = conn.execute("SELECT position FROM ledger WHERE notification_id = ?",
                                (rowid,)).fetchone()[0]
    reader = SQLiteChainReader(str(copy))
    report = ledger.verify(chain_id, reader.entries(), ring, locate_digest=reader.locate)
    copy.unlink()
    assert not report.ok and report.failure.position == position


def test_one_institutions_writers_do_not_wait_on_anothers(postgres_url: str, key_dir: Path,
                                                           clock) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from application.storage.layout import schema_of
    from application.storage.postgres import writer_lock_key

    ej = Ejournal(Settings(database_url=postgres_url, key_dir=key_dir), clock, owner=True)
    a, b = build_school(ej), build_school(ej)
    try:
        with psycopg.connect(postgres_url) as blocker:
            # A long transaction holds institution A's write lock.
            blocker.execute("SELECT pg_advisory_xact_lock(%s)",
                            (writer_lock_key(schema_of(a.slug)),))
            b.lesson()  # institution B writes meanwhile
            waiting = threading.Thread(target=a.lesson)
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive()  # A's writer queues behind A's lock
            blocker.rollback()
        waiting.join(10)
        assert not waiting.is_alive()
        assert verify(ej, a).ok and verify(ej, b).ok
    finally:
        ej.close()
