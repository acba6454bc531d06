"""`make bench`, the ledger's parts (ADR 0017): what each part of the append costs for one
whole-lesson transaction (28 events), on the server and in Python, so that the ledger's
overhead can be read as a sum of measured parts.

Server: the append statement's shape (ADR 0006) on a scratch schema, each part added in
turn — events only; their ledger rows; the event-digest index; the foreign key to the
events; the deferred check that every event has its entry (ADR 0009); the Merkle nodes
(ADR 0011). Each transaction is timed whole (lock, statement, commit) with random hashes
of the real sizes, in alternating rounds; medians. Python: hashing, linking and Merkle
nodes of 28 events, and the 28 signatures, with OpenSSL and with libsodium."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent

import ledger
from application.signing import SodiumSigner
from application.storage import tree
from application.storage.chain import ChainWriter

EVENTS = 28  # a lesson of 25 marks: the lesson, its marks, its index entries
STATE = 460  # bytes, a mark event's state
SCHEMA = "ej_bench_ledger_parts"
TOPIC = "domain.lessons:Lesson.MarkRecorded"

PARTS: list[tuple[str, dict[str, bool]]] = [
    ("events only (no ledger)", {"ledger": False}),
    ("+ ledger rows (primary key, unique event)", {"digest_index": False, "fk": False,
                                                   "need": False, "merkle": False}),
    ("+ event-digest index", {"fk": False, "need": False, "merkle": False}),
    ("+ foreign key to the event", {"need": False, "merkle": False}),
    ("+ deferred check: every event has its entry", {"merkle": False}),
    ("+ Merkle nodes (the append as served)", {}),
]


def _schema(conn: psycopg.Connection[Any], ledger_on: bool = True, digest_index: bool = True,
            fk: bool = True, need: bool = True, merkle: bool = True) -> None:
    s = SCHEMA
    conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    conn.execute(f"CREATE SCHEMA {s}")
    conn.execute(f"CREATE TABLE {s}.events (originator_id uuid NOT NULL, originator_version"
                 " bigint NOT NULL, topic text NOT NULL, state bytea, notification_id"
                 " bigserial UNIQUE, PRIMARY KEY (originator_id, originator_version))")
    if not ledger_on:
        return
    conn.execute(f"CREATE TABLE {s}.ledger (position bigint PRIMARY KEY CHECK (position > 0),"
                 " notification_id bigint NOT NULL UNIQUE, prev_hash bytea NOT NULL,"
                 " event_digest bytea NOT NULL, entry_hash bytea NOT NULL, key_id text NOT"
                 " NULL, signature bytea NOT NULL)")
    if digest_index:
        conn.execute(f"CREATE INDEX ON {s}.ledger (event_digest)")
    if fk:
        conn.execute(f"ALTER TABLE {s}.ledger ADD FOREIGN KEY (notification_id) REFERENCES"
                     f" {s}.events (notification_id)")
    if need:
        conn.execute(f"CREATE FUNCTION {s}.need() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
                     f" IF NOT EXISTS (SELECT 1 FROM {s}.ledger WHERE notification_id ="
                     " NEW.notification_id) THEN RAISE EXCEPTION 'no entry'; END IF; RETURN"
                     " NULL; END$$")
        conn.execute(f"CREATE CONSTRAINT TRIGGER need AFTER INSERT ON {s}.events DEFERRABLE"
                     f" INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.need()")
    if merkle:
        conn.execute(f"CREATE TABLE {s}.merkle_nodes (level smallint NOT NULL CHECK (level"
                     " BETWEEN 0 AND 63), idx bigint NOT NULL CHECK (idx >= 0), hash bytea NOT"
                     " NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx))")


def _statement(ledger_on: bool = True, merkle: bool = True, **_: bool) -> str:
    s = SCHEMA
    events = (f"INSERT INTO {s}.events (originator_id, originator_version, topic, state)"
              " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
              " RETURNING notification_id, originator_id, originator_version")
    if not ledger_on:
        return events
    nodes = (f", mk AS (INSERT INTO {s}.merkle_nodes (level, idx, hash) SELECT * FROM"
             " unnest(%b::smallint[], %b::bigint[], %b::bytea[]) WHERE EXISTS (SELECT 1 FROM"
             " lg))") if merkle else ""
    return (f"WITH ev AS ({events}), lg AS (INSERT INTO {s}.ledger SELECT l.position,"
            " ev.notification_id, l.prev_hash, l.event_digest, l.entry_hash, l.key_id,"
            " l.signature FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], %b::bytea[],"
            " %b::bytea[], %b::bytea[], %b::text[], %b::bytea[]) AS l(position,"
            " originator_id, originator_version, prev_hash, event_digest, entry_hash, key_id,"
            " signature) JOIN ev USING (originator_id, originator_version) RETURNING"
            f" position, notification_id){nodes} SELECT count(*) FROM lg")


def _transactions(url: str, n: int, options: dict[str, bool]) -> float:
    """The median milliseconds of `n` transactions of EVENTS events with `options`."""
    ledger_on, merkle = options.get("ledger", True), options.get("merkle", True)
    query = _statement(ledger_on, merkle)
    times = []
    frontier = ledger.MerkleFrontier()
    with psycopg.connect(url, autocommit=True) as conn:
        _schema(conn, ledger_on, **{k: v for k, v in options.items() if k != "ledger"})
        for t in range(n):
            ids = [uuid.uuid4() for _ in range(EVENTS)]
            params: list[list[Any]] = [ids, [1] * EVENTS, [TOPIC] * EVENTS,
                                       [os.urandom(STATE) for _ in range(EVENTS)]]
            if ledger_on:
                hashes = [os.urandom(32) for _ in range(EVENTS)]
                params += [list(range(t * EVENTS + 1, (t + 1) * EVENTS + 1)), ids,
                           [1] * EVENTS, hashes, hashes, hashes, ["0" * 32] * EVENTS,
                           [os.urandom(64) for _ in range(EVENTS)]]
                if merkle:
                    frontier, created = frontier.extend_many(hashes)
                    params += list(tree.columns(created))
            start = time.perf_counter()
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7305017)")
                conn.execute(query.encode(), params, prepare=True)
            times.append(time.perf_counter() - start)
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return statistics.median(times) * 1e3


def _python_ms(signer: ledger.Signer, n: int = 200) -> float:
    """Milliseconds for the entries and Merkle nodes of EVENTS events in Python."""
    chain = ChainWriter("ejournal/bench", signer)
    events = [StoredEvent(uuid.uuid4(), 1, TOPIC, os.urandom(STATE)) for _ in range(EVENTS)]
    head, frontier = ledger.ChainHead.empty("ejournal/bench"), ledger.MerkleFrontier()
    start = time.perf_counter()
    for _ in range(n):
        entries, _ = chain.entries(head, events)
        tree.columns(tree.extend("ejournal/bench", frontier,
                                 [(e[0], e[3], e[4]) for e in entries])[1])
    return (time.perf_counter() - start) / n * 1e3


def run(url: str, log: Callable[[str], None], unsigned: ledger.Signer,
        private: ledger.keys.Ed25519PrivateKey, rounds: int = 3, n: int = 150) -> None:
    results: dict[str, list[float]] = {label: [] for label, _ in PARTS}
    python: dict[str, list[float]] = {"none": [], "openssl": [], "sodium": []}
    for _ in range(rounds):
        for label, options in PARTS:
            results[label].append(_transactions(url, n, options))
        python["none"].append(_python_ms(unsigned))
        python["openssl"].append(_python_ms(ledger.Signer(private)))
        python["sodium"].append(_python_ms(SodiumSigner(private)))
    med = statistics.median
    log(f"   the ledger's parts for one whole-lesson transaction of {EVENTS} events "
        f"(medians of {rounds} rounds):")
    previous = None
    for label, _ in PARTS:
        ms = med(results[label])
        step = "" if previous is None else f"  ({ms - previous:+.3f} ms)"
        log(f"     server, {label:46} {ms:6.3f} ms{step}")
        previous = ms
    none = med(python["none"])
    log(f"     Python, digests, entry hashes, links, Merkle nodes: {none:6.3f} ms")
    log(f"     Python, + {EVENTS} signatures, OpenSSL: {med(python['openssl']) - none:+.3f} ms;"
        f" libsodium (as served): {med(python['sodium']) - none:+.3f} ms")
