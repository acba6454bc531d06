"""Correction applications (заявления на исправление): after the entry window, or once
the period is closed, a record changes only on a written application of the teacher or
the curator, decided by the director or a deputy delegated by order (seed 001 §4.1, §4.3,
§4.4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import ShallowContainers
from domain.errors import Conflict, DuplicateEntry, Forbidden, InvalidValue
from domain.values import Act, require_text

INDEX_NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/corrections")
# Erroneous data is corrected within one day (seed 002 §3.2.1): an application filed on
# day D is decided by 24:00 of D + 1 (institution-local calendar days), else overdue.
DECISION_DAYS = 1


class FourEyes(Forbidden):
    code = "four_eyes"


class AlreadyDecided(Conflict):
    code = "application_already_decided"


class ApplicationNumberTaken(DuplicateEntry):
    code = "application_number_taken"


def number_key(number: str) -> str:
    """How application numbers compare: without a leading № (or N) and white space,
    case-insensitive — «№ 18», «N18» and «18» are one number."""
    return re.sub(r"\s+", "", number).lstrip("№Nn").casefold()


class Status(str, Enum):
    FILED = "filed"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Target(str, Enum):
    MARK = "mark"  # a mark of a lesson: record_id = lesson id, item_id = mark id
    PERIOD_MARK = "period_mark"  # record_id = period mark sheet id, item_id = student id
    ABSENCE_REASON = "absence_reason"  # record_id = lesson id, item_id = student id
    NEW_MARK = "new_mark"  # a mark never entered: record_id = lesson id, item_id = student id


class CorrectionApplication(Aggregate):
    @event("Filed")
    def __init__(self, number: str, dated: date, author_id: UUID, author_capacity: str,
                 target: str, record_id: UUID, item_id: UUID, student_id: UUID,
                 current_value: str | None, proposed_value: str | None, reason: str,
                 document: str, act: Act, proposed_document: str | None = None) -> None:
        self.number = number
        self.dated = dated
        self.author_id = author_id
        self.author_capacity = author_capacity
        self.target = Target(target)
        self.record_id = record_id
        self.item_id = item_id
        self.student_id = student_id
        self.current_value = current_value
        self.proposed_value = proposed_value  # None: cancel the mark
        self.proposed_document = proposed_document  # absence reasons: the new document
        self.reason = reason
        self.document = document
        self.status = Status.FILED
        self.decided_by: UUID | None = None
        self.resolution: str | None = None
        self.filed_on = act.local_date  # registered: the decision is due from this day

    @property
    def due_by(self) -> date:
        """The last institution-local day of the one-day deadline for the decision."""
        return self.filed_on + timedelta(days=DECISION_DAYS)

    def is_overdue(self, today: date) -> bool:
        return self.status is Status.FILED and today > self.due_by

    @classmethod
    def file(cls, *, number: str, dated: date, author_id: UUID, author_capacity: str,
             target: Target, record_id: UUID, item_id: UUID, student_id: UUID,
             current_value: str | None, proposed_value: str | None, reason: str,
             document: str, act: Act, proposed_document: str | None = None
             ) -> CorrectionApplication:
        """Values are the records' own codes: a mark ("5", "н/а"…) or an absence reason
        ("illness"…); `proposed_value` None cancels a lesson mark."""
        if dated > act.local_date:
            raise InvalidValue("Дата заявления не может быть в будущем.", field="dated")
        if (proposed_value is not None and proposed_value == current_value
                and target is not Target.ABSENCE_REASON):
            raise InvalidValue("Предлагаемое значение совпадает с текущим.",
                               field="proposed_value")
        if proposed_value is None and target is not Target.MARK:
            raise InvalidValue("Укажите исправленное значение.", field="proposed_value")
        if target is Target.NEW_MARK and current_value is not None:
            raise InvalidValue("Новая отметка добавляется туда, где отметки нет.",
                               field="current_value")
        return cls(
            number=require_text(number, "number", "номер заявления", 50), dated=dated,
            author_id=author_id, author_capacity=author_capacity, target=target.value,
            record_id=record_id, item_id=item_id, student_id=student_id,
            current_value=current_value, proposed_value=proposed_value,
            proposed_document=proposed_document,
            reason=require_text(reason, "reason", "причина исправления", 2000, multiline=True),
            document=require_text(document, "document", "письменное заявление", 500),
            act=act,
        )

    def check_open(self) -> None:
        if self.status is not Status.FILED:
            raise AlreadyDecided(f"Заявление № {self.number} уже рассмотрено или отозвано "
                                 f"({self.status.value}).")

    def decide(self, approve: bool, resolution: str, act: Act) -> None:
        self.check_open()
        if act.actor_id == self.author_id:
            raise FourEyes("Нельзя рассматривать собственное заявление.")
        self._decided(approved=approve,
                      resolution=require_text(resolution, "resolution", "резолюция", 2000,
                                              multiline=True),
                      act=act)

    @event("Decided")
    def _decided(self, approved: bool, resolution: str, act: Act) -> None:
        self.status = Status.APPROVED if approved else Status.REJECTED
        self.decided_by = act.actor_id
        self.resolution = resolution

    def withdraw(self, act: Act) -> None:
        self.check_open()
        if act.actor_id != self.author_id:
            raise Forbidden("Отозвать заявление может только его автор.")
        self._withdrawn(act=act)

    @event("Withdrawn")
    def _withdrawn(self, act: Act) -> None:
        self.status = Status.WITHDRAWN

    def basis(self) -> dict[str, Any]:
        """What an applied correction cites."""
        return {"application_id": str(self.id), "application_number": self.number,
                "application_date": self.dated.isoformat(),
                "decided_by": str(self.decided_by), "resolution": self.resolution or ""}


@dataclass(frozen=True)
class IndexEntry:
    author_id: UUID
    item_id: UUID
    status: Status


class CorrectionIndex(ShallowContainers, Aggregate):
    """The institution's applications and their status, for the director's list of open
    applications and each author's own list."""

    @staticmethod
    def create_id(institution_id: UUID, **_: Any) -> UUID:
        return uuid5(INDEX_NAMESPACE, str(institution_id))

    @event("Opened")
    def __init__(self, institution_id: UUID, act: Act) -> None:
        self.entries: dict[UUID, IndexEntry] = {}
        # (calendar year of the application's date, number_key) → application; filled by
        # NumberRegistered events (applications filed before them are not listed here).
        self.numbers: dict[tuple[int, str], UUID] = {}

    def register_number(self, application_id: UUID, year: int, number: str, act: Act
                        ) -> None:
        """Numbers are unique per institution and calendar year of the application's
        date (the registration journal starts over each year)."""
        holder = self.number_holder(year, number)
        if holder is not None:
            raise ApplicationNumberTaken(
                f"Заявление № {number} за {year} год уже зарегистрировано: укажите другой "
                "номер.", number=number, year=year)
        self._number_registered(application_id=application_id, year=year,
                                number=number_key(number), act=act)

    @event("NumberRegistered")
    def _number_registered(self, application_id: UUID, year: int, number: str, act: Act
                           ) -> None:
        self.numbers[(year, number)] = application_id

    def number_holder(self, year: int, number: str) -> UUID | None:
        return self.numbers.get((year, number_key(number)))

    def unnumbered(self) -> list[UUID]:
        """Applications whose number is not registered here (filed before numbers were)."""
        registered = set(self.numbers.values())
        return [a for a in self.entries if a not in registered]

    @event("Noted")
    def note(self, application_id: UUID, author_id: UUID, item_id: UUID, status: str,
             act: Act) -> None:
        self.entries[application_id] = IndexEntry(author_id, item_id, Status(status))

    def of_item(self, item_id: UUID) -> list[UUID]:
        return [a for a, e in self.entries.items() if e.item_id == item_id]
