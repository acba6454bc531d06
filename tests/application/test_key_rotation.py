"""Rotating the signing key (ADR 0016) on SQLite and PostgreSQL: the announcement is in
every chain, signed by the key it retires; later entries are signed by the new key, also
by a process that started before the rotation; the retired private key is destroyed; the
whole chain verifies, and an entry forged with the retired key is caught."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import ledger
from application import integrity
from application.config import Settings
from application.integrity import IntegrityAlarm
from application.service import Ejournal, RotationReport
from domain.errors import InvalidValue
from domain.lessons import Lesson
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.conftest import Clock, School


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A key directory of this test's own: a rotation changes it."""
    directory = tmp_path / "keys"
    ledger.generate_key(directory)
    return directory


def rotate(ejournal: Ejournal, school: School, basis: str = "Приказ № 12"
           ) -> RotationReport:
    """A rotation over the school's institution (the PostgreSQL directory of the tests
    holds other tests' institutions too, signed by other keys)."""
    report = ejournal.rotate_signing_key(basis, [school.slug])
    assert report.failed == {}
    return report


def ring(ejournal: Ejournal) -> ledger.KeyRing:
    return ledger.KeyRing.from_directory(ejournal.settings.key_dir)


def announcements(ejournal: Ejournal, slug: str) -> list[tuple[int, str, dict]]:  # type: ignore[type-arg]
    """(position, signing key id, state) of each announcement in the chain."""
    reader = ejournal.backend.chain_reader(slug)
    return [(e.position, e.key_id, json.loads(e.event.state))
            for e in reader.entries() if e.event is not None
            and ledger.is_announcement(e.event.topic)]


def keys_by_position(ejournal: Ejournal, slug: str) -> list[str]:
    return [e.key_id for e in ejournal.backend.chain_reader(slug).entries()]


