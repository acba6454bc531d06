"""Correction applications (заявления на исправление): filed by the teacher or the
curator, decided by the director or a delegate, applied on approval citing the
application (ADR 0004)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from application.actors import Actor
from application.store import Area
from application.unit_of_work import units_of_work
from domain.assignments import TeachingAssignment
from domain.corrections import (
    ApplicationNumberTaken,
    CorrectionApplication,
    CorrectionIndex,
    Status,
    Target,
    number_key,
)
from domain.errors import (
    Forbidden,
    InvalidValue,
    NotFound,
    StaleVersion,
)
from domain.groups import Group
from domain.lessons import Lesson
from domain.period_marks import PeriodMarkSheet
from domain.policy import MarksDisabled
from domain.values import (
    AbsenceReasonKind,
    Act,
    Capacity,
    MarkValue,
    Role,
)

# A mark added by an approved application has an id derived from the application.
NEW_MARK_NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/corrections/new-mark")


@units_of_work
class Corrections(Area):
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
        elif target is Target.NEW_MARK:
            lesson = self._get(Lesson, record_id, copy=False)
            group = self._get(Group, lesson.group_id, copy=False)
            is_teacher = actor.person_id == self._get_assignment_teacher(lesson.assignment_id)
            student_id, current = item_id, None
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
        if target is Target.NEW_MARK:
            self._check_new_mark(lesson, group, item_id, proposed_value)
        act = self._act(actor, capacity)
        application = CorrectionApplication.file(
            number=number, dated=dated, author_id=actor.person_id,
            author_capacity=capacity.value, target=target, record_id=record_id,
            item_id=item_id, student_id=student_id, current_value=current,
            proposed_value=proposed_value, reason=reason, document=document, act=act,
            proposed_document=proposed_document)
        index = self._correction_index(act)
        self._check_number_unused(index, application)
        index.register_number(application.id, application.dated.year, application.number, act)
        index.note(application_id=application.id, author_id=actor.person_id, item_id=item_id,
                   status=Status.FILED.value, act=act)
        self._save(application, index)
        return application.id

    def _check_new_mark(self, lesson: Lesson, group: Group, student_id: UUID,
                        proposed_value: str | None) -> None:
        """A mark never entered is checked at filing as the mark itself would be."""
        if not self.store.policy().marks_enabled:
            raise MarksDisabled("По положению организации отметки не выставляются.")
        if proposed_value is None:
            raise InvalidValue("Укажите отметку, которую нужно внести.", field="proposed_value")
        lesson.check_on_roster(student_id, group.roster_on(lesson.day, lesson.subgroup_id))
        lesson.check_not_absent(student_id, MarkValue(proposed_value))

    def _check_number_unused(self, index: CorrectionIndex,
                             application: CorrectionApplication) -> None:
        """Applications filed before numbers were registered in the index are read one
        by one (their number is only on the application)."""
        key = number_key(application.number)
        for other_id in index.unnumbered():
            other = self._get(CorrectionApplication, other_id, copy=False)
            if other.dated.year == application.dated.year and number_key(other.number) == key:
                raise ApplicationNumberTaken(
                    f"Заявление № {application.number} за {application.dated.year} год уже "
                    "зарегистрировано: укажите другой номер.",
                    number=application.number, year=application.dated.year)

    def _get_assignment_teacher(self, assignment_id: UUID) -> UUID:

        return self._get(TeachingAssignment, assignment_id, copy=False).teacher_id

    def _correction_index(self, act: Act) -> CorrectionIndex:
        try:
            return self._get(CorrectionIndex, CorrectionIndex.create_id(self.store.institution_id))
        except NotFound:
            return CorrectionIndex(institution_id=self.store.institution_id, act=act)

    def deciding_capacity(self, actor: Actor) -> Capacity:
        if actor.is_staff and Role.DIRECTOR in actor.roles:
            return Capacity.DIRECTOR
        if actor.is_staff and actor.person_id in self.store.policy().delegates:
            if Role.DEPUTY in actor.roles:
                return Capacity.DEPUTY
            if Role.ADMIN in actor.roles:
                return Capacity.ADMIN
        raise Forbidden("Заявления рассматривает директор или заместитель директора либо "
                        "администратор журнала, которому это право передано приказом.")

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
        if application.target is Target.NEW_MARK:
            assert proposed is not None
            lesson = self._get(Lesson, application.record_id)
            group = self._get(Group, lesson.group_id, copy=False)
            lesson.record_mark(uuid5(NEW_MARK_NAMESPACE, str(application.id)),
                               application.item_id, proposed,
                               group.roster_on(lesson.day, lesson.subgroup_id), act,
                               basis=application.basis())
            return lesson
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

    def corrections_of(self, item_id: UUID) -> list[CorrectionApplication]:
        try:
            index = self._get(CorrectionIndex, CorrectionIndex.create_id(self.store.institution_id),
                              copy=False)
        except NotFound:
            return []
        return [self._get(CorrectionApplication, a, copy=False) for a in index.of_item(item_id)]
