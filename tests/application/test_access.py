"""Access is part of the signed record: tokens are admitted only when their issuance is
an attested event of the institution's ledger and no revocation follows it; roles are
granted only by those entitled to. SQLite and PostgreSQL, with plain SQL as an attacker
with access to the database would use it."""

from __future__ import annotations

import secrets

import pytest

import ledger
from application.integrity import IntegrityAlarm
from application.service import Ejournal, Unauthenticated, token_hash
from application.storage.directory import TokenEntry
from domain.access import Credentials
from domain.errors import Forbidden
from tests.application.rawdb import RawDb
from tests.conftest import School


def test_issuing_a_token_is_an_event_of_the_ledger(ejournal: Ejournal, school: School) -> None:
    raw = RawDb(ejournal, school.slug)
    before = raw.count("ledger")
    token = ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    assert raw.count("ledger") == before + 2  # credentials opened, token issued
    credentials = school.journal.get(Credentials,
                                     Credentials.create_id(school.teacher.person_id))
    assert credentials.admits(token_hash(token))
    assert token.encode() not in b"".join(bytes(r[0]) for r in raw.run(
        "SELECT state FROM {events}", bypass=False))


def test_a_token_row_inserted_by_sql_alone_authenticates_nobody(
        ejournal: Ejournal, school: School) -> None:
    forged = "ej_" + secrets.token_urlsafe(32)
    ejournal.backend.directory.add_token(
        token_hash(forged), TokenEntry(school.slug, school.director.person_id, "staff"))
    with pytest.raises(Unauthenticated):
        ejournal.authenticate(forged)


def test_a_token_issued_to_another_person_cannot_be_rerouted_to_the_director(
        ejournal: Ejournal, school: School) -> None:
    token = ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    raw = RawDb(ejournal, school.slug)
    directory = ejournal.backend.directory
    # The attacker points the routing hint of their own token at the director.
    if raw.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(ejournal.backend.directory.path) as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE access_tokens SET person_id = ? WHERE token_sha256 = ?",
                         (str(school.director.person_id), token_hash(token)))
    else:
        with directory.pool.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE ejournal.access_tokens SET person_id = %s"
                         " WHERE token_sha256 = %s",
                         (school.director.person_id, token_hash(token)))
    with pytest.raises(Unauthenticated):
        ejournal.authenticate(token)


def test_an_issuance_event_inserted_behind_the_ledger_is_not_trusted(
        ejournal: Ejournal, school: School) -> None:
    person = school.director.person_id
    genuine = ejournal.issue_token(school.slug, person, "staff")
    forged = "ej_" + secrets.token_urlsafe(32)
    raw = RawDb(ejournal, school.slug)
    credentials_id = Credentials.create_id(person)
    old, new = token_hash(genuine), token_hash(forged)
    oid = credentials_id.hex if raw.kind == "sqlite" else str(credentials_id)
    state = ("CAST(replace(CAST(state AS TEXT), ?, ?) AS BLOB)" if raw.kind == "sqlite"
             else "convert_to(replace(convert_from(state, 'UTF8'), ?, ?), 'UTF8')")
    raw.run("INSERT INTO {events} (originator_id, originator_version, topic, state)"
            f" SELECT originator_id, originator_version + 1, topic, {state} FROM {{events}}"
            " WHERE originator_id = ? AND originator_version = 2", (old, new, oid))
    ejournal.backend.directory.add_token(new, TokenEntry(school.slug, person, "staff"))
    # No ledger entry vouches for the forged event: the chain guard raises the alarm
    # before anything reads it (ADR 0009), in this process and in a new one,
    with pytest.raises(IntegrityAlarm):
        ejournal.authenticate(forged)
    fresh = Ejournal(ejournal.settings, ejournal.clock)
    try:
        with pytest.raises(IntegrityAlarm):
            fresh.authenticate(forged)
    finally:
        fresh.close()
    # and verification names the stray event.
    report = ejournal.verify(school.slug, ledger.KeyRing.from_directory(
        ejournal.settings.key_dir))
    assert not report.ok and report.failure is not None
    assert report.failure.kind is ledger.FailureKind.INSERTED


def test_a_revoked_token_is_refused_at_once(ejournal: Ejournal, school: School) -> None:
    token = ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    actor, _ = ejournal.authenticate(token)  # attested and cached
    assert actor.person_id == school.teacher.person_id
    assert ejournal.revoke_tokens(school.slug, school.teacher.person_id, "Утеря") == 1
    with pytest.raises(Unauthenticated):
        ejournal.authenticate(token)


def test_a_revocation_removed_by_sql_is_caught_by_verification(
        ejournal: Ejournal, school: School) -> None:
    ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    ejournal.revoke_tokens(school.slug, school.teacher.person_id, "Увольнение")
    raw = RawDb(ejournal, school.slug)
    raw.run("DELETE FROM {events} WHERE topic LIKE ?", ("%Credentials.TokensRevoked",))
    report = ejournal.verify(school.slug, ledger.KeyRing.from_directory(
        ejournal.settings.key_dir))
    assert not report.ok and report.failure is not None
    assert report.failure.kind is ledger.FailureKind.MISSING


# Role grants ------------------------------------------------------------------------------
@pytest.mark.parametrize("granter", ["admin", "deputy", "director"])
def test_nobody_grants_the_director_role(school: School, granter: str) -> None:
    with pytest.raises(Forbidden):
        school.journal.access.hire_staff(getattr(school, granter), "Новый директор",
                                         ["director"])


@pytest.mark.parametrize("granter", ["admin", "deputy"])
@pytest.mark.parametrize("role", ["deputy", "admin"])
def test_only_the_director_grants_deputy_and_administrator(school: School, granter: str,
                                                           role: str) -> None:
    with pytest.raises(Forbidden):
        school.journal.access.hire_staff(getattr(school, granter), "Кандидат", [role])
    assert school.journal.access.hire_staff(school.director, "Кандидат", [role])


def test_a_teacher_grants_no_role(school: School) -> None:
    with pytest.raises(Forbidden):
        school.journal.access.hire_staff(school.teacher, "Коллега", ["teacher"])


@pytest.mark.parametrize("granter", ["admin", "deputy", "director"])
def test_the_administration_hires_teachers(school: School, granter: str) -> None:
    assert school.journal.access.hire_staff(getattr(school, granter), "Учитель", ["teacher"])
