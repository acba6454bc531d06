"""Substitutions (замены) name the lessons they cover: a list of (date, lesson number) or
a date range with lesson numbers. Old whole-day substitutions keep their meaning."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from domain.assignments import TeachingAssignment, substitution_lessons
from domain.errors import DuplicateEntry, InvalidValue
from tests.domain.helpers import TEACHER, act, replay

SUBSTITUTE = uuid4()
OCT14, OCT15 = date(2026, 10, 14), date(2026, 10, 15)


def assignment() -> TeachingAssignment:
    return TeachingAssignment(teacher_id=TEACHER, group_id=uuid4(), subgroup_id=None,
                              discipline_id=uuid4(), year_id=uuid4(),
                              starts=date(2026, 9, 1), act=act())


def test_a_substitution_covers_only_the_named_lessons() -> None:
    a = assignment()
    a.appoint_substitute(SUBSTITUTE, [(OCT14, 3), (OCT15, 1)], act())
    assert a.may_conduct(SUBSTITUTE, OCT14, 3) == "substitute"
    assert a.may_conduct(SUBSTITUTE, OCT15, 1) == "substitute"
    assert a.may_conduct(SUBSTITUTE, OCT14, 4) is None
    assert a.may_conduct(SUBSTITUTE, OCT15, 3) is None
    assert a.may_conduct(TEACHER, OCT14, 3) == "teacher"
    assert replay(a).may_conduct(SUBSTITUTE, OCT14, 3) == "substitute"


def test_a_date_range_with_lesson_numbers_expands_to_every_day_of_it() -> None:
    assert substitution_lessons(None, OCT14, OCT15, [2, 1]) == [
        (OCT14, 1), (OCT14, 2), (OCT15, 1), (OCT15, 2)]
    assert substitution_lessons([(OCT15, 2), (OCT14, 5), (OCT15, 2)], None, None, None) == [
        (OCT14, 5), (OCT15, 2)]


@pytest.mark.parametrize(("lessons", "first", "last", "numbers"), [
    (None, None, None, None),  # nothing named
    ([], None, None, None),
    ([(OCT14, 1)], OCT14, OCT15, [1]),  # both forms
    (None, OCT15, OCT14, [1]),  # range backwards
    (None, OCT14, OCT15, []),  # no lesson numbers
    (None, OCT14, None, [1]),  # half a range
    (None, OCT14, date(2026, 11, 30), [1]),  # longer than 31 days
    ([(OCT14, 13)], None, None, None),  # no such lesson number
    (None, OCT14, OCT15, [0]),
])
def test_a_substitution_must_name_its_lessons_one_way(lessons, first, last,  # type: ignore[no-untyped-def]
                                                      numbers) -> None:
    with pytest.raises(InvalidValue):
        substitution_lessons(lessons, first, last, numbers)


def test_appointing_the_same_lessons_again_is_a_duplicate_and_new_ones_add_up() -> None:
    a = assignment()
    a.appoint_substitute(SUBSTITUTE, [(OCT14, 3)], act())
    with pytest.raises(DuplicateEntry):
        a.appoint_substitute(SUBSTITUTE, [(OCT14, 3)], act())
    a.appoint_substitute(SUBSTITUTE, [(OCT14, 3), (OCT14, 4)], act())
    assert a.may_conduct(SUBSTITUTE, OCT14, 4) == "substitute"


def test_the_teacher_of_the_assignment_is_not_their_own_substitute() -> None:
    with pytest.raises(InvalidValue):
        assignment().appoint_substitute(TEACHER, [(OCT14, 1)], act())


def test_a_substitution_outside_the_assignment_is_refused() -> None:
    with pytest.raises(InvalidValue):
        assignment().appoint_substitute(SUBSTITUTE, [(date(2026, 8, 31), 1)], act())


def test_a_stored_whole_day_substitution_still_covers_the_whole_day() -> None:
    # SubstituteAppointed events stored before substitutions named their lessons.
    a = assignment()
    a._substitute_appointed(substitute_id=SUBSTITUTE, day=OCT14, act=act())
    rebuilt = replay(a)
    assert all(rebuilt.may_conduct(SUBSTITUTE, OCT14, n) == "substitute" for n in range(1, 13))
    assert rebuilt.may_conduct(SUBSTITUTE, OCT15, 1) is None
