"""A group (класс, учебная группа) of one academic year, its curator, subgroups, and
its membership as a history of intervals set by orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DuplicateEntry, InvalidValue, NotFound, StudentNotInGroup
from domain.values import Act, OrderRef, require_text


@dataclass(frozen=True)
class Interval:
    """Membership from `starts` (inclusive) until `ends` (exclusive; None: open)."""

    starts: date
    ends: date | None = None

    def covers(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day < self.ends)

    def overlaps(self, first: date, last: date) -> bool:
        return self.starts <= last and (self.ends is None or self.ends > first)


def _member(intervals: list[Interval], day: date) -> bool:
    return any(i.covers(day) for i in intervals)


def _close(intervals: list[Interval], effective: date) -> None:
    if intervals and intervals[-1].ends is None:
        intervals[-1] = Interval(intervals[-1].starts, effective)


class Group(Aggregate):
    @event("Formed")
    def __init__(self, year_id: UUID, name: str, curator_id: UUID | None, act: Act) -> None:
        self.year_id = year_id
        self.name = name
        self.curator_id = curator_id
        self.members: dict[UUID, list[Interval]] = {}
        self.subgroups: dict[UUID, str] = {}
        self.subgroup_members: dict[UUID, dict[UUID, list[Interval]]] = {}
        self.assignments: dict[UUID, tuple[UUID, UUID, UUID | None]] = {}
        self.names: dict[UUID, str] = {}

    @classmethod
    def form(cls, year_id: UUID, name: str, curator_id: UUID | None, act: Act) -> Group:
        return cls(year_id=year_id, name=require_text(name, "name", "название группы", 50),
                   curator_id=curator_id, act=act)

    @event("CuratorAssigned")
    def assign_curator(self, curator_id: UUID, order: OrderRef, act: Act) -> None:
        self.curator_id = curator_id

    @event("TeacherAssigned")
    def note_assignment(self, assignment_id: UUID, teacher_id: UUID, discipline_id: UUID,
                        subgroup_id: UUID | None, act: Act) -> None:
        self.assignments[assignment_id] = (teacher_id, discipline_id, subgroup_id)

    def teaches(self, person_id: UUID, discipline_id: UUID) -> bool:
        return any(t == person_id and d == discipline_id for t, d, _ in self.assignments.values())

    # Subgroups ----------------------------------------------------------------------
    def add_subgroup(self, subgroup_id: UUID, name: str, act: Act) -> None:
        name = require_text(name, "name", "название подгруппы", 50)
        if name in self.subgroups.values():
            raise DuplicateEntry(f"Подгруппа «{name}» уже есть в группе {self.name}.")
        self._subgroup_added(subgroup_id=subgroup_id, name=name, act=act)

    @event("SubgroupAdded")
    def _subgroup_added(self, subgroup_id: UUID, name: str, act: Act) -> None:
        self.subgroups[subgroup_id] = name
        self.subgroup_members[subgroup_id] = {}

    def check_subgroup(self, subgroup_id: UUID) -> None:
        if subgroup_id not in self.subgroups:
            raise NotFound("Подгруппа не найдена.", subgroup_id=str(subgroup_id))

    def place_in_subgroup(
        self, subgroup_id: UUID, student_id: UUID, order: OrderRef, effective: date, act: Act
    ) -> None:
        self.check_subgroup(subgroup_id)
        self.check_member(student_id, effective)
        if _member(self.subgroup_members[subgroup_id].get(student_id, []), effective):
            raise DuplicateEntry("Обучающийся уже в этой подгруппе.")
        self._placed_in_subgroup(subgroup_id=subgroup_id, student_id=student_id,
                                 order=order, effective=effective, act=act)

    @event("PlacedInSubgroup")
    def _placed_in_subgroup(
        self, subgroup_id: UUID, student_id: UUID, order: OrderRef, effective: date, act: Act
    ) -> None:
        self.subgroup_members[subgroup_id].setdefault(student_id, []).append(Interval(effective))

    def remove_from_subgroup(
        self, subgroup_id: UUID, student_id: UUID, order: OrderRef, effective: date, act: Act
    ) -> None:
        self.check_subgroup(subgroup_id)
        spans = self.subgroup_members[subgroup_id].get(student_id, [])
        if not spans or spans[-1].ends is not None or effective < spans[-1].starts:
            raise StudentNotInGroup("Обучающийся не состоит в этой подгруппе на эту дату.")
        self._removed_from_subgroup(subgroup_id=subgroup_id, student_id=student_id,
                                    order=order, effective=effective, act=act)

    @event("RemovedFromSubgroup")
    def _removed_from_subgroup(
        self, subgroup_id: UUID, student_id: UUID, order: OrderRef, effective: date, act: Act
    ) -> None:
        _close(self.subgroup_members[subgroup_id][student_id], effective)

    # Membership ---------------------------------------------------------------------
    def admit(self, student_id: UUID, full_name: str, order: OrderRef, effective: date,
              act: Act) -> None:
        spans = self.members.get(student_id, [])
        if spans and (spans[-1].ends is None or effective < spans[-1].ends):
            raise DuplicateEntry("Обучающийся уже состоит в группе.")
        self._admitted(student_id=student_id, full_name=full_name, order=order,
                       effective=effective, act=act)

    @event("StudentAdmitted")
    def _admitted(self, student_id: UUID, full_name: str, order: OrderRef, effective: date,
                  act: Act) -> None:
        self.members.setdefault(student_id, []).append(Interval(effective))
        self.names[student_id] = full_name

    def release(
        self, student_id: UUID, order: OrderRef, effective: date, reason: str, act: Act
    ) -> None:
        spans = self.members.get(student_id, [])
        if not spans or spans[-1].ends is not None:
            raise StudentNotInGroup("Обучающийся не состоит в группе.")
        if effective <= spans[-1].starts:
            raise InvalidValue("Дата выбытия должна быть позже даты зачисления в группу.",
                               field="effective")
        self._released(student_id=student_id, order=order, effective=effective,
                       reason=reason, act=act)

    @event("StudentReleased")
    def _released(
        self, student_id: UUID, order: OrderRef, effective: date, reason: str, act: Act
    ) -> None:
        _close(self.members[student_id], effective)
        for members in self.subgroup_members.values():
            if student_id in members:
                _close(members[student_id], effective)

    # Queries ------------------------------------------------------------------------
    def is_member(self, student_id: UUID, day: date, subgroup_id: UUID | None = None) -> bool:
        if subgroup_id is not None:
            return _member(self.subgroup_members.get(subgroup_id, {}).get(student_id, []), day)
        return _member(self.members.get(student_id, []), day)

    def check_member(self, student_id: UUID, day: date, subgroup_id: UUID | None = None) -> None:
        if not self.is_member(student_id, day, subgroup_id):
            where = f"подгруппе «{self.subgroups[subgroup_id]}»" if subgroup_id else "группе"
            raise StudentNotInGroup(
                f"Обучающийся не состоял в {where} {self.name} на {day:%d.%m.%Y}.",
                student_id=str(student_id), date=day.isoformat(),
            )

    def roster_on(self, day: date, subgroup_id: UUID | None = None) -> frozenset[UUID]:
        source = self.subgroup_members.get(subgroup_id, {}) if subgroup_id else self.members
        return frozenset(s for s, spans in source.items() if _member(spans, day))

    def roster_between(
        self, first: date, last: date, subgroup_id: UUID | None = None
    ) -> dict[UUID, list[Interval]]:
        """Everyone who was a member at some day of [first, last], with their intervals."""
        source = self.subgroup_members.get(subgroup_id, {}) if subgroup_id else self.members
        return {
            s: [i for i in spans if i.overlaps(first, last)]
            for s, spans in source.items()
            if any(i.overlaps(first, last) for i in spans)
        }
