"""A lesson (занятие) with its topic, homework, marks and attendance.

One aggregate per lesson keeps every mark command bounded: its cost depends on the
size of one lesson, never on how many lessons the year has (ADR 0001)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import ShallowContainers
from domain.errors import (
    DuplicateEntry,
    InvalidValue,
    MarkCancelled,
    NoAbsence,
    NotFound,
    RuleViolation,
    StudentNotInGroup,
)
from domain.values import (
    AbsenceReasonKind,
    Act,
    AttendanceStatus,
    MarkValue,
    WorkKind,
    require_text,
)

LESSON_NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/lesson")
INDEX_NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/lesson-index")
MAX_LESSON_NUMBER = 12
MAX_LATE_MINUTES = 90


class MarkForAbsent(RuleViolation):
    code = "mark_for_absent_student"


class ResultsAfterMarks(RuleViolation):
    code = "results_after_marks"


class RecordsAfterMove(RuleViolation):
    code = "records_after_effective_date"


# Works whose marks may wait for results (seed 004 §6.9: "работы контролирующего характера").
CONTROL_WORKS = frozenset({WorkKind.CONTROL, WorkKind.TEST, WorkKind.EXAM})


@dataclass(frozen=True)
class Mark:
    mark_id: UUID
    student_id: UUID
    value: MarkValue
    cancelled: bool = False


@dataclass(frozen=True)
class Attendance:
    status: AttendanceStatus
    minutes: int | None = None


@dataclass(frozen=True)
class AbsenceReason:
    kind: AbsenceReasonKind
    document: str | None


def lesson_id_for(group_id: UUID, subgroup_id: UUID | None, day: date, number: int) -> UUID:
    """A lesson is identified by who meets, on which date, at which lesson number."""
    return uuid5(LESSON_NAMESPACE, f"{group_id}/{subgroup_id or '-'}/{day.isoformat()}/{number}")


class Lesson(ShallowContainers, Aggregate):
    @staticmethod
    def create_id(group_id: UUID, subgroup_id: UUID | None, day: date, number: int,
                  **_: Any) -> UUID:
        return lesson_id_for(group_id, subgroup_id, day, number)

    @event("Conducted")
    def __init__(
        self, assignment_id: UUID, group_id: UUID, subgroup_id: UUID | None,
        discipline_id: UUID, day: date, number: int, period_number: int,
        teacher_id: UUID, substitute: bool, topic: str, homework: str | None,
        work_kind: str, act: Act, late: bool = False,
    ) -> None:
        self.assignment_id = assignment_id
        self.group_id = group_id
        self.subgroup_id = subgroup_id
        self.discipline_id = discipline_id
        self.day = day
        self.number = number
        self.period_number = period_number
        self.teacher_id = teacher_id
        self.substitute = substitute
        self.topic = topic
        self.homework = homework
        self.work_kind = WorkKind(work_kind)
        self.marks: dict[UUID, Mark] = {}
        self.attendance: dict[UUID, Attendance] = {}
        self.reasons: dict[UUID, AbsenceReason] = {}
        self.results_on: date | None = None  # a control work's results received (004 §6.9)

    @classmethod
    def conduct(
        cls, *, assignment_id: UUID, group_id: UUID, subgroup_id: UUID | None,
        discipline_id: UUID, day: date, number: int, period_number: int,
        teacher_id: UUID, substitute: bool, topic: str, homework: str | None,
        work_kind: str, act: Act, late: bool = False,
    ) -> Lesson:
        if not 1 <= number <= MAX_LESSON_NUMBER:
            raise InvalidValue(f"Номер урока должен быть от 1 до {MAX_LESSON_NUMBER}.",
                               field="number")
        if day > act.local_date:
            raise InvalidValue("Нельзя провести занятие в будущем.", field="date")
        return cls(
            assignment_id=assignment_id, group_id=group_id, subgroup_id=subgroup_id,
            discipline_id=discipline_id, day=day, number=number,
            period_number=period_number, teacher_id=teacher_id, substitute=substitute,
            topic=require_text(topic, "topic", "тема занятия", 500),
            homework=_optional_text(homework, "homework", "домашнее задание", multiline=True),
            work_kind=WorkKind(work_kind).value, act=act, late=late,
        )

    # Topic, homework, kind of work -----------------------------------------------
    def change_details(self, topic: str | None, homework: str | None,
                       work_kind: str | None, act: Act) -> None:
        new_topic = require_text(topic, "topic", "тема занятия", 500) if topic else self.topic
        new_homework = (_optional_text(homework, "homework", "домашнее задание", multiline=True)
                        if homework is not None else self.homework)
        new_kind = WorkKind(work_kind) if work_kind else self.work_kind
        if (new_topic, new_homework, new_kind) == (self.topic, self.homework, self.work_kind):
            return
        self._details_changed(topic=new_topic, homework=new_homework,
                              work_kind=new_kind.value, act=act)

    @event("DetailsChanged")
    def _details_changed(self, topic: str, homework: str | None, work_kind: str,
                         act: Act) -> None:
        self.topic, self.homework, self.work_kind = topic, homework, WorkKind(work_kind)

    # The results of a control work ---------------------------------------------------
    def record_results(self, results_on: date, act: Act) -> None:
        """The day the checked works came back: seed 004 §6.9 counts the control window
        from it. Stated before the first mark (marks follow results), and changed only
        until then."""
        if self.work_kind not in CONTROL_WORKS:
            raise InvalidValue("Дата получения результатов указывается для контрольной "
                               "работы, зачёта или экзамена.", field="results_on")
        if not self.day <= results_on <= act.local_date:
            raise InvalidValue(f"Результаты получают не раньше дня работы ({self.day:%d.%m.%Y}) "
                               "и не позже сегодняшнего дня.", field="results_on")
        if self.marks:
            raise ResultsAfterMarks("Отметки за работу уже выставлены: дата получения "
                                    "результатов указывается до них.")
        if results_on != self.results_on:
            self._results_received(results_on=results_on, act=act)

    @event("ResultsReceived")
    def _results_received(self, results_on: date, act: Act) -> None:
        self.results_on = results_on

    # Marks --------------------------------------------------------------------------
    def record_mark(self, mark_id: UUID, student_id: UUID, value: MarkValue,
                    roster: frozenset[UUID], act: Act, late: bool = False,
                    basis: dict[str, Any] | None = None) -> None:
        """`basis`: the approved correction application a mark never entered is added
        by (after the window or the period's closing)."""
        self.check_on_roster(student_id, roster)
        if mark_id in self.marks:
            raise DuplicateEntry("Отметка с таким идентификатором уже есть.")
        self.check_not_absent(student_id, value)
        self._mark_recorded(mark_id=mark_id, student_id=student_id, value=value.value, act=act,
                            late=late, basis=basis)

    @event("MarkRecorded")
    def _mark_recorded(self, mark_id: UUID, student_id: UUID, value: str, act: Act,
                       late: bool = False, basis: dict[str, Any] | None = None) -> None:
        self.marks[mark_id] = Mark(mark_id, student_id, MarkValue(value))

    def change_mark(self, mark_id: UUID, value: MarkValue, act: Act,
                    basis: dict[str, Any] | None = None) -> None:
        mark = self.active_mark(mark_id)
        if mark.value is value:
            return
        self.check_not_absent(mark.student_id, value)
        self._mark_changed(mark_id=mark_id, value=value.value, act=act, basis=basis)

    @event("MarkChanged")
    def _mark_changed(self, mark_id: UUID, value: str, act: Act,
                      basis: dict[str, Any] | None = None) -> None:
        old = self.marks[mark_id]
        self.marks[mark_id] = Mark(old.mark_id, old.student_id, MarkValue(value))

    def cancel_mark(self, mark_id: UUID, act: Act, basis: dict[str, Any] | None = None
                    ) -> None:
        self.active_mark(mark_id)
        self._mark_cancelled(mark_id=mark_id, act=act, basis=basis)

    @event("MarkCancelled")
    def _mark_cancelled(self, mark_id: UUID, act: Act, basis: dict[str, Any] | None = None
                        ) -> None:
        old = self.marks[mark_id]
        self.marks[mark_id] = Mark(old.mark_id, old.student_id, old.value, cancelled=True)

    def mark(self, mark_id: UUID) -> Mark:
        try:
            return self.marks[mark_id]
        except KeyError:
            raise NotFound("Отметка не найдена.", mark_id=str(mark_id)) from None

    def active_mark(self, mark_id: UUID) -> Mark:
        mark = self.mark(mark_id)
        if mark.cancelled:
            raise MarkCancelled("Отметка уже отменена; поставьте новую.")
        return mark

    def active_marks_of(self, student_id: UUID) -> list[Mark]:
        return [m for m in self.marks.values() if m.student_id == student_id and not m.cancelled]

    def records_of(self, student_id: UUID) -> list[str]:
        """What the journal shows of the student at this lesson, in words."""
        records = [f"отметка {m.value.value}" for m in self.active_marks_of(student_id)]
        attendance = self.attendance.get(student_id)
        if attendance is not None:
            records.append("пропуск" if attendance.status is AttendanceStatus.ABSENT
                           else f"опоздание {attendance.minutes} мин")
        return records

    # Attendance ---------------------------------------------------------------------
    def record_attendance(self, student_id: UUID, status: AttendanceStatus,
                          minutes: int | None, roster: frozenset[UUID], act: Act,
                          late: bool = False) -> None:
        self.check_on_roster(student_id, roster)
        if status is AttendanceStatus.LATE:
            if minutes is None or not 1 <= minutes <= MAX_LATE_MINUTES:
                raise InvalidValue(f"Опоздание указывается в минутах, от 1 до {MAX_LATE_MINUTES}.",
                                   field="minutes")
        elif minutes is not None:
            raise InvalidValue("Минуты указываются только для опоздания.", field="minutes")
        if status is AttendanceStatus.ABSENT and any(
            m.value.points is not None for m in self.active_marks_of(student_id)
        ):
            raise MarkForAbsent("У обучающегося есть отметка за это занятие: сначала отмените её.")
        current = self.attendance.get(student_id, Attendance(AttendanceStatus.PRESENT))
        if current == Attendance(status, minutes):
            return
        self._attendance_recorded(student_id=student_id, status=status.value,
                                  minutes=minutes, act=act, late=late)

    @event("AttendanceRecorded")
    def _attendance_recorded(self, student_id: UUID, status: str, minutes: int | None,
                             act: Act, late: bool = False) -> None:
        if status == AttendanceStatus.PRESENT.value:
            self.attendance.pop(student_id, None)
            self.reasons.pop(student_id, None)
        else:
            self.attendance[student_id] = Attendance(AttendanceStatus(status), minutes)

    def set_absence_reason(self, student_id: UUID, kind: AbsenceReasonKind,
                           document: str | None, act: Act, late: bool = False,
                           basis: dict[str, Any] | None = None) -> None:
        if student_id not in self.attendance:
            raise NoAbsence("У обучающегося нет пропуска или опоздания на этом занятии.")
        document = _optional_text(document, "document", "документ-основание")
        if kind in (AbsenceReasonKind.ILLNESS, AbsenceReasonKind.ORDER) and not document:
            raise InvalidValue("Для этой причины укажите документ (справку, приказ).",
                               field="document")
        if self.reasons.get(student_id) == AbsenceReason(kind, document):
            return
        self._reason_set(student_id=student_id, kind=kind.value, document=document, act=act,
                         late=late, basis=basis)

    @event("AbsenceReasonSet")
    def _reason_set(self, student_id: UUID, kind: str, document: str | None, act: Act,
                    late: bool = False, basis: dict[str, Any] | None = None) -> None:
        self.reasons[student_id] = AbsenceReason(AbsenceReasonKind(kind), document)

    # Rules --------------------------------------------------------------------------
    def check_on_roster(self, student_id: UUID, roster: frozenset[UUID]) -> None:
        if student_id not in roster:
            raise StudentNotInGroup(
                f"Обучающийся не состоял в группе (подгруппе) занятия на {self.day:%d.%m.%Y}.",
                student_id=str(student_id),
            )

    def check_not_absent(self, student_id: UUID, value: MarkValue) -> None:
        attendance = self.attendance.get(student_id)
        if (value.points is not None and attendance is not None
                and attendance.status is AttendanceStatus.ABSENT):
            raise MarkForAbsent("Обучающийся отсутствовал на занятии: отметку поставить нельзя.")


def check_no_records_from(student_id: UUID, effective: date, lessons: Iterable[Lesson],
                          where: str) -> None:
    """A move effective on `effective` ends the student's membership the day before: the
    journal and the diary would no longer show the student's records at `lessons` dated
    from then on. Such an order is refused, naming every such record (ADR 0004), rather
    than hiding them."""
    found = sorted(((lesson.day, lesson.number, records) for lesson in lessons
                    if lesson.day >= effective
                    for records in [lesson.records_of(student_id)] if records),
                   key=lambda r: (r[0], r[1]))
    if not found:
        return
    listed = "; ".join(f"{day:%d.%m.%Y}, урок {number}: {', '.join(records)}"
                       for day, number, records in found)
    earliest = found[-1][0] + timedelta(days=1)
    raise RecordsAfterMove(
        f"С {effective:%d.%m.%Y} обучающийся уже не числился бы в {where}, а у него там есть "
        f"записи, которые пропали бы из журнала и дневника: {listed}. Укажите дату вступления "
        f"приказа в силу не раньше {earliest:%d.%m.%Y} или сначала исправьте эти записи по "
        "заявлению.", earliest_effective=earliest.isoformat(), records=len(found))


def _optional_text(value: str | None, field: str, label: str,
                   multiline: bool = False) -> str | None:
    if value is None or not value.strip():
        return None
    return require_text(value, field, label, 2000, multiline)


@dataclass(frozen=True)
class IndexedLesson:
    lesson_id: UUID
    day: date
    number: int
    discipline_id: UUID
    subgroup_id: UUID | None


class LessonIndex(ShallowContainers, Aggregate):
    """Lists the lessons of one group × discipline × period ("journal") or one
    group × ISO week ("week"), so that reads load only the lessons they show.
    Each index is bounded by one period or one week of lessons."""

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return uuid5(INDEX_NAMESPACE, key)

    @staticmethod
    def journal_key(group_id: UUID, discipline_id: UUID, period_number: int) -> str:
        return f"journal/{group_id}/{discipline_id}/{period_number}"

    @staticmethod
    def week_key(group_id: UUID, day: date) -> str:
        iso = day.isocalendar()
        return f"week/{group_id}/{iso.year}-W{iso.week:02d}"

    @event("Opened")
    def __init__(self, key: str, act: Act) -> None:
        self.key = key
        self.lessons: dict[UUID, IndexedLesson] = {}

    @event("LessonListed")
    def list_lesson(self, lesson_id: UUID, day: date, number: int, discipline_id: UUID,
                    subgroup_id: UUID | None, act: Act) -> None:
        self.lessons[lesson_id] = IndexedLesson(lesson_id, day, number, discipline_id,
                                                subgroup_id)
