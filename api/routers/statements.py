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


Period = Annotated[str, Query(max_length=10, description="номер периода или year")]
PeriodNumber = Annotated[str, Query(max_length=10, description="номер периода")]


@router.get("/group-results", responses=DOCUMENT, response_class=Response)
async def group_results(session: Session, group_id: UUID, period: Period,
                        format: Format = "json") -> Response:
    """Итоги успеваемости группы за период: обучающиеся по категориям."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.group_results, actor, group_id,
                                        period)
    return await _document(statement, format, f"group-results-{period}")


@router.get("/curator-preliminary", responses=DOCUMENT, response_class=Response)
async def curator_preliminary(session: Session, group_id: UUID, period: PeriodNumber,
                              format: Format = "json") -> Response:
    """Предварительный отчёт куратора: текущие средние баллы и пропуски до конца периода."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.curator_preliminary, actor,
                                        group_id, period)
    return await _document(statement, format, f"curator-preliminary-{period}")


@router.get("/attendance-by-month", responses=DOCUMENT, response_class=Response)
async def attendance_by_month(session: Session, group_id: UUID,
                              first: Annotated[Day, Query(alias="from")],
                              last: Annotated[Day, Query(alias="to")],
                              format: Format = "json") -> Response:
    """Отчёт о посещаемости группы по месяцам."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.attendance_by_month, actor,
                                        group_id, first, last)
    return await _document(statement, format, "attendance-by-month")


@router.get("/debts", responses=DOCUMENT, response_class=Response)
async def debts(session: Session, group_id: UUID | None = None,
                student_id: UUID | None = None, format: Format = "json") -> Response:
    """Академическая задолженность: организации, группы или одного обучающегося."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.debts, actor, group_id,
                                        student_id)
    return await _document(statement, format, "debts")


@router.get("/control", responses=DOCUMENT, response_class=Response)
async def control(session: Session, first: Annotated[Day, Query(alias="from")],
                  last: Annotated[Day, Query(alias="to")],
                  format: Format = "json") -> Response:
    """Контроль ведения журнала: своевременность, наполняемость, темы и задания, часы,
    активность пользователей, заявления на исправление."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.control, actor, first, last)
    return await _document(statement, format, "control")


@router.get("/forecast", responses=DOCUMENT, response_class=Response)
async def forecast(session: Session, period: PeriodNumber, group_id: UUID | None = None,
                   student_id: UUID | None = None, format: Format = "json") -> Response:
    """Прогноз: риск «2» или «н/а» по каждой дисциплине, с причиной; итог по группе."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.forecast, actor, period,
                                        group_id, student_id)
    return await _document(statement, format, f"forecast-{period}")


@router.get("/year-snapshot", responses=DOCUMENT, response_class=Response)
async def year_snapshot(session: Session, year_id: UUID | None = None,
                        format: Format = "json") -> Response:
    """Итоговое состояние всех страниц журнала учебного года (по умолчанию последнего)."""
    actor, journal = session
    statement = await run_in_threadpool(journal.statements.year_snapshot, actor, year_id)
    return await _document(statement, format, "year-snapshot")
