"""Backup and restore of one institution's store (ADR 0012), as the storage sees them:
its tables read in one snapshot while writers go on, as typed rows in one order for
both backends; and a staging copy, loaded from such rows, that goes live at once (a
rename) or not at all.

Backed up: events, ledger, verified-through marks, Merkle nodes, checkpoints, and the
directory's token routing hints (read after the snapshot, so a superset: a hint grants
nothing by itself, ADR 0007). Not backed up: the read models (`rm_*`), derived from the
log and rebuilt from it by the projection runner (ADR 0010)."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

from application.storage.chain import ChainWriter
from application.storage.directory import InstitutionEntry
from application.storage.layout import (
    EVENTS_TABLE,
    Backend,
    ChainReader,
    PostgresBackend,
    SQLiteBackend,
    schema_of,
)
from application.storage.postgres import (
    LedgeredPostgresRecorder,
    PostgresChainReader,
    ledger_ddl,
)
from application.storage.readmodel_sql import Dialect
from application.storage.sqlite import (
    SIDE_FILES,
    LedgeredSQLiteRecorder,
    SQLiteChainReader,
    private_database_file,
)

# The tables of a backup, in the order they are written and loaded (events before the
# ledger entries that name them; marks before the ledger, so the restore checks each
# mark's entry hash as the ledger streams past), with their columns and types:
# int, uuid, text, bytes (text for signed_at: an ISO 8601 timestamp).
TABLES: dict[str, list[tuple[str, str]]] = {
    "events": [("notification_id", "int"), ("originator_id", "uuid"),
               ("originator_version", "int"), ("topic", "text"), ("state", "bytes")],
    "ledger_verified": [("position", "int"), ("entry_hash", "bytes"), ("key_id", "text"),
                        ("signature", "bytes")],
    "ledger": [("position", "int"), ("notification_id", "int"), ("prev_hash", "bytes"),
               ("event_digest", "bytes"), ("entry_hash", "bytes"), ("key_id", "text"),
               ("signature", "bytes")],
    "merkle_nodes": [("level", "int"), ("idx", "int"), ("hash", "bytes")],
    "ledger_checkpoints": [("size", "int"), ("origin", "text"), ("root", "bytes"),
                           ("note", "text"), ("signed_at", "text")],
    "checkpoint_timestamps": [("size", "int"), ("origin", "text"), ("digest", "bytes"),
                              ("response", "bytes"), ("gen_time", "text"), ("tsa", "text"),
                              ("stored_at", "text")],
    "token_hints": [("token_sha256", "text"), ("person_id", "uuid"), ("person_kind", "text")],
}
STORE_TABLES = [t for t in TABLES if t != "token_hints"]  # in the institution's store
Row = tuple[Any, ...]
TokenHint = tuple[str, UUID, str]


class Snapshot(Protocol):
    """One institution's store as of one instant; `rows` streams (flat memory)."""

    def head(self) -> tuple[int, bytes] | None: ...
    def counts(self) -> dict[str, int]: ...
    def key_ids(self) -> list[str]: ...
    def rows(self, table: str) -> Iterator[Row]: ...


class Staging(Protocol):
    """A restore's copy of the store, not live until `promote`."""

    def load(self, tables: Iterable[tuple[str, Iterable[Row]]]) -> None: ...
    def reader(self) -> ChainReader: ...
    def promote(self, entry: InstitutionEntry, hints: list[TokenHint]) -> None: ...
    def discard(self) -> None: ...


class StillLive(Exception):
    """The institution's store holds events: a restore never overwrites it."""


class RowRejected(Exception):
    """The staging copy's constraints refused a row of the backup (a duplicated row, a
    key used twice): `row` is its number in its table's section (1-based), if known."""

    def __init__(self, table: str, row: int | None, detail: str) -> None:
        super().__init__(f"{table}: row {row}: {detail}")
        self.table, self.row, self.detail = table, row, detail


class _Counted:
    """The rows of one table, counting those taken (a failed insert names the last)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows, self.taken = iter(rows), 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.taken += 1
            yield row


# Where a store is, and whether it holds events -----------------------------------------
def events_stored(backend: Backend, slug: str) -> int:
    """How many events the institution's store holds (0: none, or no store at all)."""
    if isinstance(backend, SQLiteBackend):
        path = backend.institution_file(slug)
        return _sqlite_events(path) if path.exists() else 0
    assert isinstance(backend, PostgresBackend)
    with psycopg.connect(backend.url) as conn:
        return _pg_events(conn, schema_of(slug))


