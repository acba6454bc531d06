from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from domain.averages import weighted_average
from domain.values import MarkValue, WorkKind

numeric = st.sampled_from([MarkValue.FIVE, MarkValue.FOUR, MarkValue.THREE, MarkValue.TWO,
                           MarkValue.ONE])
marks = st.lists(st.tuples(st.sampled_from(list(MarkValue)), st.sampled_from(list(WorkKind))),
                 max_size=30)


def test_control_work_weighs_twice_an_ordinary_mark() -> None:
    got = weighted_average([(MarkValue.FIVE, WorkKind.ORDINARY), (MarkValue.TWO, WorkKind.CONTROL)])
    assert got == Decimal("3.00")


def test_pass_fail_exempt_and_not_attested_do_not_count() -> None:
    got = weighted_average([(MarkValue.FOUR, WorkKind.ORDINARY),
                            (MarkValue.PASSED, WorkKind.TEST),
                            (MarkValue.NOT_ATTESTED, WorkKind.EXAM),
                            (MarkValue.EXEMPT, WorkKind.ORDINARY)])
    assert got == Decimal("4.00")


def test_no_numeric_marks_means_no_average() -> None:
    assert weighted_average([(MarkValue.PASSED, WorkKind.TEST)]) is None


@given(marks)
@example([(MarkValue.FIVE, WorkKind.EXAM), (MarkValue.ONE, WorkKind.ORDINARY)])
def test_average_lies_between_min_and_max(items: list) -> None:  # type: ignore[type-arg]
    avg = weighted_average(items)
    points = [v.points for v, _ in items if v.points is not None]
    if not points:
        assert avg is None
    else:
        assert avg is not None and min(points) <= avg <= max(points)


@given(st.lists(st.tuples(numeric, st.sampled_from(list(WorkKind))), min_size=1, max_size=30),
       numeric, st.sampled_from(list(WorkKind)))
def test_adding_a_mark_equal_to_an_integral_average_keeps_it(items: list, value: MarkValue,  # type: ignore[type-arg]
                                                           kind: WorkKind) -> None:
    all_same = [(value, k) for _, k in items]
    before = weighted_average(all_same)
    assert before == weighted_average([*all_same, (value, kind)]) == Decimal(value.value)
