"""The FastAPI application: routers under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.limits import BodyGuard
from api.routers import audit, governance, lessons, orders, reads, setup, statements
from application.integrity import IntegrityAlarm
from application.journal import Journal
from application.readmodels import ProjectionRunner
from application.service import Ejournal

log = logging.getLogger("ejournal.serve")


class Projections:
    """The projection runners of a serving process: one per institution, started with
    the first request for it (an institution nobody uses costs nothing), stopped with
    the app."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.runners: dict[str, ProjectionRunner] = {}
        self._lock = threading.Lock()

    def ensure(self, journal: Journal) -> None:
        if not self.enabled or journal.slug in self.runners:
            return
        with self._lock:
            if journal.slug not in self.runners:
                runner = ProjectionRunner(journal.read_models)
                runner.start()
                self.runners[journal.slug] = runner

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()


class DailyCheckpoints(threading.Thread):
    """Signs a checkpoint of each institution being served once per local day — at
    start-up, then at the first check after each local midnight (ADR 0011); a failure is
    logged and tried again at the next check. With a timestamp authority configured, then
    asks it for the tokens the checkpoints lack (ADR 0013); while it fails, again every
    `stamp_retry` seconds — the checkpoint is signed and kept meanwhile."""

    def __init__(self, ejournal: Ejournal, runners: Projections, every: float = 60.0,
                 stamp_retry: float = 900.0) -> None:
        super().__init__(name="daily-checkpoints", daemon=True)
        self.ejournal, self.runners, self.every = ejournal, runners, every
        self.signed_on: dict[str, object] = {}
        self.stamp_retry = stamp_retry
        self.stamp_at: dict[str, float] = {}  # slug → when to ask the TSA (monotonic)
        self.alarmed: set[str] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for slug, runner in list(self.runners.runners.items()):
                try:
                    today = runner.models.store.local_date()
                    if self.signed_on.get(slug) != today:
                        self.ejournal.checkpoint(slug)
                        self.signed_on[slug] = today
                        self.stamp_at[slug] = 0.0
                except IntegrityAlarm as alarm:  # logged CRITICAL when raised; once here
                    if slug not in self.alarmed:
                        self.alarmed.add(slug)
                        log.error("daily checkpoint of %s: not signed: %s", slug, alarm)
                except Exception:
                    log.exception("daily checkpoint of %s failed", slug)
                self._timestamp(slug)
            self._stop_event.wait(self.every)

    def _timestamp(self, slug: str) -> None:
        if not self.ejournal.settings.tsa_url or time.monotonic() < self.stamp_at.get(
                slug, float("inf")):
            return
        try:
            outcome = self.ejournal.timestamp(slug)
        except Exception:
            log.exception("timestamping the checkpoints of %s failed", slug)
            outcome = None
        if outcome is not None and not outcome.missing:
            del self.stamp_at[slug]
            return
        if outcome is not None:
            log.warning("%s: %d checkpoints without a timestamp (%s); asking again in %.0f s",
                        slug, len(outcome.missing), outcome.error, self.stamp_retry)
        self.stamp_at[slug] = time.monotonic() + self.stamp_retry

    def stop(self) -> None:
        self._stop_event.set()


def create_app(ejournal: Ejournal, *, projections: bool = False) -> FastAPI:
    """`projections=True` (ejournal serve): projection runners keep the read models of
    the institutions being served up to date while the app runs (ADR 0010)."""
    runners = Projections(projections)
    checkpoints = DailyCheckpoints(ejournal, runners)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if projections and ejournal.signer is not None:
            checkpoints.start()
        yield
        checkpoints.stop()
        runners.stop()

    app = FastAPI(
        title="ejournal",
        description="Электронный журнал: каждое действие — подписанное событие в "
                    "хеш-цепочке организации.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ejournal = ejournal
    app.state.projections = runners
    problems.install(app)
    # Bodies: authenticated before they are read, and capped (api/limits.py).
    app.add_middleware(BodyGuard)
    for router in (setup.router, orders.router, lessons.router, reads.router,
                   governance.router, statements.router, audit.router):
        app.include_router(router, prefix="/api/v1", responses=problems.RESPONSES)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        """Liveness; how many institutions are under the integrity alarm (status
        `integrity_alarm`: they answer 423 until an administrator has looked, ADR 0009);
        the projection runners: how many run, how many stopped on an event they could
        not apply (details: `ejournal projections status`)."""
        active = list(runners.runners.values())
        stopped = sum(1 for r in active if r.models.error is not None)
        alarms = len(ejournal.alarmed())
        status = "integrity_alarm" if alarms else "degraded" if stopped else "ok"
        return {"status": status, "integrity_alarms": alarms,
                "projections": {"running": sum(1 for r in active if r.is_alive()),
                                "stopped": stopped}}

    return app


def from_environment() -> FastAPI:
    """The app of one worker process, its deployment opened from EJOURNAL_* settings
    (`ejournal serve --workers N`)."""
    from application.config import get_settings

    return create_app(Ejournal(get_settings()), projections=True)
