"""Request bodies. Enumerations and bounds are checked here (422 before any write);
the domain checks its own rules again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from domain.errors import InvalidValue
from domain.values import (
    EARLIEST_BIRTH_DATE,
    EARLIEST_DATE,
    LATEST_DATE,
    AbsenceReasonKind,
    AttendanceStatus,
    DisciplineKind,
    MarkValue,
    OrderRef,
    PeriodKind,
    Role,
    WorkKind,
    forbidden_character,
    ru_date,
)

# Texts: the characters domain.values refuses (C0 and C1 controls, DEL, bidirectional
# formatting, line and paragraph separators, lone surrogates) are refused here with a 422
# that names the character and its position. A one-line text (names, numbers, titles,
# documents) refuses tab and line breaks too; a multi-line text (homework, reasons,
# resolutions) keeps tab and line feed, and its CR LF and lone CR become LF. The patterns
# document the same classes in the OpenAPI document (tests/api/test_text_and_dates.py
# checks that they agree with domain.values for every code point); lone surrogates are
# refused too, but left out of the patterns: a surrogate range is not a portable regex.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$"
MULTILINE_PATTERN = (r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                     r"\u2028-\u202e\u2066-\u2069]*$")


def _text_check(multiline: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if multiline:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        index = forbidden_character(value, multiline)
        if index is not None:
            raise PydanticCustomError(
                "forbidden_character", "недопустимый символ U+{code} (позиция {position})",
                {"code": f"{ord(value[index]):04X}", "position": index + 1})
        return value
    return check


def _line(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length,
                                json_schema_extra={"pattern": LINE_PATTERN}),
                     AfterValidator(_text_check(multiline=False))]


def _lines(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length,
                                json_schema_extra={"pattern": MULTILINE_PATTERN}),
                     AfterValidator(_text_check(multiline=True))]


Name = _line(300)  # full names, names of disciplines
Text = _line(2000)  # documents cited (заявление, справка…): one line
ShortName = _line(50)  # groups, subgroups, numbers of orders and applications
Title = _line(100)  # periods
YearTitle = _line(20)  # «2026/2027»
Topic = _line(500)
Document = _line(500)  # a document cited for an absence or an application
Key = _line(30)  # machine words: rules, presets, rounding, a period key, a proposed mark
ProposedValue = _line(30, min_length=0)  # a mark or a reason of absence, proposed
MultilineText = _lines(2000)  # homework, reasons, resolutions
OptionalMultilineText = _lines(2000, min_length=0)


# Dates: within EARLIEST_DATE…LATEST_DATE (2000-01-01…2100-12-31), birth dates from
# EARLIEST_BIRTH_DATE (1900-01-01); the domain checks the dates of orders again.
def _date_check(earliest: date, latest: date) -> Callable[[date], date]:
    def check(value: date) -> date:
        if not earliest <= value <= latest:
            raise PydanticCustomError(
                "date_out_of_range", "дата вне диапазона {earliest}–{latest}",
                {"earliest": ru_date(earliest), "latest": ru_date(latest)})
        return value
    return check


Day = Annotated[date, AfterValidator(_date_check(EARLIEST_DATE, LATEST_DATE)),
                Field(description=f"ГГГГ-ММ-ДД, {EARLIEST_DATE}…{LATEST_DATE}")]
BirthDate = Annotated[date, AfterValidator(_date_check(EARLIEST_BIRTH_DATE, LATEST_DATE)),
                      Field(description=f"ГГГГ-ММ-ДД, {EARLIEST_BIRTH_DATE}…{LATEST_DATE}")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Order(Body):
    number: ShortName
    date: Day

    def ref(self) -> OrderRef:
        return OrderRef(self.number, self.date)


class PeriodIn(Body):
    kind: PeriodKind
    title: Title
    starts: Day
    ends: Day


class AcademicYearIn(Body):
    title: YearTitle
    starts: Day
    ends: Day
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
    birth_date: BirthDate | None = None


class GuardianIn(Body):
    full_name: Name
    student_ids: Annotated[list[UUID], Field(max_length=20)] = []
    document: Text


class GuardianLinkIn(Body):
    student_id: UUID
    document: Text


class GroupIn(Body):
    year_id: UUID
    name: ShortName
    curator_id: UUID | None = None


class CuratorIn(Body):
    curator_id: UUID
    order: Order


class SubgroupIn(Body):
    name: ShortName


class AssignmentIn(Body):
    teacher_id: UUID
    group_id: UUID
    subgroup_id: UUID | None = None
    discipline_id: UUID
    starts: Day


LessonNumber = Annotated[int, Field(ge=1, le=12)]


class SubstituteLessonIn(Body):
    date: Day
    number: LessonNumber


class SubstituteIn(Body):
    """The lessons covered: `lessons`, or every day of `date_from`…`date_to` at the lesson
    `numbers` (at most 31 days) — one of the two."""

    substitute_id: UUID
    lessons: Annotated[list[SubstituteLessonIn], Field(min_length=1, max_length=200)] | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    numbers: Annotated[list[LessonNumber], Field(min_length=1, max_length=12)] | None = None


class EnrolmentIn(Body):
    student_id: UUID
    group_id: UUID
    order: Order
    effective: Day


class TransferIn(Body):
    student_id: UUID
    to_group_id: UUID
    order: Order
    effective: Day


class DepartureIn(Body):
    student_id: UUID
    order: Order
    effective: Day


class ReturnIn(Body):
    student_id: UUID
    group_id: UUID
    order: Order
    effective: Day


class SubgroupMoveIn(Body):
    student_id: UUID
    order: Order
    effective: Day


class LessonIn(Body):
    assignment_id: UUID
    date: Day
    number: Annotated[int, Field(ge=1, le=12)]
    topic: Topic
    homework: OptionalMultilineText | None = None
    work_kind: WorkKind = WorkKind.ORDINARY


class LessonDetailsIn(Body):
    topic: Topic | None = None
    homework: OptionalMultilineText | None = None
    work_kind: WorkKind | None = None
    results_on: Day | None = Field(
        None, description="дата получения результатов контрольной работы, зачёта или экзамена "
                          "(до выставления отметок); срок «после получения результатов» "
                          "считается от неё")


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
    document: Document | None = None


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
    rule: Key
    days: Annotated[int, Field(ge=0, le=60)] = 0


class PolicyDraftIn(Body):
    preset: Key | None = Field(None, description="шаблон положения (GET /policy → presets)")
    windows: Annotated[dict[Annotated[str, Field(max_length=30)], WindowIn],
                       Field(max_length=10)] | None = None
    weights: dict[WorkKind, Annotated[int, Field(ge=1, le=10)]] | None = None
    rounding: Key = "half_up"
    marks_enabled: bool | None = None
    rates: dict[Literal["passed", "not_attested", "exempt"],
                Literal["success", "failure", "excluded"]] | None = Field(
        None, description="учёт «зачтено», «н/а», «освобождён» в % успеваемости и качества: "
                          "success — в N и успевает, failure — в N и не успевает, excluded — "
                          "не в N (по умолчанию passed=success, not_attested=failure, "
                          "exempt=excluded)")


class PolicyIn(PolicyDraftIn):
    order: Order


class OrderIn(Body):
    order: Order


class DelegationIn(Body):
    delegate_id: UUID | None = Field(
        None, description="заместитель директора или администратор журнала")
    deputy_id: UUID | None = Field(None, description="прежнее имя delegate_id (устарело)")
    order: Order

    def delegate(self) -> UUID:
        if (self.delegate_id is None) == (self.deputy_id is None):
            raise InvalidValue("Укажите delegate_id — кому передаётся право.",
                               field="delegate_id")
        return self.delegate_id or self.deputy_id  # type: ignore[return-value]


class ClosureIn(Body):
    year_id: UUID
    period_number: Annotated[int, Field(ge=0, le=20,
                                        description="0 — годовые, аттестация, экзамен")]
    group_id: UUID | None = None
    order: Order | None = Field(None, description="приказ — обязателен до последнего дня "
                                                  "периода")
    reason: MultilineText | None = Field(None, description="причина досрочного закрытия")


class ReopeningIn(ClosureIn):
    order: Order
    reason: MultilineText


class PeriodMarkIn(Body):
    group_id: UUID
    discipline_id: UUID
    period: Key
    student_id: UUID
    value: MarkValue
    held_on: Day | None = None


class CorrectionIn(Body):
    target: Literal["mark", "period_mark", "absence_reason", "new_mark"]
    record_id: UUID = Field(description="занятие (mark, absence_reason, new_mark) или "
                                        "ведомость итоговых отметок (period_mark)")
    item_id: UUID = Field(description="отметка (mark) или обучающийся (period_mark, "
                                      "absence_reason, new_mark — отметка, которой не было)")
    proposed_value: ProposedValue | None = Field(
        None, description="отметка («5», «н/а»…; пусто — отменить отметку) или причина "
                          "пропуска (illness, guardian_application, order, unexcused)")
    proposed_document: Document | None = None
    number: ShortName
    date: Day
    reason: MultilineText
    document: Document


class DecisionIn(Body):
    approve: bool
    resolution: MultilineText
