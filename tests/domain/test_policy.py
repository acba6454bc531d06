"""Entry windows of each seed regulation, in the institution's time zone, on both sides
of the deadline; rounding rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.policy import (
    PRESETS,
    EarlyClosure,
    JournalPolicy,
    RecordKind,
    Rounding,
    Rule,
    Window,
    record_kind,
    suggested_mark,
)
from domain.values import MarkValue, OrderRef, WorkKind
from tests.domain.helpers import act, replay

TOMSK = ZoneInfo("Asia/Tomsk")  # UTC+7
MOSCOW = ZoneInfo("Europe/Moscow")
PERIOD_END = date(2026, 12, 28)
ORDER = OrderRef("45-од", date(2026, 8, 30))


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
    # seed 004 §6.1 "до понедельника текущей недели": before Monday — Friday's lesson is
    # on time until Sunday 24:00, Monday is late (ADR 0004)
    ("semt_004", date(2026, 10, 16), at(MOSCOW, 2026, 10, 18, 23, 59),
     at(MOSCOW, 2026, 10, 19, 0, 0)),
    # seed 004: a Monday lesson has its whole week, not the same day
    ("semt_004", date(2026, 10, 19), at(MOSCOW, 2026, 10, 25, 12, 0),
     at(MOSCOW, 2026, 10, 26, 0, 0)),
    # seed 004 across the year boundary: the lesson of Wed 30.12.2026 → Sun 03.01.2027
    ("semt_004", date(2026, 12, 30), at(MOSCOW, 2027, 1, 3, 23, 0),
     at(MOSCOW, 2027, 1, 4, 0, 0)),
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


# Seed 004 §6.1: the decision on Monday is explicit in the preset ----------------------
def test_semt_preset_says_explicitly_that_monday_is_late() -> None:
    assert PRESETS["semt_004"]["windows"]["lesson"]["rule"] == "before_monday"
    # Own policies may still choose Monday inclusive.
    w = Window(Rule.BY_MONDAY)
    assert w.on_time(date(2026, 10, 16), PERIOD_END, at(MOSCOW, 2026, 10, 19, 23, 59))
    assert not w.on_time(date(2026, 10, 16), PERIOD_END, at(MOSCOW, 2026, 10, 20, 0, 0))


def test_before_monday_gives_a_sunday_lesson_its_own_day_only() -> None:
    w = Window(Rule.BEFORE_MONDAY)
    assert w.on_time(date(2026, 10, 18), PERIOD_END, at(MOSCOW, 2026, 10, 18, 23, 59))
    assert not w.on_time(date(2026, 10, 18), PERIOD_END, at(MOSCOW, 2026, 10, 19, 0, 0))


# Seed 001 §4.3: laboratory and practical works get the week of written works ------------
def adopted_policy(preset: str | None, windows: dict | None = None) -> JournalPolicy:  # type: ignore[type-arg]
    policy = JournalPolicy(institution_id=uuid4(), act=act())
    policy.adopt(preset, windows, None, "half_up", None, ORDER, act())
    return policy


@pytest.mark.parametrize("kind", [WorkKind.LABORATORY, WorkKind.PRACTICAL, WorkKind.CONTROL,
                                  WorkKind.TEST])
def test_laboratory_practical_and_control_works_get_a_week_in_gymnasium_139(
        kind: WorkKind) -> None:
    w = adopted_policy("gymnasium_139_001").window(record_kind(kind))
    assert w.on_time(date(2026, 10, 14), PERIOD_END, at(MOSCOW, 2026, 10, 21, 23, 0))
    assert not w.on_time(date(2026, 10, 14), PERIOD_END, at(MOSCOW, 2026, 10, 22, 0, 0))


def test_an_ordinary_lesson_in_gymnasium_139_still_closes_at_midnight() -> None:
    w = adopted_policy("gymnasium_139_001").window(record_kind(WorkKind.ORDINARY))
    assert not w.on_time(date(2026, 10, 14), PERIOD_END, at(MOSCOW, 2026, 10, 15, 0, 0))


def test_an_own_policy_keeps_practical_works_with_the_lesson_window() -> None:
    policy = adopted_policy(None, {"lesson": {"rule": "days", "days": 2}})
    assert policy.window(RecordKind.PRACTICAL) == Window(Rule.DAYS, 2)


def test_a_policy_adopted_before_practical_works_had_a_window_keeps_them_with_lessons(
        ) -> None:
    # An Adopted event stored by an earlier version has no "practical" window.
    policy = JournalPolicy(institution_id=uuid4(), act=act())
    old = {k: v for k, v in PRESETS["gymnasium_139_001"]["windows"].items() if k != "practical"}
    policy._adopted(preset="gymnasium_139_001", windows=old, weights={}, rounding="half_up",
                    marks_enabled=True, order=ORDER, act=act())
    assert policy.window(RecordKind.PRACTICAL) == Window(Rule.SAME_DAY)
    rebuilt = replay(policy)
    assert rebuilt.window(RecordKind.PRACTICAL) == Window(Rule.SAME_DAY)


# Seed 004 §6.9: control works within a day of receiving the results ----------------------
def test_semt_control_works_are_due_a_day_after_the_results_not_the_lesson() -> None:
    w = adopted_policy("semt_004").window(record_kind(WorkKind.CONTROL))
    monday, results = date(2026, 10, 12), date(2026, 10, 15)
    assert w.on_time(monday, PERIOD_END, at(MOSCOW, 2026, 10, 16, 23, 59), results)
    assert not w.on_time(monday, PERIOD_END, at(MOSCOW, 2026, 10, 17, 0, 0), results)
    # Without a results date the results are taken as received on the lesson day.
    assert w.on_time(monday, PERIOD_END, at(MOSCOW, 2026, 10, 13, 23, 59))
    assert not w.on_time(monday, PERIOD_END, at(MOSCOW, 2026, 10, 14, 0, 0))


# Closing a period before its last day ------------------------------------------------------
def test_closing_before_the_last_day_needs_an_order_with_a_reason() -> None:
    policy, year, group = JournalPolicy(institution_id=uuid4(), act=act()), uuid4(), uuid4()
    last = date(2026, 10, 25)
    early = act(date(2026, 10, 20))
    with pytest.raises(EarlyClosure) as refused:
        policy.close(year, 1, group, early, last_day=last)
    assert refused.value.code == "early_closure_reason_required"
    with pytest.raises(EarlyClosure):
        policy.close(year, 1, group, early, last_day=last, order=ORDER, reason="  ")
    policy.close(year, 1, group, early, last_day=last, order=ORDER,
                 reason="Досрочное окончание: учебная практика с 21.10")
    assert replay(policy).is_closed(year, 1, group)


def test_closing_on_the_last_day_or_after_needs_no_reason() -> None:
    policy, year = JournalPolicy(institution_id=uuid4(), act=act()), uuid4()
    policy.close(year, 1, None, act(date(2026, 10, 25)), last_day=date(2026, 10, 25))
    policy.close(year, 2, None, act(date(2026, 12, 29)), last_day=date(2026, 12, 28))
    assert policy.is_closed(year, 1, uuid4()) and policy.is_closed(year, 2, uuid4())


def test_a_closure_stored_before_closures_had_an_order_still_replays() -> None:
    policy, year = JournalPolicy(institution_id=uuid4(), act=act()), uuid4()
    policy._closed(year_id=year, period_number=1, group_id=None, act=act())
    assert replay(policy).is_closed(year, 1, uuid4())
