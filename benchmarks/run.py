"""`make bench`: throughput and latency figures, each next to its raw baseline measured in
the same run on the same PostgreSQL database. Not a test: it asserts nothing.

Prints: marks/s through the application layer (single-mark commands, whole-lesson
batches) beside raw psycopg inserts of rows of the same size (single-row commits with and
without a table lock, batched); the same commands on plain eventsourcing without the
ledger (the ledger's overhead), and on the ledger with OpenSSL signatures and with no
signature at all; the ledger's parts, server and Python (ADR 0017); raw Ed25519 signing
with OpenSSL and libsodium; ledger verify entries/s beside raw SHA-256 + Ed25519 verify;
mark-command latency early in the year and after a year of lessons; verify's peak memory
at two chain lengths; two institutions written in parallel vs one."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from eventsourcing.persistence import ApplicationRecorder
from psycopg.sql import Composable

import ledger
from application.actors import Actor
from application.config import Settings
from application.journal import Journal, MarkEntry
from application.service import Ejournal, chain_id_of
from application.signing import SodiumSigner
from application.storage.chain import ChainWriter
from application.storage.directory import InstitutionEntry
from application.storage.layout import EVENTS_TABLE, schema_of
from application.storage.postgres import LedgeredPostgresRecorder
from application.store import InstitutionStore
from benchmarks import http, ledger_parts, proofs, year
from domain.institution import Institution
from domain.values import MarkValue, OrderRef, Role

PG_URL = os.environ.get("EJOURNAL_BENCH_POSTGRES_URL",
                        os.environ.get("EJOURNAL_TEST_POSTGRES_URL",
                                       "postgresql://postgres@127.0.0.1:5432/test"))
STUDENTS = 25
CLOCK = datetime(2027, 5, 20, 12, 0, tzinfo=UTC)
FIRST_DAY = date(2026, 9, 1)
created: list[str] = []
PRIVATE = ledger.keys.Ed25519PrivateKey.generate()  # the ledger variants of section 3


def log(msg: str) -> None:
    print(msg, flush=True)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


class PlainJournal(InstitutionStore):
    """The same application on eventsourcing's own PostgreSQL recorder: no ledger."""

    def construct_recorder(self) -> ApplicationRecorder:
        self.backend.prepare_institution(self.slug)
        recorder = self.factory.application_recorder()
        recorder.create_table()
        return recorder

    def _changes_since(self, after: int, limit: int) -> list[tuple[int, uuid.UUID, int]]:
        # eventsourcing's recorder has no narrow query for the cache's sync.
        return [(n.id, n.originator_id, n.originator_version)  # type: ignore[misc]
                for n in self.recorder.select_notifications(after + 1, limit)]


