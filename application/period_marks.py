"""Period, year, attestation and exam marks, with the mark suggested from the weighted
average of the period (ADR 0004)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal
from uuid import UUID

from application.actors import Actor
from application.regulation import Regulation
from application.store import Area, InstitutionStore
from application.unit_of_work import units_of_work
from domain.errors import (
    Forbidden,
    InvalidValue,
    NotFound,
    StudentNotInGroup,
)
from domain.groups import Group
from domain.lessons import Lesson, LessonIndex
from domain.period_marks import PeriodMarkSheet, check_period_key, closing_number
from domain.policy import (
    RecordKind,
    suggested_mark,
)
from domain.values import (
    Act,
    Capacity,
    MarkValue,
    Role,
)


@units_of_work
class PeriodMarks(Area):
    def __init__(self, store: InstitutionStore, regulation: Regulation) -> None:
        super().__init__(store)
        self.regulation = regulation

    def set_period_mark(self, actor: Actor, group_id: UUID, discipline_id: UUID, key: str,
                        student_id: UUID, value: MarkValue, held_on: date | None) -> None:
        key = check_period_key(key)
        group = self._get(Group, group_id, copy=False)
        if not (actor.is_staff and Role.TEACHER in actor.roles
                and group.teaches(actor.person_id, discipline_id)):
            raise Forbidden("Итоговые отметки выставляет учитель этой дисциплины в группе.")
        act = self._act(actor, Capacity.TEACHER)
        starts, ends, kind, day = self._period_span(group, key, held_on, act.local_date)
        if student_id not in group.roster_between(starts, ends):
            raise StudentNotInGroup("Обучающийся не состоял в группе в этом периоде.",
                                    student_id=str(student_id))
        sheet = self._sheet_for_update(group_id, discipline_id, key, act)
        first = student_id not in sheet.marks
        if not first and sheet.marks[student_id] is value:
            return
        late = self.regulation.entry_check(kind, day, group.year_id, closing_number(key),
                                           group.id, ends, first=first)
        suggestion = self.suggest(group, discipline_id, key, [student_id]).get(student_id)
        sheet.set_mark(student_id, value, suggestion, late, act)
        self._save(sheet)

    def _period_span(self, group: Group, key: str, held_on: date | None, today: date
                     ) -> tuple[date, date, RecordKind, date]:
        year = self.store.institution_ro().year(group.year_id)
        if key.isdigit():
            period = year.period(int(key))
            return period.starts, period.ends, RecordKind.PERIOD, period.ends
        if key == "year":
            return year.starts, year.ends, RecordKind.PERIOD, year.ends
        if held_on is None or held_on > today:
            raise InvalidValue("Для аттестации и экзамена укажите прошедшую дату проведения.",
                               field="held_on")
        return year.starts, year.ends, RecordKind.ATTESTATION, held_on

    def _sheet_for_update(self, group_id: UUID, discipline_id: UUID, key: str, act: Act
                          ) -> PeriodMarkSheet:
        try:
            return self._get(PeriodMarkSheet,
                             PeriodMarkSheet.create_id(group_id, discipline_id, key))
        except NotFound:
            return PeriodMarkSheet(group_id=group_id, discipline_id=discipline_id, key=key,
                                   act=act)

    def find_sheet(self, group_id: UUID, discipline_id: UUID, key: str
                   ) -> PeriodMarkSheet | None:
        try:
            return self._get(PeriodMarkSheet,
                             PeriodMarkSheet.create_id(group_id, discipline_id, key), copy=False)
        except NotFound:
            return None

    def suggest(self, group: Group, discipline_id: UUID, key: str,
                students: Collection[UUID] | None = None) -> dict[UUID, MarkValue | None]:
        """Suggested marks of `students` (every member by default): a period's weighted
        average rounded by the policy; the year's from the period marks; none for
        attestation and exams."""
        from domain.averages import weighted_average

        policy = self.store.policy()
        who = group.members if students is None else students
        if key.isdigit():
            key_ = LessonIndex.journal_key(group.id, discipline_id, int(key))
            index = self.store.find_index(key_)
            lessons = [self._get(Lesson, e.lesson_id, copy=False)
                       for e in (index.lessons.values() if index else ())]
            return {s: suggested_mark(weighted_average(
                ((m.value, lesson.work_kind) for lesson in lessons
                 for m in lesson.active_marks_of(s)), policy.weights), policy.rounding)
                for s in who}
        if key == "year":
            year = self.store.institution_ro().year(group.year_id)
            sheets = [self.find_sheet(group.id, discipline_id, str(p.number))
                      for p in year.periods]
            result: dict[UUID, MarkValue | None] = {}
            for s in who:
                points = [sheet.marks[s].points for sheet in sheets
                          if sheet and s in sheet.marks and sheet.marks[s].points is not None]
                result[s] = suggested_mark(
                    Decimal(sum(points)) / len(points) if points else None, policy.rounding)
            return result
        return {}
