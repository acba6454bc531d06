"""Who may act and read: the role grants of staff, the bearer tokens (issued and
revoked as ledgered events), and read authorisation. Deny by default."""

from __future__ import annotations

from uuid import UUID

from application.actors import Actor
from application.store import Area
from application.unit_of_work import units_of_work
from domain.errors import (
    Forbidden,
    NotFound,
)
from domain.groups import Group
from domain.lessons import Lesson
from domain.people import StaffMember, Student
from domain.values import (
    Capacity,
)


@units_of_work
class Access(Area):
    def hire_staff(self, actor: Actor | None, full_name: str, roles: list[str]) -> UUID:
        """`actor=None` only from the command line (bootstrap of the first administrator)."""
        capacity = actor.administration() if actor else Capacity.SYSTEM
        member = StaffMember.hire(full_name, roles, self._act(actor, capacity))
        self._save(member)
        return member.id

    def check_reads_group_discipline(self, actor: Actor, group: Group,
                                     discipline_id: UUID) -> None:
        if actor.reads_everything():
            return
        if actor.is_staff and (group.curator_id == actor.person_id
                               or group.teaches(actor.person_id, discipline_id)):
            return
        raise Forbidden("Нет доступа к журналу этой группы по этой дисциплине.")

    def check_reads_lesson(self, actor: Actor, lesson: Lesson) -> None:
        if actor.is_staff and lesson.teacher_id == actor.person_id:
            return
        self.check_reads_group_discipline(actor, self._get(Group, lesson.group_id),
                                          lesson.discipline_id)

    def check_reads_student(self, actor: Actor, student: Student) -> None:
        if actor.reads_everything():
            return
        if actor.kind == "student" and actor.person_id == student.id:
            return
        if actor.kind == "guardian" and actor.person_id in student.guardian_ids:
            return
        if (actor.is_staff and student.group_id is not None
                and self._get(Group, student.group_id).curator_id == actor.person_id):
            return
        # Object-level denial looks like absence: do not reveal who exists.
        raise NotFound("Обучающийся не найден.", id=str(student.id))
