"""The journal of one institution: its store and the areas of use cases over it.

Each area is its own module and its own class — access, set-up, roster and orders,
lessons, regulation (policy, windows, closing), period marks, corrections, reads — and
every command runs in one unit of work of the shared store (ADR 0005): it authorises
the actor, loads what it needs, applies the domain rules and saves every changed
aggregate atomically, events and ledger entries in one transaction. Areas depend on
the store and, without a circle, on the few areas whose rules they apply: lessons and
period marks on the regulation; reads on access, period marks and corrections."""

from __future__ import annotations

from datetime import date
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.access import Access
from application.corrections import Corrections
from application.lessons import AttendanceEntry, Lessons, MarkEntry
from application.period_marks import PeriodMarks
from application.readmodels import ReadModels
from application.reads import Reads
from application.regulation import Regulation
from application.roster import Roster
from application.setup import Setup
from application.signing import Signing
from application.statements import Statements
from application.store import Clock, InstitutionStore, utc_now
from domain.institution import Institution
from domain.lessons import LessonIndex
from domain.policy import JournalPolicy

__all__ = ["AttendanceEntry", "Clock", "Journal", "MarkEntry", "utc_now"]

A = TypeVar("A", bound=Aggregate)


class Journal:
    def __init__(self, store: InstitutionStore) -> None:
        self.store = store
        self.access = Access(store)
        self.setup = Setup(store)
        self.roster = Roster(store)
        self.regulation = Regulation(store)
        self.lessons = Lessons(store, self.regulation)
        self.period_marks = PeriodMarks(store, self.regulation)
        self.corrections = Corrections(store)
        self.reads = Reads(store, self.access, self.period_marks, self.corrections)
        self.read_models = ReadModels(store)
        self.statements = Statements(store, self.read_models)
        self.signing = Signing(store)

    @property
    def slug(self) -> str:
        return self.store.slug

    @property
    def institution_id(self) -> UUID:
        return self.store.institution_id

    # The store's shared reads, for the API's read models and the CLI.
    def get(self, cls: type[A], aggregate_id: UUID) -> A:
        return self.store.get(cls, aggregate_id)

    def institution(self) -> Institution:
        return self.store.institution()

    def policy(self) -> JournalPolicy:
        return self.store.policy()

    def local_date(self) -> date:
        return self.store.local_date()

    def find_index(self, key: str) -> LessonIndex | None:
        return self.store.find_index(key)

    def close(self) -> None:
        self.store.close()
