"""Where each institution lives. The institution is the unit of placement:
SQLite — one database file per institution beside the directory file;
PostgreSQL — one schema per institution (ADR 0003)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory
from psycopg.sql import SQL, Identifier, Literal

import ledger
from application.storage.chain import ChainWriter
from application.storage.directory import Directory, PostgresDirectory, SQLiteDirectory
from application.storage.postgres import (
    LedgeredPostgresRecorder,
    PostgresChainReader,
    ledger_ddl,
)
from application.storage.readmodel_sql import READ_MODEL_TABLES, Dialect
from application.storage.sqlite import LedgeredSQLiteRecorder, SQLiteChainReader

EVENTS_TABLE = "journal_events"  # eventsourcing's name for application "Journal"
# Aggregates are cached per process; the cache is brought up to date from the
# notification log at the start of every command, and what a command read is checked
# again when it writes, so several processes may write (ADR 0005).
CACHE = {"AGGREGATE_CACHE_MAXSIZE": "2000"}


class ChainReader(Protocol):
    def entries(self) -> object: ...
    def entries_from(self, position: int) -> Iterator[ledger.StoredEntry]: ...
    def entries_range(self, first: int, last: int) -> Iterator[ledger.StoredEntry]: ...
    def first_unledgered(self) -> tuple[int, str, int, int] | None: ...
    def locate(self, digest: bytes) -> int | None: ...
    def tree_size(self) -> tuple[int, int]: ...
    def subtrees(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...
    def latest_checkpoint(self) -> tuple[int, str, bytes, str] | None: ...
    def recent_checkpoints(self, limit: int) -> list[tuple[int, str, bytes, str]]: ...
    def nodes_beyond(self, size: int, limit: int) -> list[tuple[int, int, bytes]]: ...
    def all_verified_marks(self) -> Iterable[tuple[int, bytes, str, bytes, bytes | None]]: ...
    def entries_between(self, first: int, last: int) -> list[ledger.StoredEntry]: ...
    def entry_of_event(self, originator_id: UUID, version: int
                       ) -> ledger.StoredEntry | None: ...
    def checkpoints(self, after_size: int, limit: int
                    ) -> list[tuple[int, str, bytes, str, str]]: ...
    def untimestamped(self) -> list[tuple[int, str, str]]: ...
    def checkpoint_timestamp(self, size: int, origin: str) -> bytes | None: ...


class Backend(ABC):
    directory: Directory
    kind: str

    @abstractmethod
    def prepare_institution(self, slug: str) -> None: ...

    @abstractmethod
    def app_env(self, slug: str) -> dict[str, str]: ...

    @abstractmethod
    def recorder(self, factory: InfrastructureFactory, chain: ChainWriter
                 ) -> ApplicationRecorder: ...

    @abstractmethod
    def chain_reader(self, slug: str) -> ChainReader: ...

    def close(self) -> None:
        self.directory.close()


class SQLiteBackend(Backend):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.directory = SQLiteDirectory(path)

    def institution_file(self, slug: str) -> Path:
        return self.path.with_name(f"{self.path.stem}.{slug}.sqlite3")

    def prepare_institution(self, slug: str) -> None:
        pass

    def app_env(self, slug: str) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.institution_file(slug)),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "no",  # the ledgered recorder creates its own tables
            **CACHE,
        }

    def recorder(self, factory: InfrastructureFactory, chain: ChainWriter
                 ) -> ApplicationRecorder:
        recorder = LedgeredSQLiteRecorder(factory.datastore, chain)  # type: ignore[attr-defined]
        recorder.create_table()
        return recorder

    def chain_reader(self, slug: str) -> ChainReader:
        return SQLiteChainReader(str(self.institution_file(slug)))


def schema_of(slug: str) -> str:
    return f"ej_{slug}"


class NotOwner(Exception):
    """A schema change asked of a deployment opened with the runtime role."""


# What the runtime role may do: read and append, nothing else. No UPDATE, DELETE or
# TRUNCATE, no ownership (so no ALTER, no DISABLE TRIGGER, no CREATE OR REPLACE of the
# append-only function), no CREATE on any schema (ADR 0007).
RUNTIME_ROLE_ATTRIBUTES = ("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                           "NOREPLICATION NOBYPASSRLS")


class PostgresBackend(Backend):
    """`owner`: opened by the owner of the schemas (ejournal init, institutions add,
    demo): may create schemas and tables and grant the runtime roles. Otherwise —
    `serve` and every runtime command — it runs no DDL at all."""

    kind = "postgresql"

    def __init__(self, url: str, *, owner: bool = False) -> None:
        self.url = url
        self.owner = owner
        parts = urlsplit(url)
        self.params = {
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
        }
        self.directory: PostgresDirectory = PostgresDirectory(url)
        if owner:
            self.directory.install()

    def _require_owner(self) -> None:
        if not self.owner:
            raise NotOwner("schema changes are made by the owner: run `ejournal init` or "
                           "`ejournal institutions add` (EJOURNAL_OWNER_DATABASE_URL)")

    def add_runtime_role(self, role: str, password: str | None = None) -> None:
        """Creates the login role the service runs as (if absent) and grants it exactly
        what it needs on the directory and on every institution's tables."""
        self._require_owner()
        for attempt in range(5):
            try:
                return self._add_runtime_role(role, password)
            except psycopg.errors.InternalError as error:
                # Two owners granting on one object at once (`tuple concurrently updated`):
                # every statement here is idempotent, so run them again.
                if "concurrently" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _add_runtime_role(self, role: str, password: str | None) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (role,)).fetchone()
            if exists is None:
                conn.execute(SQL("CREATE ROLE {} " + RUNTIME_ROLE_ATTRIBUTES).format(
                    Identifier(role)))
            if password:
                conn.execute(SQL("ALTER ROLE {} PASSWORD {}").format(
                    Identifier(role), Literal(password)))
            conn.execute("INSERT INTO ejournal.runtime_roles VALUES (%s)"
                         " ON CONFLICT DO NOTHING", (role,))
            r = Identifier(role)
            for statement in (
                "GRANT USAGE ON SCHEMA ejournal TO {r}",
                "GRANT SELECT ON ejournal.institutions TO {r}",
                "GRANT SELECT, INSERT ON ejournal.access_tokens TO {r}",
            ):
                conn.execute(SQL(statement).format(r=r))
            for (slug,) in conn.execute("SELECT slug FROM ejournal.institutions").fetchall():
                schema = schema_of(slug)
                if conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{EVENTS_TABLE}"',)
                                ).fetchone()[0] is None:
                    continue  # registered, never opened: its tables come with it
                for statement in [*ledger_ddl(schema, EVENTS_TABLE),  # brings it up to date
                                  *Dialect(schema).create()]:
                    conn.execute(statement)
                self._grant_institution(conn, schema, [role])

    def grant_institution(self, slug: str) -> None:
        """Grants every runtime role the institution's tables again (after a rebuild of
        its read models replaced them)."""
        self._require_owner()
        with psycopg.connect(self.url, autocommit=True) as conn:
            self._grant_institution(conn, schema_of(slug), self.directory.runtime_roles())

    @staticmethod
    def _grant_institution(conn: psycopg.Connection, schema: str, roles: list[str]) -> None:
        s = Identifier(schema)
        sequence = Identifier(f"{EVENTS_TABLE}_notification_id_seq")
        for role in roles:
            r = Identifier(role)
            conn.execute(SQL("GRANT USAGE ON SCHEMA {s} TO {r}").format(s=s, r=r))
            e = Identifier(EVENTS_TABLE)
            # Events: the notification id only from its sequence (ADR 0009), so nobody
            # can place an event where the cache and the chain guard would not look.
            conn.execute(SQL("GRANT SELECT ON {s}.{e} TO {r}").format(s=s, e=e, r=r))
            conn.execute(SQL("GRANT INSERT (originator_id, originator_version, topic, state)"
                             " ON {s}.{e} TO {r}").format(s=s, e=e, r=r))
            # The Merkle tree, the checkpoints and their timestamps are insert-only too
            # (ADR 0011, 0013).
            conn.execute(SQL("GRANT SELECT, INSERT ON {s}.ledger, {s}.ledger_verified,"
                             " {s}.merkle_nodes, {s}.ledger_checkpoints,"
                             " {s}.checkpoint_timestamps TO {r}").format(s=s, r=r))
            # Read models are derived, rebuilt from the log: the projection keeps them.
            conn.execute(SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {r}").format(
                tables=SQL(", ").join(SQL("{s}.{t}").format(s=s, t=Identifier(t))
                                      for t in READ_MODEL_TABLES), r=r))
            conn.execute(SQL("GRANT USAGE ON SEQUENCE {s}.{q} TO {r}").format(
                s=s, q=sequence, r=r))

    def prepare_institution(self, slug: str) -> None:
        self._require_owner()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                Identifier(schema_of(slug))))

    def app_env(self, slug: str) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            **self.params,
            "POSTGRES_SCHEMA": schema_of(slug),
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONN_MAX_AGE": "600",
            "CREATE_TABLE": "no",
            **CACHE,
        }

    def recorder(self, factory: InfrastructureFactory, chain: ChainWriter
                 ) -> ApplicationRecorder:
        recorder = LedgeredPostgresRecorder(factory.datastore,  # type: ignore[attr-defined]
                                            EVENTS_TABLE, chain)
        if self.owner:
            with psycopg.connect(self.url, autocommit=True) as conn:
                # Serialise DDL across processes starting at once.
                conn.execute("SELECT pg_advisory_lock(7305002)")
                try:
                    recorder.create_table()
                    schema = factory.datastore.schema  # type: ignore[attr-defined]
                    for statement in Dialect(schema).create():  # the read models (ADR 0010)
                        conn.execute(statement)
                    self._grant_institution(conn, schema, self.directory.runtime_roles())
                    # A chain older than merkle_nodes gets its tree here, once (ADR 0011).
                    recorder.ensure_tree()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(7305002)")
        return recorder

    def chain_reader(self, slug: str) -> ChainReader:
        return PostgresChainReader(self.url, schema_of(slug), EVENTS_TABLE)


def ensure_database(url: str) -> bool:
    """Creates the PostgreSQL database named in `url` if it does not exist (as the
    owner, connecting to the server's `postgres` database); True if it created it."""
    if not url.startswith(("postgresql://", "postgres://")):
        return False
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/")) or "postgres"
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return False
    except psycopg.OperationalError as error:
        if f'database "{name}" does not exist' not in str(error):
            raise
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    return True


def open_backend(url: str, *, owner: bool = False) -> Backend:
    """`sqlite:///relative.sqlite3`, `sqlite:////absolute.sqlite3`, or `postgresql://…`.
    SQLite has no roles: its files are the process's own (0600), tables are created on
    open. PostgreSQL: see PostgresBackend."""
    if url.startswith("sqlite:///"):
        return SQLiteBackend(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url, owner=owner)
    raise ValueError(f"unsupported EJOURNAL_DATABASE_URL: {url!r}")


