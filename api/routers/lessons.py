"""Lessons: conducting, topic and homework, marks, attendance, absence reasons."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from api.deps import Session
from api.schemas import (
    AbsenceReasonIn,
    AttendanceIn,
    Created,
    LessonDetailsIn,
    LessonIn,
    LessonSheetIn,
    MarkCancelIn,
    MarkChangeIn,
    MarkIn,
    SheetCreated,
)
from application.journal import AttendanceEntry, MarkEntry
from projections.journal import column, lesson_roster
from projections.models import LessonView

router = APIRouter(prefix="/lessons", tags=["lessons"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Created)
def conduct_lesson(body: LessonIn, session: Session) -> Created:
    """Conduct a lesson of an assignment (by its teacher or the appointed substitute)."""
    actor, journal = session
    return Created(id=journal.lessons.conduct_lesson(
        actor, body.assignment_id, body.date, body.number, body.topic, body.homework,
        body.work_kind.value))


@router.put("/sheet", status_code=status.HTTP_200_OK, response_model=SheetCreated)
def submit_lesson(body: LessonSheetIn, session: Session) -> SheetCreated:
    """Submit a whole lesson — details, attendance and marks — in one transaction."""
    actor, journal = session
    lesson_id, mark_ids = journal.lessons.submit_lesson(
        actor, body.assignment_id, body.date, body.number, body.topic, body.homework,
        body.work_kind.value,
        [AttendanceEntry(a.student_id, a.status, a.minutes) for a in body.attendance],
        [MarkEntry(m.student_id, m.value) for m in body.marks],
    )
    return SheetCreated(lesson_id=lesson_id, mark_ids=mark_ids)


@router.get("/{lesson_id}", response_model=LessonView)
def read_lesson(lesson_id: UUID, session: Session) -> LessonView:
    """One lesson with its roster, marks and attendance."""
    actor, journal = session
    lesson, group = journal.reads.lesson_sources(actor, lesson_id)
    return LessonView(column=column(lesson), group_id=group.id,
                      discipline_id=lesson.discipline_id, roster=lesson_roster(group, lesson))


@router.patch("/{lesson_id}", status_code=204)
def change_lesson_details(lesson_id: UUID, body: LessonDetailsIn, session: Session) -> None:
    """Change the lesson's topic, homework or kind of work; state when a control work's
    results were received."""
    actor, journal = session
    journal.lessons.change_lesson_details(actor, lesson_id, body.topic, body.homework,
                                  body.work_kind.value if body.work_kind else None,
                                  body.results_on)


@router.post("/{lesson_id}/marks", status_code=status.HTTP_201_CREATED,
             response_model=Created)
def record_mark(lesson_id: UUID, body: MarkIn, session: Session) -> Created:
    """Record a mark for a student at the lesson."""
    actor, journal = session
    return Created(id=journal.lessons.record_mark(actor, lesson_id, body.student_id, body.value))


@router.put("/{lesson_id}/marks/{mark_id}", status_code=204)
def change_mark(lesson_id: UUID, mark_id: UUID, body: MarkChangeIn, session: Session) -> None:
    """Change a mark's value (a new event; the old value stays in the history)."""
    actor, journal = session
    journal.lessons.change_mark(actor, lesson_id, mark_id, body.value, body.previous_value)


@router.post("/{lesson_id}/marks/{mark_id}/cancellation", status_code=204)
def cancel_mark(lesson_id: UUID, mark_id: UUID, body: MarkCancelIn, session: Session) -> None:
    """Cancel a mark (a new event; nothing is deleted)."""
    actor, journal = session
    journal.lessons.cancel_mark(actor, lesson_id, mark_id, body.previous_value)


@router.put("/{lesson_id}/attendance", status_code=204)
def record_attendance(lesson_id: UUID, body: AttendanceIn, session: Session) -> None:
    """Record a student's attendance: present, absent, or late with minutes."""
    actor, journal = session
    journal.lessons.record_attendance(actor, lesson_id, body.student_id, body.status, body.minutes)


@router.put("/{lesson_id}/absence-reasons", status_code=204)
def set_absence_reason(lesson_id: UUID, body: AbsenceReasonIn, session: Session) -> None:
    """Record why a student was absent (teacher of the lesson or the group's curator)."""
    actor, journal = session
    journal.lessons.set_absence_reason(actor, lesson_id, body.student_id, body.kind, body.document)
