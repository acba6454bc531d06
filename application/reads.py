"""Reads: authorise the reader, then load exactly what a read model needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from application.access import Access
from application.actors import Actor
from application.corrections import Corrections
from application.period_marks import PeriodMarks
from application.store import Area, InstitutionStore
from application.unit_of_work import units_of_work
from domain.corrections import CorrectionApplication, CorrectionIndex, Status
from domain.errors import (
    Forbidden,
    InvalidValue,
    NotFound,
)
from domain.groups import Group
from domain.institution import Institution, Period
from domain.lessons import Lesson, LessonIndex
from domain.people import StaffMember, Student
from domain.period_marks import PeriodMarkSheet, check_period_key
from domain.policy import (
    JournalPolicy,
)
from domain.values import (
    MarkValue,
    WorkKind,
)

MAX_DIARY_DAYS = 30


@dataclass(frozen=True)
class JournalSources:
    institution: Institution
    group: Group
    discipline_name: str
    period: Period
    lessons: list[Lesson]
    weights: dict[WorkKind, int]


@dataclass(frozen=True)
class DiarySources:
    institution: Institution
    student: Student
    groups: dict[UUID, Group]
    lessons: list[Lesson]


@units_of_work
class Reads(Area):
    def __init__(self, store: InstitutionStore, access: Access, period_marks: PeriodMarks,
                 corrections: Corrections) -> None:
        super().__init__(store)
        self.access = access
        self.period_marks = period_marks
        self.corrections = corrections

    def journal_sources(self, actor: Actor, group_id: UUID, discipline_id: UUID,
                        period_number: int) -> JournalSources:
        institution = self.store.institution()
        group = self._get(Group, group_id, copy=False)
        self.access.check_reads_group_discipline(actor, group, discipline_id)
        discipline = institution.discipline(discipline_id)
        period = institution.year(group.year_id).period(period_number)
        index = self.store.find_index(
            LessonIndex.journal_key(group_id, discipline_id, period_number))
        listed = sorted(index.lessons.values(), key=lambda e: (e.day, e.number)) if index else []
        lessons = [self._get(Lesson, e.lesson_id, copy=False) for e in listed]
        return JournalSources(institution, group, discipline.name, period, lessons,
                              dict(self.store.policy().weights))

    def diary_sources(self, actor: Actor, student_id: UUID, first: date, last: date
                      ) -> DiarySources:
        if last < first or (last - first).days > MAX_DIARY_DAYS:
            raise InvalidValue(f"Дневник показывается за период до {MAX_DIARY_DAYS + 1} дней.",
                               field="to")
        student = self._get(Student, student_id, copy=False)
        self.access.check_reads_student(actor, student)
        institution = self.store.institution()
        groups: dict[UUID, Group] = {}
        lessons: list[Lesson] = []
        for group_id, starts, until in student.groups_between(first, last):
            group = groups.setdefault(group_id, self._get(Group, group_id, copy=False))
            keys = {LessonIndex.week_key(group_id, first + timedelta(days=d))
                    for d in range((last - first).days + 1)}
            for key in sorted(keys):
                index = self.store.find_index(key)
                for entry in index.lessons.values() if index else ():
                    if not (first <= entry.day <= last and starts <= entry.day
                            and (until is None or entry.day < until)):
                        continue
                    if entry.subgroup_id and not group.is_member(student.id, entry.day,
                                                                 entry.subgroup_id):
                        continue
                    lessons.append(self._get(Lesson, entry.lesson_id, copy=False))
        lessons.sort(key=lambda lesson: (lesson.day, lesson.number))
        return DiarySources(institution, student, groups, lessons)

    def group_sources(self, actor: Actor, group_id: UUID) -> Group:
        group = self._get(Group, group_id, copy=False)
        if actor.reads_everything() or (actor.is_staff and (
                group.curator_id == actor.person_id
                or any(t == actor.person_id for t, _, _ in group.assignments.values()))):
            return group
        raise Forbidden("Нет доступа к составу этой группы.")

    def lesson_sources(self, actor: Actor, lesson_id: UUID) -> tuple[Lesson, Group]:
        lesson = self._get(Lesson, lesson_id, copy=False)
        self.access.check_reads_lesson(actor, lesson)
        return lesson, self._get(Group, lesson.group_id, copy=False)

    def mark_history_sources(self, actor: Actor, lesson_id: UUID, mark_id: UUID
                             ) -> tuple[Lesson, list[Any], dict[UUID, str]]:
        lesson = self._get(Lesson, lesson_id)
        mark = lesson.mark(mark_id)
        if actor.kind in ("student", "guardian"):
            try:
                self.access.check_reads_student(actor, self._get(Student, mark.student_id))
            except NotFound:
                # Another child's mark: the 404 of an unknown mark, naming only what the
                # caller sent (never the child's id).
                raise NotFound("Отметка не найдена.", mark_id=str(mark_id)) from None
        else:
            self.access.check_reads_lesson(actor, lesson)
        events = list(self.store.repository.event_store.get(lesson_id))
        applications = {a.id for a in self.corrections.corrections_of(mark_id)}
        # A mark added by an approved application (never entered) cites it in its basis.
        applications.update(UUID(e.basis["application_id"]) for e in events
                            if getattr(e, "mark_id", None) == mark_id
                            and (getattr(e, "basis", None) or {}).get("application_id"))
        for application_id in sorted(applications):
            events.extend(self.store.repository.event_store.get(application_id))
        events.sort(key=lambda e: e.timestamp)
        names = {}
        for actor_id in {e.act.actor_id for e in events if hasattr(e, "act")}:
            try:
                names[actor_id] = self._get(StaffMember, actor_id).full_name
            except NotFound:
                names[actor_id] = "система"
        return lesson, events, names

    def policy_sources(self, actor: Actor) -> tuple[JournalPolicy, bool]:
        if not actor.is_staff:
            raise Forbidden("Положение журнала доступно сотрудникам.")
        policy = self.store.policy()
        return policy, policy.order is not None

    def period_sheet_sources(self, actor: Actor, group_id: UUID, discipline_id: UUID, key: str
                             ) -> tuple[Group, PeriodMarkSheet | None,
                                        dict[UUID, MarkValue | None]]:
        key = check_period_key(key)
        group = self._get(Group, group_id, copy=False)
        self.access.check_reads_group_discipline(actor, group, discipline_id)
        year = self.store.institution_ro().year(group.year_id)
        starts, ends = ((year.period(int(key)).starts, year.period(int(key)).ends)
                        if key.isdigit() else (year.starts, year.ends))
        members = group.roster_between(starts, ends)
        suggestions = {s: v for s, v in self.period_marks.suggest(group, discipline_id, key).items()
                       if s in members}
        suggestions.update({s: None for s in members if s not in suggestions})
        return group, self.period_marks.find_sheet(group_id, discipline_id, key), suggestions

    def corrections_sources(self, actor: Actor, status: Status | None,
                            overdue: bool | None = None) -> list[CorrectionApplication]:
        """The director (or a delegate) sees every application; other staff their own;
        students and guardians none. `overdue`: only the undecided ones past the one-day
        deadline (seed 002 §3.2.1), or (False) all the others."""
        if not actor.is_staff:
            raise Forbidden("Заявления на исправление доступны сотрудникам.")
        try:
            self.corrections.deciding_capacity(actor)
            everyone = True
        except Forbidden:
            everyone = False
        try:
            index = self._get(CorrectionIndex, CorrectionIndex.create_id(self.store.institution_id),
                              copy=False)
        except NotFound:
            return []
        applications = [self._get(CorrectionApplication, a, copy=False)
                         for a, e in index.entries.items()
                         if (everyone or e.author_id == actor.person_id)
                         and (status is None or e.status is status)]
        if overdue is None:
            return applications
        today = self.store.local_date()
        return [a for a in applications if a.is_overdue(today) is overdue]
