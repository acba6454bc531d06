"""Shapes of the read models (also the API's response schemas)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class MarkCell(BaseModel):
    mark_id: UUID
    value: str


class Cell(BaseModel):
    marks: list[MarkCell] = []
    attendance: str | None = None  # "absent" | "late"
    late_minutes: int | None = None
    absence_reason: str | None = None
    excused: bool | None = None


class LessonColumn(BaseModel):
    lesson_id: UUID
    date: date
    number: int
    topic: str
    homework: str | None
    work_kind: str
    subgroup_id: UUID | None
    teacher_id: UUID
    substitute: bool
    results_on: date | None = None  # control works: when the results were received


class JournalRow(BaseModel):
    student_id: UUID
    full_name: str
    cells: dict[UUID, Cell]  # by lesson id; only lessons the student was on the roster for
    average: Decimal | None


class JournalPage(BaseModel):
    group_id: UUID
    group_name: str
    discipline_id: UUID
    discipline_name: str
    period_number: int
    period_title: str
    starts: date
    ends: date
    lessons: list[LessonColumn]
    rows: list[JournalRow]


class DiaryLesson(BaseModel):
    lesson_id: UUID
    date: date
    number: int
    discipline_id: UUID
    discipline_name: str
    topic: str
    homework: str | None
    marks: list[MarkCell]
    attendance: str | None
    late_minutes: int | None
    absence_reason: str | None


class DiaryPeriodMark(BaseModel):
    discipline_name: str
    period: str  # 1, 2, …, year, attestation, exam
    value: str
    academic_debt: bool


class Diary(BaseModel):
    student_id: UUID
    full_name: str
    first: date
    last: date
    lessons: list[DiaryLesson]
    # The student's period and year marks so far (004 §13.2: visible to the student and
    # the guardians), from the read models.
    period_marks: list[DiaryPeriodMark] = []


class HistoryEntry(BaseModel):
    action: str  # recorded | changed | cancelled
    value: str | None
    actor_id: UUID
    actor_name: str
    capacity: str
    at: datetime
    local_date: date
    basis: dict[str, str] | None = None
    late: bool = False  # entered after the policy's window


class MarkHistory(BaseModel):
    mark_id: UUID
    lesson_id: UUID
    student_id: UUID
    current_value: str
    cancelled: bool
    entries: list[HistoryEntry]


class LessonView(BaseModel):
    column: LessonColumn
    group_id: UUID
    discipline_id: UUID
    roster: list[JournalRow]


class PeriodView(BaseModel):
    number: int
    kind: str
    title: str
    starts: date
    ends: date


class YearView(BaseModel):
    year_id: UUID
    title: str
    starts: date
    ends: date
    periods: list[PeriodView]


class DisciplineView(BaseModel):
    discipline_id: UUID
    name: str
    kind: str
    planned_hours: int


class GroupRef(BaseModel):
    group_id: UUID
    name: str
    year_id: UUID


class InstitutionView(BaseModel):
    slug: str
    name: str
    timezone: str
    today: date
    years: list[YearView]
    disciplines: list[DisciplineView]
    groups: list[GroupRef]


class AssignmentRef(BaseModel):
    assignment_id: UUID
    teacher_id: UUID
    discipline_id: UUID
    subgroup_id: UUID | None


class MemberView(BaseModel):
    student_id: UUID
    full_name: str
    subgroups: list[UUID]


class GroupView(BaseModel):
    group_id: UUID
    name: str
    year_id: UUID
    curator_id: UUID | None
    subgroups: dict[UUID, str]
    assignments: list[AssignmentRef]
    on_date: date
    members: list[MemberView]


class WindowView(BaseModel):
    rule: str
    days: int
    description: str


class PolicyView(BaseModel):
    adopted: bool
    preset: str | None
    order: dict[str, str] | None
    windows: dict[str, WindowView]
    weights: dict[str, int]
    rounding: str
    marks_enabled: bool
    delegates: list[UUID]
    closed: list[dict[str, str | int | None]]
    presets: dict[str, str]
    draft: dict[str, Any] | None = None  # prepared by the administrator, not yet adopted
    rates: dict[str, str] = {}  # зачтено / н/а / освобождён in % успеваемости (issue 9)


class PeriodMarkRow(BaseModel):
    student_id: UUID
    full_name: str
    suggested: str | None
    value: str | None
    academic_debt: bool


class PeriodSheetView(BaseModel):
    group_id: UUID
    discipline_id: UUID
    period: str
    rows: list[PeriodMarkRow]


class CorrectionView(BaseModel):
    application_id: UUID
    number: str
    dated: date
    status: str
    filed_on: date
    due_by: date  # decided by 24:00 of this day (seed 002 §3.2.1)
    overdue: bool  # undecided after due_by
    author_id: UUID
    author_capacity: str
    target: str
    record_id: UUID
    item_id: UUID
    student_id: UUID
    current_value: str | None
    proposed_value: str | None
    reason: str
    document: str
    decided_by: UUID | None
    resolution: str | None
