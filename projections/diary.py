"""A student's diary: own lessons, marks, attendance and homework for some days."""

from __future__ import annotations

from datetime import date

from domain.institution import Institution
from domain.lessons import Lesson
from domain.people import Student
from projections.journal import cell
from projections.models import Diary, DiaryLesson, DiaryPeriodMark

DEBT = {"2", "1", "н/а", "не зачтено"}


def diary(institution: Institution, student: Student, lessons: list[Lesson],
          first: date, last: date, period_marks: list[dict[str, str]] | None = None) -> Diary:
    """`period_marks`: rows (discipline, period_key, value) of the student's period marks."""
    items = []
    for lesson in lessons:
        own = cell(lesson, student.id)
        items.append(DiaryLesson(
            lesson_id=lesson.id, date=lesson.day, number=lesson.number,
            discipline_id=lesson.discipline_id,
            discipline_name=institution.discipline(lesson.discipline_id).name,
            topic=lesson.topic, homework=lesson.homework, marks=own.marks,
            attendance=own.attendance, late_minutes=own.late_minutes,
            absence_reason=own.absence_reason,
        ))
    marks = [DiaryPeriodMark(discipline_name=r["discipline"], period=r["period_key"],
                             value=r["value"], academic_debt=r["value"] in DEBT)
             for r in sorted(period_marks or [], key=lambda r: (r["discipline"],
                                                               r["period_key"]))]
    return Diary(student_id=student.id, full_name=student.full_name, first=first, last=last,
                 lessons=items, period_marks=marks)
