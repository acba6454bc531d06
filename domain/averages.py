"""The current average (средний балл): weighted by kind of work; only numeric marks count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from domain.values import DEFAULT_WEIGHTS, MarkValue, WorkKind


def weighted_average(
    marks: Iterable[tuple[MarkValue, WorkKind]],
    weights: Mapping[WorkKind, int] = DEFAULT_WEIGHTS,
) -> Decimal | None:
    """Σ(points × weight) / Σ weight over numeric marks, to two decimals (half up);
    None when the student has no numeric mark."""
    total = Decimal(0)
    weight_sum = 0
    for value, kind in marks:
        if value.points is None:
            continue
        weight = weights[kind]
        total += value.points * weight
        weight_sum += weight
    if weight_sum == 0:
        return None
    return (total / weight_sum).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
