"""A student's diary: own lessons, marks, attendance and homework for some days."""

from __future__ import annotations

from datetime import date

from domain.institution import Institution
from domain.lessons import Lesson
from domain.people import Student
from projections.journal import cell
from projections.models import Diary, DiaryLesson


def diary(institution: Institution, student: Student, lessons: list[Lesson],
          first: date, last: date) -> Diary:
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
    return Diary(student_id=student.id, full_name=student.full_name, first=first, last=last,
                 lessons=items)
