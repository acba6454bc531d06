"""Read models: SQL tables in the institution's own store (its PostgreSQL schema, its
SQLite file), kept by one projection that follows the institution's verified log
exactly once (ADR 0010).

The projection reads the notifications after its tracking position, but never past what
the chain guard has verified (ADR 0009); maps each event to row changes
(`projections.tables`); and writes the changes and the new position in one transaction —
a crash never applies an event twice nor skips one. `rebuild` replays the whole log into
fresh tables and swaps them in within one transaction, so readers never see a half-built
model."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from application.integrity import IntegrityAlarm
from application.storage.readmodel_sql import Dialect
from application.store import InstitutionStore
from projections.tables import TABLES, Change, changes_for

log = logging.getLogger("ejournal.projections")

# The projection's name in the tracking table, with the version of its tables: a new
# version (new tables or columns) starts from position 0 and replays the log once over
# the existing tables — every change is idempotent, so they end as a rebuild would.
NAME = "read_models/3"
PAGE = 2000
ALARM_PAUSE = 30.0  # seconds between checks of an institution under the integrity alarm
REBUILD_PAGE = 10_000  # a rebuild writes tables nobody reads yet: fewer, larger commits
TRACKING = "rm_tracking"


@dataclass(frozen=True)
class Status:
    position: int  # the last notification applied
    head: int  # the last notification verified by the chain guard
    error: str | None


class _Overtaken(Exception):
    """The tracking position moved under this runner: its transaction is rolled back."""


class ReadModels:
    """One institution's read models."""

    def __init__(self, store: InstitutionStore) -> None:
        self.store = store
        schema = getattr(store.recorder.datastore, "schema", None)  # PostgreSQL only
        self.dialect = Dialect(schema or None)
        self.error: str | None = None
        self._lock = threading.Lock()

    # Storage ----------------------------------------------------------------------------
    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        with self.store.recorder.datastore.transaction(commit=commit) as cursor:  # type: ignore[attr-defined]
            yield cursor

    def create_tables(self) -> None:
        """As the owner: the tables, if missing (idempotent)."""
        with self._cursor(commit=True) as c:
            for statement in self.dialect.create():
                c.execute(statement)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query over the read models: `{t}` names table t ({lessons} →
        rm_lessons, schema-qualified on PostgreSQL), `?` are parameters."""
        sql = sql.replace("?", self.dialect.mark)
        sql = sql.format(**{name.removeprefix("rm_"): self.dialect.table(name)
                            for name in [*TABLES, TRACKING]},
                         ledger=self.dialect.table("ledger"))
        with self._cursor(commit=False) as c:
            c.execute(sql, list(params))
            rows = c.fetchall()
            raw = getattr(c, "sqlite_cursor", c)  # eventsourcing wraps SQLite's cursor
            names = [d[0] for d in raw.description] if raw.description else []
        return [dict(zip(names, (r[n] if isinstance(r, dict) else r[i]
                                 for i, n in enumerate(names)), strict=True)) for r in rows]

    def position(self, prefix: str = "rm_") -> int:
        with self._cursor(commit=False) as c:
            c.execute(f"SELECT notification_id FROM {self.dialect.table(prefix + 'tracking')}"
                      f" WHERE projection = {self.dialect.mark}", [NAME])
            row = c.fetchone()
        if row is None:
            return 0
        return int(row["notification_id"] if isinstance(row, dict) else row[0])

    def ledger_state(self) -> tuple[int, int, str]:
        """(notification id, ledger position, entry hash hex) the read models reflect."""
        position = self.position()
        rows = self.query("SELECT position, entry_hash FROM {ledger} WHERE notification_id"
                          " <= ? ORDER BY notification_id DESC LIMIT 1", [position])
        if not rows:
            return position, 0, ""
        return position, int(rows[0]["position"]), bytes(rows[0]["entry_hash"]).hex()

    # Following the log ------------------------------------------------------------------
    def catch_up(self, progress: Callable[[int], None] | None = None,
                 prefix: str = "rm_", page: int = PAGE) -> int:
        """Applies every verified event after the tracking position, `page` events per
        transaction; returns how many."""
        with self._lock:
            self.store.institution_ro()  # a unit of work: the guard follows the log
            guard = self.store.chain.guard
            head = guard.notification_id if guard is not None else \
                (self.store.recorder.max_notification_id() or 0)
            position, applied = self.position(prefix), 0
            while position < head:
                notifications = self.store.recorder.select_notifications(
                    position + 1, page, stop=head)
                if not notifications:
                    break
                changes: list[Change] = []
                for n in notifications:
                    try:
                        changes.extend(changes_for(self.store.mapper.to_domain_event(n)))
                    except Exception as error:
                        self.error = (f"notification {n.id} ({n.topic}): "
                                      f"{type(error).__name__}: {error}")
                        log.error("projection stopped at a poison event: %s", self.error)
                        raise
                try:
                    self._apply(changes, position, notifications[-1].id, prefix)
                except _Overtaken:  # another process applied them first
                    position = self.position(prefix)
                    continue
                position = notifications[-1].id
                applied += len(notifications)
                if progress is not None:
                    progress(len(notifications))
            return applied

    def _apply(self, changes: list[Change], old: int, new: int, prefix: str) -> bool:
        """The changes and the new position, in one transaction — only if the position
        is still `old` (another process's runner may have applied them: then nothing is
        written and False returned)."""
        tracking = self.dialect.table(prefix + "tracking")
        m = self.dialect.mark
        statements = [self.dialect.sql(change, prefix) for change in changes]
        with self._cursor(commit=True) as c:
            c.execute(f"INSERT INTO {tracking} (projection, notification_id) VALUES ({m}, 0)"
                      " ON CONFLICT (projection) DO NOTHING", [NAME])
            c.execute(f"UPDATE {tracking} SET notification_id = {m} WHERE projection = {m}"
                      f" AND notification_id = {m}", [new, NAME, old])
            raw = getattr(c, "sqlite_cursor", c)
            if raw.rowcount != 1:
                raise _Overtaken
            # Per table, in order (the read-model tables have no keys or triggers that
            # reach across tables, so only the order within a table matters); runs of the
            # same statement within a table go as one executemany.
            by_table: dict[str, list[tuple[str, list[Any]]]] = {}
            for change, statement in zip(changes, statements, strict=True):
                by_table.setdefault(change.table, []).append(statement)
            for table_statements in by_table.values():
                for sql, group in itertools.groupby(table_statements, key=lambda st: st[0]):
                    c.executemany(sql, [params for _, params in group])
        return True

    def status(self) -> Status:
        guard = self.store.chain.guard
        self.store.institution_ro()
        head = guard.notification_id if guard is not None else 0
        return Status(self.position(), head, self.error)

    def wait_for(self, notification_id: int, timeout: float = 2.0) -> bool:
        """Waits until the read models reflect `notification_id` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        while self.position() < notification_id:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # Rebuilding ---------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """As the owner: replays the whole log into fresh tables, then swaps them in
        within one transaction (readers see the old model until then)."""
        prefix = "rmnext_"
        with self._cursor(commit=True) as c:
            for name in [*TABLES, "rm_tracking"]:
                c.execute(f"DROP TABLE IF EXISTS {self.dialect.table(prefix + name[3:])}")
            for statement in self.dialect.create(prefix):
                c.execute(statement)
        applied = self.catch_up(progress, prefix=prefix, page=REBUILD_PAGE)
        with self._cursor(commit=True) as c:
            for name in [*TABLES, "rm_tracking"]:
                old, new = self.dialect.table(name), self.dialect.table(prefix + name[3:])
                c.execute(f"DROP TABLE IF EXISTS {old}")
                c.execute(f"ALTER TABLE {new} RENAME TO {name}")
        return applied


class ProjectionRunner(threading.Thread):
    """Keeps one institution's read models up to date inside `ejournal serve` or
    `ejournal projections run`: polls the verified log; a failure other than a poison
    event is retried after a pause; a poison event stops it loudly (status, /health)."""

    def __init__(self, models: ReadModels, interval: float = 0.2) -> None:
        super().__init__(name=f"projection-{models.store.slug}", daemon=True)
        self.models, self.interval = models, interval
        self._stop_event = threading.Event()
        # A commit in this process wakes the runner at once; other processes' commits
        # are found by polling every `interval` seconds.
        self._wake = threading.Event()
        models.store.committed.append(self._wake.set)

    def run(self) -> None:
        alarmed = False
        while not self._stop_event.is_set():
            try:
                self.models.catch_up()
                alarmed = False
            except IntegrityAlarm as alarm:
                # Logged CRITICAL where it was raised; said once here, then checked again
                # only every ALARM_PAUSE seconds (an administrator's work, not a retry).
                if not alarmed:
                    log.error("projection of %s paused: %s", self.models.store.slug, alarm)
                    alarmed = True
                self._stop_event.wait(ALARM_PAUSE)
            except Exception:
                if self.models.error is not None:
                    return  # poison: stopped, visible in status
                log.exception("projection of %s failed; retrying", self.models.store.slug)
                self._stop_event.wait(2.0)
            self._wake.wait(self.interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()
        if self._wake.set in self.models.store.committed:
            self.models.store.committed.remove(self._wake.set)
