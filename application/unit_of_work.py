"""One command, one unit of work: read-only aggregates loaded during a command are
loaded once and shared by the rules that need them (the lesson's group, the policy)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
_loaded: ContextVar[dict[Any, Any] | None] = ContextVar("ejournal_unit_of_work", default=None)


def current() -> dict[Any, Any] | None:
    """The running command's read-only loads, or None outside a command."""
    return _loaded.get()


def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _loaded.get() is not None:  # nested: share the outer unit of work
            return method(*args, **kwargs)
        token = _loaded.set({})
        try:
            return method(*args, **kwargs)
        finally:
            _loaded.reset(token)

    return run


def units_of_work(cls: type[T]) -> type[T]:
    """Runs every public method defined on `cls` and its own bases in a unit of work."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("application."):
            continue
        for name, value in list(vars(klass).items()):
            if not name.startswith("_") and callable(value) and getattr(cls, name) is value:
                setattr(cls, name, _wrap(value))
    return cls