def test_the_new_key_is_announced_by_the_old_and_signs_what_follows(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    old = ledger.active_key(key_dir)
    report = rotate(ejournal, school, "Приказ № 12 от 01.12.2026")
    new = report.successor
    assert new != old and ledger.active_key(key_dir) == new
    assert school.slug in report.announced
    (position, signer, state), = announcements(ejournal, school.slug)
    assert signer == old
    assert (state["predecessor"], state["successor"], state["basis"]) == (
        old, new, "Приказ № 12 от 01.12.2026")
    school.lesson(number=2)
    keys = keys_by_position(ejournal, school.slug)
    assert set(keys[:position]) == {old} and set(keys[position:]) == {new}
    verified = ejournal.verify(school.slug, ring(ejournal))
    assert verified.ok and verified.keys is not None and verified.keys.in_force == new


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_retired_private_key_is_destroyed_and_its_public_key_kept(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    old = ledger.active_key(key_dir)
    report = ejournal.rotate_signing_key("Приказ № 12")  # every institution of the file
    assert report.destroyed == [old]
    assert not (key_dir / f"{old}.key").exists()
    assert (key_dir / f"{old}.pub").exists() and old in ring(ejournal)
    with pytest.raises(ledger.KeyNotFound):
        ledger.Signer.from_directory(key_dir, old)


def test_a_process_started_before_the_rotation_signs_with_the_new_key(
        ejournal: Ejournal, school: School, database_url: str, key_dir: Path) -> None:
    earlier = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        earlier.journal(school.slug).get(Lesson, school.lesson(number=2))
        new = rotate(ejournal, school).successor
        lesson = earlier.journal(school.slug).lessons.conduct_lesson(
            school.teacher, school.assignment, date(2026, 10, 14), 6, "Тема", None,
            "ordinary")
        earlier.journal(school.slug).lessons.record_mark(
            school.teacher, lesson, school.students[0], MarkValue.FIVE)
        assert keys_by_position(ejournal, school.slug)[-1] == new
        assert earlier.checkpoint(school.slug)  # signed with the new key
        assert ejournal.verify(school.slug, ring(ejournal)).ok
    finally:
        earlier.close()


def test_a_rotation_over_some_institutions_destroys_no_key(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    old = ledger.active_key(key_dir)
    assert rotate(ejournal, school).destroyed == []
    assert (key_dir / f"{old}.key").exists()


def test_rotating_twice_hands_over_from_key_to_key(ejournal: Ejournal, school: School,
                                                   key_dir: Path) -> None:
    first = ledger.active_key(key_dir)
    second = rotate(ejournal, school, "Приказ № 1").successor
    school.lesson(number=2)
    third = rotate(ejournal, school, "Приказ № 2").successor
    school.lesson(number=3)
    found = [(signer, state["successor"]) for _, signer, state
             in announcements(ejournal, school.slug)]
    assert found == [(first, second), (second, third)]
    assert ejournal.verify(school.slug, ring(ejournal)).ok


def test_an_entry_forged_with_the_retired_key_is_caught(
        ejournal: Ejournal, school: School, key_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    old = ledger.active_key(key_dir)
    stolen = ledger.Signer.from_directory(key_dir, old)  # a copy taken before rotation
    rotate(ejournal, school)
    school.lesson(number=2)
    raw = RawDb(ejournal, school.slug)
    position = int(raw.run("SELECT max(position) FROM {ledger}", bypass=False)[0][0])
    entry = next(e for e in ejournal.backend.chain_reader(school.slug).entries()
                 if e.position == position)
    # Re-sign the newest entry with the retired key (its hash stays right).
    raw.run("UPDATE {ledger} SET key_id = ?, signature = ? WHERE position = ?",
            (old, stolen.sign(entry.entry_hash), position))
    report = ejournal.verify(school.slug, ring(ejournal))
    assert not report.ok and report.failure is not None
    assert (report.failure.kind, report.failure.position) == (ledger.FailureKind.WRONG_KEY,
                                                              position)
    monkeypatch.setattr(integrity, "MARK_EVERY", 10**9)
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        with pytest.raises(IntegrityAlarm, match="wrong_key"):
            later.journal(school.slug).get(Lesson, school.lesson(number=1))
    finally:
        later.close()


def test_a_process_opening_at_a_mark_after_the_rotation_signs_with_the_new_key(
        ejournal: Ejournal, school: School, database_url: str, key_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integrity, "MARK_EVERY", 3)
    new = rotate(ejournal, school).successor
    for number in range(2, 6):
        school.lesson(number=number)  # the guard marks after the announcement
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        later.journal(school.slug).lessons.conduct_lesson(
            school.teacher, school.assignment, date(2026, 10, 13), 6, "Тема", None,
            "ordinary")
        assert later.journal(school.slug).store.chain.guard.keys.in_force == new
        assert keys_by_position(ejournal, school.slug)[-1] == new
        assert ejournal.verify(school.slug, ring(ejournal)).ok
    finally:
        later.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_verified_mark_signed_by_the_retired_key_is_not_trusted(
        ejournal: Ejournal, school: School, key_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thief of the retired key re-signs the newest entry and signs a verified-through
    mark over it: a process opening later must not start from that mark."""
    old = ledger.active_key(key_dir)
    stolen = ledger.Signer.from_directory(key_dir, old)
    ejournal.rotate_signing_key("Приказ № 12")  # every institution of the file: destroys
    lesson_id = school.lesson(number=2)
    raw = RawDb(ejournal, school.slug)
    position = int(raw.run("SELECT max(position) FROM {ledger}", bypass=False)[0][0])
    entry = next(e for e in ejournal.backend.chain_reader(school.slug).entries()
                 if e.position == position)
    raw.run("UPDATE {ledger} SET key_id = ?, signature = ? WHERE position = ?",
            (old, stolen.sign(entry.entry_hash), position))
    chain_id = f"ejournal:{school.journal.institution_id}"
    raw.run("INSERT INTO {ledger}_verified VALUES (?, ?, ?, ?)",
            (position, entry.entry_hash, old,
             stolen.sign_verified(chain_id, position, entry.entry_hash)), bypass=False)
    monkeypatch.setattr(integrity, "MARK_EVERY", 10**9)
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        with pytest.raises(IntegrityAlarm, match="wrong_key"):  # a read alone, no write
            later.journal(school.slug).get(Lesson, lesson_id)
    finally:
        later.close()


def test_a_refused_basis_makes_no_key(ejournal: Ejournal, school: School,
                                      key_dir: Path) -> None:
    before = sorted(p.name for p in key_dir.iterdir())
    for basis in ("", "a\x01b", "x" * 10_000):
        with pytest.raises(InvalidValue):
            ejournal.rotate_signing_key(basis, [school.slug])
    assert sorted(p.name for p in key_dir.iterdir()) == before


def test_a_log_cut_back_before_the_announcement_no_longer_extends_the_rotation_checkpoint(
        ejournal: Ejournal, school: School, key_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thief of the retired key who can write the database cuts the log back to before
    the announcement (so the retired key is in force again and could sign on): the
    rotation signed a checkpoint after each announcement, remembered beside the keys,
    which the cut log no longer extends — `ledger verify` and a process opening say so."""
    rotate(ejournal, school)
    (position, _, _), = announcements(ejournal, school.slug)
    raw = RawDb(ejournal, school.slug)
    raw.run("DELETE FROM {events} WHERE {nid} IN (SELECT notification_id FROM {ledger}"
            " WHERE position >= ?)", (position,))
    raw.run("DELETE FROM {ledger} WHERE position >= ?", (position,))
    raw.run("DELETE FROM {merkle} WHERE (idx + 1) * (1 << level) > ?", (position - 1,))
    report = ejournal.verify(school.slug, ring(ejournal))
    assert not report.ok and report.failure is not None
    assert report.failure.kind is ledger.FailureKind.MISSING
    assert "truncated" in report.failure.detail
    monkeypatch.setattr(integrity, "MARK_EVERY", 10**9)
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        with pytest.raises(IntegrityAlarm, match="truncated"):
            later.journal(school.slug).institution()
    finally:
        later.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_institution_whose_key_in_force_is_retired_is_read_only_and_blocks_nothing(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    old = ledger.active_key(key_dir)
    ledger.activate_key(key_dir, ledger.generate_key(key_dir))
    ledger.destroy_private_key(key_dir, old)  # as after restoring a pre-rotation copy
    ejournal.keys.forget(old)  # type: ignore[union-attr]
    report = ejournal.rotate_signing_key("Приказ № 12")
    assert report.read_only == [school.slug] and report.failed == {}
    assert report.announced == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_links_only_refuses_a_checkpoint_signed_by_the_retired_key(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    """Links-only verification authenticates through the newest stored checkpoint: one
    the thief of the retired key signed over a forged tail must authenticate nothing."""
    from application.service import stored_tree

    old = ledger.active_key(key_dir)
    stolen = ledger.Signer.from_directory(key_dir, old)
    ejournal.rotate_signing_key("Приказ № 12")
    school.lesson(number=2)
    assert ejournal.verify_links(school.slug, ring(ejournal))[0].ok
    reader = ejournal.backend.chain_reader(school.slug)
    size, root = stored_tree(reader, school.slug)
    origin = ejournal.log_origin(school.slug)
    note = ledger.sign_checkpoint(ledger.Checkpoint(origin, size, root),
                                  [stolen.note_signer(origin)])
    RawDb(ejournal, school.slug).run(
        "INSERT INTO {checkpoints} (size, origin, root, note, signed_at) VALUES (?,?,?,?,?)",
        (size, origin, root, note, "2026-10-15T09:00:00+00:00"))
    report, checkpoint = ejournal.verify_links(school.slug, ring(ejournal))
    assert not report.ok and checkpoint is None and report.failure is not None
    assert report.failure.kind is ledger.FailureKind.WRONG_KEY


def test_checkpoints_after_an_announcement_are_signed_by_the_key_in_force(
        ejournal: Ejournal, school: School, key_dir: Path) -> None:
    new = rotate(ejournal, school).successor
    school.lesson(number=2)
    note = ejournal.checkpoint(school.slug)
    origin = ejournal.log_origin(school.slug)
    public = ring(ejournal).public_key(new)
    assert ledger.open_checkpoint(note, [ledger.NoteVerifier.ed25519(origin, public)],
                                  origin=origin).size > 0
