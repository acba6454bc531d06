"""Entry windows of each seed regulation, in the institution's time zone, on both sides
of the deadline; rounding rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.policy import PRESETS, Rounding, Rule, Window, suggested_mark
from domain.values import MarkValue

TOMSK = ZoneInfo("Asia/Tomsk")  # UTC+7
MOSCOW = ZoneInfo("Europe/Moscow")
PERIOD_END = date(2026, 12, 28)


def window(preset: str, kind: str) -> Window:
    return Window.parse(PRESETS[preset]["windows"][kind])


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.mark.parametrize(("preset", "lesson_day", "on_time", "late"), [
    # seed 000 / 001: until 24:00 of the lesson day
    ("tomsk_it_000", date(2026, 10, 14), at(TOMSK, 2026, 10, 14, 23, 30),
     at(TOMSK, 2026, 10, 15, 0, 30)),
    ("gymnasium_139_001", date(2026, 10, 14), at(MOSCOW, 2026, 10, 14, 23, 59),
     at(MOSCOW, 2026, 10, 15, 0, 0)),
    # seed 002: within 1 day
    ("epos_002", date(2026, 10, 14), at(MOSCOW, 2026, 10, 15, 23, 59),
     at(MOSCOW, 2026, 10, 16, 0, 1)),
    # seed 003: within 3 days, across a month boundary
    ("kvantorium_003", date(2026, 10, 30), at(MOSCOW, 2026, 11, 2, 22, 0),
     at(MOSCOW, 2026, 11, 3, 0, 0)),
    # seed 004: by Monday for the previous week (Friday's lesson: Monday is on time)
    ("semt_004", date(2026, 10, 16), at(MOSCOW, 2026, 10, 19, 23, 59),
     at(MOSCOW, 2026, 10, 20, 0, 0)),
    # seed 004: a Monday lesson waits for the next Monday, not the same day
    ("semt_004", date(2026, 10, 19), at(MOSCOW, 2026, 10, 26, 12, 0),
     at(MOSCOW, 2026, 10, 27, 0, 0)),
    # seed 004 across the year boundary: the lesson of Wed 30.12.2026 → Mon 04.01.2027
    ("semt_004", date(2026, 12, 30), at(MOSCOW, 2027, 1, 4, 23, 0),
     at(MOSCOW, 2027, 1, 5, 0, 0)),
])
def test_lesson_window_of_each_preset_on_both_sides_of_its_deadline(
        preset: str, lesson_day: date, on_time: datetime, late: datetime) -> None:
    w = window(preset, "lesson")
    assert w.on_time(lesson_day, PERIOD_END, on_time)
    assert not w.on_time(lesson_day, PERIOD_END, late)


def test_tomsk_midnight_is_local_midnight_not_utc() -> None:
    w = window("tomsk_it_000", "lesson")
    # 17:30 UTC on the lesson day is 00:30 next day in Tomsk: late.
    utc_evening = datetime(2026, 10, 14, 17, 30, tzinfo=ZoneInfo("UTC"))
    assert not w.on_time(date(2026, 10, 14), PERIOD_END, utc_evening.astimezone(TOMSK))


def test_control_works_get_a_week_in_gymnasium_139() -> None:
    w = window("gymnasium_139_001", "control")
    assert w.on_time(date(2026, 10, 14), PERIOD_END, at(MOSCOW, 2026, 10, 21, 23, 0))
    assert not w.on_time(date(2026, 10, 14), PERIOD_END, at(MOSCOW, 2026, 10, 22, 0, 0))


def test_period_marks_close_two_days_before_the_period_ends_in_semt() -> None:
    w = window("semt_004", "period")
    assert w.on_time(PERIOD_END, PERIOD_END, at(MOSCOW, 2026, 12, 26, 23, 59))
    assert not w.on_time(PERIOD_END, PERIOD_END, at(MOSCOW, 2026, 12, 27, 0, 0))


def test_no_window_never_expires() -> None:
    assert Window(Rule.NONE).on_time(date(2020, 1, 1), PERIOD_END, at(MOSCOW, 2030, 1, 1, 0, 0))


@pytest.mark.parametrize(("rule", "average", "mark"), [
    (Rounding.HALF_UP, "3.5", 4), (Rounding.HALF_UP, "3.49", 3),
    (Rounding.HALF_DOWN, "3.5", 3), (Rounding.HALF_DOWN, "3.51", 4),
    (Rounding.FROM_60, "3.59", 3), (Rounding.FROM_60, "3.6", 4),
])
def test_rounding_rules(rule: Rounding, average: str, mark: int) -> None:
    assert rule.apply(Decimal(average)) == mark


@given(st.decimals(min_value=1, max_value=5, places=2), st.sampled_from(list(Rounding)))
def test_a_suggested_mark_is_within_one_of_the_average(avg: Decimal, rule: Rounding) -> None:
    mark = suggested_mark(avg, rule)
    assert mark is not None and abs(Decimal(mark.value) - avg) < 1


def test_no_average_means_no_suggestion() -> None:
    assert suggested_mark(None, Rounding.HALF_UP) is None
    assert suggested_mark(Decimal("4.5"), Rounding.HALF_UP) is MarkValue.FIVE
