"""Setting up an institution: registration, academic years, disciplines, groups and
subgroups, curators, teaching assignments and substitutions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from application.actors import SYSTEM_ACTOR_ID, Actor
from application.store import Area
from application.unit_of_work import units_of_work
from domain.assignments import TeachingAssignment, substitution_lessons
from domain.errors import (
    InvalidValue,
)
from domain.groups import Group
from domain.institution import Institution
from domain.people import StaffMember
from domain.values import (
    Act,
    Capacity,
    OrderRef,
    Role,
)


@units_of_work
class Setup(Area):
    def register_institution(self, name: str, timezone: str) -> UUID:
        act = Act(SYSTEM_ACTOR_ID, Capacity.SYSTEM.value,
                  self.store.clock().astimezone(ZoneInfo("UTC")).date())
        institution = Institution.register(self.store.slug, name, timezone, act)
        self._save(institution)
        return institution.id

    def open_academic_year(self, actor: Actor, title: str, starts: date, ends: date,
                           periods: list[dict[str, Any]]) -> UUID:
        institution = self.store.institution()
        act = self._act(actor, actor.administration(), institution)
        year_id = uuid4()
        institution.open_year(year_id, title, starts, ends, periods, act)
        self._save(institution)
        return year_id

    def add_discipline(self, actor: Actor, name: str, kind: str, planned_hours: int) -> UUID:
        institution = self.store.institution()
        act = self._act(actor, actor.administration(), institution)
        discipline_id = uuid4()
        institution.add_discipline(discipline_id, name, kind, planned_hours, act)
        self._save(institution)
        return discipline_id

    def form_group(self, actor: Actor, year_id: UUID, name: str,
                   curator_id: UUID | None) -> UUID:
        institution = self.store.institution()
        act = self._act(actor, actor.administration(), institution)
        if curator_id is not None:
            self._get(StaffMember, curator_id)
        group = Group.form(year_id, name, curator_id, act)
        institution.register_group(group.id, group.name, year_id, act)
        self._save(group, institution)
        return group.id

    def assign_curator(self, actor: Actor, group_id: UUID, curator_id: UUID,
                       order: OrderRef) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        self._get(StaffMember, curator_id)
        group.assign_curator(curator_id=curator_id, order=order, act=act)
        self._save(group)

    def add_subgroup(self, actor: Actor, group_id: UUID, name: str) -> UUID:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        subgroup_id = uuid4()
        group.add_subgroup(subgroup_id, name, act)
        self._save(group)
        return subgroup_id

    def make_assignment(self, actor: Actor, teacher_id: UUID, group_id: UUID,
                        subgroup_id: UUID | None, discipline_id: UUID, starts: date) -> UUID:
        institution = self.store.institution()
        act = self._act(actor, actor.administration(), institution)
        teacher = self._get(StaffMember, teacher_id)
        if Role.TEACHER not in teacher.roles:
            raise InvalidValue("Нагрузку можно дать только сотруднику с ролью «учитель».",
                               field="teacher_id")
        group = self._get(Group, group_id)
        if subgroup_id is not None:
            group.check_subgroup(subgroup_id)
        institution.discipline(discipline_id)
        assignment = TeachingAssignment(
            teacher_id=teacher_id, group_id=group_id, subgroup_id=subgroup_id,
            discipline_id=discipline_id, year_id=group.year_id, starts=starts, act=act,
        )
        group.note_assignment(assignment_id=assignment.id, teacher_id=teacher_id,
                              discipline_id=discipline_id, subgroup_id=subgroup_id, act=act)
        teacher.take_assignment(assignment_id=assignment.id, act=act)
        self._save(assignment, group, teacher)
        return assignment.id

    def appoint_substitute(self, actor: Actor, assignment_id: UUID, substitute_id: UUID, *,
                           lessons: Sequence[tuple[date, int]] | None = None,
                           first: date | None = None, last: date | None = None,
                           numbers: Sequence[int] | None = None) -> None:
        """A substitution (замена) of the named lessons: `lessons` as (date, lesson
        number), or every day of [first, last] at the lesson `numbers`."""
        act = self._act(actor, actor.administration())
        covered = substitution_lessons(lessons, first, last, numbers)
        assignment = self._get(TeachingAssignment, assignment_id)
        substitute = self._get(StaffMember, substitute_id)
        if Role.TEACHER not in substitute.roles:
            raise InvalidValue("Замену может вести только сотрудник с ролью «учитель».",
                               field="substitute_id")
        assignment.appoint_substitute(substitute_id, covered, act)
        self._save(assignment)
