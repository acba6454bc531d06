"""SQL for the read-model tables (`projections.tables`), in SQLite's and PostgreSQL's
common dialect: the DDL (with a prefix, for a rebuild beside the live tables) and each
row change as one statement."""

from __future__ import annotations

from typing import Any

from projections.tables import INDEXES, TABLES, Change, Delete, Update, Upsert

READ_MODEL_TABLES = [*TABLES, "rm_tracking"]
_NUMERIC = {"number", "planned_hours", "period_number", "substitute", "late", "cancelled", "closed",
            "minutes", "version", "id"}


class Dialect:
    def __init__(self, schema: str | None) -> None:
        self.schema = schema
        self.mark = "%s" if schema else "?"

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.schema else name

    def create(self, prefix: str = "rm_") -> list[str]:
        statements = []
        for name, (columns, key) in TABLES.items():
            table = self.table(prefix + name.removeprefix("rm_"))
            cols = ", ".join(f"{c} TEXT" if c not in _NUMERIC else f"{c} BIGINT"
                             for c in columns)
            statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols},"
                              f" PRIMARY KEY ({', '.join(key)}))")
            for column in INDEXES.get(name, ()):
                index = f"{prefix}{name.removeprefix('rm_')}_{column}"
                statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({column})")
        statements.append(f"CREATE TABLE IF NOT EXISTS {self.table(prefix + 'tracking')}"
                          " (projection TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)")
        return statements

    def sql(self, change: Change, prefix: str) -> tuple[str, list[Any]]:
        table = self.table(prefix + change.table.removeprefix("rm_"))
        m = self.mark
        if isinstance(change, Upsert):
            columns, key = TABLES[change.table]
            values = [change.row.get(c) for c in columns]
            rest = [c for c in columns if c not in key]
            update = (f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}"
                      if rest else "DO NOTHING")  # a key-only table: a set of facts
            return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
                    f" ({', '.join([m] * len(columns))}) ON CONFLICT ({', '.join(key)})"
                    f" {update}", values)
        if isinstance(change, Update):
            where = " AND ".join(f"{c} = {m}" for c in change.key)
            if change.where_null:
                where += f" AND {change.where_null} IS NULL"
            return (f"UPDATE {table} SET {', '.join(f'{c} = {m}' for c in change.values)}"
                    f" WHERE {where}", [*change.values.values(), *change.key.values()])
        assert isinstance(change, Delete)
        where = " AND ".join(f"{c} = {m}" for c in change.key)
        return f"DELETE FROM {table} WHERE {where}", list(change.key.values())
