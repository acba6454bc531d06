"""One command, one unit of work (ADR 0005).

A unit of work begins by bringing the process's aggregate cache up to date with the
store (one query for what other processes wrote since), records the version of every
aggregate it reads, and — when it saves — has the recorder check, inside the write
transaction and under the institution's write lock, that none of the aggregates it only
read has changed since. If one has, nothing is written and the command runs again on
fresh state (`ATTEMPTS` times at most). Aggregates it saves are guarded by the store's
own (id, version) uniqueness: when another command saved one first, nothing is written
and the command runs again on fresh state too (`WriteConflict`), where its own rules
decide — a change made from a stated previous value that is no longer current is
refused (409); unrelated changes that only shared an aggregate both succeed (ADR 0008)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from uuid import UUID

from domain.errors import StaleVersion

T = TypeVar("T")
# A command whose reads changed, or whose write lost a race for an aggregate it saves,
# runs again on fresh state; a short random pause before each new attempt spreads
# writers racing for one aggregate (a group's lesson index) apart. With N writers on one
# aggregate, one of them can lose N - 1 times in a row even when every round is fair:
# the budget is three times the 16 concurrent clients the service is measured with.
ATTEMPTS = 48
BACKOFF_SECONDS = 0.002  # the pause before attempt n is uniform in [0, this × 2^n]
MAX_BACKOFF_SECONDS = 0.1
ABSENT = 0  # the version recorded for an aggregate read as not existing


class Retry(Exception):
    """The command's transaction wrote nothing and the command may run again on fresh
    state."""


class ReadChanged(Retry):
    """Raised by a recorder when an aggregate the unit of work read has changed since;
    the write transaction is rolled back."""

    def __init__(self, changed: list[UUID]) -> None:
        super().__init__(f"{len(changed)} aggregates read by this command changed meanwhile")
        self.changed = changed


class WriteConflict(Retry):
    """Another command saved a new version of an aggregate this one saves, first; the
    write transaction is rolled back. Run again on fresh state, the command decides
    anew: unrelated changes (two lessons listed in one index, marks of two students in
    one lesson) both succeed; a change that relied on what was overwritten (a mark
    changed from a stated previous value) is refused then by its own rule."""


@dataclass
class UnitOfWork:
    owner: object  # the institution's store the command runs on
    # Read-only aggregates, loaded once per command and shared by the rules that need
    # them (the lesson's group, the policy); None for a known absence.
    loaded: dict[UUID, Any] = field(default_factory=dict)
    # Every aggregate read, with the version read (ABSENT when it did not exist).
    reads: dict[UUID, int] = field(default_factory=dict)

    def note_read(self, aggregate_id: UUID, version: int) -> None:
        self.reads.setdefault(aggregate_id, version)

    def reads_to_check(self, written: set[UUID]) -> dict[UUID, int]:
        """What the write must re-check: what was read and is not itself being written
        (those are guarded by the version uniqueness of the events table)."""
        return {i: v for i, v in self.reads.items() if i not in written}


_current: ContextVar[UnitOfWork | None] = ContextVar("ejournal_unit_of_work", default=None)


def current() -> UnitOfWork | None:
    """The running command's unit of work, or None outside one."""
    return _current.get()


class Coherent(Protocol):
    def begin_unit_of_work(self) -> None: ...


def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The store itself, or an area of use cases holding it (`self.store`).
        store: Coherent = getattr(self, "store", self)
        outer = _current.get()
        if outer is not None and outer.owner is store:  # nested: share the outer unit
            return method(self, *args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            store.begin_unit_of_work()
            token = _current.set(UnitOfWork(store))
            try:
                return method(self, *args, **kwargs)
            except Retry:
                if attempt == ATTEMPTS:
                    raise StaleVersion("Данные изменены одновременно другим пользователем: "
                                       "обновите их и повторите.") from None
            finally:
                _current.reset(token)
            time.sleep(random.uniform(0, min(MAX_BACKOFF_SECONDS,
                                             BACKOFF_SECONDS * 2 ** attempt)))
        raise AssertionError("unreachable")

    return run


def outside_units(method: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a public method `units_of_work` must not wrap: a step of a command (saving)
    that is never a command of its own, so it is never retried by itself."""
    method.__outside_units__ = True  # type: ignore[attr-defined]
    return method


def units_of_work(cls: type[T]) -> type[T]:
    """Runs every public method defined on `cls` and its own bases in a unit of work —
    except the library's hooks they override (construct_*, register_transcodings) and
    `begin_unit_of_work` itself."""
    ours = [k for k in cls.__mro__ if k.__module__.startswith("application.")]
    library = [k for k in cls.__mro__ if k not in ours]
    for klass in ours:
        for name, value in list(vars(klass).items()):
            if (not name.startswith("_") and callable(value) and getattr(cls, name) is value
                    and name != "begin_unit_of_work"
                    and not getattr(value, "__outside_units__", False)
                    and not any(hasattr(k, name) for k in library)):
                setattr(cls, name, _wrap(value))
    return cls
