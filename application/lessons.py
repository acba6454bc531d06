"""Lessons of a teaching assignment: conducting, topic and homework, attendance and
absence reasons, marks — one command per act, or a whole lesson in one transaction."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from application.actors import Actor
from application.regulation import Regulation
from application.store import Area, InstitutionStore
from application.unit_of_work import units_of_work
from domain.assignments import TeachingAssignment
from domain.errors import (
    DuplicateEntry,
    Forbidden,
    InvalidValue,
    NotFound,
    StaleVersion,
)
from domain.groups import Group
from domain.lessons import Lesson, LessonIndex
from domain.policy import (
    RecordKind,
    record_kind,
)
from domain.values import (
    AbsenceReasonKind,
    Act,
    AttendanceStatus,
    Capacity,
    MarkValue,
    Role,
)


@dataclass(frozen=True)
class AttendanceEntry:
    student_id: UUID
    status: AttendanceStatus
    minutes: int | None = None


@dataclass(frozen=True)
class MarkEntry:
    student_id: UUID
    value: MarkValue


@units_of_work
class Lessons(Area):
    def __init__(self, store: InstitutionStore, regulation: Regulation) -> None:
        super().__init__(store)
        self.regulation = regulation

    def _conducting_capacity(self, actor: Actor, assignment: TeachingAssignment,
                             day: date, number: int) -> Capacity:
        if actor.is_staff and Role.TEACHER in actor.roles:
            capacity = assignment.may_conduct(actor.person_id, day, number)
            if capacity is not None:
                return Capacity(capacity)
        raise Forbidden("Занятие ведёт только учитель этой нагрузки или замена, назначенная "
                        "на этот урок.")

    def _new_lesson(self, actor: Actor, assignment_id: UUID, day: date, number: int,
                    topic: str, homework: str | None, work_kind: str,
                    ) -> tuple[Lesson, list[Aggregate], Group, Act]:
        institution = self.store.institution_ro()
        assignment = self._get(TeachingAssignment, assignment_id, copy=False)
        capacity = self._conducting_capacity(actor, assignment, day, number)
        act = self._act(actor, capacity, institution)
        period = institution.year(assignment.year_id).period_of(day)
        late = self.regulation.entry_check(RecordKind.LESSON, day, assignment.year_id,
                                           period.number, assignment.group_id, period.ends,
                                           first=True)
        lesson = Lesson.conduct(
            assignment_id=assignment.id, group_id=assignment.group_id,
            subgroup_id=assignment.subgroup_id, discipline_id=assignment.discipline_id,
            day=day, number=number, period_number=period.number,
            teacher_id=actor.person_id, substitute=capacity is Capacity.SUBSTITUTE,
            topic=topic, homework=homework, work_kind=work_kind, act=act, late=late,
        )
        if self.store.exists(lesson.id):
            raise DuplicateEntry(
                f"Занятие №{number} на {day:%d.%m.%Y} у этой группы уже проведено.",
                lesson_id=str(lesson.id),
            )
        indexes = [
            self._index(LessonIndex.journal_key(assignment.group_id, assignment.discipline_id,
                                                period.number), act),
            self._index(LessonIndex.week_key(assignment.group_id, day), act),
        ]
        for index in indexes:
            index.list_lesson(lesson_id=lesson.id, day=day, number=number,
                              discipline_id=assignment.discipline_id,
                              subgroup_id=assignment.subgroup_id, act=act)
        return lesson, indexes, self._get(Group, assignment.group_id, copy=False), act

    def _index(self, key: str, act: Act) -> LessonIndex:
        try:
            return self._get(LessonIndex, LessonIndex.create_id(key))
        except NotFound:
            return LessonIndex(key=key, act=act)

    def conduct_lesson(self, actor: Actor, assignment_id: UUID, day: date, number: int,
                       topic: str, homework: str | None, work_kind: str) -> UUID:
        lesson, indexes, _, _ = self._new_lesson(actor, assignment_id, day, number, topic,
                                                 homework, work_kind)
        self._save(lesson, *indexes)
        return lesson.id

    def _writable_lesson(self, actor: Actor, lesson_id: UUID
                         ) -> tuple[Lesson, Act]:
        lesson = self._get(Lesson, lesson_id)
        assignment = self._get(TeachingAssignment, lesson.assignment_id, copy=False)
        capacity = self._conducting_capacity(actor, assignment, lesson.day, lesson.number)
        return lesson, self._act(actor, capacity)

    def _roster(self, lesson: Lesson, group: Group | None = None) -> frozenset[UUID]:
        group = group or self._get(Group, lesson.group_id, copy=False)
        return group.roster_on(lesson.day, lesson.subgroup_id)

    def change_lesson_details(self, actor: Actor, lesson_id: UUID, topic: str | None,
                              homework: str | None, work_kind: str | None,
                              results_on: date | None = None) -> None:
        """`results_on`: the day a control work's results were received (seed 004 §6.9);
        stated before its marks, in an open period."""
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._change_details(lesson, topic, homework, work_kind, act)
        if results_on is not None:
            self.regulation.check_lesson_open(lesson)
            lesson.record_results(results_on, act)
        self._save(lesson)

    def _change_details(self, lesson: Lesson, topic: str | None, homework: str | None,
                        work_kind: str | None, act: Act) -> None:
        before = lesson.version
        probe = copy.deepcopy(lesson)
        probe.change_details(topic, homework, work_kind, act)
        if probe.version != before:  # something really changes
            self.regulation.lesson_entry_check(lesson, RecordKind.LESSON, first=False)
            lesson.change_details(topic, homework, work_kind, act)

    def record_mark(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                    value: MarkValue) -> UUID:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self.regulation.check_marks_enabled()
        late = self.regulation.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=True)
        mark_id = uuid4()
        lesson.record_mark(mark_id, student_id, value, self._roster(lesson), act, late)
        self._save(lesson)
        return mark_id

    def change_mark(self, actor: Actor, lesson_id: UUID, mark_id: UUID, value: MarkValue,
                    previous_value: MarkValue | None = None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._check_previous(lesson, mark_id, previous_value)
        if lesson.active_mark(mark_id).value is not value:
            self.regulation.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=False)
        lesson.change_mark(mark_id, value, act)
        self._save(lesson)

    def cancel_mark(self, actor: Actor, lesson_id: UUID, mark_id: UUID,
                    previous_value: MarkValue | None = None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._check_previous(lesson, mark_id, previous_value)
        lesson.active_mark(mark_id)
        self.regulation.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=False)
        lesson.cancel_mark(mark_id, act)
        self._save(lesson)

    @staticmethod
    def _check_previous(lesson: Lesson, mark_id: UUID, previous: MarkValue | None) -> None:
        current = lesson.mark(mark_id).value
        if previous is not None and current is not previous:
            raise StaleVersion(
                f"Отметка уже изменена другим пользователем (сейчас «{current.value}»)."
            )

    def record_attendance(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                          status: AttendanceStatus, minutes: int | None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._attendance(lesson, student_id, status, minutes, self._roster(lesson), act)
        self._save(lesson)

    def _attendance(self, lesson: Lesson, student_id: UUID, status: AttendanceStatus,
                    minutes: int | None, roster: frozenset[UUID], act: Act) -> None:
        first = student_id not in lesson.attendance
        if first and status is AttendanceStatus.PRESENT:
            return  # present is the default: nothing to record
        late = self.regulation.lesson_entry_check(lesson, RecordKind.LESSON, first=first)
        lesson.record_attendance(student_id, status, minutes, roster, act, late)

    def set_absence_reason(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                           kind: AbsenceReasonKind, document: str | None) -> None:
        lesson = self._get(Lesson, lesson_id)
        group = self._get(Group, lesson.group_id, copy=False)
        if actor.is_staff and group.curator_id == actor.person_id:
            act = self._act(actor, Capacity.CURATOR)
        else:
            lesson, act = self._writable_lesson(actor, lesson_id)
        late = self.regulation.lesson_entry_check(lesson, RecordKind.ABSENCE_REASON,
                                       first=student_id not in lesson.reasons)
        lesson.set_absence_reason(student_id, kind, document, act, late)
        self._save(lesson)

    def submit_lesson(
        self, actor: Actor, assignment_id: UUID, day: date, number: int, topic: str,
        homework: str | None, work_kind: str, attendance: Sequence[AttendanceEntry],
        marks: Sequence[MarkEntry],
    ) -> tuple[UUID, list[UUID]]:
        """A whole lesson — details, attendance, marks — in one transaction. Conducts the
        lesson if it is new; otherwise updates its details and adds to it."""
        assignment = self._get(TeachingAssignment, assignment_id)
        lesson_id = Lesson.create_id(assignment.group_id, assignment.subgroup_id, day, number)
        extra: list[Aggregate] = []
        if self.store.exists(lesson_id):
            lesson, act = self._writable_lesson(actor, lesson_id)
            if lesson.assignment_id != assignment_id:
                raise InvalidValue("Это занятие проведено по другой нагрузке.",
                                   field="assignment_id")
            self._change_details(lesson, topic, homework, work_kind, act)
            group = self._get(Group, lesson.group_id, copy=False)
        else:
            lesson, extra, group, act = self._new_lesson(actor, assignment_id, day, number,
                                                         topic, homework, work_kind)
        roster = self._roster(lesson, group)
        seen: set[UUID] = set()
        for entry in attendance:
            if entry.student_id in seen:
                raise InvalidValue("Обучающийся указан в посещаемости дважды.",
                                   field="attendance")
            seen.add(entry.student_id)
            self._attendance(lesson, entry.student_id, entry.status, entry.minutes, roster, act)
        mark_ids = []
        if marks:
            self.regulation.check_marks_enabled()
            late = self.regulation.lesson_entry_check(lesson, record_kind(lesson.work_kind),
                                                      first=True)
        for mark in marks:
            mark_id = uuid4()
            lesson.record_mark(mark_id, mark.student_id, mark.value, roster, act, late)
            mark_ids.append(mark_id)
        self._save(lesson, *extra)
        return lesson.id, mark_ids
