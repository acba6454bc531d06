"""PostgreSQL: one schema per institution (the unit of placement, e.g. a Citus
distributed schema); events and ledger in one transaction under the schema's
events-table lock, so chain order is commit order and institutions never wait on
each other."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from threading import Lock
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Connection
from psycopg.errors import UniqueViolation
from psycopg.sql import SQL, Composable, Identifier, Literal

import ledger
from application.storage import tree
from application.storage.chain import (
    ChainWriter,
    FollowRow,
    HeadNotVerified,
    junk_node_alarm,
    stored_entry,
)
from application.unit_of_work import ReadChanged, current

# At most this many entries of other processes are verified inline by a writer (ADR 0009).
GAP = 2000


def ledger_ddl(schema: str, events: str) -> list[SQL | Any]:
    s = Identifier(schema)
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.ledger ("
            " position bigint PRIMARY KEY,"
            " notification_id bigint NOT NULL UNIQUE,"
            " prev_hash bytea NOT NULL, event_digest bytea NOT NULL,"
            " entry_hash bytea NOT NULL, key_id text NOT NULL, signature bytea NOT NULL)"
        ).format(s=s),
        SQL("CREATE INDEX IF NOT EXISTS ledger_event_digest ON {s}.ledger (event_digest)"
            ).format(s=s),
        # Positions are 1, 2, 3, …: an entry at 0 or below could hide an event below the
        # chain guard's sight (ADR 0009); above the head, the guard sees it at once.
        SQL("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname ="
            " 'ledger_position_positive' AND conrelid = {ledger_regclass}::regclass) THEN"
            " ALTER TABLE {s}.ledger ADD CONSTRAINT ledger_position_positive CHECK"
            " (position > 0); END IF; END$$").format(
                s=s, ledger_regclass=Literal(f'"{schema}".ledger')),
        SQL(
            "CREATE OR REPLACE FUNCTION {s}.append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'ejournal: % is append-only', TG_TABLE_NAME; END$$"
        ).format(s=s),
        # Verified-through marks of the chain guard (application/integrity.py).
        SQL("CREATE TABLE IF NOT EXISTS {s}.ledger_verified (position bigint PRIMARY KEY,"
            " entry_hash bytea NOT NULL, key_id text NOT NULL, signature bytea NOT NULL)"
            ).format(s=s),
        # The Merkle tree over the chain: every complete subtree, written with the ledger
        # rows that complete it (ADR 0011); and every checkpoint the service signed.
        SQL("CREATE TABLE IF NOT EXISTS {s}.merkle_nodes (level smallint NOT NULL"
            " CHECK (level BETWEEN 0 AND 63), idx bigint NOT NULL CHECK (idx >= 0),"
            " hash bytea NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx))"
            ).format(s=s),
        SQL("CREATE TABLE IF NOT EXISTS {s}.ledger_checkpoints (size bigint NOT NULL,"
            " origin text NOT NULL, root bytea NOT NULL, note text NOT NULL,"
            " signed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (size, origin))"
            ).format(s=s),
        # RFC 3161 timestamps of the checkpoints (ADR 0013): the TSA's reply as received.
        SQL("CREATE TABLE IF NOT EXISTS {s}.checkpoint_timestamps (size bigint NOT NULL,"
            " origin text NOT NULL, digest bytea NOT NULL CHECK (length(digest) = 32),"
            " response bytea NOT NULL, gen_time timestamptz NOT NULL, tsa text NOT NULL,"
            " stored_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (size, origin, gen_time), FOREIGN KEY (size, origin)"
            " REFERENCES {s}.ledger_checkpoints (size, origin))").format(s=s),
        *[
            SQL(
                "CREATE OR REPLACE TRIGGER {name} BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.{t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {s}.append_only()"
            ).format(name=Identifier(f"{t}_append_only"), s=s, t=Identifier(t))
            for t in (events, "ledger", "ledger_verified", "merkle_nodes",
                      "ledger_checkpoints", "checkpoint_timestamps")
        ],
        # Every ledger entry names a stored event, and every event has its ledger entry
        # by the end of its transaction: nobody inserts one without the other (ADR 0009).
        SQL(
            "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname ="
            " 'ledger_event_fk' AND conrelid = {ledger_regclass}::regclass) THEN"
            " ALTER TABLE {s}.ledger ADD CONSTRAINT ledger_event_fk FOREIGN KEY"
            " (notification_id) REFERENCES {s}.{e} (notification_id); END IF; END$$"
        ).format(s=s, e=Identifier(events),
                 ledger_regclass=Literal(f'"{schema}".ledger')),
        SQL(
            "CREATE OR REPLACE FUNCTION {s}.event_needs_ledger() RETURNS trigger"
            " LANGUAGE plpgsql AS $$BEGIN IF NOT EXISTS (SELECT 1 FROM {s}.ledger"
            " WHERE notification_id = NEW.notification_id) THEN RAISE EXCEPTION"
            " 'ejournal: event % has no ledger entry', NEW.notification_id; END IF;"
            " RETURN NULL; END$$"
        ).format(s=s),
        SQL(
            "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname ="
            " 'events_need_ledger' AND tgrelid = {events_regclass}::regclass) THEN"
            " CREATE CONSTRAINT TRIGGER events_need_ledger AFTER INSERT ON {s}.{e}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION"
            " {s}.event_needs_ledger(); END IF; END$$"
        ).format(s=s, e=Identifier(events),
                 events_regclass=Literal(f'"{schema}"."{events}"')),
    ]


class LedgeredPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, events_table_name: str,
                 chain: ChainWriter) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain = chain
        self.sql_create_statements.extend(ledger_ddl(datastore.schema, events_table_name))
        # Writers of one institution queue on a transaction-level advisory lock keyed by
        # its schema, held to commit, instead of eventsourcing's EXCLUSIVE table lock:
        # the same commit-order guarantee for the notification ids, but a table lock in
        # that mode needs UPDATE, DELETE or TRUNCATE privilege, which the runtime role
        # must not have (ADR 0007).
        self.lock_table_statements = [
            self.lock_table_statements[0],  # SET LOCAL lock_timeout
            SQL("SELECT pg_advisory_xact_lock({})").format(Literal(writer_lock_key(
                datastore.schema))),
        ]
        # Statements are composed once, here: psycopg would otherwise compose them again
        # at every execution, which costs as much as a round trip on a short command.
        self.lock_table_statements = [q.as_bytes(None) if isinstance(q, Composable) else q
                                      for q in self.lock_table_statements]
        s, e = Identifier(datastore.schema), Identifier(events_table_name)
        # The head and the frontier of the tree at it (popcount(size) indexed reads).
        self.sql_head = SQL(
            "SELECT h.position, h.entry_hash, m.level, m.idx, m.hash FROM (SELECT position,"
            " entry_hash FROM {s}.ledger ORDER BY position DESC LIMIT 1) h LEFT JOIN LATERAL"
            " (SELECT n.level, n.idx, n.hash FROM generate_series(0, 62) b JOIN"
            " {s}.merkle_nodes n ON n.level = b AND n.idx = (h.position >> b) - 1"
            " WHERE (h.position >> b) & 1 = 1) m ON true"
        ).format(s=s).as_bytes(None)
        # The last leaf's index; + 1 in Python (a junk node at the largest bigint would
        # overflow in SQL).
        self.sql_leaves = SQL(
            "SELECT max(idx) AS last_leaf FROM {s}.merkle_nodes WHERE level = 0"
        ).format(s=s).as_bytes(None)
        self.sql_nodes = SQL(
            "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[])"
            " AS k(level, idx) JOIN {s}.merkle_nodes n USING (level, idx)"
        ).format(s=s).as_bytes(None)
        self.sql_rows_after = SQL(
            "SELECT position, prev_hash, event_digest FROM {s}.ledger WHERE position > %s"
            " ORDER BY position LIMIT %s").format(s=s).as_bytes(None)
        self.sql_add_nodes = SQL(
            "INSERT INTO {s}.merkle_nodes (level, idx, hash)"
            " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
        ).format(s=s).as_bytes(None)
        # Idempotent (two workers may sign the same checkpoint); INSERT privilege only.
        self.sql_add_checkpoint = SQL(
            "INSERT INTO {s}.ledger_checkpoints (size, origin, root, note)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING").format(s=s).as_bytes(None)
        self.sql_add_timestamp = SQL(
            "INSERT INTO {s}.checkpoint_timestamps (size, origin, digest, response, gen_time,"
            " tsa) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(s=s).as_bytes(None)
        self.sql_checkpoint_at = SQL(
            "SELECT note FROM {s}.ledger_checkpoints WHERE size = %s AND origin = %s"
        ).format(s=s).as_bytes(None)
        self.sql_changes = SQL(
            "SELECT notification_id, originator_id, originator_version FROM {s}.{e}"
            " WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(s=s, e=e).as_bytes(None)
        # The append (see _append). The guard re-reads the latest version of every
        # aggregate the command only read; if one changed, no event and no ledger row is
        # inserted.
        self.sql_append = SQL(
            "WITH changed AS ("
            "  SELECT 1 FROM unnest(%b::uuid[], %b::bigint[]) AS r(id, version)"
            "  WHERE coalesce((SELECT max(originator_version) FROM {s}.{e}"
            "                  WHERE originator_id = r.id), 0) <> r.version LIMIT 1),"
            " ev AS ("
            "  INSERT INTO {s}.{e} (originator_id, originator_version, topic, state)"
            "  SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            "  WHERE NOT EXISTS (SELECT 1 FROM changed)"
            "  RETURNING notification_id, originator_id, originator_version),"
            " lg AS ("
            "  INSERT INTO {s}.ledger (position, notification_id, prev_hash, event_digest,"
            "   entry_hash, key_id, signature)"
            "  SELECT l.position, ev.notification_id, l.prev_hash, l.event_digest,"
            "   l.entry_hash, l.key_id, l.signature"
            "  FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], %b::bytea[], %b::bytea[],"
            "   %b::bytea[], %b::text[], %b::bytea[]) AS l(position, originator_id,"
            "   originator_version, prev_hash, event_digest, entry_hash, key_id, signature)"
            "  JOIN ev USING (originator_id, originator_version)"
            "  RETURNING position, notification_id),"
            # The complete subtrees these entries create (ADR 0011), only if they went in.
            " mk AS ("
            "  INSERT INTO {s}.merkle_nodes (level, idx, hash)"
            "  SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])"
            "  WHERE EXISTS (SELECT 1 FROM lg)),"
            # Every inserted event has its ledger row, or the statement fails (division
            # by zero) and the transaction writes nothing.
            " checked AS (SELECT 1 / ((SELECT count(*) FROM ev) = (SELECT count(*) FROM lg))"
            "  ::int AS ok)"
            " SELECT lg.position, lg.notification_id FROM checked LEFT JOIN lg ON true"
        ).format(s=s, e=e).as_bytes(None)
        self.sql_follow = SQL(
            "SELECT m.last, x.* FROM (SELECT coalesce(max(position), 0) AS last"
            " FROM {s}.ledger) m LEFT JOIN LATERAL (SELECT e.notification_id AS nid,"
            " e.originator_id, e.originator_version, e.topic, e.state, l.position,"
            " l.prev_hash, l.event_digest, l.entry_hash, l.key_id, l.signature"
            " FROM {s}.{e} e LEFT JOIN {s}.ledger l ON l.notification_id = e.notification_id"
            " WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s) x ON true"
        ).format(s=s, e=e).as_bytes(None)
        self.sql_counts = SQL(
            "SELECT (SELECT count(*) FROM {s}.{e}) AS events, (SELECT count(*) FROM"
            " {s}.ledger) AS entries, (SELECT coalesce(max(position), 0) FROM {s}.ledger)"
            " AS last, (SELECT max(idx) FROM {s}.merkle_nodes WHERE level = 0) AS last_leaf"
        ).format(s=s, e=e).as_bytes(None)
        self.sql_entry_at = SQL(
            "SELECT entry_hash, notification_id FROM {s}.ledger WHERE position = %s"
        ).format(s=s).as_bytes(None)
        self.sql_marks = SQL(
            "SELECT position, entry_hash, key_id, signature FROM {s}.ledger_verified"
            " WHERE position <= %s ORDER BY position DESC LIMIT %s").format(s=s).as_bytes(None)
        self.sql_add_mark = SQL(
            "INSERT INTO {s}.ledger_verified VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(s=s).as_bytes(None)
        self._known_head: ledger.ChainHead | None = None
        # The head and subtrees of the last append tried (under _append_lock).
        self._attempt: tuple[ledger.ChainHead, list[ledger.Subtree]] = (
            ledger.ChainHead(0, bytes(32)), [])
        self._frontier: ledger.MerkleFrontier | None = None  # the tree at _known_head
        self._append_lock = Lock()

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        unit = current()
        reads = unit.reads_to_check({s.originator_id for s in stored_events}) if unit else {}
        # Writers of one institution queue on its table lock anyway; queueing the
        # process's own threads here first keeps the head it knows current for them.
        with self._append_lock:
            if self._known_head is not None and self._frontier is not None:
                try:
                    return self._append(stored_events, reads, self._known_head,
                                        self._frontier)
                except IntegrityError as e:
                    clash = _clash(e)
                    if clash == "merkle_nodes_pkey":
                        self._check_nodes_clash()  # junk nodes: the alarm
                    elif clash != "ledger_pkey":
                        raise
                    # Another process appended since this one last did: read the head.
                except HeadNotVerified:
                    pass  # the guard is elsewhere (re-opened): read the head
            try:
                return self._append(stored_events, reads, None, None)
            except IntegrityError as e:
                if _clash(e) == "merkle_nodes_pkey":
                    self._check_nodes_clash()
                raise

    def _append(self, stored_events: Sequence[StoredEvent], reads: dict[UUID, int],
                head: ledger.ChainHead | None, frontier: ledger.MerkleFrontier | None
                ) -> list[int]:
        """One transaction under the institution's EXCLUSIVE table lock (writers of this
        institution queue there, readers and other institutions do not; held to commit,
        so positions follow commit order), then one statement (`sql_append`).

        With `head` known — the head this process wrote last — the entries are signed
        before anything is sent: one round trip. If another process appended since, the
        first position is taken and the transaction fails on the ledger's primary key,
        having written nothing. With `head` None it is read under the lock first: one
        round trip more, with the frontier of the tree at it (and, once, the tree built
        for a chain older than merkle_nodes)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            with conn.pipeline(), conn.transaction():
                self._lock_table(curs)
                if head is None or frontier is None:
                    rows = conn.cursor().execute(self.sql_head, prepare=True).fetchall()
                    head = self.chain.head(None if not rows
                                           else (rows[0]["position"], rows[0]["entry_hash"]))
                    if self.chain.guard is not None:
                        self._verified_head(conn, head)
                    frontier = tree.frontier_from(head.position, {
                        (r["level"], r["idx"]): r["hash"] for r in rows
                        if r["level"] is not None})
                    if frontier is None:  # a chain older than merkle_nodes
                        frontier = self._build_tree(conn)
                        if frontier.size != head.position:
                            raise tree.TreeIncomplete(
                                f"the tree has {frontier.size} leaves, the chain "
                                f"{head.position} entries")
                entries, keys = self.chain.entries(head, stored_events)
                frontier, created = tree.extend(self.chain.chain_id, frontier,
                                                [(e[0], e[3], e[4]) for e in entries])
                self._attempt = (head, created)  # for _check_nodes_clash
                curs.execute(self.sql_append, [
                    list(reads), list(reads.values()),
                    *map(list, zip(*[(s.originator_id, s.originator_version, s.topic,
                                      s.state) for s in stored_events], strict=True)),
                    *map(list, zip(*entries, strict=True)),
                    *tree.columns(created),
                ], prepare=True)
            appended = sorted((r["position"], r["notification_id"]) for r in curs.fetchall()
                              if r["position"] is not None)
        if not appended:  # the guard found a read changed: nothing was inserted
            raise ReadChanged(list(reads))
        # The statement's own check makes anything else impossible.
        assert len(appended) == len(stored_events), "events and ledger rows differ in number"
        self._known_head = ledger.ChainHead(position=entries[-1][0], entry_hash=entries[-1][5])
        self._frontier = frontier
        if self.chain.guard is not None:
            self.chain.guard.wrote(entries[0][0], self._known_head, appended[-1][1], keys)
        return [nid for _, nid in appended]

    def _verified_head(self, conn: Connection[Any], head: ledger.ChainHead) -> None:
        """Chain only onto a head the guard verified (ADR 0009). What other processes
        appended since the guard's head is read here, under the write lock, through this
        connection, and verified at once — not by running the command again, which would
        lose the race to the next writer as often as not."""
        guard = self.chain.guard
        assert guard is not None
        if guard.at_head(head.position, head.entry_hash):
            return
        last, rows = _follow_result(conn.cursor().execute(
            self.sql_follow, (guard.notification_id, GAP)).fetchall())
        if len(rows) == GAP:
            return guard.require_head(head.position, head.entry_hash)  # too far: retry
        guard.advance(last, rows)
        guard.require_head(head.position, head.entry_hash)

    def _check_nodes_clash(self) -> None:
        """The last append clashed on merkle_nodes' key. If the ledger's head is still the
        one it chained onto (read again under the write lock), no other process appended:
        the clashing rows were put there by hand, ahead of the chain (a genuine node is
        only ever written with the ledger rows that complete it). Raises the integrity
        alarm naming them; returns if the head moved (the clash was a race: retry)."""
        head, created = self._attempt
        keys = [(s.level, s.index) for s in created]
        with self.datastore.get_connection() as conn, conn.transaction():
            self._lock_table(conn.cursor())
            rows = conn.cursor().execute(self.sql_head).fetchall()
            now = None if not rows else (rows[0]["position"], bytes(rows[0]["entry_hash"]))
            if now != ((head.position, head.entry_hash) if head.position else None):
                return
            stored = conn.cursor().execute(self.sql_nodes, [[k[0] for k in keys],
                                                            [k[1] for k in keys]]).fetchall()
        found = {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in stored}
        junk_node_alarm(self.chain, head.position, created, found)

    # The Merkle tree (ADR 0011) ----------------------------------------------------------
    def _build_tree(self, conn: Connection[Any]) -> ledger.MerkleFrontier:
        """Completes merkle_nodes for the whole ledger in the caller's transaction, which
        holds the institution's write lock; streams the ledger in pages."""
        cur = conn.cursor()

        def lookup(keys: list[tree.Key]) -> dict[tree.Key, bytes]:
            cur.execute(self.sql_nodes, [[k[0] for k in keys], [k[1] for k in keys]])
            return {(r["level"], r["idx"]): bytes(r["hash"]) for r in cur.fetchall()}

        def rows_after(after: int, limit: int) -> list[tree.LeafRow]:
            cur.execute(self.sql_rows_after, (after, limit))
            return [(r["position"], r["prev_hash"], r["event_digest"]) for r in cur.fetchall()]

        def insert(created: list[ledger.Subtree]) -> None:
            cur.execute(self.sql_add_nodes, tree.columns(created))

        leaves = tree.leaves(cur.execute(self.sql_leaves).fetchone()["last_leaf"])
        return tree.build(self.chain.chain_id, leaves, lookup, rows_after, insert)

    def ensure_tree(self) -> int:
        """Builds the tree of a chain older than merkle_nodes (a one-off; nothing to do
        otherwise), under the institution's write lock. Returns the tree's size."""
        with self._append_lock, self.datastore.get_connection() as conn, \
                conn.transaction():
            self._lock_table(conn.cursor())
            self._known_head = self._frontier = None  # read afresh at the next append
            return self._build_tree(conn).size

    def add_checkpoint(self, size: int, origin: str, root: bytes, note: str) -> str | None:
        """Stores a signed checkpoint; None if stored, else the note already stored under
        (size, origin) — the same one, if another worker signed it first."""
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            curs.execute(self.sql_add_checkpoint, (size, origin, root, note))
            if curs.rowcount == 1:
                return None
            row = curs.execute(self.sql_checkpoint_at, (size, origin)).fetchone()
            return "" if row is None else str(row["note"])

    def add_timestamp(self, size: int, origin: str, digest: bytes, response: bytes,
                      gen_time: datetime, tsa: str) -> None:
        """A checkpoint's RFC 3161 token (ADR 0013); the same one twice is stored once."""
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            curs.execute(self.sql_add_timestamp,
                         (size, origin, digest, response, gen_time, tsa))

    def changes_since(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        """(notification id, aggregate id, version) of the events stored after `after`."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_changes, (after, limit), prepare=True)
            return [(r["notification_id"], r["originator_id"], r["originator_version"])
                    for r in curs.fetchall()]

    # What the chain guard reads ----------------------------------------------------------
    def follow_rows(self, after: int, limit: int) -> tuple[int, list[FollowRow]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_follow, (after, limit), prepare=True)
            return _follow_result(curs.fetchall())

    def counts(self) -> tuple[int, int, int, int]:
        """(events, ledger entries, the ledger's last position, merkle_nodes' leaves)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_counts)
            row = curs.fetchone()
        return (int(row["events"]), int(row["entries"]), int(row["last"]),
                tree.leaves(row["last_leaf"]))

    def entry_at(self, position: int) -> tuple[bytes, int] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_entry_at, (position,))
            row = curs.fetchone()
        return None if row is None else (bytes(row["entry_hash"]), int(row["notification_id"]))

    def verified_marks(self, limit: int, at_most: int = 2**63 - 1
                       ) -> list[tuple[int, bytes, str, bytes]]:
        """The newest `limit` verified-through marks at positions ≤ `at_most`."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_marks, (at_most, limit))
            return [(int(r["position"]), bytes(r["entry_hash"]), str(r["key_id"]),
                     bytes(r["signature"])) for r in curs.fetchall()]

    def add_verified_mark(self, position: int, entry_hash: bytes, key_id: str,
                          signature: bytes) -> None:
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            curs.execute(self.sql_add_mark, (position, entry_hash, key_id, signature))


def _follow_result(found: list[Any]) -> tuple[int, list[FollowRow]]:
    """(the ledger's last position, the event rows with their entries) of `sql_follow`."""
    last = int(found[0]["last"]) if found else 0
    return last, [FollowRow(r["nid"], r["originator_id"], r["originator_version"],
                            r["topic"], r["state"], r["position"], r["prev_hash"],
                            r["event_digest"], r["entry_hash"], r["key_id"], r["signature"])
                  for r in found if r["nid"] is not None]


def writer_lock_key(schema: str) -> int:
    """The advisory lock key of an institution's writers: 64 bits of SHA-256."""
    digest = hashlib.sha256(f"ejournal-writers:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _clash(error: IntegrityError) -> str | None:
    """The constraint of a unique violation: `ledger_pkey` means another process appended
    (the head moved); `merkle_nodes_pkey` may mean that, or junk nodes ahead of the chain
    (`_check_nodes_clash` tells which)."""
    cause = error.__cause__
    return cause.diag.constraint_name if isinstance(cause, UniqueViolation) else None


class PostgresChainReader:
    """Streams one institution's ledger with its events through a server-side cursor."""

    def __init__(self, conninfo: str, schema: str, events_table: str) -> None:
        self.conninfo = conninfo
        s, e = Identifier(schema), Identifier(events_table)
        self.sql_entries = SQL(
            "SELECT l.position, l.prev_hash, l.event_digest, l.entry_hash, l.key_id,"
            " l.signature, e.originator_id, e.originator_version, e.topic, e.state"
            " FROM {s}.ledger l LEFT JOIN {s}.{e} e ON e.notification_id = l.notification_id"
            " ORDER BY l.position"
        ).format(s=s, e=e)
        self.sql_unledgered = SQL(
            "SELECT e.notification_id, e.originator_id::text, e.originator_version,"
            " (SELECT count(*) FROM {s}.ledger l2 WHERE l2.notification_id < e.notification_id)"
            " FROM {s}.{e} e LEFT JOIN {s}.ledger l ON l.notification_id = e.notification_id"
            " WHERE l.position IS NULL ORDER BY e.notification_id LIMIT 1"
        ).format(s=s, e=e)
        self.sql_locate = SQL(
            "SELECT position FROM {s}.ledger WHERE event_digest = %s LIMIT 1").format(s=s)
        self.sql_tree_size = SQL(
            "SELECT (SELECT coalesce(max(position), 0) FROM {s}.ledger),"
            " (SELECT max(idx) FROM {s}.merkle_nodes WHERE level = 0)"
        ).format(s=s)
        # Nodes no tree of `size` leaves has: (level, idx) covers leaves up to
        # (idx + 1) · 2^level, written as idx ≥ size >> level (no overflow).
        self.sql_beyond = SQL(
            "SELECT level, idx, hash FROM {s}.merkle_nodes WHERE idx >= (%s::bigint >>"
            " level::int) ORDER BY level, idx LIMIT %s").format(s=s)
        self.sql_all_marks = SQL(
            "SELECT v.position, v.entry_hash, v.key_id, v.signature, l.entry_hash"
            " FROM {s}.ledger_verified v LEFT JOIN {s}.ledger l USING (position)"
            " ORDER BY v.position").format(s=s)
        self.sql_recent_checkpoints = SQL(
            "SELECT size, origin, root, note FROM {s}.ledger_checkpoints"
            " ORDER BY size DESC, signed_at DESC LIMIT %s").format(s=s)
        self.sql_nodes = SQL(
            "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[])"
            " AS k(level, idx) JOIN {s}.merkle_nodes n USING (level, idx)").format(s=s)
        # The entries with their events (the columns `stored_entry` reads), by a condition.
        columns = ("SELECT l.position, l.prev_hash, l.event_digest, l.entry_hash, l.key_id,"
                   " l.signature, e.originator_id, e.originator_version, e.topic, e.state")
        joined = (" FROM {s}.ledger l LEFT JOIN {s}.{e} e"
                  " ON e.notification_id = l.notification_id")
        self.sql_from = SQL(columns + joined + " WHERE l.position >= %s ORDER BY l.position"
                            ).format(s=s, e=e)
        self.sql_range = SQL(columns + joined + " WHERE l.position BETWEEN %s AND %s"
                             " ORDER BY l.position").format(s=s, e=e)
        self.sql_event_entry = SQL(
            columns + " FROM {s}.{e} e JOIN {s}.ledger l ON l.notification_id ="
            " e.notification_id WHERE e.originator_id = %s AND e.originator_version = %s"
        ).format(s=s, e=e)
        self.sql_checkpoints = SQL(
            "SELECT size, origin, root, note, signed_at FROM {s}.ledger_checkpoints"
            " WHERE size > %s ORDER BY size, signed_at LIMIT %s").format(s=s)
        self.sql_checkpoint = SQL(
            "SELECT size, origin, root, note FROM {s}.ledger_checkpoints"
            " ORDER BY size DESC, signed_at DESC LIMIT 1").format(s=s)
        self.sql_untimestamped = SQL(
            "SELECT c.size, c.origin, c.note FROM {s}.ledger_checkpoints c WHERE NOT EXISTS"
            " (SELECT 1 FROM {s}.checkpoint_timestamps t WHERE t.size = c.size AND"
            " t.origin = c.origin) ORDER BY c.size, c.signed_at").format(s=s)
        self.sql_timestamp = SQL(
            "SELECT response FROM {s}.checkpoint_timestamps WHERE size = %s AND origin = %s"
            " ORDER BY gen_time DESC LIMIT 1").format(s=s)

    def _stream(self, query: Composable, params: tuple[int, ...] = ()
                ) -> Iterator[ledger.StoredEntry]:
        """The entries a query selects, through a server-side cursor in one snapshot."""
        with (Connection.connect(self.conninfo) as conn, conn.transaction(),
              conn.cursor(name="ejournal_entries") as cur):
            cur.itersize = 2000
            cur.execute(query, params)
            for row in cur:
                yield stored_entry(row)

    def entries(self) -> Iterator[ledger.StoredEntry]:
        return self._stream(self.sql_entries)

    def entries_from(self, position: int) -> Iterator[ledger.StoredEntry]:
        """The entries from `position` on, streamed (to diagnose a failure again)."""
        return self._stream(self.sql_from, (position,))

    def entries_range(self, first: int, last: int) -> Iterator[ledger.StoredEntry]:
        """The entries at positions first..last, streamed (a segment verified in a worker
        process: this reader is picklable)."""
        return self._stream(self.sql_range, (first, last))

    def first_unledgered(self) -> tuple[int, str, int, int] | None:
        with Connection.connect(self.conninfo) as conn:
            return conn.execute(self.sql_unledgered).fetchone()


    def locate(self, digest: bytes) -> int | None:
        with Connection.connect(self.conninfo) as conn:
            row = conn.execute(self.sql_locate, (digest,)).fetchone()
        return None if row is None else int(row[0])

    def tree_size(self) -> tuple[int, int]:
        """(the ledger's last position, the leaves of merkle_nodes)."""
        with Connection.connect(self.conninfo) as conn:
            row = conn.execute(self.sql_tree_size).fetchone()
        return int(row[0]), tree.leaves(row[1])

    def nodes_beyond(self, size: int, limit: int) -> list[tuple[int, int, bytes]]:
        """(level, idx, hash) of stored nodes that no tree of `size` leaves has."""
        with Connection.connect(self.conninfo) as conn:
            rows = conn.execute(self.sql_beyond, (size, limit)).fetchall()
        return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    def all_verified_marks(self) -> Iterator[tuple[int, bytes, str, bytes, bytes | None]]:
        """Every verified-through mark, with the entry hash the ledger holds there."""
        with (Connection.connect(self.conninfo) as conn, conn.transaction(),
              conn.cursor(name="ejournal_marks") as cur):
            cur.execute(self.sql_all_marks)
            for r in cur:
                yield (int(r[0]), bytes(r[1]), str(r[2]), bytes(r[3]),
                       None if r[4] is None else bytes(r[4]))

    def recent_checkpoints(self, limit: int) -> list[tuple[int, str, bytes, str]]:
        """(size, origin, root, note) of the `limit` largest stored checkpoints."""
        with Connection.connect(self.conninfo) as conn:
            rows = conn.execute(self.sql_recent_checkpoints, (limit,)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2]), str(r[3])) for r in rows]

    def subtrees(self, keys: list[tree.Key]) -> dict[tree.Key, bytes]:
        """The stored hashes of these (level, index) subtrees, in one indexed read."""
        with Connection.connect(self.conninfo) as conn:
            rows = conn.execute(self.sql_nodes, ([k[0] for k in keys],
                                                 [k[1] for k in keys])).fetchall()
        return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}

    def entries_between(self, first: int, last: int) -> list[ledger.StoredEntry]:
        """The entries at positions first..last, with their events (one page)."""
        with Connection.connect(self.conninfo) as conn:
            return [stored_entry(r) for r in conn.execute(self.sql_range, (first, last))]

    def entry_of_event(self, originator_id: UUID, version: int) -> ledger.StoredEntry | None:
        """The ledger entry of one stored event, with the event; None if not ledgered."""
        with Connection.connect(self.conninfo) as conn:
            row = conn.execute(self.sql_event_entry, (originator_id, version)).fetchone()
        return None if row is None else stored_entry(row)

    def checkpoints(self, after_size: int, limit: int
                    ) -> list[tuple[int, str, bytes, str, str]]:
        """(size, origin, root, note, signed_at) of the checkpoints the service signed
        of trees larger than `after_size`, smallest first."""
        with Connection.connect(self.conninfo) as conn:
            rows = conn.execute(self.sql_checkpoints, (after_size, limit)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2]), str(r[3]), r[4].isoformat())
                for r in rows]

    def latest_checkpoint(self) -> tuple[int, str, bytes, str] | None:
        """(size, origin, root, note) of the largest checkpoint the service signed."""
        with Connection.connect(self.conninfo) as conn:
            row = conn.execute(self.sql_checkpoint).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), bytes(row[2]), str(row[3]))

    # RFC 3161 timestamps of the checkpoints (ADR 0013) ------------------------------------
    def untimestamped(self) -> list[tuple[int, str, str]]:
        """(size, origin, note) of every checkpoint without a token, oldest first."""
        with Connection.connect(self.conninfo) as conn:
            rows = conn.execute(self.sql_untimestamped).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def checkpoint_timestamp(self, size: int, origin: str) -> bytes | None:
        """The newest token (TSA reply, DER) of the checkpoint, if it has one."""
        with Connection.connect(self.conninfo) as conn:
            row = conn.execute(self.sql_timestamp, (size, origin)).fetchone()
        return None if row is None else bytes(row[0])
