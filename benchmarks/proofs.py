"""`make bench`: inclusion and consistency proofs at a million entries, from the stored
tree (`merkle_nodes`, ADR 0011) on SQLite and PostgreSQL: O(log n) stored subtrees read
in one batch per proof, whatever the log's length. The tree is synthetic (a million
random leaf hashes, every complete subtree stored as the ledger stores it), so the figure
is the proof path alone, beside a raw one-row SELECT by primary key in the same run."""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg

import ledger
from application.storage import tree
from application.storage.postgres import PostgresChainReader
from application.storage.sqlite import lookup_nodes

LEAVES = 1_000_000
RUNS = 300


def build(leaves: int) -> list[tuple[int, int, bytes]]:
    rng = random.Random(139)
    frontier, rows = ledger.MerkleFrontier(), []
    for _ in range(leaves):
        frontier, created = frontier.extend(rng.randbytes(32))
        rows.extend((s.level, s.index, s.hash) for s in created)
    return rows


def timed(call: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def figures(lat: list[float]) -> str:
    lat = sorted(lat)
    return (f"p50 {statistics.median(lat) * 1000:.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.2f} ms")


def measure(label: str, subtrees: Callable[[list[tree.Key]], dict[tree.Key, bytes]],
            raw: Callable[[], object], log: Callable[[str], None]) -> None:
    rng = random.Random(7)
    size = LEAVES
    root = tree.from_store(lambda st: ledger.root_hash_from(size, st), subtrees)

    def inclusion() -> None:
        index = rng.randrange(size)
        proof = tree.from_store(lambda st: ledger.inclusion_proof_from(index, size, st),
                                subtrees)
        assert len(proof) <= 20 and root

    def consistency() -> None:
        old = rng.randrange(1, size)
        tree.from_store(lambda st: ledger.consistency_proof_from(old, size, st), subtrees)

    log(f"   {label}: inclusion proof {figures(timed(inclusion))}; consistency proof "
        f"{figures(timed(consistency))}; raw one-row SELECT by key {figures(timed(raw))}")


def run(pg_url: str, log: Callable[[str], None]) -> None:
    log(f"\n9. Proofs at {LEAVES:,} entries from the stored tree ({RUNS} random proofs each)")
    t0 = time.perf_counter()
    rows = build(LEAVES)
    log(f"   built the synthetic tree: {len(rows):,} stored subtrees in "
        f"{time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.sqlite3"
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("CREATE TABLE merkle_nodes (level INTEGER NOT NULL, idx INTEGER NOT "
                         "NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID")
            conn.executemany("INSERT INTO merkle_nodes VALUES (?, ?, ?)", rows)

        def sqlite_subtrees(keys: list[tree.Key]) -> dict[tree.Key, bytes]:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
                return lookup_nodes(c.cursor(), keys)

        def sqlite_raw() -> None:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
                c.execute("SELECT hash FROM merkle_nodes WHERE level = 0 AND idx = ?",
                          (random.randrange(LEAVES),)).fetchone()

        measure("SQLite", sqlite_subtrees, sqlite_raw, log)
    schema = "bench_tree_" + uuid.uuid4().hex[:8]
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}".merkle_nodes (level smallint NOT NULL, '
                         "idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))")
            with conn.cursor().copy(f'COPY "{schema}".merkle_nodes FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(f'ANALYZE "{schema}".merkle_nodes')
        reader = PostgresChainReader(pg_url, schema, "unused")

        def pg_raw() -> None:
            with psycopg.connect(pg_url) as c:
                c.execute(f'SELECT hash FROM "{schema}".merkle_nodes WHERE level = 0 AND '
                          "idx = %s", (random.randrange(LEAVES),)).fetchone()

        measure("PostgreSQL (a connection per proof, as the audit API)", reader.subtrees,
                pg_raw, log)
    except psycopg.OperationalError as error:
        log(f"   PostgreSQL unavailable: {error}")
    finally:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.OperationalError:
            pass


if __name__ == "__main__":
    run(os.environ.get("EJOURNAL_TEST_POSTGRES_URL",
                       "postgresql://postgres@127.0.0.1:5432/test"), print)
