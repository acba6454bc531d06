"""The journal policy (положение) adopted by the director's order, its entry windows
and closed periods (ADR 0004): what every write checks before it is accepted."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from application.actors import Actor
from application.store import Area
from application.unit_of_work import units_of_work
from domain.errors import (
    Forbidden,
    InvalidValue,
    NotFound,
)
from domain.groups import Group
from domain.lessons import Lesson
from domain.people import StaffMember
from domain.policy import (
    CorrectionRequired,
    JournalPolicy,
    MarksDisabled,
    PeriodClosed,
    RecordKind,
)
from domain.values import (
    Act,
    Capacity,
    OrderRef,
    Role,
)


@units_of_work
class Regulation(Area):
    def _policy_for_update(self, act: Act) -> JournalPolicy:
        try:
            return self._get(JournalPolicy, JournalPolicy.create_id(self.store.institution_id))
        except NotFound:
            return JournalPolicy(institution_id=self.store.institution_id, act=act)

    def adopt_policy(self, actor: Actor, preset: str | None, windows: dict[str, Any] | None,
                     weights: dict[str, int] | None, rounding: str,
                     marks_enabled: bool | None, order: OrderRef,
                     rates: dict[str, str] | None = None) -> None:
        """The director's order adopting or changing the policy (seed 001 §4.1)."""
        act = self._act(actor, self._director(actor))
        policy = self._policy_for_update(act)
        policy.adopt(preset, windows, weights, rounding, marks_enabled, order, act, rates)
        self._save(policy)

    def prepare_policy(self, actor: Actor, preset: str | None,
                       windows: dict[str, Any] | None, weights: dict[str, int] | None,
                       rounding: str, marks_enabled: bool | None,
                       rates: dict[str, str] | None = None) -> None:
        """The journal administrator (or the director) prepares a draft; it changes
        nothing until the director adopts it by order."""
        if not actor.is_staff or not actor.has(Role.DIRECTOR, Role.ADMIN):
            raise Forbidden("Проект положения готовит администратор журнала или директор.")
        act = self._act(actor, Capacity.DIRECTOR if Role.DIRECTOR in actor.roles
                        else Capacity.ADMIN)
        policy = self._policy_for_update(act)
        policy.prepare(preset, windows, weights, rounding, marks_enabled, act, rates)
        self._save(policy)

    def adopt_prepared_policy(self, actor: Actor, order: OrderRef) -> None:
        """The director's order adopting the prepared draft as it stands."""
        act = self._act(actor, self._director(actor))
        policy = self._policy_for_update(act)
        policy.adopt_draft(order, act)
        self._save(policy)

    @staticmethod
    def _director(actor: Actor) -> Capacity:
        if not actor.is_staff or Role.DIRECTOR not in actor.roles:
            raise Forbidden("Положение о журнале вводится и изменяется только приказом "
                            "директора (администратор может подготовить проект).")
        return Capacity.DIRECTOR

    def delegate_decisions(self, actor: Actor, delegate_id: UUID, order: OrderRef,
                           revoke: bool = False) -> None:
        """The director's order giving (or taking back) the right to decide correction
        applications: to a deputy, or to a journal administrator (seed 002 §3.2.1 has
        the administrators organise the correction of erroneous data)."""
        if not actor.is_staff or Role.DIRECTOR not in actor.roles:
            raise Forbidden("Передать право рассмотрения заявлений может только директор.")
        act = self._act(actor, Capacity.DIRECTOR)
        delegate = self._get(StaffMember, delegate_id, copy=False)
        if not delegate.roles & {Role.DEPUTY, Role.ADMIN}:
            raise InvalidValue("Право передаётся заместителю директора или администратору "
                               "журнала.", field="delegate_id")
        policy = self._policy_for_update(act)
        if revoke:
            policy.revoke(deputy_id=delegate_id, order=order, act=act)
        else:
            policy.delegate(deputy_id=delegate_id, order=order, act=act)
        self._save(policy)

    def entry_check(self, kind: RecordKind, day: date, year_id: UUID, period_number: int,
                    group_id: UUID, period_ends: date, *, first: bool,
                    results_on: date | None = None) -> bool:
        """True if a first entry is late; raises if a change is no longer allowed."""
        policy = self.store.policy()
        self.check_open(year_id, period_number, group_id)
        window = policy.window(kind)
        if window.on_time(day, period_ends, self.store.now_local(), results_on):
            return False
        if first:
            return True
        raise CorrectionRequired(
            f"Срок изменения записи истёк ({window.describe()}): исправление — только по "
            "письменному заявлению учителя или куратора, утверждённому директором "
            "(POST /api/v1/corrections).")

    def check_open(self, year_id: UUID, period_number: int, group_id: UUID) -> None:
        if self.store.policy().is_closed(year_id, period_number, group_id):
            raise PeriodClosed("Период закрыт: изменить запись можно только по заявлению на "
                               "исправление, утверждённому директором.")

    def lesson_entry_check(self, lesson: Lesson, kind: RecordKind, *, first: bool) -> bool:
        group = self._get(Group, lesson.group_id, copy=False)
        period = self.store.period(group.year_id, lesson.period_number)
        return self.entry_check(kind, lesson.day, group.year_id, lesson.period_number,
                                group.id, period.ends, first=first,
                                results_on=lesson.results_on)

    def check_lesson_open(self, lesson: Lesson) -> None:
        self.check_open(self._get(Group, lesson.group_id, copy=False).year_id,
                        lesson.period_number, lesson.group_id)

    def check_marks_enabled(self) -> None:
        if not self.store.policy().marks_enabled:
            raise MarksDisabled("По положению организации отметки не выставляются "
                                "(учитывается только посещаемость).")

    def close_period(self, actor: Actor, year_id: UUID, period_number: int,
                     group_id: UUID | None, order: OrderRef | None = None,
                     reason: str | None = None) -> None:
        """Closes the period; before its last day only by an order stating the reason."""
        if not actor.is_staff or not actor.has(Role.DEPUTY, Role.DIRECTOR):
            raise Forbidden("Закрывает период заместитель директора.")
        act = self._act(actor, Capacity.DEPUTY if Role.DEPUTY in actor.roles
                        else Capacity.DIRECTOR)
        last_day = self._check_period(year_id, period_number, group_id)
        policy = self._policy_for_update(act)
        policy.close(year_id, period_number, group_id, act, last_day=last_day, order=order,
                     reason=reason)
        self._save(policy)

    def reopen_period(self, actor: Actor, year_id: UUID, period_number: int,
                      group_id: UUID | None, order: OrderRef, reason: str) -> None:
        if not actor.is_staff or Role.DIRECTOR not in actor.roles:
            raise Forbidden("Открыть закрытый период можно только приказом директора.")
        act = self._act(actor, Capacity.DIRECTOR)
        policy = self._policy_for_update(act)
        policy.reopen(year_id, period_number, group_id, order, reason, act)
        self._save(policy)

    def _check_period(self, year_id: UUID, period_number: int, group_id: UUID | None) -> date:
        """The period's last day (the year's for period 0)."""
        year = self.store.institution_ro().year(year_id)
        last_day = year.period(period_number).ends if period_number != 0 else year.ends
        if group_id is not None and self._get(Group, group_id, copy=False).year_id != year_id:
            raise InvalidValue("Группа относится к другому учебному году.", field="group_id")
        return last_day
