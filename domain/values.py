"""Value objects of the journal: marks, attendance, orders, roles, the acting person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from uuid import UUID

from domain.errors import InvalidValue

# Characters no text of the journal may hold: texts go into the signed ledger and later
# into printed forms, where these are invisible, cut the text, or reorder what is shown.
#   C0 controls U+0000–U+001F (a multi-line text keeps tab U+0009 and line feed U+000A;
#   carriage return is refused everywhere — the API turns CR LF and CR into LF first);
#   DEL U+007F and C1 controls U+0080–U+009F;
#   bidirectional formatting: ALM U+061C, LRM/RLM U+200E/U+200F, embeddings and overrides
#   U+202A–U+202E, isolates U+2066–U+2069; line and paragraph separators U+2028/U+2029;
#   lone surrogates U+D800–U+DFFF (not characters: JSON's \uD800 escape can make one).
_BIDI_AND_SEPARATORS = "\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
FORBIDDEN_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")
FORBIDDEN_IN_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")

# Dates the journal accepts (orders, lessons, years, periods, applications…): a school
# journal of this century. Birth dates reach further back (staff and adult learners).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


class Role(str, Enum):
    """What a person may be in an institution. Curatorship is not a role: it is
    a relation between a staff member and a group (Group.curator_id)."""

    ADMIN = "admin"  # администратор электронного журнала
    DIRECTOR = "director"
    DEPUTY = "deputy"  # заместитель директора по УР/УМР
    TEACHER = "teacher"
    GUARDIAN = "guardian"
    STUDENT = "student"
    AUDITOR = "auditor"  # проверяющий: читает только подписанный реестр и его доказательства


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
        require_text(self.number, "order.number", "номер приказа", 50)
        require_date(self.date, "order.date", "дата приказа")

    @classmethod
    def restore(cls, number: str, date: date) -> OrderRef:
        """An order as it was recorded: a stored fact is not judged again by today's
        rules (reading an event must never fail)."""
        ref = object.__new__(cls)
        object.__setattr__(ref, "number", number)
        object.__setattr__(ref, "date", date)
        return ref


def forbidden_character(text: str, multiline: bool = False) -> int | None:
    """The index of the first character a journal text may not hold, or None."""
    found = (FORBIDDEN_IN_MULTILINE if multiline else FORBIDDEN_IN_LINE).search(text)
    return None if found is None else found.start()


def require_text(value: str, field: str, label: str, max_len: int = 2000,
                 multiline: bool = False) -> str:
    """The text without surrounding white space. Refused: blank, longer than max_len,
    or holding a forbidden character anywhere (even where strip() would remove it)."""
    index = forbidden_character(value, multiline)
    if index is not None:
        raise InvalidValue(f"Поле «{label}» содержит недопустимый символ "
                           f"U+{ord(value[index]):04X} (позиция {index + 1}).", field=field)
    text = value.strip()
    if not text:
        raise InvalidValue(f"Поле «{label}» не заполнено.", field=field)
    if len(text) > max_len:
        raise InvalidValue(f"Поле «{label}» длиннее {max_len} символов.", field=field)
    return text


def require_date(value: date, field: str, label: str, earliest: date = EARLIEST_DATE,
                 latest: date = LATEST_DATE) -> date:
    if not earliest <= value <= latest:
        raise InvalidValue(f"Поле «{label}»: дата {ru_date(value)} вне допустимого "
                           f"диапазона {ru_date(earliest)}–{ru_date(latest)}.", field=field)
    return value


def ru_date(value: date) -> str:
    return f"{value.day:02}.{value.month:02}.{value.year:04}"
