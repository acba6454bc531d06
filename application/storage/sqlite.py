"""SQLite: one database file per institution; events and ledger in one transaction.

The files hold pupils' personal data (152-FZ): each database file is created 0600 (and
tightened to 0600 if it exists wider) before SQLite opens it, and a directory it needs is
created 0700. SQLite creates the side files (`-wal`, `-shm`, `-journal`) with the mode of
their database file, so they are 0600 too; existing ones are tightened as well."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

import ledger
from application.storage import tree
from application.storage.chain import (
    HEAD_SQL,
    ChainWriter,
    FollowRow,
    changed_reads,
    junk_node_alarm,
    stored_entry,
)
from application.storage.readmodel_sql import Dialect
from application.unit_of_work import current

LEDGER_DDL = [
    "CREATE TABLE IF NOT EXISTS ledger ("
    " position INTEGER PRIMARY KEY CHECK (position > 0),"
    " notification_id INTEGER NOT NULL UNIQUE,"
    " prev_hash BLOB NOT NULL, event_digest BLOB NOT NULL, entry_hash BLOB NOT NULL,"
    " key_id TEXT NOT NULL, signature BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ledger_event_digest ON ledger (event_digest)",
    # Verified-through marks of the chain guard (application/integrity.py).
    "CREATE TABLE IF NOT EXISTS ledger_verified (position INTEGER PRIMARY KEY,"
    " entry_hash BLOB NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL)",
    # The Merkle tree over the chain: every complete subtree, written with the ledger rows
    # that complete it (ADR 0011); and every checkpoint the service signed.
    "CREATE TABLE IF NOT EXISTS merkle_nodes (level INTEGER NOT NULL"
    " CHECK (level BETWEEN 0 AND 63), idx INTEGER NOT NULL CHECK (idx >= 0),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints (size INTEGER NOT NULL,"
    " origin TEXT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,"
    " signed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    " PRIMARY KEY (size, origin))",
    # RFC 3161 timestamps of the checkpoints (ADR 0013): the TSA's reply as received.
    "CREATE TABLE IF NOT EXISTS checkpoint_timestamps (size INTEGER NOT NULL,"
    " origin TEXT NOT NULL, digest BLOB NOT NULL CHECK (length(digest) = 32),"
    " response BLOB NOT NULL, gen_time TEXT NOT NULL, tsa TEXT NOT NULL,"
    " stored_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    " PRIMARY KEY (size, origin, gen_time))",
]
# Append-only: the database itself refuses to change or remove history.
APPEND_ONLY_DDL = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'ejournal: {table} is append-only'); END"
    for table in ("stored_events", "ledger", "ledger_verified", "merkle_nodes",
                  "ledger_checkpoints", "checkpoint_timestamps")
    for verb in ("update", "delete")
]
FOLLOW = (
    "SELECT (SELECT coalesce(max(position), 0) FROM ledger), x.* FROM (SELECT 1)"
    " LEFT JOIN (SELECT e.rowid AS nid, e.originator_id, e.originator_version, e.topic,"
    " e.state, l.position, l.prev_hash, l.event_digest, l.entry_hash, l.key_id, l.signature"
    " FROM stored_events e LEFT JOIN ledger l ON l.notification_id = e.rowid"
    " WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?) x ON 1"
)

DATABASE_FILE_MODE = 0o600
DATABASE_DIRECTORY_MODE = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")  # created by SQLite with the database's mode


def private_database_file(path: Path) -> None:
    """Makes `path` a database file that only its owner may read or write, before SQLite
    opens it: creates a missing parent directory 0700 (an existing one is left as it
    is), creates a missing file 0600 with O_EXCL, so it never exists with wider
    permissions, and chmods an existing file, and its existing side files, to 0600 if
    group or others have any access. By path, not by a descriptor: closing a descriptor
    would drop this process's SQLite locks on the file. OSError if that is not possible
    (e.g. a file of another user)."""
    path.parent.mkdir(mode=DATABASE_DIRECTORY_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     DATABASE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, DATABASE_FILE_MODE)  # exactly 0600, whatever the umask
        finally:
            os.close(fd)
    for name in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        try:
            mode = os.stat(name).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode) and mode & 0o077:
            os.chmod(name, DATABASE_FILE_MODE)


INSERT_LEDGER = "INSERT INTO ledger VALUES (?,?,?,?,?,?,?)"
INSERT_NODE = "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?,?,?)"
LAST_LEAF = "SELECT max(idx) FROM merkle_nodes WHERE level = 0"  # + 1 in Python
ROWS_AFTER = ("SELECT position, prev_hash, event_digest FROM ledger WHERE position > ?"
              " ORDER BY position LIMIT ?")


def lookup_nodes(c: Any, keys: list[tree.Key]) -> dict[tree.Key, bytes]:
    """The stored hashes of these (level, index) subtrees, in one indexed read."""
    found: dict[tree.Key, bytes] = {}
    for at in range(0, len(keys), 200):  # SQLite's limit on bound parameters
        part = keys[at:at + 200]
        c.execute("SELECT level, idx, hash FROM merkle_nodes WHERE "
                  + " OR ".join(["(level = ? AND idx = ?)"] * len(part)),
                  [v for k in part for v in k])
        found.update({(int(lv), int(ix)): bytes(h) for lv, ix, h in c.fetchall()})
    return found


def build_tree(c: Any, chain_id: str) -> ledger.MerkleFrontier:
    """Completes merkle_nodes for the whole ledger in the cursor's write transaction."""
    def rows_after(after: int, limit: int) -> list[tree.LeafRow]:
        c.execute(ROWS_AFTER, (after, limit))
        return c.fetchall()  # type: ignore[no-any-return]

    def insert(created: list[ledger.Subtree]) -> None:
        c.executemany(INSERT_NODE, [(s.level, s.index, s.hash) for s in created])

    c.execute(LAST_LEAF)
    leaves = tree.leaves(c.fetchone()[0])
    return tree.build(chain_id, leaves, lambda keys: lookup_nodes(c, keys), rows_after,
                      insert)
