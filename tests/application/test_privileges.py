"""Least privilege on PostgreSQL (ADR 0007): the service runs as a role that can read
and append and nothing else, so the database itself cannot be made to rewrite history
through it; and the service runs no DDL."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors

import ledger
from application.config import Settings
from application.integrity import IntegrityAlarm
from application.service import Ejournal
from application.storage.directory import PostgresDirectory
from application.storage.layout import EVENTS_TABLE, NotOwner, schema_of
from application.storage.postgres import LedgeredPostgresRecorder
from domain.lessons import Lesson
from domain.values import MarkValue
from tests.conftest import Clock, School, build_school

pytestmark = pytest.mark.postgres


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port or 5432}"))


@dataclass
class Deployment:
    owner: Ejournal
    runtime_url: str
    school: School


@pytest.fixture
def deployment(postgres_url: str, key_dir: Path, clock: Clock) -> Iterator[Deployment]:
    role = "ej_runtime_" + secrets.token_hex(4)
    settings = Settings(database_url=as_user(postgres_url, role),
                        owner_database_url=postgres_url, key_dir=key_dir)
    assert settings.runtime_role() == role
    owner = Ejournal(settings, clock, owner=True)
    owner.backend.add_runtime_role(role)  # type: ignore[attr-defined]
    try:
        yield Deployment(owner, settings.database_url, build_school(owner))
    finally:
        owner.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DELETE FROM ejournal.runtime_roles WHERE role = %s", (role,))
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def runtime(d: Deployment, clock: Clock) -> Ejournal:
    return Ejournal(Settings(database_url=d.runtime_url, key_dir=d.owner.settings.key_dir),
                    clock)


def test_the_runtime_role_records_reads_and_verifies(deployment: Deployment,
                                                     clock: Clock) -> None:
    s = deployment.school
    lesson_id = s.lesson()
    token = deployment.owner.issue_token(s.slug, s.teacher.person_id, "staff")
    service = runtime(deployment, clock)
    try:
        actor, journal = service.authenticate(token)
        journal.lessons.record_mark(actor, lesson_id, s.students[0], MarkValue.FIVE)
        assert len(journal.get(Lesson, lesson_id).marks) == 1
        assert deployment.owner.issue_token(s.slug, s.student.person_id, "student")
        assert service.issue_token(s.slug, s.guardian.person_id, "guardian")
        keyring = service.keyring()
        assert service.verify(s.slug, keyring).ok
    finally:
        service.close()


TAMPERING = [
    "UPDATE {events} SET state = state",
    "DELETE FROM {events}",
    "TRUNCATE {events}",
    "UPDATE {ledger} SET signature = signature",
    "DELETE FROM {ledger}",
    "TRUNCATE {ledger}",
    "ALTER TABLE {events} DISABLE TRIGGER USER",
    "ALTER TABLE {ledger} DISABLE TRIGGER ALL",
    "ALTER TABLE {events} ADD COLUMN note text",
    "DROP TRIGGER ledger_append_only ON {ledger}",
    "CREATE OR REPLACE FUNCTION {schema}.append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$BEGIN RETURN NULL; END$$",
    "SET session_replication_role = replica",
    "CREATE TABLE {schema}.shadow (x int)",
    "UPDATE ejournal.access_tokens SET person_kind = 'staff'",
    "DELETE FROM ejournal.access_tokens",
    "INSERT INTO ejournal.institutions VALUES ('evil', gen_random_uuid(), 'x', now())",
    "GRANT UPDATE ON {events} TO PUBLIC; UPDATE {events} SET state = state",
    # An event placed where the cache and the chain guard would not look (ADR 0009).
    "INSERT INTO {events} (originator_id, originator_version, topic, state, notification_id)"
    " VALUES (gen_random_uuid(), 1, 'x', 'x', 9000000000000000000)",
    "INSERT INTO {schema}.ledger_verified SELECT 1, '\\x00', 'k', '\\x00';"
    " DELETE FROM {schema}.ledger_verified",
]


def test_the_runtime_role_cannot_store_an_event_without_its_ledger_entry(
        deployment: Deployment) -> None:
    schema = schema_of(deployment.school.slug)
    with psycopg.connect(deployment.runtime_url) as conn, pytest.raises(
            errors.RaiseException, match="has no ledger entry"):
        conn.execute(f'INSERT INTO "{schema}"."{EVENTS_TABLE}" (originator_id,'
                     " originator_version, topic, state) VALUES (gen_random_uuid(), 1, 'x',"
                     " 'x')")
        conn.commit()


@pytest.mark.parametrize("statement", TAMPERING)
def test_the_runtime_role_cannot_rewrite_history(deployment: Deployment, statement: str
                                                 ) -> None:
    schema = schema_of(deployment.school.slug)
    sql = statement.format(events=f'"{schema}"."{EVENTS_TABLE}"', ledger=f'"{schema}".ledger',
                           schema=f'"{schema}"')
    # Refused for want of privilege — before the append-only triggers would be reached.
    with psycopg.connect(deployment.runtime_url) as conn, pytest.raises(
            errors.InsufficientPrivilege):
        conn.execute(sql)


def test_the_runtime_service_runs_no_ddl(deployment: Deployment, clock: Clock,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ddl(*_: object) -> None:
        raise AssertionError("DDL at runtime")

    monkeypatch.setattr(LedgeredPostgresRecorder, "create_table", no_ddl)
    monkeypatch.setattr(PostgresDirectory, "install", no_ddl)
    s = deployment.school
    service = runtime(deployment, clock)
    try:
        journal = service.journal(s.slug)
        journal.lessons.record_mark(s.teacher, s.lesson(), s.students[1], MarkValue.FOUR)
        with pytest.raises(NotOwner):
            service.create_institution("evil" + secrets.token_hex(3), "Чужая", "Europe/Moscow")
    finally:
        service.close()


def test_an_institution_added_later_is_granted_to_the_runtime_role(
        deployment: Deployment, clock: Clock) -> None:
    later = build_school(deployment.owner)
    service = runtime(deployment, clock)
    try:
        journal = service.journal(later.slug)
        journal.lessons.record_mark(later.teacher, later.lesson(), later.students[0],
                                    MarkValue.THREE)
    finally:
        service.close()


# An outside attack round with the runtime role's INSERT alone (ADR 0009, 0011) ----------
def _runtime_sql(d: Deployment, sql: str, params: tuple[object, ...] = ()) -> None:
    schema = schema_of(d.school.slug)
    with psycopg.connect(d.runtime_url) as conn:
        conn.execute(sql.format(s=f'"{schema}"'), params)


def test_a_junk_node_inserted_by_the_runtime_role_raises_the_alarm(
        deployment: Deployment, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    s = deployment.school
    lesson_id = s.lesson()
    schema = schema_of(s.slug)
    with psycopg.connect(deployment.runtime_url) as conn:
        head = conn.execute(f'SELECT max(position) FROM "{schema}".ledger').fetchone()[0]
    _runtime_sql(deployment, "INSERT INTO {s}.merkle_nodes VALUES (0, %s, %s)",
                 (head + 1, b"\x5a" * 32))
    service = runtime(deployment, clock)
    try:
        journal = service.journal(s.slug)
        with caplog.at_level(logging.CRITICAL, "ejournal.integrity"), \
                pytest.raises(IntegrityAlarm):  # not 409 after every retry
            for student in s.students[:2]:  # the second append needs leaf head + 1
                journal.lessons.record_mark(s.teacher, lesson_id, student, MarkValue.FIVE)
        assert any(f"index {head + 1}" in r.getMessage() for r in caplog.records)
    finally:
        service.close()


def test_forged_checkpoint_rows_of_the_runtime_role_do_not_block_signing(
        deployment: Deployment, clock: Clock) -> None:
    s = deployment.school
    service = runtime(deployment, clock)
    try:
        first = service.checkpoint(s.slug)
        s.lesson()
        origin = service.log_origin(s.slug)
        _runtime_sql(deployment, "INSERT INTO {s}.ledger_checkpoints (size, origin, root,"
                     " note) VALUES (9000000000000000000, %s, %s, %s)",
                     (origin, bytes(32), first))
        note = service.checkpoint(s.slug)
        assert note != first
        # The same checkpoint stored again by a second worker: INSERT only, no error.
        checkpoint = ledger.Checkpoint.parse(ledger.parse_note(note).text)
        recorder = service.journal(s.slug).store.recorder
        assert recorder.add_checkpoint(checkpoint.size, origin, checkpoint.root,  # type: ignore[attr-defined]
                                       note) == note
    finally:
        service.close()
