"""Period marks (четвертные, полугодовые, годовые, аттестационные, экзаменационные) of
one group × discipline × period, and the academic debt they reveal."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import ShallowContainers
from domain.errors import InvalidValue, NotFound
from domain.values import Act, MarkValue

NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/period-marks")
YEAR_KEYS = ("year", "attestation", "exam")
DEBT = frozenset({MarkValue.TWO, MarkValue.ONE, MarkValue.NOT_ATTESTED, MarkValue.FAILED})


def check_period_key(key: str) -> str:
    if key in YEAR_KEYS or (key.isascii() and key.isdigit() and 1 <= int(key) <= 20):
        return key
    raise InvalidValue("Период итоговой отметки: номер периода, «year», «attestation» или "
                       "«exam».", field="period")


def closing_number(key: str) -> int:
    """The period whose closing freezes these marks (0: the year-level marks)."""
    return int(key) if key.isdigit() else 0


class PeriodMarkSheet(ShallowContainers, Aggregate):
    @staticmethod
    def create_id(group_id: UUID, discipline_id: UUID, key: str, **_: Any) -> UUID:
        return uuid5(NAMESPACE, f"{group_id}/{discipline_id}/{key}")

    @event("Opened")
    def __init__(self, group_id: UUID, discipline_id: UUID, key: str, act: Act) -> None:
        self.group_id = group_id
        self.discipline_id = discipline_id
        self.key = key
        self.marks: dict[UUID, MarkValue] = {}
        self.suggested: dict[UUID, MarkValue | None] = {}

    def set_mark(self, student_id: UUID, value: MarkValue, suggested: MarkValue | None,
                 late: bool, act: Act) -> None:
        if student_id in self.marks:
            if self.marks[student_id] is value:
                return
            self._changed(student_id=student_id, value=value.value, basis=None, act=act)
        else:
            self._set(student_id=student_id, value=value.value,
                      suggested=suggested.value if suggested else None, late=late, act=act)

    @event("PeriodMarkSet")
    def _set(self, student_id: UUID, value: str, suggested: str | None, late: bool, act: Act
             ) -> None:
        self.marks[student_id] = MarkValue(value)
        self.suggested[student_id] = MarkValue(suggested) if suggested else None

    def correct(self, student_id: UUID, value: MarkValue, basis: dict[str, Any], act: Act
                ) -> None:
        self.mark(student_id)
        self._changed(student_id=student_id, value=value.value, basis=basis, act=act)

    @event("PeriodMarkChanged")
    def _changed(self, student_id: UUID, value: str, basis: dict[str, Any] | None, act: Act
                 ) -> None:
        self.marks[student_id] = MarkValue(value)

    def mark(self, student_id: UUID) -> MarkValue:
        try:
            return self.marks[student_id]
        except KeyError:
            raise NotFound("Итоговая отметка не выставлена.", student_id=str(student_id)
                           ) from None

    def debtors(self) -> list[UUID]:
        """Students with academic debt (академическая задолженность) in this discipline."""
        return [s for s, v in self.marks.items() if v in DEBT]