def _sqlite_events(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'stored_events'"
                        ).fetchone() is None:
            return 0
        return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def _pg_events(conn: psycopg.Connection[Any], schema: str) -> int:
    table = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{EVENTS_TABLE}"',)
                         ).fetchone()
    if table is None or table[0] is None:
        return 0
    return int(conn.execute(SQL("SELECT count(*) FROM {}.{}").format(
        Identifier(schema), Identifier(EVENTS_TABLE))).fetchone()[0])


@contextmanager
def open_snapshot(backend: Backend, slug: str) -> Iterator[Snapshot]:
    """The institution's store in one read transaction: SQLite's WAL snapshot, or
    PostgreSQL's REPEATABLE READ READ ONLY; writers are not blocked. Needs only SELECT
    (the runtime role)."""
    if isinstance(backend, SQLiteBackend):
        snapshot: Any = SQLiteSnapshot(backend, slug)
    else:
        assert isinstance(backend, PostgresBackend)
        snapshot = PostgresSnapshot(backend, slug)
    try:
        yield snapshot
    finally:
        snapshot.close()


def open_staging(backend: Backend, slug: str, chain: ChainWriter) -> Staging:
    """An empty staging copy of the institution's store, beside where it will live (a
    leftover of an interrupted restore of the same institution is removed first).
    PostgreSQL: needs the owner (it creates a schema)."""
    if isinstance(backend, SQLiteBackend):
        return SQLiteStaging(backend, slug, chain)
    assert isinstance(backend, PostgresBackend)
    return PostgresStaging(backend, slug, chain)


# SQLite ----------------------------------------------------------------------------------
SQLITE_SELECT = {
    "events": "SELECT rowid, originator_id, originator_version, topic, state"
              " FROM stored_events ORDER BY rowid",
    "ledger_verified": "SELECT position, entry_hash, key_id, signature FROM ledger_verified"
                       " ORDER BY position",
    "ledger": "SELECT position, notification_id, prev_hash, event_digest, entry_hash, key_id,"
              " signature FROM ledger ORDER BY position",
    "merkle_nodes": "SELECT level, idx, hash FROM merkle_nodes ORDER BY level, idx",
    "ledger_checkpoints": "SELECT size, origin, root, note, signed_at FROM ledger_checkpoints"
                          " ORDER BY size, origin",
    "checkpoint_timestamps": "SELECT size, origin, digest, response, gen_time, tsa, stored_at"
                             " FROM checkpoint_timestamps ORDER BY size, origin, gen_time",
}
SQLITE_INSERT = {
    "events": "INSERT INTO stored_events (rowid, originator_id, originator_version, topic,"
              " state) VALUES (?,?,?,?,?)",
    "ledger_verified": "INSERT INTO ledger_verified VALUES (?,?,?,?)",
    "ledger": "INSERT INTO ledger (position, notification_id, prev_hash, event_digest,"
              " entry_hash, key_id, signature) VALUES (?,?,?,?,?,?,?)",
    "merkle_nodes": "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?,?,?)",
    "ledger_checkpoints": "INSERT INTO ledger_checkpoints (size, origin, root, note,"
                          " signed_at) VALUES (?,?,?,?,?)",
    "checkpoint_timestamps": "INSERT INTO checkpoint_timestamps (size, origin, digest,"
                             " response, gen_time, tsa, stored_at) VALUES (?,?,?,?,?,?,?)",
}


