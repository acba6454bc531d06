"""The deployment's directory: which institutions exist and where they are placed, and
a routing hint per access token (its SHA-256 → institution, person, kind). The hint
grants nothing: a token is admitted only when its institution's signed record holds
its issuance and no revocation (application/access.py, ADR 0007)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class InstitutionEntry:
    slug: str
    institution_id: UUID
    name: str


@dataclass(frozen=True)
class TokenEntry:
    slug: str
    person_id: UUID
    person_kind: str  # staff | student | guardian


class AlreadyRegistered(Exception):
    pass


class Directory(Protocol):
    def add_institution(self, entry: InstitutionEntry) -> None: ...
    def institutions(self) -> list[InstitutionEntry]: ...
    def institution(self, slug: str) -> InstitutionEntry | None: ...
    def add_token(self, token_hash: str, entry: TokenEntry) -> None: ...
    def token(self, token_hash: str) -> TokenEntry | None: ...
    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteDirectory:
    DDL = (
        "CREATE TABLE IF NOT EXISTS institutions (slug TEXT PRIMARY KEY,"
        " institution_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, registered_at TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS access_tokens (token_sha256 TEXT PRIMARY KEY,"
        " slug TEXT NOT NULL REFERENCES institutions(slug), person_id TEXT NOT NULL,"
        " person_kind TEXT NOT NULL, issued_at TEXT NOT NULL);"
    )

    def __init__(self, path: Path) -> None:
        from application.storage.sqlite import private_database_file

        self.path = path
        private_database_file(path)  # personal data: 0600 in a directory created 0700
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(self.DDL)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def add_institution(self, entry: InstitutionEntry) -> None:
        try:
            with closing(self._connect()) as conn, conn:
                conn.execute("INSERT INTO institutions VALUES (?,?,?,?)",
                             (entry.slug, str(entry.institution_id), entry.name, _now()))
        except sqlite3.IntegrityError:
            raise AlreadyRegistered(entry.slug) from None

    def institutions(self) -> list[InstitutionEntry]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT slug, institution_id, name FROM institutions"
                                " ORDER BY slug").fetchall()
        return [InstitutionEntry(s, UUID(i), n) for s, i, n in rows]

    def institution(self, slug: str) -> InstitutionEntry | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT slug, institution_id, name FROM institutions"
                               " WHERE slug = ?", (slug,)).fetchone()
        return None if row is None else InstitutionEntry(row[0], UUID(row[1]), row[2])

    def add_token(self, token_hash: str, entry: TokenEntry) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT INTO access_tokens VALUES (?,?,?,?,?)",
                         (token_hash, entry.slug, str(entry.person_id), entry.person_kind,
                          _now()))

    def token(self, token_hash: str) -> TokenEntry | None:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT slug, person_id, person_kind FROM access_tokens"
                " WHERE token_sha256 = ?", (token_hash,)).fetchone()
        return None if row is None else TokenEntry(row[0], UUID(row[1]), row[2])


    def close(self) -> None:
        pass


class PostgresDirectory:
    """In schema `ejournal` — small reference tables (in Citus: on the coordinator)."""

    DDL = (
        "CREATE SCHEMA IF NOT EXISTS ejournal;"
        "CREATE TABLE IF NOT EXISTS ejournal.institutions (slug text PRIMARY KEY,"
        " institution_id uuid NOT NULL UNIQUE, name text NOT NULL,"
        " registered_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE IF NOT EXISTS ejournal.access_tokens (token_sha256 text PRIMARY KEY,"
        " slug text NOT NULL REFERENCES ejournal.institutions(slug), person_id uuid NOT NULL,"
        " person_kind text NOT NULL, issued_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE IF NOT EXISTS ejournal.runtime_roles (role text PRIMARY KEY);"
    )

    def __init__(self, conninfo: str) -> None:
        # No DDL here: the tables are the owner's, created by `install` (ejournal init).
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=4, open=True,
                                   kwargs={"autocommit": True})

    def install(self) -> None:
        """Creates the directory's tables (as their owner); idempotent."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(7305001)")
            try:
                for statement in self.DDL.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            finally:
                conn.execute("SELECT pg_advisory_unlock(7305001)")

    def runtime_roles(self) -> list[str]:
        """The roles the service runs as, to be granted each institution's tables."""
        with self.pool.connection() as conn:
            return [r[0] for r in conn.execute(
                "SELECT role FROM ejournal.runtime_roles r JOIN pg_roles p"
                " ON p.rolname = r.role ORDER BY role").fetchall()]

    def add_institution(self, entry: InstitutionEntry) -> None:
        import psycopg

        try:
            with self.pool.connection() as conn:
                conn.execute("INSERT INTO ejournal.institutions (slug, institution_id, name)"
                             " VALUES (%s,%s,%s)", (entry.slug, entry.institution_id, entry.name))
        except psycopg.errors.UniqueViolation:
            raise AlreadyRegistered(entry.slug) from None

    def institutions(self) -> list[InstitutionEntry]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT slug, institution_id, name FROM ejournal.institutions"
                                " ORDER BY slug").fetchall()
        return [InstitutionEntry(*r) for r in rows]

    def institution(self, slug: str) -> InstitutionEntry | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT slug, institution_id, name FROM ejournal.institutions"
                               " WHERE slug = %s", (slug,)).fetchone()
        return None if row is None else InstitutionEntry(*row)

    def add_token(self, token_hash: str, entry: TokenEntry) -> None:
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO ejournal.access_tokens (token_sha256, slug, person_id,"
                         " person_kind) VALUES (%s,%s,%s,%s)",
                         (token_hash, entry.slug, entry.person_id, entry.person_kind))

    def token(self, token_hash: str) -> TokenEntry | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT slug, person_id, person_kind FROM ejournal.access_tokens"
                " WHERE token_sha256 = %s", (token_hash,)).fetchone()
        return None if row is None else TokenEntry(*row)


    def close(self) -> None:
        self.pool.close()
