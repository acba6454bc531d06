"""Reads: the journal page, a student's diary, a mark's history, who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import Session
from api.schemas import Day, Me
from application.actors import SYSTEM_ACTOR_ID
from domain.people import Auditor, Guardian, StaffMember, Student
from projections.catalog import group_view, institution_view
from projections.diary import diary
from projections.history import mark_history
from projections.journal import journal_page
from projections.models import Diary, GroupView, InstitutionView, JournalPage, MarkHistory

router = APIRouter(tags=["reads"])


@router.get("/me", response_model=Me)
def me(session: Session) -> Me:
    """The authenticated person, roles, assignments (teachers) and children (guardians)."""
    actor, journal = session
    if actor.person_id == SYSTEM_ACTOR_ID:  # an opened archive's reader token (ADR 0014)
        return Me(person_id=actor.person_id, institution=actor.slug, kind="archive_reader",
                  roles=sorted(r.value for r in actor.roles),
                  full_name="Читатель архива (только чтение)")
    kind = {"staff": StaffMember, "student": Student, "guardian": Guardian,
            "auditor": Auditor}[actor.kind]
    person = journal.get(kind, actor.person_id)
    return Me(
        person_id=actor.person_id, institution=actor.slug, kind=actor.kind,
        roles=sorted(r.value for r in actor.roles), full_name=person.full_name,
        assignment_ids=getattr(person, "assignment_ids", []),
        children=sorted(getattr(person, "children", set())),
    )


@router.get("/institution", response_model=InstitutionView)
def read_institution(session: Session) -> InstitutionView:
    """The institution: academic years and periods, disciplines, groups."""
    _, journal = session
    return institution_view(journal.institution(), journal.local_date())


@router.get("/groups/{group_id}", response_model=GroupView)
def read_group(group_id: UUID, session: Session,
               on: Annotated[Day | None, Query(description="дата состава")] = None
               ) -> GroupView:
    """A group: curator, subgroups, teaching assignments, and who was in it on a date."""
    actor, journal = session
    return group_view(journal.reads.group_sources(actor, group_id), on or journal.local_date())


@router.get("/journals/{group_id}/{discipline_id}/{period_number}",
            response_model=JournalPage)
def read_journal(group_id: UUID, discipline_id: UUID, period_number: int,
                 session: Session) -> JournalPage:
    """The journal page: students × lessons with marks, attendance and current averages."""
    actor, journal = session
    src = journal.reads.journal_sources(actor, group_id, discipline_id, period_number)
    return journal_page(src.group, discipline_id, src.discipline_name, src.period, src.lessons,
                        src.weights)


@router.get("/students/{student_id}/diary", response_model=Diary)
def read_diary(
    student_id: UUID, session: Session,
    first: Annotated[Day | None, Query(alias="from")] = None,
    last: Annotated[Day | None, Query(alias="to")] = None,
) -> Diary:
    """A student's diary (default: the current week): lessons, own marks, attendance,
    homework."""
    actor, journal = session
    today = journal.local_date()
    first = first or today - timedelta(days=today.weekday())
    last = last or first + timedelta(days=6)
    src = journal.reads.diary_sources(actor, student_id, first, last)
    return diary(src.institution, src.student, src.lessons, first, last,
                 journal.statements.period_marks_of(student_id))


@router.get("/lessons/{lesson_id}/marks/{mark_id}/history", response_model=MarkHistory)
def read_mark_history(lesson_id: UUID, mark_id: UUID, session: Session) -> MarkHistory:
    """Every value a mark had: who set it, when, in which capacity, on what basis."""
    actor, journal = session
    lesson, events, names = journal.reads.mark_history_sources(actor, lesson_id, mark_id)
    return mark_history(lesson, mark_id, events, names)