class SQLiteSnapshot:
    def __init__(self, backend: SQLiteBackend, slug: str) -> None:
        self.backend, self.slug = backend, slug
        path = backend.institution_file(slug)
        if not path.exists():
            raise FileNotFoundError(path)
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        # In WAL mode (eventsourcing sets it) a read transaction is a snapshot that does
        # not block writers; its first read fixes the snapshot.
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT count(*) FROM ledger").fetchone()

    def head(self) -> tuple[int, bytes] | None:
        row = self.conn.execute("SELECT position, entry_hash FROM ledger"
                                " ORDER BY position DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def counts(self) -> dict[str, int]:
        table = {"events": "stored_events"}
        return {t: int(self.conn.execute(f"SELECT count(*) FROM {table.get(t, t)}"
                                         ).fetchone()[0]) for t in STORE_TABLES}

    def key_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT key_id FROM ledger ORDER BY key_id")]

    def rows(self, table: str) -> Iterator[Row]:
        if table == "token_hints":  # the directory: another file, read after the snapshot
            with closing(sqlite3.connect(self.backend.path, timeout=10)) as conn:
                for digest, person_id, kind in conn.execute(
                        "SELECT token_sha256, person_id, person_kind FROM access_tokens"
                        " WHERE slug = ? ORDER BY token_sha256", (self.slug,)):
                    yield digest, UUID(person_id), kind
            return
        for row in self.conn.execute(SQLITE_SELECT[table]):
            if table == "events":
                yield int(row[0]), UUID(row[1]), int(row[2]), row[3], _bytes(row[4])
            else:
                yield tuple(_bytes(v) if isinstance(v, memoryview) else v for v in row)

    def close(self) -> None:
        self.conn.close()


def _bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


class SQLiteStaging:
    """`<institution file>.restore`, renamed over the institution's file (which holds no
    events) when it goes live; then the directory entry and hints, in one transaction."""

    def __init__(self, backend: SQLiteBackend, slug: str, chain: ChainWriter) -> None:
        self.backend, self.slug = backend, slug
        self.target = backend.institution_file(slug)
        self.path = self.target.with_name(self.target.name + ".restore")
        self.discard()
        private_database_file(self.path)
        # The tables exactly as the service creates them (the recorder's own DDL).
        datastore = SQLiteDatastore(str(self.path))
        try:
            LedgeredSQLiteRecorder(datastore, chain).create_table()
        finally:
            datastore.close()

    def load(self, tables: Iterable[tuple[str, Iterable[Row]]]) -> None:
        with closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            # No WAL while staged: the file is complete on its own when it is renamed
            # (the service turns WAL on again when it opens it).
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("BEGIN IMMEDIATE")
            for table, rows in tables:
                counted = _Counted(rows)
                if table == "events":
                    rows = ((n, oid.hex, v, t, s) for n, oid, v, t, s in counted)
                else:
                    rows = iter(counted)
                try:
                    conn.executemany(SQLITE_INSERT[table], rows)
                except sqlite3.IntegrityError as error:  # one row at a time: the last taken
                    raise RowRejected(table, counted.taken, str(error)) from None
            conn.execute("COMMIT")

    def reader(self) -> ChainReader:
        return SQLiteChainReader(str(self.path))

    def promote(self, entry: InstitutionEntry, hints: list[TokenHint]) -> None:
        directory = sqlite3.connect(self.backend.path, timeout=30, isolation_level=None)
        with closing(directory):
            directory.execute("BEGIN IMMEDIATE")  # restores of one deployment queue here
            try:
                if self.target.exists() and _sqlite_events(self.target):
                    raise StillLive(self.slug)
                for side in SIDE_FILES:  # of an empty store being replaced
                    self.target.with_name(self.target.name + side).unlink(missing_ok=True)
                os.replace(self.path, self.target)  # atomic; not live without its entry
                directory.execute(
                    "INSERT OR IGNORE INTO institutions VALUES (?,?,?,?)",
                    (entry.slug, str(entry.institution_id), entry.name,
                     datetime.now(UTC).isoformat()))
                directory.executemany(
                    "INSERT OR IGNORE INTO access_tokens VALUES (?,?,?,?,?)",
                    [(h, self.slug, str(p), k, datetime.now(UTC).isoformat())
                     for h, p, k in hints])
                directory.execute("COMMIT")
            except BaseException:
                directory.execute("ROLLBACK")
                if not self.path.exists() and self.target.exists():
                    self.target.unlink()  # the file we moved, never live
                raise

    def discard(self) -> None:
        for name in ("", *SIDE_FILES):
            self.path.with_name(self.path.name + name).unlink(missing_ok=True)


# PostgreSQL ------------------------------------------------------------------------------
PG_SELECT = {
    "events": ("SELECT notification_id::bigint, originator_id::uuid, originator_version::bigint,"
               " topic, state FROM {s}.{e} ORDER BY notification_id",
               ["int8", "uuid", "int8", "text", "bytea"]),
    "ledger_verified": ("SELECT position, entry_hash, key_id, signature FROM {s}.ledger_verified"
                        " ORDER BY position", ["int8", "bytea", "text", "bytea"]),
    "ledger": ("SELECT position, notification_id, prev_hash, event_digest, entry_hash, key_id,"
               " signature FROM {s}.ledger ORDER BY position",
               ["int8", "int8", "bytea", "bytea", "bytea", "text", "bytea"]),
    "merkle_nodes": ("SELECT level::bigint, idx, hash FROM {s}.merkle_nodes ORDER BY level, idx",
                     ["int8", "int8", "bytea"]),
    "ledger_checkpoints": ("SELECT size, origin, root, note, signed_at"
                           " FROM {s}.ledger_checkpoints ORDER BY size, origin",
                           ["int8", "text", "bytea", "text", "timestamptz"]),
    "checkpoint_timestamps": ("SELECT size, origin, digest, response, gen_time, tsa, stored_at"
                              " FROM {s}.checkpoint_timestamps ORDER BY size, origin, gen_time",
                              ["int8", "text", "bytea", "bytea", "timestamptz", "text",
                               "timestamptz"]),
}
PG_COPY_IN = {
    "events": ("{s}.{e} (notification_id, originator_id, originator_version, topic, state)",
               ["int8", "uuid", "int8", "text", "bytea"]),
    "ledger_verified": ("{s}.ledger_verified (position, entry_hash, key_id, signature)",
                        ["int8", "bytea", "text", "bytea"]),
    "ledger": ("{s}.ledger (position, notification_id, prev_hash, event_digest, entry_hash,"
               " key_id, signature)", ["int8", "int8", "bytea", "bytea", "bytea", "text",
                                       "bytea"]),
    "merkle_nodes": ("{s}.merkle_nodes (level, idx, hash)", ["int2", "int8", "bytea"]),
    "ledger_checkpoints": ("{s}.ledger_checkpoints (size, origin, root, note, signed_at)",
                           ["int8", "text", "bytea", "text", "timestamptz"]),
    "checkpoint_timestamps": ("{s}.checkpoint_timestamps (size, origin, digest, response,"
                              " gen_time, tsa, stored_at)", ["int8", "text", "bytea", "bytea",
                                                             "timestamptz", "text",
                                                             "timestamptz"]),
}


def _copy_line(error: psycopg.Error) -> int | None:
    """The row COPY refused, from the server's context («COPY table, line N»)."""
    found = re.search(r"\bline (\d+)", error.diag.context or "")
    return int(found.group(1)) if found else None


def instant(text: str) -> datetime:
    """An ISO 8601 instant as written by either database ('Z' or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _sql(template: str, schema: str) -> SQL | Any:
    return SQL(template).format(s=Identifier(schema), e=Identifier(EVENTS_TABLE))


class PostgresSnapshot:
    """Every table by COPY … TO STDOUT (binary) in one REPEATABLE READ READ ONLY
    transaction: one snapshot, streamed; pure psycopg, no pg_dump to match versions."""

    def __init__(self, backend: PostgresBackend, slug: str) -> None:
        self.backend, self.slug, self.schema = backend, slug, schema_of(slug)
        self.conn = psycopg.connect(backend.url)
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        self.conn.execute(_sql("SELECT count(*) FROM {s}.ledger", self.schema)).fetchone()

    def head(self) -> tuple[int, bytes] | None:
        row = self.conn.execute(_sql("SELECT position, entry_hash FROM {s}.ledger"
                                     " ORDER BY position DESC LIMIT 1", self.schema)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def counts(self) -> dict[str, int]:
        return {t: int(self.conn.execute(_sql(
            "SELECT count(*) FROM {s}." + ("{e}" if t == "events" else t), self.schema)
            ).fetchone()[0]) for t in STORE_TABLES}

    def key_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute(_sql(
            "SELECT DISTINCT key_id FROM {s}.ledger ORDER BY key_id", self.schema))]

    def rows(self, table: str) -> Iterator[Row]:
        if table == "token_hints":  # after the snapshot, in a transaction of its own
            with psycopg.connect(self.backend.url, autocommit=True) as conn:
                yield from conn.execute(
                    "SELECT token_sha256, person_id, person_kind FROM ejournal.access_tokens"
                    " WHERE slug = %s ORDER BY token_sha256", (self.slug,))
            return
        query, types = PG_SELECT[table]
        with self.conn.cursor().copy(SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(
                _sql(query, self.schema))) as copy:
            copy.set_types(types)
            for row in copy.rows():
                yield tuple(bytes(v) if isinstance(v, memoryview) else
                            v.isoformat() if isinstance(v, datetime) else v for v in row)

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()


class PostgresStaging:
    """Schema `ejrestore_<slug>` (no institution's schema starts so), renamed to
    `ej_<slug>` in the transaction that adds the directory entry and grants."""

    def __init__(self, backend: PostgresBackend, slug: str, chain: ChainWriter) -> None:
        backend._require_owner()
        self.backend, self.slug = backend, slug
        self.schema, self.target = f"ejrestore_{slug}", schema_of(slug)
        self.discard()
        with psycopg.connect(backend.url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(self.schema)))
        p = backend.params
        datastore = PostgresDatastore(p["POSTGRES_DBNAME"], p["POSTGRES_HOST"],
                                      p["POSTGRES_PORT"], p["POSTGRES_USER"],
                                      p["POSTGRES_PASSWORD"], schema=self.schema)
        try:  # the tables exactly as the service creates them (the recorder's own DDL)
            LedgeredPostgresRecorder(datastore, EVENTS_TABLE, chain).create_table()
        finally:
            datastore.close()

    def load(self, tables: Iterable[tuple[str, Iterable[Row]]]) -> None:
        """One transaction; COPY … FROM STDIN (binary) per table."""
        with psycopg.connect(self.backend.url) as conn, conn.cursor() as cur:
            for table, rows in tables:
                target, types = PG_COPY_IN[table]
                try:
                    with cur.copy(SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(
                            _sql(target, self.schema))) as copy:
                        copy.set_types(types)
                        if table == "ledger_checkpoints":  # signed_at: ISO 8601 text
                            rows = ((*r[:4], datetime.fromisoformat(r[4])) for r in rows)
                        elif table == "checkpoint_timestamps":  # gen_time, stored_at: text
                            rows = ((*r[:4], instant(r[4]), r[5], instant(r[6]))
                                    for r in rows)
                        for row in rows:
                            copy.write_row(row)
                except psycopg.errors.IntegrityError as error:
                    raise RowRejected(table, _copy_line(error),
                                      error.diag.message_detail or str(error)) from None
            cur.execute(_sql("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'),"
                             " max(notification_id)) FROM {s}.{e} HAVING count(*) > 0",
                             self.schema), (f'"{self.schema}"."{EVENTS_TABLE}"',))

    def reader(self) -> ChainReader:
        return PostgresChainReader(self.backend.url, self.schema, EVENTS_TABLE)

    def promote(self, entry: InstitutionEntry, hints: list[TokenHint]) -> None:
        s = Identifier(self.target)
        with psycopg.connect(self.backend.url) as conn:  # one transaction: all or nothing
            conn.execute("SELECT pg_advisory_xact_lock(7305002)")  # the schemas' DDL lock
            if _pg_events(conn, self.target):
                raise StillLive(self.slug)
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(s))  # empty
            conn.execute(SQL("ALTER SCHEMA {} RENAME TO {}").format(
                Identifier(self.schema), s))
            # Function bodies name their schema: created again under the new name.
            for statement in [*ledger_ddl(self.target, EVENTS_TABLE),
                              *Dialect(self.target).create()]:
                conn.execute(statement)
            roles = [r[0] for r in conn.execute(
                "SELECT role FROM ejournal.runtime_roles r JOIN pg_roles p"
                " ON p.rolname = r.role ORDER BY role")]
            PostgresBackend._grant_institution(conn, self.target, roles)
            conn.execute("INSERT INTO ejournal.institutions (slug, institution_id, name)"
                         " VALUES (%s, %s, %s) ON CONFLICT (slug) DO NOTHING",
                         (entry.slug, entry.institution_id, entry.name))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO ejournal.access_tokens (token_sha256, slug, person_id,"
                    " person_kind) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [(h, self.slug, p, k) for h, p, k in hints])

    def discard(self) -> None:
        with psycopg.connect(self.backend.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(self.schema)))

