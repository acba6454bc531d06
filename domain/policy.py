"""The journal policy (положение об электронном журнале) of an institution: when a record
may still be entered or changed directly, how averages are weighted and rounded, who may
decide correction applications. Changed only by events, each citing the order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue, RuleViolation
from domain.values import DEFAULT_WEIGHTS, Act, MarkValue, OrderRef, WorkKind

NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/policy")


class CorrectionRequired(RuleViolation):
    code = "correction_application_required"


class PeriodClosed(CorrectionRequired):
    code = "period_closed"


class MarksDisabled(RuleViolation):
    code = "marks_disabled"


class EarlyClosure(RuleViolation):
    code = "early_closure_reason_required"


class RecordKind(str, Enum):
    LESSON = "lesson"  # ordinary lesson marks, attendance, topic, homework
    PRACTICAL = "practical"  # laboratory and practical works (seed 001 §4.3)
    CONTROL = "control"  # written and control works, tests, exams
    ATTESTATION = "attestation"  # intermediate attestation marks
    PERIOD = "period"  # period (quarter, semester, year) marks
    ABSENCE_REASON = "absence_reason"


class Rule(str, Enum):
    NONE = "none"  # no deadline
    SAME_DAY = "same_day"  # until 24:00 of the lesson day
    DAYS = "days"  # until 24:00 of the n-th day after
    BY_MONDAY = "by_monday"  # until 24:00 of the Monday after the lesson's week
    BEFORE_MONDAY = "before_monday"  # until 24:00 of the lesson week's Sunday: Monday is late
    AFTER_RESULTS = "after_results"  # until 24:00 of the n-th day after the results came
    BEFORE_PERIOD_END = "before_period_end"  # until 24:00 of the period's end − n days


@dataclass(frozen=True)
class Window:
    rule: Rule
    days: int = 0

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Window:
        try:
            window = cls(Rule(raw["rule"]), int(raw.get("days", 0)))
        except (KeyError, ValueError, TypeError):
            raise InvalidValue(
                "Окно ввода: rule ∈ " + ", ".join(r.value for r in Rule) + "; "
                "days — целое число.", field="windows") from None
        if not 0 <= window.days <= 60:
            raise InvalidValue("Число дней окна ввода — от 0 до 60.", field="windows")
        return window

    def last_day(self, day: date, period_ends: date, results_on: date | None = None
                 ) -> date | None:
        """The last institution-local date on which the record is on time (until 24:00);
        None: no deadline. `results_on`: when a control work's results were received
        (only `after_results` counts from it; without it, from the lesson day)."""
        if self.rule is Rule.NONE:
            return None
        if self.rule is Rule.SAME_DAY:
            return day
        if self.rule is Rule.DAYS:
            return day + timedelta(days=self.days)
        if self.rule is Rule.BY_MONDAY:
            return day + timedelta(days=7 - day.weekday())
        if self.rule is Rule.BEFORE_MONDAY:
            return day + timedelta(days=6 - day.weekday())
        if self.rule is Rule.AFTER_RESULTS:
            return max(day, results_on or day) + timedelta(days=self.days)
        return period_ends - timedelta(days=self.days)

    def on_time(self, day: date, period_ends: date, now_local: datetime,
                results_on: date | None = None) -> bool:
        last = self.last_day(day, period_ends, results_on)
        return last is None or now_local < datetime.combine(last + timedelta(days=1), time(0),
                                                            tzinfo=now_local.tzinfo)

    def describe(self) -> str:
        return {
            Rule.NONE: "без ограничения срока",
            Rule.SAME_DAY: "до 24:00 дня занятия",
            Rule.DAYS: f"в течение {self.days} дн. после занятия",
            Rule.BY_MONDAY: "до понедельника следующей недели включительно",
            Rule.BEFORE_MONDAY: "до понедельника следующей недели, не включая его "
                                "(до 24:00 воскресенья)",
            Rule.AFTER_RESULTS: f"в течение {self.days} дн. после получения результатов",
            Rule.BEFORE_PERIOD_END: f"не позднее чем за {self.days} дн. до конца периода",
        }[self.rule]


class Rounding(str, Enum):
    HALF_UP = "half_up"  # 3.5 → 4 (default)
    HALF_DOWN = "half_down"  # 3.5 → 3
    FROM_60 = "from_60"  # 3.6 → 4, 3.59 → 3

    def apply(self, average: Decimal) -> int:
        if self is Rounding.FROM_60:
            whole = int(average)
            return whole + 1 if average - whole >= Decimal("0.6") else whole
        mode = ROUND_HALF_UP if self is Rounding.HALF_UP else ROUND_HALF_DOWN
        return int(average.quantize(Decimal(1), rounding=mode))


# How % успеваемости and % качества treat зачтено, н/а and освобождён (issue 9). Each
# choice: "success" — in N and успевающий; "failure" — in N, not успевающий;
# "excluded" — not in N. Policies adopted before this setting have the defaults.
RATE_MARKS = {"passed": "зачтено", "not_attested": "н/а", "exempt": "освобождён"}
RATE_CHOICES = ("success", "failure", "excluded")
DEFAULT_RATES = {"passed": "success", "not_attested": "failure", "exempt": "excluded"}


def settle_rates(rates: dict[str, str] | None) -> dict[str, str]:
    merged = {**DEFAULT_RATES, **(rates or {})}
    if set(merged) != set(DEFAULT_RATES) or not set(merged.values()) <= set(RATE_CHOICES):
        raise InvalidValue("Учёт в % успеваемости: passed, not_attested, exempt ∈ "
                           + ", ".join(RATE_CHOICES) + ".", field="rates")
    return merged


def _w(rule: str, days: int = 0) -> dict[str, Any]:
    return {"rule": rule, "days": days}


# One preset per regulation in shared/seeds (section numbers in DOMAIN.md). Laboratory
# and practical works ("practical") follow the lesson window unless the regulation names
# them (001 §4.3: with written works, one week).
PRESETS: dict[str, dict[str, Any]] = {
    "tomsk_it_000": {"title": "Томский техникум ИТ (seed 000): в день занятия",
                     "windows": {"lesson": _w("same_day"), "practical": _w("same_day"),
                                 "control": _w("same_day"),
                                 "attestation": _w("days", 1), "period": _w("none"),
                                 "absence_reason": _w("days", 7)}},
    "gymnasium_139_001": {"title": "Гимназия № 139 (seed 001): до 24:00; письменные, "
                                   "контрольные, лабораторные и практические — неделя",
                          "windows": {"lesson": _w("same_day"), "practical": _w("days", 7),
                                      "control": _w("days", 7),
                                      "attestation": _w("days", 7), "period": _w("none"),
                                      "absence_reason": _w("days", 7)}},
    "epos_002": {"title": "ЭПОС (seed 002): 1 день, письменные — 7 дней, аттестация — 1 день",
                 "windows": {"lesson": _w("days", 1), "practical": _w("days", 1),
                             "control": _w("days", 7),
                             "attestation": _w("days", 1), "period": _w("none"),
                             "absence_reason": _w("days", 1)}},
    "kvantorium_003": {"title": "Кванториум (seed 003): 3 дня, итерации без отметок",
                       "windows": {"lesson": _w("days", 3), "practical": _w("days", 3),
                                   "control": _w("days", 3),
                                   "attestation": _w("days", 3), "period": _w("none"),
                                   "absence_reason": _w("days", 3)},
                       "marks_enabled": False},
    # 004 §6.1 "до понедельника текущей недели": before Monday, Monday itself is late
    # (ADR 0004); §6.9: control works within a day of receiving the results; the
    # curator's weekly check of absences (§5.1, §5.6) may take the Monday.
    "semt_004": {"title": "СЭМТ (seed 004): за неделю — до понедельника (не включая), "
                          "контрольные — сутки после получения результатов, итоговые — "
                          "за 2 дня до конца периода",
                 "windows": {"lesson": _w("before_monday"), "practical": _w("before_monday"),
                             "control": _w("after_results", 1),
                             "attestation": _w("days", 1), "period": _w("before_period_end", 2),
                             "absence_reason": _w("by_monday")}},
}
PERMISSIVE = {k.value: _w("none") for k in RecordKind}


def record_kind(work_kind: WorkKind) -> RecordKind:
    if work_kind in (WorkKind.CONTROL, WorkKind.TEST, WorkKind.EXAM):
        return RecordKind.CONTROL
    if work_kind in (WorkKind.LABORATORY, WorkKind.PRACTICAL):
        return RecordKind.PRACTICAL
    return RecordKind.LESSON


def with_practical(windows: dict[str, Any]) -> dict[str, Any]:
    """Windows with laboratory and practical works under the lesson window when none is
    given for them: own policies that do not name them, and policies adopted before they
    had a window of their own (their Adopted events have no "practical")."""
    if RecordKind.PRACTICAL.value in windows or RecordKind.LESSON.value not in windows:
        return windows
    return {**windows, RecordKind.PRACTICAL.value: windows[RecordKind.LESSON.value]}


class JournalPolicy(Aggregate):
    """Absent until adopted: an institution without an adopted policy has no deadlines
    (ADR 0004)."""

    @staticmethod
    def create_id(institution_id: UUID, **_: Any) -> UUID:
        return uuid5(NAMESPACE, str(institution_id))

    @event("Opened")
    def __init__(self, institution_id: UUID, act: Act) -> None:
        self.institution_id = institution_id
        self.preset: str | None = None
        self.windows = {k: Window.parse(v) for k, v in PERMISSIVE.items()}
        self.weights: dict[WorkKind, int] = dict(DEFAULT_WEIGHTS)
        self.rounding = Rounding.HALF_UP
        self.marks_enabled = True
        self.order: OrderRef | None = None
        self.delegates: dict[UUID, OrderRef] = {}
        self.closed: set[tuple[UUID, int, UUID | None]] = set()
        self.draft: dict[str, Any] | None = None  # prepared, not yet adopted
        self.rates = dict(DEFAULT_RATES)

    def adopt(self, preset: str | None, windows: dict[str, Any] | None,
              weights: dict[str, int] | None, rounding: str, marks_enabled: bool | None,
              order: OrderRef, act: Act, rates: dict[str, str] | None = None) -> None:
        """The director's order adopting the policy (seed 001 §4.1: the journal is kept
        as the director's order says)."""
        self._adopted(**self.settle(preset, windows, weights, rounding, marks_enabled),
                      order=order, act=act, rates=settle_rates(rates))

    def prepare(self, preset: str | None, windows: dict[str, Any] | None,
                weights: dict[str, int] | None, rounding: str, marks_enabled: bool | None,
                act: Act, rates: dict[str, str] | None = None) -> None:
        """A draft prepared by the journal administrator; it binds nobody until the
        director adopts it by order (`adopt_draft`)."""
        self._prepared(**self.settle(preset, windows, weights, rounding, marks_enabled),
                       act=act, rates=settle_rates(rates))

    def adopt_draft(self, order: OrderRef, act: Act) -> None:
        if self.draft is None:
            raise InvalidValue("Проект положения не подготовлен.", field="draft")
        self._adopted(**self.draft, order=order, act=act)

    @staticmethod
    def settle(preset: str | None, windows: dict[str, Any] | None,
               weights: dict[str, int] | None, rounding: str, marks_enabled: bool | None
               ) -> dict[str, Any]:
        """Validated settings, with the preset's and the defaults filled in."""
        base = PRESETS.get(preset or "", {}) if preset else {}
        if preset and not base:
            raise InvalidValue(f"Нет шаблона положения «{preset}».", field="preset")
        merged = {**PERMISSIVE, **with_practical({**base.get("windows", {}),
                                                  **(windows or {})})}
        unknown = set(merged) - {k.value for k in RecordKind}
        if unknown:
            raise InvalidValue(f"Неизвестные виды записей: {', '.join(sorted(unknown))}.",
                               field="windows")
        for raw in merged.values():
            Window.parse(raw)
        all_weights = {**{k.value: v for k, v in DEFAULT_WEIGHTS.items()}, **(weights or {})}
        try:
            parsed = {WorkKind(k): int(v) for k, v in all_weights.items()}
        except ValueError:
            raise InvalidValue("Веса задаются для видов работ: ordinary, practical, "
                               "laboratory, control, test, exam.", field="weights") from None
        if not all(1 <= v <= 10 for v in parsed.values()):
            raise InvalidValue("Вес вида работы — целое число от 1 до 10.", field="weights")
        try:
            rounding = Rounding(rounding).value
        except ValueError:
            raise InvalidValue("Округление: " + ", ".join(r.value for r in Rounding) + ".",
                               field="rounding") from None
        return {"preset": preset, "windows": merged,
                "weights": {k.value: v for k, v in parsed.items()}, "rounding": rounding,
                "marks_enabled": base.get("marks_enabled", True) if marks_enabled is None
                else marks_enabled}

    @event("DraftPrepared")
    def _prepared(self, preset: str | None, windows: dict[str, Any], weights: dict[str, int],
                  rounding: str, marks_enabled: bool, act: Act,
                  rates: dict[str, str] | None = None) -> None:
        # `rates`: absent from drafts stored before the setting existed.
        self.draft = {"preset": preset, "windows": windows, "weights": weights,
                      "rounding": rounding, "marks_enabled": marks_enabled,
                      "rates": settle_rates(rates)}

    @event("Adopted")
    def _adopted(self, preset: str | None, windows: dict[str, Any], weights: dict[str, int],
                 rounding: str, marks_enabled: bool, order: OrderRef, act: Act,
                 rates: dict[str, str] | None = None) -> None:
        # `rates`: absent from policies adopted before the setting existed (defaults).
        self.preset = preset
        self.rates = settle_rates(rates)
        self.windows = {k: Window.parse(v) for k, v in with_practical(windows).items()}
        self.weights = {WorkKind(k): v for k, v in weights.items()}
        self.rounding = Rounding(rounding)
        self.marks_enabled = marks_enabled
        self.order = order
        self.draft = None

    def window(self, kind: RecordKind) -> Window:
        return self.windows[kind.value]

    # Delegation of the right to decide correction applications --------------------------
    # `deputy_id` names whoever the order delegates to: a deputy or, since seed 002
    # §3.2.1 was modelled, a journal administrator (the event keeps its stored name).
    @event("DecisionRightDelegated")
    def delegate(self, deputy_id: UUID, order: OrderRef, act: Act) -> None:
        self.delegates[deputy_id] = order

    @event("DecisionRightRevoked")
    def revoke(self, deputy_id: UUID, order: OrderRef, act: Act) -> None:
        self.delegates.pop(deputy_id, None)

    # Closing periods --------------------------------------------------------------------
    def is_closed(self, year_id: UUID, period_number: int, group_id: UUID) -> bool:
        return ((year_id, period_number, group_id) in self.closed
                or (year_id, period_number, None) in self.closed)

    def close(self, year_id: UUID, period_number: int, group_id: UUID | None, act: Act, *,
              last_day: date, order: OrderRef | None = None, reason: str | None = None
              ) -> None:
        """Closes the period (its `last_day`: the period's or, for year-level marks, the
        year's). Closing before that day needs an order stating the reason; on the last
        day or later the deputy closes without one."""
        if (year_id, period_number, group_id) in self.closed:
            raise InvalidValue("Период уже закрыт.", field="period_number")
        reason = reason.strip() if reason else None
        if act.local_date < last_day and (order is None or not reason):
            raise EarlyClosure(
                f"Период заканчивается {last_day:%d.%m.%Y}: закрыть его раньше можно только "
                "по приказу с указанием причины (order, reason).", last_day=last_day.isoformat())
        self._closed(year_id=year_id, period_number=period_number, group_id=group_id, act=act,
                     order=order, reason=reason)

    @event("PeriodClosed")
    def _closed(self, year_id: UUID, period_number: int, group_id: UUID | None, act: Act,
                order: OrderRef | None = None, reason: str | None = None) -> None:
        # `order` and `reason`: absent from closures stored before early closing needed them.
        self.closed.add((year_id, period_number, group_id))

    def reopen(self, year_id: UUID, period_number: int, group_id: UUID | None,
               order: OrderRef, reason: str, act: Act) -> None:
        if (year_id, period_number, group_id) not in self.closed:
            raise InvalidValue("Период не закрыт.", field="period_number")
        if not reason.strip():
            raise InvalidValue("Укажите причину открытия периода.", field="reason")
        self._reopened(year_id=year_id, period_number=period_number, group_id=group_id,
                       order=order, reason=reason.strip(), act=act)

    @event("PeriodReopened")
    def _reopened(self, year_id: UUID, period_number: int, group_id: UUID | None,
                  order: OrderRef, reason: str, act: Act) -> None:
        self.closed.discard((year_id, period_number, group_id))


def suggested_mark(average: Decimal | None, rounding: Rounding) -> MarkValue | None:
    if average is None:
        return None
    return MarkValue(str(max(1, min(5, rounding.apply(average)))))
