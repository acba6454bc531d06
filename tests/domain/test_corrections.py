"""Correction applications: the one-day deadline for a decision (seed 002 §3.2.1),
numbers unique per institution and calendar year, adding a mark never entered."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from domain.corrections import (
    ApplicationNumberTaken,
    CorrectionApplication,
    CorrectionIndex,
    Target,
    number_key,
)
from domain.errors import InvalidValue
from tests.domain.helpers import TEACHER, act, replay

FILED = date(2026, 10, 15)
DIRECTOR = uuid4()


def application(target: Target = Target.MARK, current: str | None = "3",
                proposed: str | None = "4", filed: date = FILED) -> CorrectionApplication:
    return CorrectionApplication.file(
        number="17", dated=date(2026, 10, 14), author_id=TEACHER, author_capacity="teacher",
        target=target, record_id=uuid4(), item_id=uuid4(), student_id=uuid4(),
        current_value=current, proposed_value=proposed, reason="Ошибка",
        document="Заявление учителя", act=act(filed))


def test_an_undecided_application_is_overdue_after_a_full_day_from_filing() -> None:
    a = application()
    # Filed on 15.10 (the registration date, not the date written on the application):
    # due by 24:00 of 16.10.
    assert a.filed_on == FILED and a.due_by == date(2026, 10, 16)
    assert not a.is_overdue(date(2026, 10, 15))
    assert not a.is_overdue(date(2026, 10, 16))
    assert a.is_overdue(date(2026, 10, 17))
    assert replay(a).is_overdue(date(2026, 10, 17))


def test_a_decided_or_withdrawn_application_is_never_overdue() -> None:
    decided, withdrawn = application(), application()
    decided.decide(False, "Нет оснований", act(date(2026, 10, 20), DIRECTOR, "director"))
    withdrawn.withdraw(act(date(2026, 10, 20)))
    assert not decided.is_overdue(date(2026, 10, 30))
    assert not withdrawn.is_overdue(date(2026, 10, 30))


@pytest.mark.parametrize("raw", ["18", " 18 ", "№18", "№ 18", "N18"])
def test_application_numbers_compare_without_sign_and_spaces(raw: str) -> None:
    assert number_key(raw) == number_key("18")
    assert number_key("18-а") == number_key("18-А") != number_key("18")


def test_a_number_is_taken_once_per_calendar_year() -> None:
    index = CorrectionIndex(institution_id=uuid4(), act=act())
    first = uuid4()
    index.register_number(first, 2026, "18", act())
    with pytest.raises(ApplicationNumberTaken) as refused:
        index.register_number(uuid4(), 2026, "№ 18", act())
    assert refused.value.code == "application_number_taken"
    assert "18" in refused.value.message
    index.register_number(uuid4(), 2027, "18", act())  # a new year starts over
    assert replay(index).number_holder(2026, "№18") == first


def test_a_new_mark_application_proposes_a_value_where_there_is_none() -> None:
    a = application(Target.NEW_MARK, current=None, proposed="4")
    assert a.target is Target.NEW_MARK and a.current_value is None
    with pytest.raises(InvalidValue):
        application(Target.NEW_MARK, current=None, proposed=None)
    with pytest.raises(InvalidValue):
        application(Target.NEW_MARK, current="3", proposed="4")