SELECT_ENTRIES = (
    "SELECT l.position, l.prev_hash, l.event_digest, l.entry_hash, l.key_id, l.signature,"
    " e.originator_id, e.originator_version, e.topic, e.state"
    " FROM ledger l LEFT JOIN stored_events e ON e.rowid = l.notification_id"
    " ORDER BY l.position"
)
SELECT_FROM = SELECT_ENTRIES.replace(" ORDER BY", " WHERE l.position >= ? ORDER BY")
SELECT_RANGE = SELECT_ENTRIES.replace(" ORDER BY", " WHERE l.position BETWEEN ? AND ? ORDER BY")
SELECT_EVENT_ENTRY = SELECT_ENTRIES.replace(
    " ORDER BY l.position", " WHERE e.originator_id = ? AND e.originator_version = ?")
SELECT_CHECKPOINTS = ("SELECT size, origin, root, note, signed_at FROM ledger_checkpoints"
                      " WHERE size > ? ORDER BY size, signed_at LIMIT ?")
SELECT_UNLEDGERED = (
    "SELECT e.rowid, e.originator_id, e.originator_version,"
    " (SELECT COUNT(*) FROM ledger l2 WHERE l2.notification_id < e.rowid)"
    " FROM stored_events e LEFT JOIN ledger l ON l.notification_id = e.rowid"
    " WHERE l.position IS NULL ORDER BY e.rowid LIMIT 1"
)


UNTIMESTAMPED = (
    "SELECT c.size, c.origin, c.note FROM ledger_checkpoints c WHERE NOT EXISTS (SELECT 1"
    " FROM checkpoint_timestamps t WHERE t.size = c.size AND t.origin = c.origin)"
    " ORDER BY c.size, c.signed_at"
)


class LedgeredSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, chain: ChainWriter) -> None:
        self.chain = chain
        # What this thread's transaction appended, handed to the guard once committed.
        self._written = threading.local()
        # Before the first connection: the pool connects lazily.
        private_database_file(Path(datastore.pool.db_name))
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        return (super().construct_create_table_statements() + LEDGER_DDL + APPEND_ONLY_DDL
                + Dialect(None).create())

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The first INSERT takes SQLite's write lock, so the head read below cannot
        # interleave with another writer: chain order is commit order.
        ids = super()._insert_events(c, stored_events, **kwargs)
        assert ids is not None
        unit = current()
        reads = unit.reads_to_check({s.originator_id for s in stored_events}) if unit else {}
        if reads:
            marks = ",".join("?" * len(reads))
            c.execute("SELECT originator_id, MAX(originator_version) FROM stored_events"
                      f" WHERE originator_id IN ({marks}) GROUP BY originator_id",
                      [i.hex for i in reads])  # stored as 32 hex digits
            changed_reads(reads, c.fetchall())
        c.execute(HEAD_SQL)
        head = self.chain.head(c.fetchone())
        if self.chain.guard is not None:
            self._verified_head(c, head, min(ids, default=2**62))
        frontier = tree.frontier_from(head.position, lookup_nodes(
            c, tree.frontier_keys(head.position)))
        if frontier is None:  # a chain older than merkle_nodes: built once
            frontier = build_tree(c, self.chain.chain_id)
            if frontier.size != head.position:
                raise tree.TreeIncomplete(f"the tree has {frontier.size} leaves, the chain "
                                          f"{head.position} entries")
        entries, keys = self.chain.entries(head, stored_events)
        c.executemany(INSERT_LEDGER, [(e[0], nid, *e[3:])
                                      for e, nid in zip(entries, ids, strict=True)])
        _, created = tree.extend(self.chain.chain_id, frontier,
                                 [(e[0], e[3], e[4]) for e in entries])
        try:
            c.executemany(INSERT_NODE, [(s.level, s.index, s.hash) for s in created])
        except sqlite3.IntegrityError:
            # The head was read under SQLite's write lock: no other process appended, so
            # the clashing rows were put there by hand, ahead of the chain (ADR 0011).
            junk_node_alarm(self.chain, head.position, created,
                            lookup_nodes(c, [(s.level, s.index) for s in created]))
            raise
        if entries:
            self._written.entries = (entries[0][0],
                                     ledger.ChainHead(entries[-1][0], entries[-1][5]), max(ids),
                                     keys)
        return ids

    def _verified_head(self, c: Any, head: ledger.ChainHead, own: int) -> None:
        """Chain only onto a head the guard verified (ADR 0009); what other processes
        appended since is read here, in this write transaction (whose own events, from
        notification id `own`, are left out), and verified at once."""
        guard = self.chain.guard
        assert guard is not None
        if guard.at_head(head.position, head.entry_hash):
            return
        c.execute(FOLLOW, (guard.notification_id, 2000))
        found = c.fetchall()
        last = int(found[0][0]) if found else 0
        # This transaction's own events (from `own` on) have no entries yet.
        rows = [FollowRow(*r[1:]) for r in found if r[1] is not None and r[1] < own]
        if len(rows) < 2000:
            guard.advance(last, rows)
        guard.require_head(head.position, head.entry_hash)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        self._written.entries = None
        ids = super().insert_events(stored_events, **kwargs)  # committed
        written, self._written.entries = self._written.entries, None
        if written is not None and self.chain.guard is not None:
            first, head, nid, keys = written
            self.chain.guard.wrote(first, head, nid, keys)
        return ids

    # What the chain guard reads ----------------------------------------------------------
    def follow_rows(self, after: int, limit: int) -> tuple[int, list[FollowRow]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(FOLLOW, (after, limit))
            rows = c.fetchall()
        last = int(rows[0][0]) if rows else 0
        return last, [FollowRow(*r[1:]) for r in rows if r[1] is not None]

    def counts(self) -> tuple[int, int, int, int]:
        """(events, ledger entries, the ledger's last position, merkle_nodes' leaves)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT (SELECT count(*) FROM stored_events), (SELECT count(*) FROM"
                      " ledger), (SELECT coalesce(max(position), 0) FROM ledger),"
                      f" ({LAST_LEAF})")
            row = c.fetchone()
        return int(row[0]), int(row[1]), int(row[2]), tree.leaves(row[3])

    def entry_at(self, position: int) -> tuple[bytes, int] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT entry_hash, notification_id FROM ledger WHERE position = ?",
                      (position,))
            row = c.fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]))

    def verified_marks(self, limit: int, at_most: int = 2**63 - 1
                       ) -> list[tuple[int, bytes, str, bytes]]:
        """The newest `limit` verified-through marks at positions ≤ `at_most`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, entry_hash, key_id, signature FROM ledger_verified"
                      " WHERE position <= ? ORDER BY position DESC LIMIT ?", (at_most, limit))
            return [(int(p), bytes(h), str(k), bytes(s)) for p, h, k, s in c.fetchall()]

    def add_verified_mark(self, position: int, entry_hash: bytes, key_id: str,
                          signature: bytes) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO ledger_verified VALUES (?,?,?,?)",
                      (position, entry_hash, key_id, signature))

    # The Merkle tree (ADR 0011) ----------------------------------------------------------
    def ensure_tree(self) -> int:
        """Builds the tree of a chain older than merkle_nodes (a one-off; nothing to do
        otherwise) under SQLite's write lock. Returns the tree's size."""
        with closing(sqlite3.connect(self.datastore.pool.db_name, timeout=30,
                                     isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                size = build_tree(conn.cursor(), self.chain.chain_id).size
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return size

    def add_checkpoint(self, size: int, origin: str, root: bytes, note: str) -> str | None:
        """Stores a signed checkpoint; None if stored, else the note already stored under
        (size, origin) — the same one, if another worker signed it first."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO ledger_checkpoints (size, origin, root, note)"
                      " VALUES (?,?,?,?)", (size, origin, root, note))
            c.execute("SELECT changes()")
            if c.fetchone()[0] == 1:
                return None
            c.execute("SELECT note FROM ledger_checkpoints WHERE size = ? AND origin = ?",
                      (size, origin))
            row = c.fetchone()
            return "" if row is None else str(row[0])

    def add_timestamp(self, size: int, origin: str, digest: bytes, response: bytes,
                      gen_time: datetime, tsa: str) -> None:
        """A checkpoint's RFC 3161 token (ADR 0013); the same one twice is stored once."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO checkpoint_timestamps (size, origin, digest,"
                      " response, gen_time, tsa) VALUES (?,?,?,?,?,?)",
                      (size, origin, digest, response,
                       gen_time.astimezone(UTC).isoformat(), tsa))

    def changes_since(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        """(notification id, aggregate id, version) of the events stored after `after`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT rowid, originator_id, originator_version FROM stored_events"
                      " WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit))
            return [(int(n), UUID(o), int(v)) for n, o, v in c.fetchall()]


class SQLiteChainReader:
    """Streams one institution's ledger with its events, for verification."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def _stream(self, query: str, params: tuple[int, ...] = ()
                ) -> Iterator[ledger.StoredEntry]:
        with closing(self._connect()) as conn:
            for row in conn.execute(query, params):
                yield stored_entry(row)

    def entries(self) -> Iterator[ledger.StoredEntry]:
        return self._stream(SELECT_ENTRIES)

    def entries_from(self, position: int) -> Iterator[ledger.StoredEntry]:
        """The entries from `position` on, streamed (to diagnose a failure again)."""
        return self._stream(SELECT_FROM, (position,))

    def entries_range(self, first: int, last: int) -> Iterator[ledger.StoredEntry]:
        """The entries at positions first..last, streamed (a segment verified in a worker
        process: this reader is picklable)."""
        return self._stream(SELECT_RANGE, (first, last))

    def first_unledgered(self) -> tuple[int, str, int, int] | None:
        """(notification id, originator id, version, ledger entries before it)."""
        with closing(self._connect()) as conn:
            return conn.execute(SELECT_UNLEDGERED).fetchone()


    def locate(self, digest: bytes) -> int | None:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT position FROM ledger WHERE event_digest = ? LIMIT 1", (digest,)
            ).fetchone()
        return None if row is None else int(row[0])

    def tree_size(self) -> tuple[int, int]:
        """(the ledger's last position, the leaves of merkle_nodes)."""
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT (SELECT coalesce(max(position), 0) FROM ledger),"
                               f" ({LAST_LEAF})").fetchone()
        return int(row[0]), tree.leaves(row[1])

    def nodes_beyond(self, size: int, limit: int) -> list[tuple[int, int, bytes]]:
        """(level, idx, hash) of stored nodes that no tree of `size` leaves has."""
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT level, idx, hash FROM merkle_nodes WHERE"
                                " idx >= (? >> level) ORDER BY level, idx LIMIT ?",
                                (size, limit)).fetchall()
        return [(int(lv), int(ix), bytes(h)) for lv, ix, h in rows]

    def all_verified_marks(self) -> Iterator[tuple[int, bytes, str, bytes, bytes | None]]:
        """Every verified-through mark, with the entry hash the ledger holds there."""
        with closing(self._connect()) as conn:
            for p, h, k, sig, stored in conn.execute(
                    "SELECT v.position, v.entry_hash, v.key_id, v.signature, l.entry_hash"
                    " FROM ledger_verified v LEFT JOIN ledger l USING (position)"
                    " ORDER BY v.position"):
                yield (int(p), bytes(h), str(k), bytes(sig),
                       None if stored is None else bytes(stored))

    def recent_checkpoints(self, limit: int) -> list[tuple[int, str, bytes, str]]:
        """(size, origin, root, note) of the `limit` largest stored checkpoints."""
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT size, origin, root, note FROM ledger_checkpoints"
                                " ORDER BY size DESC, signed_at DESC LIMIT ?",
                                (limit,)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2]), str(r[3])) for r in rows]

    def subtrees(self, keys: list[tree.Key]) -> dict[tree.Key, bytes]:
        with closing(self._connect()) as conn:
            return lookup_nodes(conn.cursor(), keys)

    def entries_between(self, first: int, last: int) -> list[ledger.StoredEntry]:
        """The entries at positions first..last, with their events (one page)."""
        with closing(self._connect()) as conn:
            return [stored_entry(r) for r in conn.execute(SELECT_RANGE, (first, last))]

    def entry_of_event(self, originator_id: UUID, version: int) -> ledger.StoredEntry | None:
        """The ledger entry of one stored event, with the event; None if not ledgered."""
        with closing(self._connect()) as conn:
            row = conn.execute(SELECT_EVENT_ENTRY, (originator_id.hex, version)).fetchone()
        return None if row is None else stored_entry(row)

    def checkpoints(self, after_size: int, limit: int
                    ) -> list[tuple[int, str, bytes, str, str]]:
        """(size, origin, root, note, signed_at) of the checkpoints the service signed
        of trees larger than `after_size`, smallest first."""
        with closing(self._connect()) as conn:
            rows = conn.execute(SELECT_CHECKPOINTS, (after_size, limit)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2]), str(r[3]), str(r[4])) for r in rows]

    def latest_checkpoint(self) -> tuple[int, str, bytes, str] | None:
        """(size, origin, root, note) of the largest checkpoint the service signed."""
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT size, origin, root, note FROM ledger_checkpoints"
                               " ORDER BY size DESC, signed_at DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]), bytes(row[2]), str(row[3]))

    # RFC 3161 timestamps of the checkpoints (ADR 0013) ------------------------------------
    def untimestamped(self) -> list[tuple[int, str, str]]:
        """(size, origin, note) of every checkpoint without a token, oldest first."""
        with closing(self._connect()) as conn:
            rows = conn.execute(UNTIMESTAMPED).fetchall()
        return [(int(s), str(o), str(n)) for s, o, n in rows]

    def checkpoint_timestamp(self, size: int, origin: str) -> bytes | None:
        """The newest token (TSA reply, DER) of the checkpoint, if it has one."""
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT response FROM checkpoint_timestamps WHERE size = ? AND"
                               " origin = ? ORDER BY gen_time DESC LIMIT 1", (size, origin)
                               ).fetchone()
        return None if row is None else bytes(row[0])
