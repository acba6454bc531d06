"""One institution's event store: its recorder (events and ledger in one transaction),
the coherent aggregate cache, and the loads every area of use cases shares (ADR 0005).

Every public method runs in a unit of work (application/unit_of_work.py); the areas of
use cases (access, set-up, roster, lessons, regulation, corrections, period marks,
reads) hold this store and run their commands in the same kind of unit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Recording,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, JSONTranscoder

from application.actors import SYSTEM_ACTOR_ID, Actor
from application.cache import CoherentRepository
from application.storage.chain import ChainWriter
from application.storage.layout import Backend
from application.transcodings import ALL as TRANSCODINGS
from application.unit_of_work import WriteConflict, current, outside_units, units_of_work
from domain.access import Credentials
from domain.assignments import TeachingAssignment
from domain.errors import NotFound
from domain.groups import Group
from domain.institution import Institution, Period
from domain.lessons import Lesson, LessonIndex
from domain.people import Auditor, Guardian, StaffMember, Student
from domain.policy import JournalPolicy
from domain.values import Act, Capacity

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


NAMES = {
    Institution: "Организация", Group: "Группа", Student: "Обучающийся",
    StaffMember: "Сотрудник", Guardian: "Законный представитель", Auditor: "Проверяющий",
    TeachingAssignment: "Учебная нагрузка", Lesson: "Занятие", Credentials: "Доступ",
}

DEFAULT_POLICY = JournalPolicy(institution_id=SYSTEM_ACTOR_ID,
                               act=Act(SYSTEM_ACTOR_ID, Capacity.SYSTEM.value, date.min))


@units_of_work
class InstitutionStore(Application[UUID]):
    """One institution's store (one chain, one schema or file)."""

    name = "Journal"  # eventsourcing names the events table after it: journal_events

    def __init__(self, backend: Backend, slug: str, chain: ChainWriter,
                 clock: Clock = utc_now) -> None:
        self.backend = backend
        self.slug = slug
        self.chain = chain
        self.clock = clock
        self.institution_id = Institution.create_id(slug)
        self._zone: ZoneInfo | None = None
        self._periods: dict[tuple[UUID, int], Period] = {}
        # Called after each commit of this process (the projection runner wakes up).
        self.committed: list[Callable[[], None]] = []
        super().__init__(env=backend.app_env(slug))

    # Infrastructure -------------------------------------------------------------------
    def construct_recorder(self) -> ApplicationRecorder:
        return self.backend.recorder(self.factory, self.chain)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding())

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return CoherentRepository(event_store=self.events, snapshot_store=self.snapshots,
                                  cache_maxsize=int(maxsize) if maxsize else None)

    def begin_unit_of_work(self) -> None:
        """Verifies what any process stored since (the chain guard, ADR 0009) and brings
        the aggregate cache up to date with it."""
        assert isinstance(self.repository, CoherentRepository)
        guard = self.chain.guard
        if guard is None:  # a ledger-less variant (benchmarks)
            self.repository.sync(self._changes_since,
                                 lambda: self.recorder.max_notification_id() or 0)
            return
        if guard.source is None:
            guard.source = self.recorder  # type: ignore[assignment]
            guard.listener = self.repository.apply
        self.repository.apply(guard.follow())

    def _changes_since(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        return self.recorder.changes_since(after, limit)  # type: ignore[attr-defined, no-any-return]

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        # eventsourcing's own step, with the cache update made safe against a sync
        # running while the events are being written (application/cache.py).
        assert isinstance(self.repository, CoherentRepository)
        generation = self.repository.generation
        recordings = self.events.put(processing_event.events,
                                     tracking=processing_event.tracking,
                                     **processing_event.saved_kwargs)
        self.repository.remember(generation, processing_event.aggregates)
        return recordings

    # Loading and saving ---------------------------------------------------------------
    def load(self, cls: type[A], aggregate_id: UUID, *, copy: bool = True) -> A:
        """The aggregate, as of the start of the command (checked again when the
        command saves). `copy=False` for read-only use: skips the defensive copy of the
        cached aggregate (the caller must not mutate it)."""
        unit = None if copy else current()
        loaded = None if unit is None else unit.loaded
        if loaded is not None and aggregate_id in loaded:
            aggregate = loaded[aggregate_id]
        else:
            try:
                aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
            except AggregateNotFoundError:
                aggregate = None
            if loaded is not None:
                loaded[aggregate_id] = aggregate
        if not isinstance(aggregate, cls):
            raise NotFound(f"{NAMES.get(cls, 'Объект')} не найден(а).", id=str(aggregate_id))
        return aggregate

    def get(self, cls: type[A], aggregate_id: UUID) -> A:
        """Read-only access (the returned aggregate must not be mutated)."""
        return self.load(cls, aggregate_id, copy=False)

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """Read-only access; None when there is no such aggregate."""
        try:
            return self.load(cls, aggregate_id, copy=False)
        except NotFound:
            return None

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    @outside_units
    def commit(self, *aggregates: Aggregate | None) -> None:
        """Saves the changed aggregates: their events and ledger entries, one transaction.
        If another command saved one of them first, nothing is written and the command
        runs again on fresh state (WriteConflict; 409 once the attempts are spent)."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise WriteConflict from None
        for listener in self.committed:
            listener()

    # Shared reads ---------------------------------------------------------------------
    def local_date(self, institution: Institution | None = None) -> date:
        """Today in the institution's time zone (the zone never changes once registered,
        so it is read once)."""
        if self._zone is None:
            self._zone = ZoneInfo((institution or self.institution_ro()).timezone)
        return self.clock().astimezone(self._zone).date()

    def now_local(self) -> datetime:
        self.local_date()  # loads the zone once
        assert self._zone is not None
        return self.clock().astimezone(self._zone)

    def act(self, actor: Actor | None, capacity: Capacity,
            institution: Institution | None = None) -> Act:
        actor_id = actor.person_id if actor else SYSTEM_ACTOR_ID
        return Act(actor_id=actor_id, capacity=capacity.value,
                   local_date=self.local_date(institution))

    def institution(self) -> Institution:
        return self.load(Institution, self.institution_id)

    def institution_ro(self) -> Institution:
        return self.load(Institution, self.institution_id, copy=False)

    def period(self, year_id: UUID, number: int) -> Period:
        """A period of an academic year; periods never change once the year is opened,
        so they are remembered for the life of the process."""
        key = (year_id, number)
        if key not in self._periods:
            self._periods[key] = self.institution_ro().year(year_id).period(number)
        return self._periods[key]

    def policy(self) -> JournalPolicy:
        """The adopted policy, or the permissive default (no deadlines) until one is."""
        return self.find(JournalPolicy, JournalPolicy.create_id(self.institution_id)) \
            or DEFAULT_POLICY

    def find_index(self, key: str) -> LessonIndex | None:
        return self.find(LessonIndex, LessonIndex.create_id(key))


class Area:
    """A group of use cases over the institution's store; each public method of a
    subclass decorated with `units_of_work` is one command or one read."""

    def __init__(self, store: InstitutionStore) -> None:
        self.store = store

    def _get(self, cls: type[A], aggregate_id: UUID, *, copy: bool = True) -> A:
        return self.store.load(cls, aggregate_id, copy=copy)

    def _save(self, *aggregates: Aggregate | None) -> None:
        self.store.commit(*aggregates)

    def _act(self, actor: Actor | None, capacity: Capacity,
             institution: Institution | None = None) -> Act:
        return self.store.act(actor, capacity, institution)
