"""Statements (сводные ведомости) computed from read-model rows — pure: rows in, a
statement out. The application layer fetches the rows; `api/documents.py` renders the
statement as JSON, CSV or PDF/A.

Names as the regulations use them:
- `progress` — сводная ведомость учёта успеваемости: a group × its disciplines' period
  (or year) marks, averages, % успеваемости and % качества;
- `attendance` — сводная ведомость учёта посещаемости: lessons missed per student,
  excused (illness apart) and unexcused, lateness, by month;
- `movement` — сводная ведомость учёта движения обучающихся: every move by order in a
  date range, with opening and closing headcounts per group."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

POINTS = {"5": 5, "4": 4, "3": 3, "2": 2, "1": 1}
SUCCESS = {"5", "4", "3", "зачтено"}
QUALITY = {"5", "4"}
EXEMPT = "освобождён"
NOT_ATTESTED = "н/а"
PROGRESS_FORMULA = (
    "% успеваемости = (n5 + n4 + n3 + зачтено) × 100 / N; % качества = (n5 + n4) × 100 / N; "
    "N — обучающиеся в списке группы на конец периода, кроме освобождённых и не имеющих "
    "итоговой отметки; «н/а» входит в N и не считается успевающим.")
EXCUSED = {"illness", "guardian_application", "order"}
MOVE_KINDS = {"enrolment": "прибыл", "transfer": "перевод", "academic_leave":
              "академический отпуск", "return_from_leave": "восстановление",
              "expulsion": "выбыл (отчислен)", "graduation": "выбыл (выпуск)"}


@dataclass(frozen=True)
class LedgerState:
    """The journal state a document was built from."""

    notification_id: int
    position: int
    head: str


@dataclass(frozen=True)
class Header:
    institution: str
    title: str
    group: str | None
    period: str
    generated_at: str  # in the institution's zone
    ledger: LedgerState


def percent(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return float((Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def mean(values: Iterable[int]) -> float | None:
    values = list(values)
    if not values:
        return None
    return float((Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def on_roster(intervals: Iterable[Mapping[str, Any]], day: str) -> set[str]:
    """Students whose membership interval covers `day` (ISO)."""
    return {r["student_id"] for r in intervals
            if r["starts"] <= day and (r["ends"] is None or day < r["ends"])}


# Успеваемость -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DisciplineSummary:
    discipline: str
    counts: dict[str, int]
    n: int
    success: float | None
    quality: float | None
    average: float | None


@dataclass(frozen=True)
class ProgressRow:
    student: str
    marks: list[str | None]
    average: float | None


@dataclass
class ProgressStatement:
    header: Header
    disciplines: list[str]
    rows: list[ProgressRow]
    summary: list[DisciplineSummary]
    total: DisciplineSummary
    formula: str = PROGRESS_FORMULA
    kind: str = "progress"


def progress(header: Header, period_end: str, roster: list[dict[str, Any]],
             names: Mapping[str, str], disciplines: Mapping[str, str],
             marks: list[dict[str, Any]]) -> ProgressStatement:
    """`roster`: the group's membership intervals; `disciplines`: id → name of the
    disciplines with a sheet for the period; `marks`: rows (discipline_id, student_id,
    value) of those sheets."""
    students = sorted(on_roster(roster, period_end), key=lambda s: (names.get(s, ""), s))
    order = sorted(disciplines, key=lambda d: disciplines[d])
    grid: dict[tuple[str, str], str] = {(m["student_id"], m["discipline_id"]): m["value"]
                                        for m in marks}
    rows = [ProgressRow(names.get(s, s), [grid.get((s, d)) for d in order],
                        mean(POINTS[v] for d in order if (v := grid.get((s, d))) in POINTS))
            for s in students]
    summary = [_summarise(disciplines[d], [grid.get((s, d)) for s in students])
               for d in order]
    total = _summarise("Итого", [grid.get((s, d)) for s in students for d in order])
    return ProgressStatement(header, [disciplines[d] for d in order], rows, summary, total)


def _summarise(name: str, values: list[str | None]) -> DisciplineSummary:
    counts = Counter(v for v in values if v is not None)
    n = sum(c for v, c in counts.items() if v != EXEMPT)
    return DisciplineSummary(
        name, dict(sorted(counts.items())), n,
        percent(sum(counts[v] for v in SUCCESS), n),
        percent(sum(counts[v] for v in QUALITY), n),
        mean(POINTS[v] for v in values if v in POINTS))


# Посещаемость -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AttendanceRow:
    student: str
    missed: int
    excused: int
    illness: int
    unexcused: int
    late: int
    late_minutes: int
    by_month: dict[str, int]  # "YYYY-MM" → lessons missed


@dataclass
class AttendanceStatement:
    header: Header
    months: list[str]
    rows: list[AttendanceRow]
    total: AttendanceRow
    note: str = ("Пропуск без указанной причины считается неуважительным; уважительные: "
                 "болезнь (справка), заявление родителей, приказ.")
    kind: str = "attendance"


def attendance(header: Header, first: str, last: str, roster: list[dict[str, Any]],
               names: Mapping[str, str], records: list[dict[str, Any]]
               ) -> AttendanceStatement:
    """`records`: rows (student_id, day, status, minutes, reason) of the group's lessons
    in [first, last]; students: everyone on the roster at some day of the range."""
    students = {r["student_id"] for r in roster
                if r["starts"] <= last and (r["ends"] is None or first < r["ends"])}
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        per[r["student_id"]].append(r)
    months = sorted({r["day"][:7] for r in records if r["status"] == "absent"})
    rows = [_attendance_row(names.get(s, s), per.get(s, []))
            for s in sorted(students, key=lambda s: (names.get(s, ""), s))]
    total = AttendanceRow("Итого", *(sum(getattr(r, f) for r in rows) for f in (
        "missed", "excused", "illness", "unexcused", "late", "late_minutes")),
        {m: sum(r.by_month.get(m, 0) for r in rows) for m in months})
    return AttendanceStatement(header, months, rows, total)


def _attendance_row(name: str, records: list[dict[str, Any]]) -> AttendanceRow:
    absent = [r for r in records if r["status"] == "absent"]
    late = [r for r in records if r["status"] == "late"]
    by_month = Counter(r["day"][:7] for r in absent)
    return AttendanceRow(
        name, len(absent), sum(1 for r in absent if r["reason"] in EXCUSED),
        sum(1 for r in absent if r["reason"] == "illness"),
        sum(1 for r in absent if r["reason"] not in EXCUSED), len(late),
        sum(int(r["minutes"] or 0) for r in late), dict(sorted(by_month.items())))


# Движение -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveRow:
    student: str
    birth_date: str | None
    kind: str
    order: str
    effective: str
    from_group: str | None
    to_group: str | None


@dataclass(frozen=True)
class Headcount:
    group: str
    opening: int
    arrived: int
    left: int
    closing: int


@dataclass
class MovementStatement:
    header: Header
    rows: list[MoveRow]
    headcounts: list[Headcount]
    kind: str = "movement"
    totals: dict[str, int] = field(default_factory=dict)


def movement(header: Header, first: str, last: str, moves: list[dict[str, Any]],
             students: Mapping[str, Mapping[str, Any]], groups: Mapping[str, str],
             roster: list[dict[str, Any]]) -> MovementStatement:
    """`moves`: every move of every student (any date; the group left is the one the
    previous move entered); `roster`: every membership interval of the groups shown."""
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in sorted(moves, key=lambda m: (m["student_id"], int(m["version"]))):
        history[m["student_id"]].append(m)
    rows = []
    for student_id, steps in history.items():
        previous: str | None = None
        for m in steps:
            if first <= m["effective"] <= last:
                s = students.get(student_id, {})
                rows.append(MoveRow(
                    s.get("full_name", student_id), s.get("birth_date"),
                    MOVE_KINDS.get(m["kind"], m["kind"]),
                    f"№ {m['order_number']} от {_ru(m['order_date'])}", m["effective"],
                    groups.get(previous) if previous else None,
                    groups.get(m["group_id"]) if m["group_id"] else None))
            previous = m["group_id"]
    rows.sort(key=lambda r: (r.effective, r.student))
    headcounts = []
    for group_id, name in sorted(groups.items(), key=lambda g: g[1]):
        spans = [r for r in roster if r["group_id"] == group_id]
        opening = len(on_roster(spans, first))
        arrived = sum(1 for r in spans if first < r["starts"] <= last)
        left = sum(1 for r in spans if r["ends"] is not None and first < r["ends"] <= last)
        headcounts.append(Headcount(name, opening, arrived, left,
                                    opening + arrived - left))
    totals = dict(Counter(r.kind for r in rows))
    return MovementStatement(header, rows, headcounts, totals=totals)


def _ru(iso: str | None) -> str:
    return "" if not iso else date.fromisoformat(iso).strftime("%d.%m.%Y")
