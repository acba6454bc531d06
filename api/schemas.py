"""Request bodies. Enumerations and bounds are checked here (422 before any write);
the domain checks its own rules again."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.values import (
    AbsenceReasonKind,
    AttendanceStatus,
    DisciplineKind,
    MarkValue,
    OrderRef,
    PeriodKind,
    Role,
    WorkKind,
)

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=300)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Order(Body):
    number: Annotated[str, Field(min_length=1, max_length=50)]
    date: date

    def ref(self) -> OrderRef:
        return OrderRef(self.number, self.date)


class PeriodIn(Body):
    kind: PeriodKind
    title: Annotated[str, Field(min_length=1, max_length=100)]
    starts: date
    ends: date


class AcademicYearIn(Body):
    title: Annotated[str, Field(min_length=1, max_length=20)]
    starts: date
    ends: date
    periods: Annotated[list[PeriodIn], Field(min_length=1, max_length=20)]


class DisciplineIn(Body):
    name: Name
    kind: DisciplineKind = DisciplineKind.SUBJECT
    planned_hours: Annotated[int, Field(ge=0, le=10000)] = 0


class StaffIn(Body):
    full_name: Name
    roles: Annotated[list[Role], Field(min_length=1, max_length=4)]


class StudentIn(Body):
    full_name: Name
    birth_date: date | None = None


class GuardianIn(Body):
    full_name: Name
    student_ids: Annotated[list[UUID], Field(max_length=20)] = []
    document: Text


class GuardianLinkIn(Body):
    student_id: UUID
    document: Text


class GroupIn(Body):
    year_id: UUID
    name: Annotated[str, Field(min_length=1, max_length=50)]
    curator_id: UUID | None = None


class CuratorIn(Body):
    curator_id: UUID
    order: Order


class SubgroupIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=50)]


class AssignmentIn(Body):
    teacher_id: UUID
    group_id: UUID
    subgroup_id: UUID | None = None
    discipline_id: UUID
    starts: date


class SubstituteIn(Body):
    substitute_id: UUID
    date: date


class EnrolmentIn(Body):
    student_id: UUID
    group_id: UUID
    order: Order
    effective: date


class TransferIn(Body):
    student_id: UUID
    to_group_id: UUID
    order: Order
    effective: date


class DepartureIn(Body):
    student_id: UUID
    order: Order
    effective: date


class ReturnIn(Body):
    student_id: UUID
    group_id: UUID
    order: Order
    effective: date


class SubgroupMoveIn(Body):
    student_id: UUID
    order: Order
    effective: date


class LessonIn(Body):
    assignment_id: UUID
    date: date
    number: Annotated[int, Field(ge=1, le=12)]
    topic: Annotated[str, Field(min_length=1, max_length=500)]
    homework: Annotated[str | None, Field(max_length=2000)] = None
    work_kind: WorkKind = WorkKind.ORDINARY


class LessonDetailsIn(Body):
    topic: Annotated[str | None, Field(min_length=1, max_length=500)] = None
    homework: Annotated[str | None, Field(max_length=2000)] = None
    work_kind: WorkKind | None = None


class MarkIn(Body):
    student_id: UUID
    value: MarkValue


class MarkChangeIn(Body):
    value: MarkValue
    previous_value: MarkValue | None = Field(
        None, description="Значение, которое видел пользователь; если отметку уже изменили, 409.")


class MarkCancelIn(Body):
    previous_value: MarkValue | None = None


class AttendanceIn(Body):
    student_id: UUID
    status: AttendanceStatus
    minutes: Annotated[int | None, Field(ge=1, le=90)] = None


class AbsenceReasonIn(Body):
    student_id: UUID
    kind: AbsenceReasonKind
    document: Annotated[str | None, Field(max_length=500)] = None


class LessonSheetIn(LessonIn):
    attendance: Annotated[list[AttendanceIn], Field(max_length=60)] = []
    marks: Annotated[list[MarkIn], Field(max_length=200)] = []


class Created(BaseModel):
    id: UUID


class SheetCreated(BaseModel):
    lesson_id: UUID
    mark_ids: list[UUID]


class Me(BaseModel):
    person_id: UUID
    institution: str
    kind: str
    roles: list[str]
    full_name: str
    assignment_ids: list[UUID] = []
    children: list[UUID] = []


class WindowIn(Body):
    rule: str
    days: Annotated[int, Field(ge=0, le=60)] = 0


class PolicyDraftIn(Body):
    preset: str | None = Field(None, description="шаблон положения (GET /policy → presets)")
    windows: dict[str, WindowIn] | None = None
    weights: dict[WorkKind, Annotated[int, Field(ge=1, le=10)]] | None = None
    rounding: str = "half_up"
    marks_enabled: bool | None = None


class PolicyIn(PolicyDraftIn):
    order: Order


class OrderIn(Body):
    order: Order


class DelegationIn(Body):
    deputy_id: UUID
    order: Order


class ClosureIn(Body):
    year_id: UUID
    period_number: Annotated[int, Field(ge=0, le=20,
                                        description="0 — годовые, аттестация, экзамен")]
    group_id: UUID | None = None


class ReopeningIn(ClosureIn):
    order: Order
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class PeriodMarkIn(Body):
    group_id: UUID
    discipline_id: UUID
    period: Annotated[str, Field(min_length=1, max_length=20)]
    student_id: UUID
    value: MarkValue
    held_on: date | None = None


class CorrectionIn(Body):
    target: Literal["mark", "period_mark", "absence_reason"]
    record_id: UUID = Field(description="занятие (mark, absence_reason) или ведомость "
                                        "итоговых отметок (period_mark)")
    item_id: UUID = Field(description="отметка (mark) или обучающийся")
    proposed_value: Annotated[str | None, Field(max_length=30)] = Field(
        None, description="отметка («5», «н/а»…; пусто — отменить отметку) или причина "
                          "пропуска (illness, guardian_application, order, unexcused)")
    proposed_document: Annotated[str | None, Field(max_length=500)] = None
    number: Annotated[str, Field(min_length=1, max_length=50)]
    date: date
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    document: Annotated[str, Field(min_length=1, max_length=500)]


class DecisionIn(Body):
    approve: bool
    resolution: Annotated[str, Field(min_length=1, max_length=2000)]
