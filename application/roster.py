"""Students and guardians, and every move of a student by order: enrolment,
transfer, academic leave and return, expulsion, graduation, subgroups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID

from application.actors import Actor
from application.store import Area
from application.unit_of_work import units_of_work
from domain.errors import (
    InvalidValue,
)
from domain.groups import Group
from domain.lessons import Lesson, LessonIndex, check_no_records_from
from domain.people import Guardian, Student
from domain.values import (
    Act,
    MoveKind,
    OrderRef,
)


@units_of_work
class Roster(Area):
    def admit_student(self, actor: Actor, full_name: str, birth_date: date | None) -> UUID:
        student = Student.admit(full_name, birth_date, self._act(actor, actor.administration()))
        self._save(student)
        return student.id

    def register_guardian(self, actor: Actor, full_name: str, student_ids: Sequence[UUID],
                          document: str) -> UUID:
        act = self._act(actor, actor.administration())
        students = [self._get(Student, s) for s in student_ids]
        guardian = Guardian.register(full_name, act)
        for student in students:
            self._link(guardian, student, document, act)
        self._save(guardian, *students)
        return guardian.id

    def link_guardian(self, actor: Actor, guardian_id: UUID, student_id: UUID,
                      document: str) -> None:
        act = self._act(actor, actor.administration())
        guardian, student = self._get(Guardian, guardian_id), self._get(Student, student_id)
        self._link(guardian, student, document, act)
        self._save(guardian, student)

    @staticmethod
    def _link(guardian: Guardian, student: Student, document: str, act: Act) -> None:
        if not document.strip():
            raise InvalidValue("Укажите документ, подтверждающий представительство.",
                               field="document")
        if student.id not in guardian.children:
            guardian.link_child(student_id=student.id, document=document, act=act)
            student.link_guardian(guardian_id=guardian.id, document=document, act=act)

    def enrol(self, actor: Actor, student_id: UUID, group_id: UUID, order: OrderRef,
              effective: date) -> None:
        act = self._act(actor, actor.administration())
        student, group = self._get(Student, student_id), self._get(Group, group_id)
        student.move(MoveKind.ENROLMENT, order, effective, group.id, act)
        group.admit(student.id, student.full_name, order, effective, act)
        self._save(student, group)

    def transfer(self, actor: Actor, student_id: UUID, to_group_id: UUID, order: OrderRef,
                 effective: date) -> None:
        act = self._act(actor, actor.administration())
        student = self._get(Student, student_id)
        student.check_move(MoveKind.TRANSFER, effective)
        assert student.group_id is not None
        if student.group_id == to_group_id:
            raise InvalidValue("Обучающийся уже в этой группе.", field="to_group_id")
        source, target = self._get(Group, student.group_id), self._get(Group, to_group_id)
        self._check_nothing_hidden(student.id, source, effective, act)
        source.release(student.id, order, effective, MoveKind.TRANSFER.value, act)
        target.admit(student.id, student.full_name, order, effective, act)
        student.move(MoveKind.TRANSFER, order, effective, target.id, act)
        self._save(student, source, target)

    def _leave_group(self, actor: Actor, kind: MoveKind, student_id: UUID, order: OrderRef,
                     effective: date) -> None:
        act = self._act(actor, actor.administration())
        student = self._get(Student, student_id)
        student.check_move(kind, effective)
        group = self._get(Group, student.group_id) if student.group_id else None
        if group is not None:
            self._check_nothing_hidden(student.id, group, effective, act)
            group.release(student.id, order, effective, kind.value, act)
        student.move(kind, order, effective, None, act)
        self._save(student, group)

    def grant_academic_leave(self, actor: Actor, student_id: UUID, order: OrderRef,
                             effective: date) -> None:
        self._leave_group(actor, MoveKind.ACADEMIC_LEAVE, student_id, order, effective)

    def expel(self, actor: Actor, student_id: UUID, order: OrderRef, effective: date) -> None:
        self._leave_group(actor, MoveKind.EXPULSION, student_id, order, effective)

    def graduate(self, actor: Actor, student_id: UUID, order: OrderRef, effective: date) -> None:
        self._leave_group(actor, MoveKind.GRADUATION, student_id, order, effective)

    def return_from_leave(self, actor: Actor, student_id: UUID, group_id: UUID,
                          order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        student, group = self._get(Student, student_id), self._get(Group, group_id)
        student.move(MoveKind.RETURN_FROM_LEAVE, order, effective, group.id, act)
        group.admit(student.id, student.full_name, order, effective, act)
        self._save(student, group)

    def place_in_subgroup(self, actor: Actor, group_id: UUID, subgroup_id: UUID,
                          student_id: UUID, order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        group.place_in_subgroup(subgroup_id, student_id, order, effective, act)
        self._save(group)

    def remove_from_subgroup(self, actor: Actor, group_id: UUID, subgroup_id: UUID,
                             student_id: UUID, order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        group.check_subgroup(subgroup_id)
        self._check_nothing_hidden(student_id, group, effective, act, subgroup_id)
        group.remove_from_subgroup(subgroup_id, student_id, order, effective, act)
        self._save(group)

    def _check_nothing_hidden(self, student_id: UUID, group: Group, effective: date, act: Act,
                              subgroup_id: UUID | None = None) -> None:
        """A move backdated before records the student already has in the group (or the
        subgroup) would drop them from its journal and the diary: refused, naming them
        (ADR 0004). Lessons are never in the future, so only [effective, today] is read,
        one week index at a time, within the group's academic year."""
        year = self.store.institution_ro().year(group.year_id)
        first, last = max(effective, year.starts), min(act.local_date, year.ends)
        lessons: list[Lesson] = []
        day = first - timedelta(days=first.weekday())
        while day <= last:
            index = self.store.find_index(LessonIndex.week_key(group.id, day))
            lessons.extend(self._get(Lesson, e.lesson_id, copy=False)
                           for e in (index.lessons.values() if index else ())
                           if e.day >= effective
                           and (subgroup_id is None or e.subgroup_id == subgroup_id))
            day += timedelta(days=7)
        where = (f"подгруппе «{group.subgroups[subgroup_id]}» группы {group.name}"
                 if subgroup_id else f"группе {group.name}")
        check_no_records_from(student_id, effective, lessons, where)
