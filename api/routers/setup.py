"""Institution set-up: academic years, disciplines, people, groups, assignments."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from api.deps import Session
from api.schemas import (
    AcademicYearIn,
    AssignmentIn,
    Created,
    CuratorIn,
    DisciplineIn,
    GroupIn,
    GuardianIn,
    GuardianLinkIn,
    StaffIn,
    StudentIn,
    SubgroupIn,
    SubstituteIn,
)

router = APIRouter(tags=["set-up"])
CREATED = {"status_code": status.HTTP_201_CREATED, "response_model": Created}


@router.post("/academic-years", **CREATED)
def open_academic_year(body: AcademicYearIn, session: Session) -> Created:
    """Open an academic year with its periods (quarters, semesters, trimesters, iterations)."""
    actor, journal = session
    periods = [p.model_dump(mode="python") for p in body.periods]
    for p in periods:
        p["kind"] = p["kind"].value
    return Created(id=journal.setup.open_academic_year(actor, body.title, body.starts, body.ends,
                                                 periods))


@router.post("/disciplines", **CREATED)
def add_discipline(body: DisciplineIn, session: Session) -> Created:
    """Add a discipline (предмет, УД, МДК, практика) with its planned hours."""
    actor, journal = session
    return Created(id=journal.setup.add_discipline(actor, body.name, body.kind.value,
                                             body.planned_hours))


@router.post("/staff", **CREATED)
def hire_staff(body: StaffIn, session: Session) -> Created:
    """Add a staff member with roles (admin, director, deputy, teacher)."""
    actor, journal = session
    return Created(id=journal.access.hire_staff(actor, body.full_name,
                                                [r.value for r in body.roles]))


@router.post("/students", **CREATED)
def admit_student(body: StudentIn, session: Session) -> Created:
    """Create a student's record; the student joins a group only by an enrolment order."""
    actor, journal = session
    return Created(id=journal.roster.admit_student(actor, body.full_name, body.birth_date))


@router.post("/guardians", **CREATED)
def register_guardian(body: GuardianIn, session: Session) -> Created:
    """Register a guardian (законный представитель) linked to students."""
    actor, journal = session
    return Created(id=journal.roster.register_guardian(actor, body.full_name, body.student_ids,
                                                body.document))


@router.post("/guardians/{guardian_id}/children", status_code=204)
def link_guardian(guardian_id: UUID, body: GuardianLinkIn, session: Session) -> None:
    """Link a guardian to one more student."""
    actor, journal = session
    journal.roster.link_guardian(actor, guardian_id, body.student_id, body.document)


@router.post("/groups", **CREATED)
def form_group(body: GroupIn, session: Session) -> Created:
    """Form a group (класс, учебная группа) for an academic year, with its curator."""
    actor, journal = session
    return Created(id=journal.setup.form_group(actor, body.year_id, body.name, body.curator_id))


@router.post("/groups/{group_id}/curator", status_code=204)
def assign_curator(group_id: UUID, body: CuratorIn, session: Session) -> None:
    """Assign the group's curator (куратор, классный руководитель) by order."""
    actor, journal = session
    journal.setup.assign_curator(actor, group_id, body.curator_id, body.order.ref())


@router.post("/groups/{group_id}/subgroups", **CREATED)
def add_subgroup(group_id: UUID, body: SubgroupIn, session: Session) -> Created:
    """Add a subgroup to a group."""
    actor, journal = session
    return Created(id=journal.setup.add_subgroup(actor, group_id, body.name))


@router.post("/assignments", **CREATED)
def make_assignment(body: AssignmentIn, session: Session) -> Created:
    """Give a teacher a teaching assignment: group or subgroup × discipline."""
    actor, journal = session
    return Created(id=journal.setup.make_assignment(actor, body.teacher_id, body.group_id,
                                              body.subgroup_id, body.discipline_id,
                                              body.starts))


@router.post("/assignments/{assignment_id}/substitutes", status_code=204)
def appoint_substitute(assignment_id: UUID, body: SubstituteIn, session: Session) -> None:
    """Appoint a substitute teacher (замена) for named lessons of an assignment."""
    actor, journal = session
    journal.setup.appoint_substitute(
        actor, assignment_id, body.substitute_id,
        lessons=[(x.date, x.number) for x in body.lessons] if body.lessons is not None
        else None,
        first=body.date_from, last=body.date_to, numbers=body.numbers)
