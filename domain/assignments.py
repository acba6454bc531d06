"""Teaching assignments (педагогическая нагрузка): teacher × group or subgroup ×
discipline for one academic year, and substitutions (замены)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DuplicateEntry, InvalidValue
from domain.values import Act, OrderRef


class TeachingAssignment(Aggregate):
    @event("Made")
    def __init__(
        self, teacher_id: UUID, group_id: UUID, subgroup_id: UUID | None,
        discipline_id: UUID, year_id: UUID, starts: date, act: Act,
    ) -> None:
        self.teacher_id = teacher_id
        self.group_id = group_id
        self.subgroup_id = subgroup_id
        self.discipline_id = discipline_id
        self.year_id = year_id
        self.starts = starts
        self.ends: date | None = None
        self.substitutes: dict[date, set[UUID]] = {}

    def active_on(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day < self.ends)

    def may_conduct(self, person_id: UUID, day: date) -> str | None:
        """'teacher' or 'substitute' if the person may conduct this assignment's lesson
        on `day`; None otherwise."""
        if person_id == self.teacher_id and self.active_on(day):
            return "teacher"
        if person_id in self.substitutes.get(day, set()):
            return "substitute"
        return None

    def appoint_substitute(self, substitute_id: UUID, day: date, act: Act) -> None:
        if substitute_id == self.teacher_id:
            raise InvalidValue("Нельзя назначить замену самому учителю нагрузки.",
                               field="substitute_id")
        if substitute_id in self.substitutes.get(day, set()):
            raise DuplicateEntry("Эта замена уже назначена.")
        self._substitute_appointed(substitute_id=substitute_id, day=day, act=act)

    @event("SubstituteAppointed")
    def _substitute_appointed(self, substitute_id: UUID, day: date, act: Act) -> None:
        self.substitutes.setdefault(day, set()).add(substitute_id)

    def end(self, effective: date, order: OrderRef, act: Act) -> None:
        if self.ends is not None:
            raise DuplicateEntry("Нагрузка уже снята.")
        if effective <= self.starts:
            raise InvalidValue("Нагрузку можно снять только после её начала.", field="effective")
        self._ended(effective=effective, order=order, act=act)

    @event("Ended")
    def _ended(self, effective: date, order: OrderRef, act: Act) -> None:
        self.ends = effective
