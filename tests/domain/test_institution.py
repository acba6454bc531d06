from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from domain.errors import DateOutsideYear, DuplicateEntry, InvalidValue
from domain.institution import Institution
from tests.domain.helpers import act

QUARTERS = [
    {"kind": "quarter", "title": "1 четверть", "starts": date(2026, 9, 1),
     "ends": date(2026, 10, 25)},
    {"kind": "quarter", "title": "2 четверть", "starts": date(2026, 11, 5),
     "ends": date(2026, 12, 28)},
]


def institution() -> Institution:
    return Institution.register("gym139", "Гимназия № 139", "Europe/Moscow", act())


def test_institution_id_derives_from_its_code() -> None:
    assert institution().id == Institution.create_id("gym139")


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Institution.register("gym139", "Гимназия", "Europe/Kazan_", act())


@pytest.mark.parametrize("slug", ["A", "1abc", "gym-139", "x" * 41])
def test_slug_is_lowercase_latin(slug: str) -> None:
    with pytest.raises(InvalidValue):
        Institution.register(slug, "Гимназия", "Europe/Moscow", act())


def test_period_of_a_date_and_holidays_between_periods() -> None:
    i = institution()
    year_id = uuid4()
    i.open_year(year_id, "2026/2027", date(2026, 9, 1), date(2027, 5, 31), QUARTERS, act())
    year = i.year(year_id)
    assert year.period_of(date(2026, 10, 25)).number == 1
    assert year.period_of(date(2026, 11, 5)).title == "2 четверть"
    with pytest.raises(DateOutsideYear):
        year.period_of(date(2026, 11, 1))  # осенние каникулы


def test_overlapping_periods_are_refused() -> None:
    bad = [dict(QUARTERS[0]), dict(QUARTERS[1], starts=date(2026, 10, 20))]
    with pytest.raises(InvalidValue):
        institution().open_year(uuid4(), "2026/2027", date(2026, 9, 1), date(2027, 5, 31),
                                bad, act())


def test_a_period_outside_the_year_is_refused() -> None:
    with pytest.raises(InvalidValue):
        institution().open_year(uuid4(), "2026/2027", date(2026, 9, 2), date(2027, 5, 31),
                                QUARTERS, act())


def test_discipline_names_are_unique() -> None:
    i = institution()
    i.add_discipline(uuid4(), "Математика", "subject", 136, act())
    with pytest.raises(DuplicateEntry):
        i.add_discipline(uuid4(), "Математика", "subject", 136, act())
