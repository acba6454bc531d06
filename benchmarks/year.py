"""`make bench`, the full-year institution: `ejournal demo --size year` loaded through the
use cases on one database, measured as the year grows and once it is complete.

- mark-command latency (p50/p95) in the first week, at mid-year and in the last week;
- read-model rebuild: events/s beside a raw SELECT of the same event rows in the same
  run, and the rebuild's peak Python memory at mid-year and at the end;
- projection lag under write load: from a command's commit to its event visible in the
  read models, with a projection runner polling as in `ejournal serve`;
- statement latency p50/p99: a group's progress, attendance (JSON and PDF), the
  institution's movement statement (JSON), and an institution-wide statement's peak
  memory at mid-year and at the end;
- the year-end archive package at mid-year and at the end: MiB/s and entries/s written,
  peak memory, and ejournal-verify's rate on it."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from api.demo_year import SimulatedClock, YearLoader, load_year
from api.documents import render
from application.actors import Actor
from application.archive import ArchiveExport
from application.archive_open import open_packages
from application.config import Settings
from application.readmodels import ProjectionRunner
from application.service import Ejournal
from domain.values import MarkValue, Role
from ledger.archive import verify_archive


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def timed(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def peak_memory(call: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Probe:
    """Measures the year as the loader builds it."""

    def __init__(self, marks: int = 150) -> None:
        self.marks = marks
        self.latency: dict[str, list[float]] = {}
        self.rebuild_peak: dict[str, int] = {}
        self.statement_peak: dict[str, int] = {}
        self.export: dict[str, str] = {}
        self.days = 0

    def __call__(self, loader: YearLoader, index: int, day: date) -> None:
        moment = {4: "first week", self.days // 2: "mid-year",
                  self.days - 1: "last week"}.get(index)
        if moment is None or not loader.today:
            return
        j = loader.j
        lat = []
        for i in range(self.marks):
            lesson, teacher, present = loader.today[i % len(loader.today)]
            if not present:
                continue
            t0 = time.perf_counter()
            j.lessons.record_mark(teacher, lesson, present[(i // len(loader.today))
                                                          % len(present)], MarkValue.FOUR)
            lat.append(time.perf_counter() - t0)
        self.latency[moment] = lat
        if moment != "first week":
            _, self.rebuild_peak[moment] = peak_memory(j.read_models.rebuild)
            _, self.statement_peak[moment] = peak_memory(
                lambda: j.statements.movement(loader.director, loader.plan.starts, day))
            self.export[moment] = archive_export(loader.ej, loader.slug, year_title(loader.plan))


def raw_verify_rate(n: int = 5000) -> float:
    """Ed25519 verifications per second on one core with cryptography, in this run."""
    key = Ed25519PrivateKey.generate()
    public, message = key.public_key(), b"x" * 61
    signature = key.sign(message)
    t0 = time.perf_counter()
    for _ in range(n):
        public.verify(signature, message)
    return n / (time.perf_counter() - t0)


def verify_figures(ej: Ejournal, slug: str, keys: Path, events: int) -> None:
    """`ejournal ledger verify` on the whole year: one process, one process per core,
    links only (authenticated by the signed checkpoint), beside raw Ed25519 and a raw
    read of the same rows."""
    cores = os.cpu_count() or 1
    ring = ledger.KeyRing.from_directory(keys)
    ej.checkpoint(slug)
    reader = ej.backend.chain_reader(slug)
    t0 = time.perf_counter()
    rows = sum(1 for _ in reader.entries())
    read = rows / (time.perf_counter() - t0)
    raw = raw_verify_rate()
    figures = {}
    for label, call in (
            ("one process", lambda: ej.verify(slug, ring)),
            ("workers", lambda: ej.verify(slug, ring, workers=cores)),
            ("links, one process", lambda: ej.verify_links(slug, ring)[0]),
            ("links, workers", lambda: ej.verify_links(slug, ring, workers=cores)[0])):
        t0 = time.perf_counter()
        report = call()
        assert report.ok, report.failure
        figures[label] = rows / (time.perf_counter() - t0)
    log(f"   verify {rows} entries (every signature, link, stored hash and Merkle node): "
        f"one process {figures['one process']:.0f}/s; {cores} workers reading their own "
        f"segments {figures['workers']:.0f}/s = {figures['workers'] / (cores * raw):.2f}x "
        f"({cores} cores x raw Ed25519 verify {raw:.0f}/s; aim >= 0.9x)")
    log(f"   links only: one process {figures['links, one process']:.0f}/s, {cores} workers "
        f"{figures['links, workers']:.0f}/s (aim >= 200k/s; one process's raw read of the "
        f"rows {read:.0f}/s)")


def year_title(plan: Any) -> str:
    return f"{plan.starts.year}/{plan.ends.year}"


def archive_export(ej: Ejournal, slug: str, title: str) -> str:
    """Exports the year's archive package twice (timed; then under tracemalloc for the
    peak) and verifies it: the figures as one line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "year.zip"
        t0 = time.perf_counter()
        report = ArchiveExport(ej, render).export_year(slug, title, out)
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
        entries_bytes = zipfile.ZipFile(out).getinfo(
            next(n for n in zipfile.ZipFile(out).namelist() if n.endswith("entries.jsonl"))
        ).file_size
        _, peak = peak_memory(lambda: ArchiveExport(ej, render).export_year(slug, title, out))
        t0 = time.perf_counter()
        verified = verify_archive(out)
        verify_seconds = time.perf_counter() - t0
        ring = ledger.KeyRing.from_directory(ej.settings.key_dir)
        t0 = time.perf_counter()
        open_packages([out], ring, Path(tmp) / "opened")
        open_seconds = time.perf_counter() - t0
        _, open_peak = peak_memory(lambda: open_packages([out], ring, Path(tmp) / "again"))
    n = report.last - report.first + 1
    return (f"{n} entries, {report.statements} statement files, {size / 2**20:.1f} MiB zip "
            f"({entries_bytes / 2**20:.0f} MiB of entries) in {seconds:.1f} s = "
            f"{size / 2**20 / seconds:.2f} MiB/s written, {n / seconds:.0f} entries/s; "
            f"peak Python memory {peak / 2**20:.1f} MiB; verify "
            f"{'OK' if verified.ok else 'FAILED'} in {verify_seconds:.1f} s "
            f"({n / verify_seconds:.0f} entries/s); archive open (verify, load, guard, "
            f"read models) {open_seconds:.1f} s = {report.last / open_seconds:.0f} entries/s, "
            f"peak Python memory {open_peak / 2**20:.1f} MiB")


