"""Cheap copies of aggregates whose containers hold only immutable values."""

from __future__ import annotations

import copy
from typing import Any, Self


class ShallowContainers:
    """Mixin for aggregates whose every dict/list/set holds immutable values only
    (UUIDs, dates, frozen dataclasses): copying the containers one level deep is then a
    full copy. The application copies cached aggregates for every command; a generic
    deepcopy would grow with the aggregate, this stays cheap."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        clone = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, dict | list | set):
                setattr(clone, name, value.copy())
        return clone
