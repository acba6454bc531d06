"""The journal page (group × discipline × period) and the single-lesson view."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from domain.averages import weighted_average
from domain.groups import Group
from domain.institution import Period
from domain.lessons import Lesson
from domain.values import DEFAULT_WEIGHTS, WorkKind
from projections.models import Cell, JournalPage, JournalRow, LessonColumn, MarkCell


def column(lesson: Lesson) -> LessonColumn:
    return LessonColumn(
        lesson_id=lesson.id, date=lesson.day, number=lesson.number, topic=lesson.topic,
        homework=lesson.homework, work_kind=lesson.work_kind.value,
        subgroup_id=lesson.subgroup_id, teacher_id=lesson.teacher_id,
        substitute=lesson.substitute, results_on=lesson.results_on,
    )


def cell(lesson: Lesson, student_id: UUID) -> Cell:
    attendance = lesson.attendance.get(student_id)
    reason = lesson.reasons.get(student_id)
    return Cell(
        marks=[MarkCell(mark_id=m.mark_id, value=m.value.value)
               for m in lesson.active_marks_of(student_id)],
        attendance=attendance.status.value if attendance else None,
        late_minutes=attendance.minutes if attendance else None,
        absence_reason=reason.kind.value if reason else None,
        excused=reason.kind.excused if reason else None,
    )


def row(group: Group, student_id: UUID, lessons: Iterable[Lesson],
        weights: Mapping[WorkKind, int] = DEFAULT_WEIGHTS) -> JournalRow:
    attended = [lesson for lesson in lessons
                if group.is_member(student_id, lesson.day, lesson.subgroup_id)]
    return JournalRow(
        student_id=student_id,
        full_name=group.names.get(student_id, "?"),
        cells={lesson.id: cell(lesson, student_id) for lesson in attended},
        average=weighted_average(
            ((m.value, lesson.work_kind)
             for lesson in attended for m in lesson.active_marks_of(student_id)),
            weights),
    )


def journal_page(group: Group, discipline_id: UUID, discipline_name: str, period: Period,
                 lessons: list[Lesson],
                 weights: Mapping[WorkKind, int] = DEFAULT_WEIGHTS) -> JournalPage:
    """Rows: everyone who was in the group at some day of the period, by name; a row
    has cells only for the lessons the student was on the roster for."""
    members = group.roster_between(period.starts, period.ends)
    ordered = sorted(members, key=lambda s: group.names.get(s, ""))
    return JournalPage(
        group_id=group.id, group_name=group.name, discipline_id=discipline_id,
        discipline_name=discipline_name, period_number=period.number,
        period_title=period.title, starts=period.starts, ends=period.ends,
        lessons=[column(lesson) for lesson in lessons],
        rows=[row(group, s, lessons, weights) for s in ordered],
    )


def lesson_roster(group: Group, lesson: Lesson) -> list[JournalRow]:
    on_roster = group.roster_on(lesson.day, lesson.subgroup_id)
    return [row(group, s, [lesson]) for s in sorted(on_roster, key=lambda s: group.names[s])]


