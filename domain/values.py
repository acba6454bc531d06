"""Value objects of the journal: marks, attendance, orders, roles, the acting person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from uuid import UUID

from domain.errors import InvalidValue


class Role(str, Enum):
    """What a person may be in an institution. Curatorship is not a role: it is
    a relation between a staff member and a group (Group.curator_id)."""

    ADMIN = "admin"  # администратор электронного журнала
    DIRECTOR = "director"
    DEPUTY = "deputy"  # заместитель директора по УР/УМР
    TEACHER = "teacher"
    GUARDIAN = "guardian"
    STUDENT = "student"


STAFF_ROLES = frozenset({Role.ADMIN, Role.DIRECTOR, Role.DEPUTY, Role.TEACHER})


class Capacity(str, Enum):
    """In which capacity an act was authorised; stored on every event."""

    ADMIN = "admin"
    DIRECTOR = "director"
    DEPUTY = "deputy"
    TEACHER = "teacher"
    SUBSTITUTE = "substitute"  # замена
    CURATOR = "curator"
    SYSTEM = "system"


@dataclass(frozen=True)
class Act:
    """Who acted, in which capacity, and on which institution-local date.

    The UTC instant is the event's own timestamp."""

    actor_id: UUID
    capacity: str
    local_date: date


class MarkValue(str, Enum):
    FIVE = "5"
    FOUR = "4"
    THREE = "3"
    TWO = "2"
    ONE = "1"
    PASSED = "зачтено"
    FAILED = "не зачтено"
    NOT_ATTESTED = "н/а"
    EXEMPT = "освобождён"

    @property
    def points(self) -> int | None:
        """The numeric value that enters averages, or None (зачтено, н/а, освобождён…)."""
        return int(self.value) if self.value.isdigit() else None

    @classmethod
    def parse(cls, raw: str) -> MarkValue:
        try:
            return cls(raw.strip().lower().replace("освобожден", "освобождён"))
        except ValueError:
            raise InvalidValue(
                f"Недопустимое значение отметки «{raw}»: допустимы 1–5, "
                "«зачтено», «не зачтено», «н/а», «освобождён».",
                field="value",
            ) from None


class WorkKind(str, Enum):
    """Kind of work done at a lesson; the kind gives a mark its weight."""

    ORDINARY = "ordinary"
    PRACTICAL = "practical"
    LABORATORY = "laboratory"
    CONTROL = "control"  # письменная / контрольная работа
    TEST = "test"  # зачёт
    EXAM = "exam"


DEFAULT_WEIGHTS: dict[WorkKind, int] = {
    WorkKind.ORDINARY: 1,
    WorkKind.PRACTICAL: 1,
    WorkKind.LABORATORY: 1,
    WorkKind.CONTROL: 2,
    WorkKind.TEST: 2,
    WorkKind.EXAM: 3,
}


class AttendanceStatus(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    LATE = "late"


class AbsenceReasonKind(str, Enum):
    ILLNESS = "illness"  # по болезни (справка)
    GUARDIAN_APPLICATION = "guardian_application"  # заявление родителей
    ORDER = "order"  # по приказу (соревнования, олимпиада…)
    UNEXCUSED = "unexcused"

    @property
    def excused(self) -> bool:
        return self is not AbsenceReasonKind.UNEXCUSED


class PeriodKind(str, Enum):
    QUARTER = "quarter"
    TRIMESTER = "trimester"
    SEMESTER = "semester"
    ITERATION = "iteration"  # доп. образование


class DisciplineKind(str, Enum):
    SUBJECT = "subject"  # предмет
    DISCIPLINE = "discipline"  # УД
    MODULE = "module"  # МДК
    PRACTICE = "practice"  # учебная / производственная практика
    PROGRAMME = "programme"  # программа доп. образования


class StudentStatus(str, Enum):
    ADMITTED = "admitted"  # record created, not yet enrolled by order
    ENROLLED = "enrolled"
    ON_LEAVE = "on_leave"  # академический отпуск
    EXPELLED = "expelled"
    GRADUATED = "graduated"


class MoveKind(str, Enum):
    """Kinds of student movement orders (приказы о движении)."""

    ENROLMENT = "enrolment"
    TRANSFER = "transfer"
    ACADEMIC_LEAVE = "academic_leave"
    RETURN_FROM_LEAVE = "return_from_leave"
    EXPULSION = "expulsion"
    GRADUATION = "graduation"


@dataclass(frozen=True)
class OrderRef:
    """A reference to an order (приказ) of the institution."""

    number: str
    date: date

    def __post_init__(self) -> None:
        if not self.number.strip():
            raise InvalidValue("Не указан номер приказа.", field="order.number")


def require_text(value: str, field: str, label: str, max_len: int = 2000) -> str:
    text = value.strip()
    if not text:
        raise InvalidValue(f"Поле «{label}» не заполнено.", field=field)
    if len(text) > max_len:
        raise InvalidValue(f"Поле «{label}» длиннее {max_len} символов.", field=field)
    return text