def run_year(url: str, label: str, slug: str, groups: int = 30) -> None:
    keys = Path(tempfile.mkdtemp()) / "keys"
    ledger.generate_key(keys)
    clock = SimulatedClock()
    ej = Ejournal(Settings(database_url=url, key_dir=keys), clock, owner=True)
    probe = Probe()
    from api.demo_year import YearPlan

    probe.days = len(list(YearPlan.last_complete(date.today()).school_days()))
    log(f"\n8. The full-year institution on {label}: {groups} groups of 25, loaded day by day")
    started = time.perf_counter()
    _, counts = load_year(ej, clock, slug, 139, groups=groups, show=False, probe=probe)
    load_seconds = time.perf_counter() - started
    j = ej.journal(slug)
    events = j.store.recorder.max_notification_id() or 0
    log(f"   loaded {events} events in {load_seconds:.0f} s ({events / load_seconds:.0f}"
        f" events/s through the use cases): " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    verify_figures(ej, slug, keys, events)
    log("   archive export (ejournal archive export: statements PDF/A + CSV, entries, "
        "checkpoint), then ejournal-verify:")
    probe.export["end"] = archive_export(ej, slug, year_title(YearPlan.last_complete(date.today())))
    for moment, line in probe.export.items():
        log(f"     {moment:10}: {line}")
    log("   mark command latency as the year grows (same institution):")
    for moment, lat in probe.latency.items():
        log(f"     {moment:10}: p50 {ms(statistics.median(lat))}, p95 {ms(pct(lat, .95))}"
            f" ({len(lat)} marks)")
    first, last = probe.latency.get("first week"), probe.latency.get("last week")
    if first and last:
        log(f"     last week / first week p50: "
            f"{statistics.median(last) / statistics.median(first):.2f}x (aim ≤ 1.2x)")

    models = j.read_models
    t0 = time.perf_counter()
    rows = j.store.recorder.select_notifications(1, events + 1)
    raw = len(rows) / (time.perf_counter() - t0)
    del rows
    _, peak = peak_memory(models.rebuild)
    t0 = time.perf_counter()
    applied = models.rebuild()
    rebuild_rate = applied / (time.perf_counter() - t0)
    log(f"   rebuild: {rebuild_rate:.0f} events/s; raw SELECT of the same rows "
        f"{raw:.0f} rows/s -> {rebuild_rate / raw:.2f}x (aim ≥ 0.3x)")
    log(f"   rebuild peak Python memory: mid-year "
        f"{probe.rebuild_peak.get('mid-year', 0) // 1024} KiB, end {peak // 1024} KiB")

    director = Actor(slug, _director(j), "staff", frozenset({Role.DIRECTOR}))
    group = UUID(models.query("SELECT group_id FROM {groups} ORDER BY name LIMIT 1")[0]
                 ["group_id"])
    plan = YearPlan.last_complete(date.today())
    cases = {
        "group progress (JSON)": lambda: render(
            j.statements.progress(director, group, "1"), "json"),
        "group progress (PDF)": lambda: render(
            j.statements.progress(director, group, "1"), "pdf"),
        "group attendance (JSON)": lambda: render(
            j.statements.attendance(director, group, plan.starts, plan.ends), "json"),
        "group attendance (PDF)": lambda: render(
            j.statements.attendance(director, group, plan.starts, plan.ends), "pdf"),
        "institution movement (JSON)": lambda: render(
            j.statements.movement(director, plan.starts, plan.ends), "json"),
    }
    log("   statements (read models current), p50 / p99 over 20 runs:")
    for name, call in cases.items():
        lat = timed(call, 20 if "PDF" not in name else 5)
        log(f"     {name:28}: p50 {ms(statistics.median(lat))}, p99 {ms(pct(lat, .99))}")
    _, end_peak = peak_memory(lambda: j.statements.movement(director, plan.starts,
                                                             plan.ends))
    log(f"   institution-wide statement peak Python memory: mid-year "
        f"{probe.statement_peak.get('mid-year', 0) // 1024} KiB, end {end_peak // 1024} KiB")

    # Projection lag under write load: a runner polls as in `ejournal serve`.
    runner = ProjectionRunner(models)
    runner.start()
    lags = []
    try:
        lessons = models.query("SELECT lesson_id, teacher_id, group_id FROM {lessons}"
                               " ORDER BY day DESC LIMIT 40")
        for row in lessons:
            present = models.query("SELECT student_id FROM {roster} WHERE group_id = ? AND"
                                   " ends IS NULL LIMIT 1", [row["group_id"]])
            if not present:
                continue
            teacher = Actor(slug, UUID(row["teacher_id"]), "staff", frozenset({Role.TEACHER}))
            try:
                j.lessons.record_mark(teacher, UUID(row["lesson_id"]),
                                      UUID(present[0]["student_id"]), MarkValue.FIVE)
            except Exception:
                continue
            committed = time.perf_counter()
            target = j.store.chain.guard.notification_id
            while models.position() < target:
                time.sleep(0.002)
            lags.append(time.perf_counter() - committed)
    finally:
        runner.stop()
    if lags:
        log("   projection lag (commit -> read model; the runner is woken by its process's"
            f" commits): p50 {ms(statistics.median(lags))}, p99 {ms(pct(lags, .99))}"
            f" ({len(lags)} marks)")
    ej.close()


def _director(j: Any) -> UUID:
    rows = j.read_models.query("SELECT staff_id FROM {staff} WHERE roles = 'director'")
    return UUID(rows[0]["staff_id"])
