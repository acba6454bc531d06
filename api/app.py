"""The FastAPI application: routers under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI

from api import problems
from api.limits import BodyGuard
from api.routers import governance, lessons, orders, reads, setup
from application.service import Ejournal


def create_app(ejournal: Ejournal) -> FastAPI:
    app = FastAPI(
        title="ejournal",
        description="Электронный журнал: каждое действие — подписанное событие в "
                    "хеш-цепочке организации.",
        version="0.1.0",
    )
    app.state.ejournal = ejournal
    problems.install(app)
    # Bodies: authenticated before they are read, and capped (api/limits.py).
    app.add_middleware(BodyGuard)
    for router in (setup.router, orders.router, lessons.router, reads.router,
                   governance.router):
        app.include_router(router, prefix="/api/v1", responses=problems.RESPONSES)
    return app


def from_environment() -> FastAPI:
    """The app of one worker process, its deployment opened from EJOURNAL_* settings
    (`ejournal serve --workers N`)."""
    from application.config import get_settings

    return create_app(Ejournal(get_settings()))
