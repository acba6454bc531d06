"""The FastAPI application: routers under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.limits import BodyGuard
from api.routers import governance, lessons, orders, reads, setup, statements
from application.readmodels import ProjectionRunner
from application.service import Ejournal


def create_app(ejournal: Ejournal, *, projections: bool = False) -> FastAPI:
    """`projections=True` (ejournal serve): a projection runner per institution keeps
    the read models up to date while the app runs (ADR 0010)."""
    runners: list[ProjectionRunner] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if projections:
            for entry in ejournal.institutions():
                runner = ProjectionRunner(ejournal.journal(entry.slug).read_models)
                runner.start()
                runners.append(runner)
        yield
        for runner in runners:
            runner.stop()

    app = FastAPI(
        title="ejournal",
        description="Электронный журнал: каждое действие — подписанное событие в "
                    "хеш-цепочке организации.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ejournal = ejournal
    problems.install(app)
    # Bodies: authenticated before they are read, and capped (api/limits.py).
    app.add_middleware(BodyGuard)
    for router in (setup.router, orders.router, lessons.router, reads.router,
                   governance.router, statements.router):
        app.include_router(router, prefix="/api/v1", responses=problems.RESPONSES)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        """Liveness and the projection runners: how many run, how many stopped on an
        event they could not apply (details: `ejournal projections status`)."""
        stopped = sum(1 for r in runners if r.models.error is not None)
        return {"status": "degraded" if stopped else "ok",
                "projections": {"running": sum(1 for r in runners if r.is_alive()),
                                "stopped": stopped}}

    return app


def from_environment() -> FastAPI:
    """The app of one worker process, its deployment opened from EJOURNAL_* settings
    (`ejournal serve --workers N`)."""
    from application.config import get_settings

    return create_app(Ejournal(get_settings()), projections=True)
