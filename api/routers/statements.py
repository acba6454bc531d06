"""Statements (сводные ведомости) as JSON, CSV or PDF/A: `?format=json|csv|pdf`."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import Session
from api.documents import Statement, render
from api.schemas import Day

router = APIRouter(tags=["statements"], prefix="/statements")
Format = Annotated[Literal["json", "csv", "pdf"], Query(description="json, csv или pdf")]
DOCUMENT = {200: {"description": "Ведомость", "content": {
    "application/json": {}, "text/csv": {}, "application/pdf": {}}}}


async def _document(statement: Statement, fmt: str, name: str) -> Response:
    body, media_type = await run_in_threadpool(render, statement, fmt)
    headers = {} if fmt == "json" else {
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/progress", responses=DOCUMENT, response_class=Response)
async def progress(session: Session, group_id: UUID,
                   period: Annotated[str, Query(max_length=10,
                                                description="номер периода или year")],
                   format: Format = "json") -> Response:
    """Сводная ведомость учёта успеваемости группы за период или год."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.progress, actor, group_id, period)
    return await _document(statement, format, f"progress-{period}")


@router.get("/attendance", responses=DOCUMENT, response_class=Response)
async def attendance(session: Session, group_id: UUID,
                     first: Annotated[Day, Query(alias="from")],
                     last: Annotated[Day, Query(alias="to")],
                     format: Format = "json") -> Response:
    """Сводная ведомость учёта посещаемости группы за даты."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.attendance, actor, group_id,
                                        first, last)
    return await _document(statement, format, "attendance")


@router.get("/movement", responses=DOCUMENT, response_class=Response)
async def movement(session: Session, first: Annotated[Day, Query(alias="from")],
                   last: Annotated[Day, Query(alias="to")],
                   format: Format = "json") -> Response:
    """Сводная ведомость учёта движения обучающихся за даты."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.movement, actor, first, last)
    return await _document(statement, format, "movement")
