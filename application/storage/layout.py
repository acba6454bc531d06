"""Where each institution lives. The institution is the unit of placement:
SQLite — one database file per institution beside the directory file;
PostgreSQL — one schema per institution (ADR 0003)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory
from psycopg.sql import SQL, Identifier

import ledger
from application.storage.chain import ChainWriter
from application.storage.directory import Directory, PostgresDirectory, SQLiteDirectory
from application.storage.postgres import LedgeredPostgresRecorder, PostgresChainReader
from application.storage.sqlite import LedgeredSQLiteRecorder, SQLiteChainReader

EVENTS_TABLE = "journal_events"  # eventsourcing's name for application "Journal"
# Aggregates are cached per process; the cache is brought up to date from the
# notification log at the start of every command, and what a command read is checked
# again when it writes, so several processes may write (ADR 0005).
CACHE = {"AGGREGATE_CACHE_MAXSIZE": "2000"}


class ChainReader(Protocol):
    def entries(self) -> object: ...
    def first_unledgered(self) -> tuple[int, str, int, int] | None: ...
    def locate(self, digest: bytes) -> int | None: ...
    def entries_of(self, originator_id: UUID) -> list[ledger.StoredEntry | None]: ...


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


class PostgresBackend(Backend):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.params = {
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
        }
        self.directory = PostgresDirectory(url)

    def prepare_institution(self, slug: str) -> None:
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
        with psycopg.connect(self.url, autocommit=True) as conn:
            # Serialise DDL across processes starting at once.
            conn.execute("SELECT pg_advisory_lock(7305002)")
            try:
                recorder.create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(7305002)")
        return recorder

    def chain_reader(self, slug: str) -> ChainReader:
        return PostgresChainReader(self.url, schema_of(slug), EVENTS_TABLE)


def open_backend(url: str) -> Backend:
    """`sqlite:///relative.sqlite3`, `sqlite:////absolute.sqlite3`, or `postgresql://…`."""
    if url.startswith("sqlite:///"):
        return SQLiteBackend(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url)
    raise ValueError(f"unsupported EJOURNAL_DATABASE_URL: {url!r}")


