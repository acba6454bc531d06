"""Governance use cases (ADR 0004): the journal policy and its entry windows, correction
applications decided by the director, period marks, closing and reopening periods."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.actors import SYSTEM_ACTOR_ID, Actor
from domain.corrections import CorrectionApplication, CorrectionIndex, Status, Target
from domain.errors import Forbidden, InvalidValue, NotFound, StaleVersion, StudentNotInGroup
from domain.groups import Group
from domain.institution import Period
from domain.lessons import Lesson, LessonIndex
from domain.people import StaffMember
from domain.period_marks import PeriodMarkSheet, check_period_key, closing_number
from domain.policy import (
    CorrectionRequired,
    JournalPolicy,
    MarksDisabled,
    PeriodClosed,
    RecordKind,
    suggested_mark,
)
from domain.values import AbsenceReasonKind, Act, Capacity, MarkValue, OrderRef, Role

if TYPE_CHECKING:
    from application.journal import JournalApplication as _Base
else:
    _Base = object


DEFAULT_POLICY = JournalPolicy(institution_id=SYSTEM_ACTOR_ID,
                               act=Act(SYSTEM_ACTOR_ID, Capacity.SYSTEM.value, date.min))


class Governance(_Base):
    """Mixed into JournalApplication."""

    # Policy ---------------------------------------------------------------------------
    def policy(self) -> JournalPolicy:
        """The adopted policy, or the permissive default (no deadlines) until one is."""
        try:
            return self._get(JournalPolicy, JournalPolicy.create_id(self.institution_id),
                             copy=False)
        except NotFound:
            return DEFAULT_POLICY

    def _policy_for_update(self, act: Act) -> JournalPolicy:
        try:
            return self._get(JournalPolicy, JournalPolicy.create_id(self.institution_id))
        except NotFound:
            return JournalPolicy(institution_id=self.institution_id, act=act)

    def now_local(self) -> datetime:
        self.local_date()  # loads the zone once
        assert self._zone is not None
        return self.clock().astimezone(self._zone)

    def adopt_policy(self, actor: Actor, preset: str | None, windows: dict[str, Any] | None,
                     weights: dict[str, int] | None, rounding: str,
                     marks_enabled: bool | None, order: OrderRef) -> None:
        if not actor.is_staff or not actor.has(Role.DIRECTOR, Role.ADMIN):
            raise Forbidden("Положение вводится приказом директора (вносит директор или "
                            "администратор журнала).")
        act = self._act(actor, actor.administration())
        policy = self._policy_for_update(act)
        policy.adopt(preset, windows, weights, rounding, marks_enabled, order, act)
        self._save(policy)

    def delegate_decisions(self, actor: Actor, deputy_id: UUID, order: OrderRef,
                           revoke: bool = False) -> None:
        if not actor.is_staff or Role.DIRECTOR not in actor.roles:
            raise Forbidden("Передать право рассмотрения заявлений может только директор.")
        act = self._act(actor, Capacity.DIRECTOR)
        deputy = self._get(StaffMember, deputy_id, copy=False)
        if Role.DEPUTY not in deputy.roles:
            raise InvalidValue("Право передаётся заместителю директора.", field="deputy_id")
        policy = self._policy_for_update(act)
        if revoke:
            policy.revoke(deputy_id=deputy_id, order=order, act=act)
        else:
            policy.delegate(deputy_id=deputy_id, order=order, act=act)
        self._save(policy)

    # Entry windows and closed periods ---------------------------------------------------
    def entry_check(self, kind: RecordKind, day: date, year_id: UUID, period_number: int,
                    group_id: UUID, period_ends: date, *, first: bool) -> bool:
        """True if a first entry is late; raises if a change is no longer allowed."""
        policy = self.policy()
        if policy.is_closed(year_id, period_number, group_id):
            raise PeriodClosed("Период закрыт: изменить запись можно только по заявлению на "
                               "исправление, утверждённому директором.")
        window = policy.window(kind)
        if window.on_time(day, period_ends, self.now_local()):
            return False
        if first:
            return True
        raise CorrectionRequired(
            f"Срок изменения записи истёк ({window.describe()}): исправление — только по "
            "письменному заявлению учителя или куратора, утверждённому директором "
            "(POST /api/v1/corrections).")

    def lesson_entry_check(self, lesson: Lesson, kind: RecordKind, *, first: bool) -> bool:
        group = self._get(Group, lesson.group_id, copy=False)
        period = self.period(group.year_id, lesson.period_number)
        return self.entry_check(kind, lesson.day, group.year_id, lesson.period_number,
                                group.id, period.ends, first=first)

    def period(self, year_id: UUID, number: int) -> Period:
        """A period of an academic year; periods never change once the year is opened,
        so they are remembered for the life of the process."""
        key = (year_id, number)
        if key not in self._periods:
            self._periods[key] = self._institution_ro().year(year_id).period(number)
        return self._periods[key]

    def check_marks_enabled(self) -> None:
        if not self.policy().marks_enabled:
            raise MarksDisabled("По положению организации отметки не выставляются "
                                "(учитывается только посещаемость).")

    # Closing periods --------------------------------------------------------------------
    def close_period(self, actor: Actor, year_id: UUID, period_number: int,
                     group_id: UUID | None) -> None:
        if not actor.is_staff or not actor.has(Role.DEPUTY, Role.DIRECTOR):
            raise Forbidden("Закрывает период заместитель директора.")
        act = self._act(actor, Capacity.DEPUTY if Role.DEPUTY in actor.roles
                        else Capacity.DIRECTOR)
        self._check_period(year_id, period_number, group_id)
        policy = self._policy_for_update(act)
        policy.close(year_id, period_number, group_id, act)
        self._save(policy)

    def reopen_period(self, actor: Actor, year_id: UUID, period_number: int,
                      group_id: UUID | None, order: OrderRef, reason: str) -> None:
        if not actor.is_staff or Role.DIRECTOR not in actor.roles:
            raise Forbidden("Открыть закрытый период можно только приказом директора.")
        act = self._act(actor, Capacity.DIRECTOR)
        policy = self._policy_for_update(act)
        policy.reopen(year_id, period_number, group_id, order, reason, act)
        self._save(policy)

    def _check_period(self, year_id: UUID, period_number: int, group_id: UUID | None) -> None:
        year = self._institution_ro().year(year_id)
        if period_number != 0:
            year.period(period_number)
        if group_id is not None and self._get(Group, group_id, copy=False).year_id != year_id:
            raise InvalidValue("Группа относится к другому учебному году.", field="group_id")

    def policy_sources(self, actor: Actor) -> tuple[JournalPolicy, bool]:
        if not actor.is_staff:
            raise Forbidden("Положение журнала доступно сотрудникам.")
        policy = self.policy()
        return policy, policy.order is not None

    def period_sheet_sources(self, actor: Actor, group_id: UUID, discipline_id: UUID, key: str
                             ) -> tuple[Group, PeriodMarkSheet | None,
                                        dict[UUID, MarkValue | None]]:
        key = check_period_key(key)
        group = self._get(Group, group_id, copy=False)
        self.check_reads_group_discipline(actor, group, discipline_id)
        year = self._institution_ro().year(group.year_id)
        starts, ends = ((year.period(int(key)).starts, year.period(int(key)).ends)
                        if key.isdigit() else (year.starts, year.ends))
        members = group.roster_between(starts, ends)
        suggestions = {s: v for s, v in self.suggest(group, discipline_id, key).items()
                       if s in members}
        suggestions.update({s: None for s in members if s not in suggestions})
        return group, self.find_sheet(group_id, discipline_id, key), suggestions

    # Period marks -----------------------------------------------------------------------
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
        late = self.entry_check(kind, day, group.year_id, closing_number(key), group.id, ends,
                                first=first)
        suggestion = self.suggest(group, discipline_id, key).get(student_id)
        sheet.set_mark(student_id, value, suggestion, late, act)
        self._save(sheet)

    def _period_span(self, group: Group, key: str, held_on: date | None, today: date
                     ) -> tuple[date, date, RecordKind, date]:
        year = self._institution_ro().year(group.year_id)
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

    def suggest(self, group: Group, discipline_id: UUID, key: str
                ) -> dict[UUID, MarkValue | None]:
        """Suggested marks: a period's weighted average rounded by the policy; the year's
        from the period marks; none for attestation and exams."""
        from domain.averages import weighted_average

        policy = self.policy()
        if key.isdigit():
            index = self.find_index(LessonIndex.journal_key(group.id, discipline_id, int(key)))
            lessons = [self._get(Lesson, e.lesson_id, copy=False)
                       for e in (index.lessons.values() if index else ())]
            return {s: suggested_mark(weighted_average(
                ((m.value, lesson.work_kind) for lesson in lessons
                 for m in lesson.active_marks_of(s)), policy.weights), policy.rounding)
                for s in group.members}
        if key == "year":
            year = self._institution_ro().year(group.year_id)
            sheets = [self.find_sheet(group.id, discipline_id, str(p.number))
                      for p in year.periods]
            result: dict[UUID, MarkValue | None] = {}
            for s in group.members:
                points = [sheet.marks[s].points for sheet in sheets
                          if sheet and s in sheet.marks and sheet.marks[s].points is not None]
                result[s] = suggested_mark(
                    Decimal(sum(points)) / len(points) if points else None, policy.rounding)
            return result
        return {}

    # Correction applications -------------------------------------------------------------
    def file_correction(self, actor: Actor, target: Target, record_id: UUID, item_id: UUID,
                        proposed_value: str | None, number: str, dated: date,
                        reason: str, document: str, proposed_document: str | None = None
                        ) -> UUID:
        """`proposed_value`: a mark ("5", "н/а"…; None cancels a lesson mark) or, for an
        absence reason, its kind ("illness"…) with `proposed_document`."""
        current: str | None
        if target is Target.ABSENCE_REASON:
            lesson = self._get(Lesson, record_id, copy=False)
            if item_id not in lesson.attendance:
                raise InvalidValue("У обучающегося нет пропуска на этом занятии.",
                                   field="item_id")
            group = self._get(Group, lesson.group_id, copy=False)
            is_teacher = actor.person_id == self._get_assignment_teacher(lesson.assignment_id)
            reason_now = lesson.reasons.get(item_id)
            student_id, current = item_id, reason_now.kind.value if reason_now else None
            try:
                proposed_value = AbsenceReasonKind(proposed_value).value
            except ValueError:
                raise InvalidValue("Причина пропуска: illness, guardian_application, order, "
                                   "unexcused.", field="proposed_value") from None
        elif target is Target.MARK:
            lesson = self._get(Lesson, record_id, copy=False)
            mark = lesson.active_mark(item_id)
            group = self._get(Group, lesson.group_id, copy=False)
            teacher_id = self._get_assignment_teacher(lesson.assignment_id)
            student_id, current = mark.student_id, mark.value.value
            is_teacher = actor.person_id == teacher_id
        else:
            sheet = self._get(PeriodMarkSheet, record_id, copy=False)
            group = self._get(Group, sheet.group_id, copy=False)
            student_id, current = item_id, sheet.mark(item_id).value
            is_teacher = group.teaches(actor.person_id, sheet.discipline_id)
        if target is not Target.ABSENCE_REASON and proposed_value is not None:
            proposed_value = MarkValue.parse(proposed_value).value
        if actor.is_staff and Role.TEACHER in actor.roles and is_teacher:
            capacity = Capacity.TEACHER
        elif actor.is_staff and group.curator_id == actor.person_id:
            capacity = Capacity.CURATOR
        else:
            raise Forbidden("Заявление подаёт учитель, ведущий запись, или куратор группы.")
        act = self._act(actor, capacity)
        application = CorrectionApplication.file(
            number=number, dated=dated, author_id=actor.person_id,
            author_capacity=capacity.value, target=target, record_id=record_id,
            item_id=item_id, student_id=student_id, current_value=current,
            proposed_value=proposed_value, reason=reason, document=document, act=act,
            proposed_document=proposed_document)
        index = self._correction_index(act)
        index.note(application_id=application.id, author_id=actor.person_id, item_id=item_id,
                   status=Status.FILED.value, act=act)
        self._save(application, index)
        return application.id

    def _get_assignment_teacher(self, assignment_id: UUID) -> UUID:
        from domain.assignments import TeachingAssignment

        return self._get(TeachingAssignment, assignment_id, copy=False).teacher_id

    def _correction_index(self, act: Act) -> CorrectionIndex:
        try:
            return self._get(CorrectionIndex, CorrectionIndex.create_id(self.institution_id))
        except NotFound:
            return CorrectionIndex(institution_id=self.institution_id, act=act)

    def deciding_capacity(self, actor: Actor) -> Capacity:
        if actor.is_staff and Role.DIRECTOR in actor.roles:
            return Capacity.DIRECTOR
        if (actor.is_staff and Role.DEPUTY in actor.roles
                and actor.person_id in self.policy().delegates):
            return Capacity.DEPUTY
        raise Forbidden("Заявления рассматривает директор или заместитель, которому это право "
                        "передано приказом.")

    def decide_correction(self, actor: Actor, application_id: UUID, approve: bool,
                          resolution: str) -> None:
        act = self._act(actor, self.deciding_capacity(actor))
        application = self._get(CorrectionApplication, application_id)
        application.decide(approve, resolution, act)
        index = self._correction_index(act)
        index.note(application_id=application.id, author_id=application.author_id,
                   item_id=application.item_id, status=application.status.value, act=act)
        changed: Any = None
        if approve:
            changed = self._apply(application, act)
        self._save(application, index, changed)

    def _apply(self, application: CorrectionApplication, act: Act) -> Any:
        stale = StaleVersion("Запись изменилась после подачи заявления: рассмотрите его "
                             "заново (отклоните и подайте новое).")
        if application.target is Target.ABSENCE_REASON:
            lesson = self._get(Lesson, application.record_id)
            now = lesson.reasons.get(application.item_id)
            if (now.kind.value if now else None) != application.current_value:
                raise stale
            lesson.set_absence_reason(application.item_id,
                                      AbsenceReasonKind(application.proposed_value),
                                      application.proposed_document, act,
                                      basis=application.basis())
            return lesson
        proposed = MarkValue(application.proposed_value) if application.proposed_value else None
        if application.target is Target.MARK:
            lesson = self._get(Lesson, application.record_id)
            mark = lesson.mark(application.item_id)
            if mark.cancelled or mark.value.value != application.current_value:
                raise stale
            if proposed is None:
                lesson.cancel_mark(mark.mark_id, act, basis=application.basis())
            else:
                lesson.change_mark(mark.mark_id, proposed, act, basis=application.basis())
            return lesson
        sheet = self._get(PeriodMarkSheet, application.record_id)
        if sheet.mark(application.item_id).value != application.current_value:
            raise stale
        assert proposed is not None
        sheet.correct(application.item_id, proposed, application.basis(), act)
        return sheet

    def withdraw_correction(self, actor: Actor, application_id: UUID) -> None:
        application = self._get(CorrectionApplication, application_id)
        act = self._act(actor, Capacity(application.author_capacity))
        application.withdraw(act)
        index = self._correction_index(act)
        index.note(application_id=application.id, author_id=application.author_id,
                   item_id=application.item_id, status=Status.WITHDRAWN.value, act=act)
        self._save(application, index)

    def corrections_sources(self, actor: Actor, status: Status | None
                            ) -> list[CorrectionApplication]:
        """The director (or a delegated deputy) sees every application; other staff their
        own; students and guardians none."""
        if not actor.is_staff:
            raise Forbidden("Заявления на исправление доступны сотрудникам.")
        try:
            self.deciding_capacity(actor)
            everyone = True
        except Forbidden:
            everyone = False
        try:
            index = self._get(CorrectionIndex, CorrectionIndex.create_id(self.institution_id),
                              copy=False)
        except NotFound:
            return []
        return [self._get(CorrectionApplication, a, copy=False)
                for a, e in index.entries.items()
                if (everyone or e.author_id == actor.person_id)
                and (status is None or e.status is status)]

    def corrections_of(self, item_id: UUID) -> list[CorrectionApplication]:
        try:
            index = self._get(CorrectionIndex, CorrectionIndex.create_id(self.institution_id),
                              copy=False)
        except NotFound:
            return []
        return [self._get(CorrectionApplication, a, copy=False) for a in index.of_item(item_id)]
