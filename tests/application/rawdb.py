"""Plain SQL against the stored rows, as an attacker with database access would."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import psycopg

from application.service import Ejournal
from application.storage.layout import EVENTS_TABLE, PostgresBackend, SQLiteBackend, schema_of


class RawDb:
    def __init__(self, ejournal: Ejournal, slug: str) -> None:
        backend = ejournal.backend
        if isinstance(backend, SQLiteBackend):
            self.kind = "sqlite"
            self.path = str(backend.institution_file(slug))
            self.events, self.ledger, self.nid = "stored_events", "ledger", "rowid"
            self.merkle, self.checkpoints = "merkle_nodes", "ledger_checkpoints"
        else:
            assert isinstance(backend, PostgresBackend)
            self.kind = "postgres"
            self.url = backend.url
            schema = schema_of(slug)
            self.events = f'"{schema}"."{EVENTS_TABLE}"'
            self.ledger = f'"{schema}".ledger'
            self.merkle = f'"{schema}".merkle_nodes'
            self.checkpoints = f'"{schema}".ledger_checkpoints'
            self.nid = "notification_id"

    def run(self, sql: str, params: tuple[Any, ...] = (), *, bypass: bool = True) -> list[Any]:
        """Executes `sql` ({events}, {ledger}, {merkle}, {checkpoints}, {nid} substituted;
        ? placeholders). With `bypass`, first removes the append-only triggers, as an
        attacker would."""
        sql = sql.format(events=self.events, ledger=self.ledger, nid=self.nid,
                         merkle=self.merkle, checkpoints=self.checkpoints)
        tables = (self.events, self.ledger, self.merkle, self.checkpoints)
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.path)) as conn, conn:
                if bypass:
                    for table in tables:
                        for verb in ("update", "delete"):
                            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
                return conn.execute(sql, params).fetchall()
        with psycopg.connect(self.url) as conn:
            if bypass:
                for table in tables:
                    conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
            cur = conn.execute(sql.replace("?", "%s"), params)
            rows = cur.fetchall() if cur.description else []
            if bypass:
                for table in tables:
                    conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
            return rows

    def position_of(self, topic_suffix: str, nth: int = 0) -> tuple[int, int]:
        """(ledger position, notification id) of the nth event whose topic ends so."""
        rows = self.run(
            "SELECT l.position, l.notification_id FROM {ledger} l JOIN {events} e"
            " ON e.{nid} = l.notification_id WHERE e.topic LIKE ? ORDER BY l.position",
            (f"%{topic_suffix}",), bypass=False)
        return int(rows[nth][0]), int(rows[nth][1])

    def count(self, table: str) -> int:
        return int(self.run(f"SELECT count(*) FROM {{{table}}}", bypass=False)[0][0])
