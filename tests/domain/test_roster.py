from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DuplicateEntry, InvalidValue, StudentNotInGroup, StudentStatusRule
from domain.groups import Group
from domain.people import StaffMember, Student
from domain.values import MoveKind, OrderRef, StudentStatus
from tests.domain.helpers import act, replay

ORDER = OrderRef("12-к", date(2026, 8, 25))
SEP1, OCT1, NOV1 = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


def group() -> Group:
    return Group.form(uuid4(), "10А", None, act())


def test_membership_is_a_history_of_intervals() -> None:
    g, anna = group(), uuid4()
    g.admit(anna, "Иванова Анна", ORDER, SEP1, act())
    g.release(anna, ORDER, OCT1, "transfer", act())
    assert g.is_member(anna, SEP1)
    assert g.is_member(anna, date(2026, 9, 30))
    assert not g.is_member(anna, OCT1)  # the effective date is the first day elsewhere
    assert not g.is_member(anna, date(2026, 8, 31))


def test_roster_on_a_date_shows_exactly_who_was_there() -> None:
    g, anna, boris = group(), uuid4(), uuid4()
    g.admit(anna, "Иванова Анна", ORDER, SEP1, act())
    g.admit(boris, "Петров Борис", ORDER, OCT1, act())
    g.release(anna, ORDER, NOV1, "expulsion", act())
    assert g.roster_on(date(2026, 9, 15)) == {anna}
    assert g.roster_on(date(2026, 10, 15)) == {anna, boris}
    assert g.roster_on(date(2026, 11, 15)) == {boris}
    assert set(g.roster_between(SEP1, date(2026, 12, 31))) == {anna, boris}


def test_a_student_can_come_back_to_the_group() -> None:
    g, anna = group(), uuid4()
    g.admit(anna, "Иванова Анна", ORDER, SEP1, act())
    g.release(anna, ORDER, OCT1, "academic_leave", act())
    g.admit(anna, "Иванова Анна", ORDER, NOV1, act())
    assert [g.is_member(anna, d) for d in (SEP1, date(2026, 10, 15), NOV1)] == [True, False, True]


def test_admitting_a_present_member_is_refused() -> None:
    g, anna = group(), uuid4()
    g.admit(anna, "Иванова Анна", ORDER, SEP1, act())
    with pytest.raises(DuplicateEntry):
        g.admit(anna, "Иванова Анна", ORDER, OCT1, act())


def test_release_must_follow_admission() -> None:
    g, anna = group(), uuid4()
    with pytest.raises(StudentNotInGroup):
        g.release(anna, ORDER, OCT1, "expulsion", act())
    g.admit(anna, "Иванова Анна", ORDER, OCT1, act())
    with pytest.raises(InvalidValue):
        g.release(anna, ORDER, OCT1, "expulsion", act())


def test_leaving_the_group_ends_subgroup_membership() -> None:
    g, anna, sub = group(), uuid4(), uuid4()
    g.add_subgroup(sub, "1 подгруппа", act())
    g.admit(anna, "Иванова Анна", ORDER, SEP1, act())
    g.place_in_subgroup(sub, anna, ORDER, SEP1, act())
    g.release(anna, ORDER, OCT1, "transfer", act())
    assert g.roster_on(date(2026, 9, 10), sub) == {anna}
    assert g.roster_on(date(2026, 10, 10), sub) == frozenset()


def test_only_a_member_can_be_placed_in_a_subgroup() -> None:
    g, sub = group(), uuid4()
    g.add_subgroup(sub, "1 подгруппа", act())
    with pytest.raises(StudentNotInGroup):
        g.place_in_subgroup(sub, uuid4(), ORDER, SEP1, act())


def test_student_moves_follow_the_status_rules() -> None:
    s = Student.admit("Иванова Анна Сергеевна", None, act())
    with pytest.raises(StudentStatusRule):
        s.move(MoveKind.TRANSFER, ORDER, SEP1, uuid4(), act())
    s.move(MoveKind.ENROLMENT, ORDER, SEP1, uuid4(), act())
    s.move(MoveKind.ACADEMIC_LEAVE, ORDER, OCT1, None, act())
    assert s.status is StudentStatus.ON_LEAVE
    with pytest.raises(StudentStatusRule):
        s.move(MoveKind.GRADUATION, ORDER, NOV1, None, act())
    s.move(MoveKind.RETURN_FROM_LEAVE, ORDER, NOV1, uuid4(), act())
    assert s.status is StudentStatus.ENROLLED


def test_an_order_cannot_take_effect_before_the_previous_move() -> None:
    s = Student.admit("Иванова Анна Сергеевна", None, act())
    s.move(MoveKind.ENROLMENT, ORDER, OCT1, uuid4(), act())
    with pytest.raises(StudentStatusRule):
        s.move(MoveKind.TRANSFER, ORDER, SEP1, uuid4(), act())


def test_groups_between_lists_each_group_with_its_interval() -> None:
    a, b = uuid4(), uuid4()
    s = Student.admit("Иванова Анна Сергеевна", None, act())
    s.move(MoveKind.ENROLMENT, ORDER, SEP1, a, act())
    s.move(MoveKind.TRANSFER, ORDER, OCT1, b, act())
    assert s.groups_between(date(2026, 9, 20), date(2026, 10, 5)) == [(a, SEP1, OCT1),
                                                                      (b, OCT1, None)]
    assert s.groups_between(date(2026, 10, 2), date(2026, 10, 5)) == [(b, OCT1, None)]


def test_staff_roles_are_limited_to_staff_roles() -> None:
    with pytest.raises(InvalidValue):
        StaffMember.hire("Каримова Эльвира Маратовна", ["student"], act())


days = st.dates(min_value=date(2026, 9, 1), max_value=date(2027, 6, 30))


@given(st.lists(days, min_size=1, max_size=12, unique=True), days)
def test_membership_alternates_with_each_order(moves: list[date], probe: date) -> None:
    g, anna = group(), uuid4()
    moves.sort()
    for i, day in enumerate(moves):
        if i % 2 == 0:
            g.admit(anna, "Иванова Анна", ORDER, day, act())
        else:
            g.release(anna, ORDER, day, "transfer", act())
    orders_so_far = sum(1 for d in moves if d <= probe)
    assert g.is_member(anna, probe) == (orders_so_far % 2 == 1)
    rebuilt = replay(g)
    assert isinstance(rebuilt, Group) and rebuilt.members == g.members