class UnledgeredRecorder(LedgeredPostgresRecorder):
    """Our append path — one pipelined round trip: lock, insert, commit — with the ledger
    step taken out: isolates the cost of hashing, signing and writing ledger rows."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # Without the ledger step, the database's own rule that every event has its
        # ledger entry (ADR 0009) would refuse every commit: leave that rule out here.
        self.sql_create_statements = [
            q for q in self.sql_create_statements
            if not isinstance(q, Composable)
            or b"events_need_ledger" not in q.as_bytes(None)]
        self.sql_insert = (f'INSERT INTO "{self.datastore.schema}".{EVENTS_TABLE}'
                           " (originator_id, originator_version, topic, state) SELECT * FROM"
                           " unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
                           " RETURNING notification_id")

    def insert_events(self, stored_events, **kwargs):  # type: ignore[no-untyped-def]
        columns = [list(c) for c in zip(*[(e.originator_id, e.originator_version, e.topic,
                                            e.state) for e in stored_events], strict=True)]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            with conn.pipeline(), conn.transaction():
                self._lock_table(curs)
                curs.execute(self.sql_insert, columns, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]


class SamePathJournal(InstitutionStore):
    def construct_recorder(self) -> ApplicationRecorder:
        self.backend.prepare_institution(self.slug)
        recorder = UnledgeredRecorder(self.factory.datastore, EVENTS_TABLE, self.chain)  # type: ignore[attr-defined]
        recorder.create_table()
        return recorder


class GuardlessJournal(InstitutionStore):
    """The ledger as served, without the chain guard (its signer is the bench's)."""

    def construct_recorder(self) -> ApplicationRecorder:
        self.backend.prepare_institution(self.slug)
        return super().construct_recorder()


class UnsignedSigner(ledger.Signer):
    """Signs nothing (64 zero bytes): the ledger's cost without any signature — the
    floor that fewer signatures (one per transaction, ADR 0017) could reach."""

    def sign(self, entry_hash: bytes) -> bytes:
        ledger.signing_message(entry_hash)
        return bytes(64)


def setup_school(ej: Ejournal, journal: Journal | None = None
                 ) -> tuple[Journal, Actor, list[tuple[date, int]], object]:
    slug = "bench_" + uuid.uuid4().hex[:8]
    created.append(slug)
    if journal is None:
        ej.create_institution(slug, "Бенчмарк-лицей", "Europe/Moscow")
        j = ej.journal(slug)
    else:
        j = journal
    admin = Actor(slug, j.access.hire_staff(None, "Администратор", ["admin"]), "staff",
                  frozenset({Role.ADMIN}))
    year = j.setup.open_academic_year(admin, "2026/2027", FIRST_DAY, date(2027, 6, 30), [
        {"kind": "semester", "title": "1 семестр", "starts": FIRST_DAY,
         "ends": date(2026, 12, 28)},
        {"kind": "semester", "title": "2 семестр", "starts": date(2027, 1, 9),
         "ends": date(2027, 6, 30)}])
    discipline = j.setup.add_discipline(admin, "Математика", "subject", 136)
    group = j.setup.form_group(admin, year, "10А", None)
    teacher_id = j.access.hire_staff(admin, "Учитель", ["teacher"])
    for i in range(STUDENTS):
        sid = j.roster.admit_student(admin, f"Ученик {i:02d}", None)
        j.roster.enrol(admin, sid, group, OrderRef("1", date(2026, 8, 25)), FIRST_DAY)
    assignment = j.setup.make_assignment(admin, teacher_id, group, None, discipline, FIRST_DAY)
    slots = [(FIRST_DAY + timedelta(days=d), n) for d in range(0, 262) for n in range(1, 9)
             if (FIRST_DAY + timedelta(days=d)) not in _holidays()]
    teacher = Actor(slug, teacher_id, "staff", frozenset({Role.TEACHER}))
    return j, teacher, slots, assignment


def _holidays() -> set[date]:
    return {date(2026, 12, 29) + timedelta(days=i) for i in range(11)}


def students_of(j: Journal, assignment: object) -> list[uuid.UUID]:
    from domain.assignments import TeachingAssignment
    from domain.groups import Group

    a = j.get(TeachingAssignment, assignment)  # type: ignore[arg-type]
    return sorted(j.get(Group, a.group_id).members)


def conduct(j: Journal, teacher: Actor, assignment: object,
            slots: list[tuple[date, int]], count: int) -> list[uuid.UUID]:
    taken = [slots.pop(0) for _ in range(count)]
    return [j.lessons.conduct_lesson(teacher, assignment, d, num, "Тема", None, "ordinary")  # type: ignore[arg-type]
            for d, num in taken]


def mark_loop(j: Journal, teacher: Actor, lessons: list[uuid.UUID],
              students: list[uuid.UUID], n: int) -> tuple[float, list[float]]:
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        j.lessons.record_mark(teacher, lessons[i // STUDENTS], students[i % STUDENTS],
                              MarkValue.FOUR)
        latencies.append(time.perf_counter() - t0)
    return rate(n, time.perf_counter() - start), latencies


def single_marks(j: Journal, teacher: Actor, assignment: object,
                 slots: list[tuple[date, int]], n: int) -> tuple[float, list[float]]:
    lessons = conduct(j, teacher, assignment, slots, n // STUDENTS + 1)
    return mark_loop(j, teacher, lessons, students_of(j, assignment), n)


def batches(j: Journal, teacher: Actor, assignment: object,
            slots: list[tuple[date, int]], lessons: int) -> float:
    students = students_of(j, assignment)
    marks = [MarkEntry(s, MarkValue.FIVE) for s in students]
    start = time.perf_counter()
    for _ in range(lessons):
        d, num = slots.pop(0)
        j.lessons.submit_lesson(teacher, assignment, d, num, "Тема", None, "ordinary", [], marks)  # type: ignore[arg-type]
    return rate(lessons * STUDENTS, time.perf_counter() - start)


def _spread(rates: list[float]) -> str:
    return f"{min(rates):.0f}–{max(rates):.0f}"


def mark_state_size(j: Journal) -> int:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            f'SELECT avg(length(state))::int FROM "{schema_of(j.slug)}".journal_events '
            "WHERE topic LIKE '%MarkRecorded'").fetchone()
    return int(row[0] or 300)


def raw_inserts(size: int, n: int, batch: int, lock: bool, pipelined: bool = False) -> float:
    # A logged table shaped like the events table (a TEMP table would skip the WAL
    # flush every real commit pays).
    state = os.urandom(size)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.ejournal_bench_raw_events")
        conn.execute("CREATE TABLE public.ejournal_bench_raw_events (originator_id uuid,"
                     " originator_version bigint, topic text, state bytea,"
                     " notification_id bigserial UNIQUE,"
                     " PRIMARY KEY (originator_id, originator_version))")
        topic = "domain.lessons:Lesson.MarkRecorded"
        start = time.perf_counter()
        for _ in range(n // batch):
            with conn.pipeline() if pipelined else nullcontext(), conn.transaction():
                if lock:
                    conn.execute("LOCK TABLE ejournal_bench_raw_events IN EXCLUSIVE MODE")
                rows = [(uuid.uuid4(), 1, topic, state) for _ in range(batch)]
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO ejournal_bench_raw_events (originator_id,"
                                    " originator_version,"
                                    " topic, state) VALUES (%s,%s,%s,%s)", rows)
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE public.ejournal_bench_raw_events")
        return rate(n // batch * batch, elapsed)


def raw_signing(n: int) -> tuple[float, float]:
    """Entry signatures per second: OpenSSL through cryptography, libsodium."""
    rates = []
    for signer in (ledger.Signer(PRIVATE), SodiumSigner(PRIVATE)):
        h = os.urandom(32)
        start = time.perf_counter()
        for _ in range(n):
            signer.sign(h)
        rates.append(rate(n, time.perf_counter() - start))
    return rates[0], rates[1]


def raw_crypto(n: int) -> float:
    signer = ledger.Signer(ledger.keys.Ed25519PrivateKey.generate())
    ring = ledger.KeyRing({signer.key_id: signer.public_key_raw})
    state = os.urandom(350)
    h = bytes(32)
    sig = signer.sign(h)
    import hashlib

    start = time.perf_counter()
    for _ in range(n):
        hashlib.sha256(state).digest()
        hashlib.sha256(h).digest()
        ring.verify(signer.key_id, h, sig)
    return rate(n, time.perf_counter() - start)


def verify_rate(ej: Ejournal, slug: str) -> tuple[float, int, int]:
    ring = ledger.KeyRing.from_directory(ej.settings.key_dir)
    tracemalloc.start()
    start = time.perf_counter()
    report = ej.verify(slug, ring)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.ok, report.failure
    return rate(report.count, seconds), report.count, peak


def parallel(fns: list[Callable[[], None]]) -> float:
    threads = [threading.Thread(target=f) for f in fns]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> int:
    keys = Path(tempfile.mkdtemp()) / "keys"
    ledger.generate_key(keys)
    ej = Ejournal(Settings(database_url=PG_URL, key_dir=keys), lambda: CLOCK, owner=True)
    try:
        run(ej)
        proofs.run(PG_URL, log)
        if os.environ.get("EJOURNAL_BENCH_YEAR", "1") != "0":
            with tempfile.TemporaryDirectory() as tmp:
                year.run_year(f"sqlite:///{Path(tmp) / 'year.sqlite3'}", "SQLite",
                              "bench_year")
            slug = "bench_year_" + uuid.uuid4().hex[:8]
            created.append(slug)
            year.run_year(PG_URL, "PostgreSQL", slug)
        return 0
    finally:
        ej.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for slug in created:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema_of(slug)}" CASCADE')
                conn.execute("DELETE FROM ejournal.access_tokens WHERE slug = %s", (slug,))
                conn.execute("DELETE FROM ejournal.institutions WHERE slug = %s", (slug,))


def plain_school(ej: Ejournal, cls: type[InstitutionStore], title: str,
                 signer: ledger.Signer | None = None
                 ) -> tuple[Journal, Actor, list[tuple[date, int]], object]:
    slug = "bench_" + uuid.uuid4().hex[:8]
    created.append(slug)
    ej.backend.directory.add_institution(
        InstitutionEntry(slug, Institution.create_id(slug), title))
    chain = ChainWriter(chain_id_of(Institution.create_id(slug)), signer or ej.signer)
    plain = Journal(cls(ej.backend, slug, chain, lambda: CLOCK))
    plain.setup.register_institution(title, "Europe/Moscow")
    return setup_school(ej, plain)


def run(ej: Ejournal) -> int:
    rounds, n_single, n_lessons = 5, 1000, 80
    log(f"ejournal benchmark on {PG_URL} ({os.cpu_count()} cores), Python {sys.version.split()[0]}")
    log(f"Sections 1–3 run in {rounds} alternating rounds (each variant and each raw baseline"
        " once per round);\nfigures are the medians of the rounds.")

    variants = {
        "ledger": setup_school(ej),
        "eventsourcing's own recorder": plain_school(ej, PlainJournal, "Без журнала"),
        "our append path, ledger step removed": plain_school(ej, SamePathJournal,
                                                             "Без журнала 2"),
        "the ledger with OpenSSL signatures (cryptography), no chain guard": plain_school(
            ej, GuardlessJournal, "Журнал OpenSSL", ledger.Signer(PRIVATE)),
        "the ledger without signatures, no chain guard (the floor of fewer signatures)":
            plain_school(ej, GuardlessJournal, "Журнал без подписей",
                         UnsignedSigner(PRIVATE)),
    }
    for j_, t_, slots_, a_ in variants.values():  # warm-up: caches, prepared statements
        single_marks(j_, t_, a_, slots_, 2 * STUDENTS)
    j, teacher, slots, assignment = variants["ledger"]
    size = mark_state_size(j)
    single_rates: dict[str, list[float]] = {k: [] for k in variants}
    batch_rates: dict[str, list[float]] = {k: [] for k in variants}
    raw: dict[str, list[float]] = {k: [] for k in ("single", "locked", "piped", "batched")}
    lat_early: list[float] = []
    for _ in range(rounds):
        for name, (j_, t_, slots_, a_) in variants.items():
            r, lat = single_marks(j_, t_, a_, slots_, n_single // rounds)
            single_rates[name].append(r)
            if name == "ledger":
                lat_early += lat
            batch_rates[name].append(batches(j_, t_, a_, slots_, n_lessons // rounds))
        raw["single"].append(raw_inserts(size, 400, 1, lock=False))
        raw["locked"].append(raw_inserts(size, 400, 1, lock=True))
        raw["piped"].append(raw_inserts(size, 400, 1, lock=True, pipelined=True))
        raw["batched"].append(raw_inserts(size, 40 * STUDENTS, STUDENTS, lock=True))
    med = statistics.median
    single, batch = med(single_rates["ledger"]), med(batch_rates["ledger"])
    raw_single, raw_locked = med(raw["single"]), med(raw["locked"])
    raw_piped, raw_batched = med(raw["piped"]), med(raw["batched"])

    log("\n1. Marks through the application layer (ledger on)")
    log(f"   single-mark commands: {single:8.0f} marks/s  "
        f"(p50 {med(lat_early) * 1e3:.2f} ms; rounds {_spread(single_rates['ledger'])})")
    log(f"   whole-lesson batches: {batch:8.0f} marks/s  ({STUDENTS} marks per lesson; "
        f"rounds {_spread(batch_rates['ledger'])})")

    log(f"\n2. Raw psycopg inserts of rows of the same size ({size} B state), logged table")
    log(f"   single-row commits:          {raw_single:8.0f} rows/s")
    log(f"   single-row commits + lock:   {raw_locked:8.0f} rows/s")
    log(f"   the same, pipelined:         {raw_piped:8.0f} rows/s")
    log(f"   batched ({STUDENTS} rows) + lock:     {raw_batched:8.0f} rows/s")
    log(f"   ratio single-mark / raw single-row+lock: {single / raw_locked:.2f}x "
        f"(/ raw without lock: {single / raw_single:.2f}x, / pipelined: "
        f"{single / raw_piped:.2f}x)")
    log(f"   ratio batches / raw batched:              {batch / raw_batched:.2f}x")

    log("\n3. The same commands without the ledger (ledger overhead: how much faster they are)")
    names = list(variants)
    for title in names[1:3]:
        p_single, p_batch = med(single_rates[title]), med(batch_rates[title])
        log(f"   {title}:")
        log(f"     single-mark commands: {p_single:8.0f} marks/s -> ledger overhead "
            f"{(p_single / single - 1) * 100:+.1f}%")
        log(f"     whole-lesson batches: {p_batch:8.0f} marks/s -> ledger overhead "
            f"{(p_batch / batch - 1) * 100:+.1f}%")
    base_single, base_batch = med(single_rates[names[2]]), med(batch_rates[names[2]])
    log(f"   the ledger's parts, each against \"{names[2]}\" (ADR 0017):")
    for title in names[3:]:
        p_single, p_batch = med(single_rates[title]), med(batch_rates[title])
        log(f"   {title}:")
        log(f"     single-mark commands: {p_single:8.0f} marks/s -> overhead "
            f"{(base_single / p_single - 1) * 100:+.1f}%")
        log(f"     whole-lesson batches: {p_batch:8.0f} marks/s -> overhead "
            f"{(base_batch / p_batch - 1) * 100:+.1f}%")
    ledger_parts.run(PG_URL, log, UnsignedSigner(PRIVATE), PRIVATE)
    sign_openssl, sign_sodium = raw_signing(2000)
    log(f"   raw Ed25519 signing of one entry hash: cryptography (OpenSSL) "
        f"{sign_openssl:6.0f}/s, libsodium (PyNaCl, what the service signs with) "
        f"{sign_sodium:6.0f}/s = {sign_sodium / sign_openssl:.2f}x")
    for j_, *_ in list(variants.values())[1:]:
        j_.close()

    _, count_early, peak_early = verify_rate(ej, j.slug)

    log("\n4. Latency as the year accumulates (same institution)")
    year_lessons = 1200
    start = time.perf_counter()
    students = students_of(j, assignment)
    for i in range(year_lessons):
        d, num = slots.pop(0)
        j.lessons.submit_lesson(teacher, assignment, d, num, "Тема", None, "ordinary", [],  # type: ignore[arg-type]
                        [MarkEntry(students[i % STUDENTS], MarkValue.FOUR)] * 3)
        if (i + 1) % 400 == 0:
            log(f"   … {i + 1}/{year_lessons} lessons added ({time.perf_counter() - start:.0f} s)")
    _, lat_late = single_marks(j, teacher, assignment, slots, 500)
    log(f"   mark command p50: {statistics.median(lat_early)*1e3:.2f} ms at start, "
        f"{statistics.median(lat_late)*1e3:.2f} ms after {year_lessons} more lessons "
        f"(p95 {sorted(lat_early)[int(len(lat_early)*.95)]*1e3:.2f} -> "
        f"{sorted(lat_late)[int(len(lat_late)*.95)]*1e3:.2f} ms)")

    log("\n5. Ledger verify (re-hash, re-link, Ed25519 verify every entry)")
    v_rate, count, peak = verify_rate(ej, j.slug)
    crypto = raw_crypto(20000)
    log(f"   verify: {v_rate:8.0f} entries/s over {count} entries, peak Python memory "
        f"{peak / 1024:.0f} KiB")
    log(f"   raw crypto (2×SHA-256 + Ed25519 verify): {crypto:8.0f} ops/s -> "
        f"verify at {v_rate / crypto:.2f}x raw crypto")
    log(f"   peak memory: {peak_early / 1024:.0f} KiB at {count_early} entries vs "
        f"{peak / 1024:.0f} KiB at {count} entries (rows stream 2000 at a time)")

    log("\n6. Two writer threads in one process (CPU-bound under the GIL; lock independence"
        "\n   between institutions is shown by tests/application/test_ledger.py)")
    a, b = setup_school(ej), setup_school(ej)
    per = 300
    a_lessons = conduct(a[0], a[1], a[3], a[2], 2 * per // STUDENTS + 2)
    b_lessons = conduct(b[0], b[1], b[3], b[2], per // STUDENTS + 1)
    a_students, b_students = students_of(a[0], a[3]), students_of(b[0], b[3])
    half = len(a_lessons) // 2

    def writer(ctx, lessons, students):  # type: ignore[no-untyped-def]
        return lambda: mark_loop(ctx[0], ctx[1], lessons, students, per)

    one = parallel([writer(a, a_lessons[:half], a_students),
                    writer(a, a_lessons[half:], a_students)])
    two = parallel([writer(a, a_lessons[:half], a_students),
                    writer(b, b_lessons, b_students)])
    log(f"   2×{per} marks, one institution: {rate(2 * per, one):6.0f} marks/s; "
        f"two institutions: {rate(2 * per, two):6.0f} marks/s")

    log(f"\n7. HTTP: `ejournal serve --workers {os.cpu_count()}` and {http.CLIENTS} concurrent "
        "clients (one process) recording single marks")
    h_j, h_teacher, h_slots, h_assignment = setup_school(ej)
    per_client = 150
    h_lessons = conduct(h_j, h_teacher, h_assignment, h_slots,
                        http.CLIENTS * (-(-per_client // STUDENTS) + 1))
    token = ej.issue_token(h_j.slug, h_teacher.person_id, "staff")
    figures = http.http_throughput(PG_URL, ej.settings.key_dir, token, h_lessons,
                                   students_of(h_j, h_assignment), per_client)
    log(f"   {figures['marks']} marks: {figures['rate']:8.0f} marks/s, p50 "
        f"{figures['p50'] * 1e3:.1f} ms, p99 {figures['p99'] * 1e3:.1f} ms, "
        f"errors {figures['errors']} {figures['first_error']}")
    log(f"   ratio HTTP / application layer (section 1, one thread): "
        f"{figures['rate'] / single:.2f}x (aim ≥ 0.7x, p99 ≤ 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
