"""The per-process aggregate cache, kept coherent with the store by the notification log
rather than by one fast-forward query per aggregate (ADR 0005).

- `sync` (at the start of every unit of work) reads the (notification id, aggregate id,
  version) of every event stored since the last sync — by any process — and evicts the
  aggregates whose cached version is older. One indexed query; in a single process it
  returns only the process's own events, which the cache already holds.
- A cache miss loads the aggregate and caches it, or caches its absence, unless a sync
  evicted something meanwhile (the generation changed: what was loaded may predate
  the eviction) or a newer version got cached first.
- Saved aggregates replace their cached copies on the same conditions.
- Every read is noted in the running unit of work with the version read, for the
  recorder's check at write time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from copy import deepcopy
from threading import Lock
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate

from application.unit_of_work import ABSENT, current

Changes = Callable[[int, int], list[tuple[int, UUID, int]]]
SYNC_PAGE = 1000


class _Absent:
    """Cached marker: no aggregate has this id (as of the last sync)."""

    version = ABSENT


_ABSENT = _Absent()


class CoherentRepository(Repository[UUID]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, fastforward=False, **kwargs)
        self._lock = Lock()
        self._generation = 0
        self.synced_to: int | None = None  # notification id; None before the first sync

    @property
    def generation(self) -> int:
        return self._generation

    def sync(self, changes: Changes, last_id: Callable[[], int]) -> int:
        """Evicts every aggregate stored since the last sync; returns how many events
        that was. The first sync only learns where the log ends (the cache is empty)."""
        if self.synced_to is None:
            end = last_id()  # first: then every load from now on is at least this fresh
            with self._lock:
                self._generation += 1  # loads begun before are not cached
                self._drop(list(self.cache.cache))  # type: ignore[union-attr]
                self.synced_to = end
            return 0
        seen, after = 0, self.synced_to
        while True:
            page = changes(after, SYNC_PAGE)
            if not page:
                break
            self._evict([i for _, i, version in page if self._cached_version(i) < version])
            seen += len(page)
            after = page[-1][0]
            if len(page) < SYNC_PAGE:
                break
        with self._lock:
            self.synced_to = max(self.synced_to, after)
        return seen

    def apply(self, changes: Iterable[tuple[int, UUID, int]]) -> None:
        """Evicts the aggregates `changes` (notification id, aggregate id, version) show
        stored after their cached version — the chain guard's verified news."""
        changes = list(changes)
        if changes:
            self._evict([i for _, i, version in changes if self._cached_version(i) < version])
            with self._lock:
                self.synced_to = max(self.synced_to or 0, changes[-1][0])

    def get(self, aggregate_id: UUID, *, version: int | None = None,
            projector_func: Any = project_aggregate, fastforward_skipping: bool = False,
            deepcopy_from_cache: bool = True) -> Any:
        if version is not None or self.cache is None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        unit = current()
        try:
            aggregate = self.cache.get(aggregate_id)
        except KeyError:
            generation = self._generation
            try:
                aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
            except AggregateNotFoundError:
                aggregate = _ABSENT
            self.remember(generation, {aggregate_id: aggregate})
        if unit is not None:
            unit.note_read(aggregate_id, aggregate.version)
        if aggregate is _ABSENT:
            raise AggregateNotFoundError(aggregate_id)
        if deepcopy_from_cache and self.deepcopy_from_cache:
            return deepcopy(aggregate)
        return aggregate

    def _cached_version(self, aggregate_id: UUID) -> int:
        assert self.cache is not None
        try:
            return int(self.cache.get(aggregate_id).version)
        except KeyError:
            return -1

    def remember(self, generation: int, aggregates: Mapping[UUID, Any]) -> None:
        """Caches aggregates loaded or saved (current as of their load or commit) unless
        a sync evicted anything since `generation` was read, and never over a newer
        cached version."""
        with self._lock:
            if generation != self._generation:
                # Not safe to cache what was loaded or saved before the eviction; but a
                # copy older than it must not stay either (own writes are not seen again
                # by the chain guard's follow, ADR 0009).
                for aggregate_id, aggregate in aggregates.items():
                    if self._cached_version(aggregate_id) < aggregate.version:
                        self._drop([aggregate_id])
                return
            for aggregate_id, aggregate in aggregates.items():
                if self._cached_version(aggregate_id) <= aggregate.version:
                    self.cache.put(aggregate_id, aggregate)  # type: ignore[union-attr]

    def _evict(self, aggregate_ids: Iterable[UUID]) -> None:
        assert self.cache is not None
        aggregate_ids = list(aggregate_ids)
        if not aggregate_ids:
            return
        with self._lock:
            self._generation += 1
            self._drop(aggregate_ids)

    def _drop(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            with suppress(KeyError):
                self.cache.get(aggregate_id, evict=True)  # type: ignore[union-attr]
