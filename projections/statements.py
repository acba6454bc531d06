"""Statements (сводные ведомости) computed from read-model rows — pure: rows in, a
statement out. The application layer fetches the rows; `api/documents.py` renders the
statement as JSON, CSV or PDF/A.

Names as the regulations use them:
- `progress` — сводная ведомость учёта успеваемости: a group × its disciplines' period
  (or year) marks, averages, % успеваемости and % качества;
- `attendance` — сводная ведомость учёта посещаемости: lessons missed per student,
  excused (illness apart) and unexcused, lateness, by month;
- `movement` — сводная ведомость учёта движения обучающихся: every move by order in a
  date range, with opening and closing headcounts per group;
- `group_results` — итоги успеваемости группы за период (students by category);
- `curator_preliminary` — предварительный отчёт куратора (current averages);
- `attendance_by_month` — посещаемость группы по месяцам;
- `debts` — академическая задолженность (a group, the institution, one student);
- `control` — контроль ведения журнала for the administration (ADR 0010);
- `forecast` — прогноз: the risk of a 2 or н/а per student and discipline;
- `year_snapshot` — the final state of every journal page of a year."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.averages import weighted_average
from domain.corrections import DECISION_DAYS
from domain.period_marks import DEBT
from domain.policy import DEFAULT_RATES, RATE_MARKS, Rounding, suggested_mark
from domain.values import DEFAULT_WEIGHTS, MarkValue, WorkKind

POINTS = {"5": 5, "4": 4, "3": 3, "2": 2, "1": 1}
QUALITY = {"5", "4"}
EXEMPT = "освобождён"
NOT_ATTESTED = "н/а"


def progress_formula(rates: Mapping[str, str] = DEFAULT_RATES) -> str:
    success = " + ".join(["n5", "n4", "n3", *[RATE_MARKS[k] for k in RATE_MARKS
                                              if rates.get(k) == "success"]])
    excluded = [f"«{RATE_MARKS[k]}»" for k in RATE_MARKS if rates.get(k) == "excluded"]
    counted = {"success": "входит в N и считается успевающим",
               "failure": "входит в N и не считается успевающим"}
    rules = "; ".join(f"«{RATE_MARKS[k]}» {counted[rates[k]]}" for k in RATE_MARKS
                      if rates.get(k) in counted)
    return (f"% успеваемости = ({success}) × 100 / N; % качества = (n5 + n4) × 100 / N; "
            "N — обучающиеся в списке группы на конец периода, кроме не имеющих итоговой "
            f"отметки{', ' + ', '.join(excluded) if excluded else ''}"
            f"{'; ' + rules if rules else ''}.")


PROGRESS_FORMULA = progress_formula()
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
             marks: list[dict[str, Any]], rates: Mapping[str, str] = DEFAULT_RATES
             ) -> ProgressStatement:
    """`roster`: the group's membership intervals; `disciplines`: id → name of the
    disciplines with a sheet for the period; `marks`: rows (discipline_id, student_id,
    value) of those sheets; `rates`: the policy's treatment of зачтено / н/а /
    освобождён."""
    students = sorted(on_roster(roster, period_end), key=lambda s: (names.get(s, ""), s))
    order = sorted(disciplines, key=lambda d: disciplines[d])
    grid: dict[tuple[str, str], str] = {(m["student_id"], m["discipline_id"]): m["value"]
                                        for m in marks}
    rows = [ProgressRow(names.get(s, s), [grid.get((s, d)) for d in order],
                        mean(POINTS[v] for d in order if (v := grid.get((s, d))) in POINTS))
            for s in students]
    summary = [_summarise(disciplines[d], [grid.get((s, d)) for s in students], rates)
               for d in order]
    total = _summarise("Итого", [grid.get((s, d)) for s in students for d in order], rates)
    return ProgressStatement(header, [disciplines[d] for d in order], rows, summary, total,
                             formula=progress_formula(rates))


def _summarise(name: str, values: list[str | None],
               rates: Mapping[str, str] = DEFAULT_RATES) -> DisciplineSummary:
    counts = Counter(v for v in values if v is not None)
    treatment = {RATE_MARKS[k]: rates.get(k, DEFAULT_RATES[k]) for k in RATE_MARKS}
    n = sum(c for v, c in counts.items() if treatment.get(v) != "excluded")
    success = {"5", "4", "3", *[m for m, t in treatment.items() if t == "success"]}
    return DisciplineSummary(
        name, dict(sorted(counts.items())), n,
        percent(sum(counts[v] for v in success), n),
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


# Extra tables of a document (after the main one) ------------------------------------------
@dataclass(frozen=True)
class Section:
    title: str
    columns: list[str]
    rows: list[list[Any]]


def _name_order(names: Mapping[str, str]) -> Any:
    return lambda s: (names.get(s, ""), s)


def _debt(value: str | None) -> bool:
    return value in {m.value for m in DEBT}


# Итоги успеваемости группы за период ----------------------------------------------------
CATEGORIES = ["отличник", "хорошист", "с одной «3»", "успевающий", "неуспевающий",
              "без отметок"]


@dataclass(frozen=True)
class ResultRow:
    student: str
    counts: dict[str, int]  # "5", "4", "3", "2" (2 and 1), "н/а" (н/а, не зачтено)
    average: float | None
    category: str


@dataclass
class GroupResultsStatement:
    header: Header
    rows: list[ResultRow]
    categories: dict[str, int]
    n: int
    success: float | None
    quality: float | None
    note: str = ("Категории по итоговым отметкам за период: отличник — все отметки «5»; "
                 "хорошист — «4» и «5»; с одной «3»; успевающий — без «2» и «н/а»; "
                 "неуспевающий — есть «2», «1», «н/а» или «не зачтено» (академическая "
                 "задолженность). % успеваемости = (N − неуспевающие) × 100 / N; % качества = "
                 "(отличники + хорошисты) × 100 / N; N — обучающиеся в списке группы на конец "
                 "периода, имеющие итоговые отметки.")
    kind: str = "group-results"


def group_results(header: Header, period_end: str, roster: list[dict[str, Any]],
                  names: Mapping[str, str], marks: list[dict[str, Any]]
                  ) -> GroupResultsStatement:
    """`marks`: rows (student_id, value) of the group's period-mark sheets for the
    period."""
    per: dict[str, list[str]] = defaultdict(list)
    for m in marks:
        per[m["student_id"]].append(m["value"])
    rows = []
    for s in sorted(on_roster(roster, period_end), key=_name_order(names)):
        values = per.get(s, [])
        numeric = [v for v in values if v in POINTS]
        counts = {"5": values.count("5"), "4": values.count("4"), "3": values.count("3"),
                  "2": sum(v in ("2", "1") for v in values),
                  "н/а": sum(v in ("н/а", "не зачтено") for v in values)}
        if not values:
            category = "без отметок"
        elif any(_debt(v) for v in values):
            category = "неуспевающий"
        elif numeric and all(v == "5" for v in numeric):
            category = "отличник"
        elif all(v in ("4", "5") for v in numeric):
            category = "хорошист"
        elif counts["3"] == 1:
            category = "с одной «3»"
        else:
            category = "успевающий"
        rows.append(ResultRow(names.get(s, s), counts, mean(POINTS[v] for v in numeric),
                              category))
    categories = {c: sum(r.category == c for r in rows) for c in CATEGORIES}
    n = len(rows) - categories["без отметок"]
    return GroupResultsStatement(
        header, rows, categories, n, percent(n - categories["неуспевающий"], n),
        percent(categories["отличник"] + categories["хорошист"], n))


# Текущая успеваемость: предварительный отчёт куратора и прогноз --------------------------
def _weights(raw: Mapping[str, int] | None) -> dict[WorkKind, int]:
    return {**DEFAULT_WEIGHTS, **{WorkKind(k): int(v) for k, v in (raw or {}).items()}}


def _average(values: list[tuple[str, str]], weights: Mapping[WorkKind, int]
             ) -> Decimal | None:
    return weighted_average(((MarkValue(v), WorkKind(k)) for v, k in values), weights)


def _fmt(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):.2f}".replace(".", ",")


def student_lessons(lessons: list[dict[str, Any]], roster: list[dict[str, Any]],
                    subgroups: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """student_id → the lessons the student was expected at: on the group's roster that
    day and, for a subgroup's lesson, in the subgroup."""
    spans: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in roster:
        spans[r["student_id"]].append(r)
    members: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in subgroups:
        members[(m["subgroup_id"], m["student_id"])].append(m)

    def covers(intervals: list[dict[str, Any]], day: str) -> bool:
        return any(i["starts"] <= day and (i["ends"] is None or day < i["ends"])
                   for i in intervals)

    out: dict[str, list[dict[str, Any]]] = {s: [] for s in spans}
    for lesson in lessons:
        for student, intervals in spans.items():
            if covers(intervals, lesson["day"]) and (
                    not lesson["subgroup_id"]
                    or covers(members.get((lesson["subgroup_id"], student), []),
                              lesson["day"])):
                out[student].append(lesson)
    return out


@dataclass(frozen=True)
class PreliminaryRow:
    student: str
    averages: list[str]  # per discipline: "3,45 → 3" (average → suggested mark)
    average: float | None
    missed: int
    unexcused: int


@dataclass
class CuratorPreliminaryStatement:
    header: Header
    disciplines: list[str]
    rows: list[PreliminaryRow]
    group_averages: list[float | None]
    at_risk: list[int]  # per discipline: students whose suggested mark is 2 or 1
    note: str = ("Предварительно, по текущим отметкам на дату отчёта: средний балл "
                 "взвешен по видам работ (веса положения), «→» — отметка по правилу "
                 "округления положения. Пропуски — за период по дату отчёта.")
    kind: str = "curator-preliminary"


def curator_preliminary(header: Header, day: str, roster: list[dict[str, Any]],
                        names: Mapping[str, str], disciplines: Mapping[str, str],
                        marks: list[dict[str, Any]], absences: list[dict[str, Any]],
                        weights: Mapping[str, int] | None, rounding: str
                        ) -> CuratorPreliminaryStatement:
    """`marks`: (discipline_id, student_id, value, work_kind) of the group's current
    (not cancelled) marks in the period up to `day`; `absences`: (student_id, status,
    reason) of its lessons in that time."""
    w, mode = _weights(weights), Rounding(rounding)
    order = sorted(disciplines, key=lambda d: disciplines[d])
    per: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for m in marks:
        per[(m["student_id"], m["discipline_id"])].append((m["value"], m["work_kind"]))
    missed = Counter(a["student_id"] for a in absences if a["status"] == "absent")
    unexcused = Counter(a["student_id"] for a in absences
                        if a["status"] == "absent" and a["reason"] not in EXCUSED)
    rows, grid = [], defaultdict(list)
    for s in sorted(on_roster(roster, day), key=_name_order(names)):
        cells, averages = [], []
        for d in order:
            avg = _average(per.get((s, d), []), w)
            mark = suggested_mark(avg, mode)
            cells.append(f"{_fmt(avg)} → {mark.value}" if mark else "")
            if avg is not None:
                averages.append(avg)
                grid[d].append((avg, mark))
        overall = (float((sum(averages) / len(averages)).quantize(
            Decimal("0.01"), ROUND_HALF_UP)) if averages else None)
        rows.append(PreliminaryRow(names.get(s, s), cells, overall, missed.get(s, 0),
                                   unexcused.get(s, 0)))
    group_averages = [float((sum(a for a, _ in grid[d]) / len(grid[d])).quantize(
        Decimal("0.01"), ROUND_HALF_UP)) if grid[d] else None for d in order]
    at_risk = [sum(1 for _, m in grid[d] if m is not None and m.points is not None
                   and m.points <= 2) for d in order]
    return CuratorPreliminaryStatement(header, [disciplines[d] for d in order], rows,
                                       group_averages, at_risk)


# Forecast (004 §2.8, §13.2) -----------------------------------------------------------
MIN_MARKS = 3  # fewer numeric marks than this cannot carry an attestation
NA_MISSED = Decimal("0.5")  # missed half the lessons or more
WATCH_UNEXCUSED = Decimal("0.2")  # a fifth of the lessons missed without a reason
FORECAST_RULE = (
    "Прогноз на дату отчёта. «н/а» — пропущено не менее половины проведённых занятий и "
    f"отметок меньше {MIN_MARKS}; «2» — взвешенный средний балл округляется (правило "
    "положения) до «2» или ниже; «внимание» — средний балл ниже 3,00, нет ни одной отметки "
    "после трёх занятий или без уважительной причины пропущено не менее 20 % занятий.")


@dataclass(frozen=True)
class ForecastRow:
    student: str
    discipline: str
    average: float | None
    suggested: str | None
    marks: int
    lessons: int
    missed: int
    unexcused: int
    risk: str  # "н/а", "2", "внимание" or ""
    reasons: list[str]


@dataclass(frozen=True)
class ForecastSummary:
    discipline: str
    students: int
    not_attested: int
    failing: int
    watch: int


@dataclass
class ForecastStatement:
    header: Header
    rows: list[ForecastRow]
    summary: list[ForecastSummary]
    at_risk: int  # students with a risk of 2 or н/а in any discipline
    note: str = FORECAST_RULE
    kind: str = "forecast"


def forecast(header: Header, day: str, roster: list[dict[str, Any]],
             subgroups: list[dict[str, Any]], names: Mapping[str, str],
             disciplines: Mapping[str, str], lessons: list[dict[str, Any]],
             marks: list[dict[str, Any]], absences: list[dict[str, Any]],
             weights: Mapping[str, int] | None, rounding: str,
             only: str | None = None) -> ForecastStatement:
    """`lessons`: (lesson_id, discipline_id, subgroup_id, day) of the group in the
    period up to `day`; `marks`: (lesson_id, student_id, value, work_kind), not
    cancelled; `absences`: (lesson_id, student_id, status, reason); `only`: one
    student."""
    w, mode = _weights(weights), Rounding(rounding)
    expected = student_lessons(lessons, roster, subgroups)
    per_mark: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for m in marks:
        per_mark[(m["lesson_id"], m["student_id"])].append((m["value"], m["work_kind"]))
    status = {(a["lesson_id"], a["student_id"]): a for a in absences}
    students = sorted(on_roster(roster, day), key=_name_order(names))
    if only is not None:
        students = [s for s in students if s == only]
    order = sorted(disciplines, key=lambda d: disciplines[d])
    rows = []
    for s in students:
        for d in order:
            held = [x for x in expected.get(s, []) if x["discipline_id"] == d]
            values = [v for x in held for v in per_mark.get((x["lesson_id"], s), [])]
            avg = _average(values, w)
            mark = suggested_mark(avg, mode)
            numeric = sum(1 for v, _ in values if v in POINTS)
            gone = [status[(x["lesson_id"], s)] for x in held
                    if (x["lesson_id"], s) in status
                    and status[(x["lesson_id"], s)]["status"] == "absent"]
            unexcused = sum(1 for a in gone if a["reason"] not in EXCUSED)
            risk, reasons = "", []
            if held and len(gone) >= NA_MISSED * len(held) and numeric < MIN_MARKS:
                risk = "н/а"
                reasons.append(f"пропущено {len(gone)} из {len(held)} занятий, отметок "
                               f"{numeric} (нужно не менее {MIN_MARKS})")
            if mark is not None and mark.points is not None and mark.points <= 2:
                risk = risk or "2"
                reasons.append(f"средний балл {_fmt(avg)}")
            elif avg is not None and avg < 3:
                risk = risk or "внимание"
                reasons.append(f"средний балл {_fmt(avg)} ниже 3,00")
            if numeric == 0 and len(held) >= 3 and not risk:
                risk = "внимание"
                reasons.append(f"нет отметок за {len(held)} занятий")
            if held and unexcused >= WATCH_UNEXCUSED * len(held):
                risk = risk or "внимание"
                reasons.append(f"без уважительной причины пропущено {unexcused} из "
                               f"{len(held)} занятий")
            if not held and not values:
                continue
            rows.append(ForecastRow(
                names.get(s, s), disciplines[d],
                float(avg) if avg is not None else None, mark.value if mark else None,
                numeric, len(held), len(gone), unexcused, risk, reasons))
    summary = [ForecastSummary(
        disciplines[d], sum(1 for r in rows if r.discipline == disciplines[d]),
        sum(1 for r in rows if r.discipline == disciplines[d] and r.risk == "н/а"),
        sum(1 for r in rows if r.discipline == disciplines[d] and r.risk == "2"),
        sum(1 for r in rows if r.discipline == disciplines[d] and r.risk == "внимание"))
        for d in order]
    at_risk = len({r.student for r in rows if r.risk in ("н/а", "2")})
    return ForecastStatement(header, rows, summary, at_risk)


# Посещаемость по месяцам ----------------------------------------------------------------
@dataclass(frozen=True)
class MonthRow:
    student: str
    months: dict[str, list[int]]  # "YYYY-MM" → [missed, of them unexcused]
    missed: int
    unexcused: int


@dataclass
class AttendanceByMonthStatement:
    header: Header
    months: list[str]
    rows: list[MonthRow]
    total: MonthRow
    note: str = ("Пропущено занятий по месяцам; в скобках — без уважительной причины "
                 "(пропуск без указанной причины считается неуважительным).")
    kind: str = "attendance-by-month"


def months_between(first: str, last: str) -> list[str]:
    out, (y, m) = [], (int(first[:4]), int(first[5:7]))
    while f"{y:04d}-{m:02d}" <= last[:7]:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def attendance_by_month(header: Header, first: str, last: str, roster: list[dict[str, Any]],
                        names: Mapping[str, str], records: list[dict[str, Any]]
                        ) -> AttendanceByMonthStatement:
    """`records`: rows (student_id, day, status, reason) of the group's lessons in
    [first, last]; students: everyone on the roster at some day of the range."""
    months = months_between(first, last)
    students = {r["student_id"] for r in roster
                if r["starts"] <= last and (r["ends"] is None or first < r["ends"])}
    grid: dict[str, dict[str, list[int]]] = defaultdict(lambda: {m: [0, 0] for m in months})
    for r in records:
        if r["status"] == "absent":
            cell = grid[r["student_id"]][r["day"][:7]]
            cell[0] += 1
            cell[1] += r["reason"] not in EXCUSED
    rows = []
    for s in sorted(students, key=_name_order(names)):
        cells = grid[s]
        rows.append(MonthRow(names.get(s, s), dict(cells), sum(c[0] for c in cells.values()),
                             sum(c[1] for c in cells.values())))
    total = MonthRow("Итого", {m: [sum(r.months[m][0] for r in rows),
                                   sum(r.months[m][1] for r in rows)] for m in months},
                     sum(r.missed for r in rows), sum(r.unexcused for r in rows))
    return AttendanceByMonthStatement(header, months, rows, total)


# Академическая задолженность ------------------------------------------------------------
@dataclass(frozen=True)
class DebtRow:
    group: str
    student: str
    discipline: str
    period: str
    mark: str


@dataclass
class DebtStatement:
    header: Header
    rows: list[DebtRow]
    students: int
    by_group: dict[str, int]  # group → students with a debt
    note: str = ("Академическая задолженность — итоговая отметка «2», «1», «н/а» или «не "
                 "зачтено» за период, год, аттестацию или экзамен (002 §3.2.2).")
    kind: str = "debts"


def period_title(key: str, periods: Mapping[int, str]) -> str:
    return {"year": "год", "attestation": "аттестация", "exam": "экзамен"}.get(key) or \
        periods.get(int(key), f"период {key}")


def debts(header: Header, marks: list[dict[str, Any]], names: Mapping[str, str],
          groups: Mapping[str, str], disciplines: Mapping[str, str],
          periods: Mapping[tuple[str, int], str], years: Mapping[str, str]) -> DebtStatement:
    """`marks`: rows (group_id, student_id, discipline_id, period_key, value) of period
    marks; `periods`: (year_id, number) → title; `years`: group_id → year_id."""
    key_order = {"attestation": 98, "exam": 99, "year": 97}
    rows = []
    for m in marks:
        if not _debt(m["value"]):
            continue
        titles = {n: t for (y, n), t in periods.items() if y == years.get(m["group_id"])}
        rows.append((groups.get(m["group_id"], m["group_id"]),
                     names.get(m["student_id"], m["student_id"]),
                     disciplines.get(m["discipline_id"], m["discipline_id"]),
                     key_order.get(m["period_key"]) or int(m["period_key"]),
                     DebtRow(groups.get(m["group_id"], m["group_id"]),
                             names.get(m["student_id"], m["student_id"]),
                             disciplines.get(m["discipline_id"], m["discipline_id"]),
                             period_title(m["period_key"], titles), m["value"])))
    rows.sort(key=lambda r: r[:4])
    out = [r[-1] for r in rows]
    by_group: dict[str, set[str]] = defaultdict(set)
    for r in out:
        by_group[r.group].add(r.student)
    return DebtStatement(header, out, len({(r.group, r.student) for r in out}),
                         {g: len(s) for g, s in sorted(by_group.items())})


# Контроль ведения журнала ---------------------------------------------------------------
@dataclass(frozen=True)
class ControlRow:
    teacher: str
    group: str
    discipline: str
    lessons: int
    late_lessons: int
    on_time: float | None  # % of lessons entered within the policy's window
    marks: int
    late_marks: int
    fill: float | None  # наполняемость: marks × 100 / (lessons × students)
    students: int
    without_marks: int
    without_marks_share: float | None
    no_topic: int
    no_homework: int


@dataclass
class ControlStatement:
    header: Header
    rows: list[ControlRow]
    sections: list[Section]
    note: str = (
        "Своевременность — по окнам ввода положения на момент записи (признак «с "
        "опозданием» ставится при вводе после окна). Наполняемость = текущие отметки × 100 / "
        "(занятия × обучающиеся в списке группы или подгруппы на конец периода отчёта). "
        "Без отметок — обучающиеся того же списка без единой текущей отметки по дисциплине "
        "за период. Часы: одно занятие — один академический час; план — часы дисциплины по "
        "учебному плану на год. Активность — дни, в которые сотрудник вносил записи "
        "(просмотры не записываются). Просрочено — заявление не рассмотрено в течение "
        "1 дня после регистрации (002 §3.2.1).")
    kind: str = "control"


def monday(iso: str) -> str:
    d = date.fromisoformat(iso)
    return date.fromordinal(d.toordinal() - d.weekday()).isoformat()


def control(header: Header, first: str, last: str, today: str,
            assignments: list[dict[str, Any]], lesson_stats: Mapping[str, Mapping[str, int]],
            mark_stats: Mapping[str, Mapping[str, int]],
            marked: Iterable[tuple[str, str]], roster: list[dict[str, Any]],
            subgroups: list[dict[str, Any]], staff: Mapping[str, str],
            groups: Mapping[str, str], disciplines: Mapping[str, str],
            late_entries: list[dict[str, Any]], hours: list[dict[str, Any]],
            activity: list[dict[str, Any]], teachers: set[str],
            corrections: list[dict[str, Any]]) -> ControlStatement:
    """Aggregates by assignment (`lesson_stats`: lessons, late, no_topic, no_homework;
    `mark_stats`: marks, late), `marked`: (assignment_id, student_id) pairs with a mark;
    `hours`: (group_id, discipline_id, planned_hours, given); `activity`: distinct
    (person_id, day, capacity) in the range; `teachers`: staff with the teacher role."""
    with_marks: dict[str, set[str]] = defaultdict(set)
    for assignment, student in marked:
        with_marks[assignment].add(student)
    rows = []
    for a in assignments:
        lid = a["assignment_id"]
        ls, ms = lesson_stats.get(lid, {}), mark_stats.get(lid, {})
        expected = on_roster([r for r in roster if r["group_id"] == a["group_id"]], last)
        if a["subgroup_id"]:
            expected &= on_roster([m for m in subgroups
                                   if m["subgroup_id"] == a["subgroup_id"]], last)
        lessons, marks = int(ls.get("lessons", 0)), int(ms.get("marks", 0))
        if not lessons and a["ends"] is not None and a["ends"] <= first:
            continue
        without = len(expected - with_marks.get(lid, set()))
        rows.append(ControlRow(
            staff.get(a["teacher_id"], a["teacher_id"]), groups.get(a["group_id"], ""),
            disciplines.get(a["discipline_id"], ""), lessons, int(ls.get("late", 0)),
            percent(lessons - int(ls.get("late", 0)), lessons), marks,
            int(ms.get("late", 0)), percent(marks, lessons * len(expected)), len(expected),
            without, percent(without, len(expected)), int(ls.get("no_topic", 0)),
            int(ls.get("no_homework", 0))))
    rows.sort(key=lambda r: (r.teacher, r.group, r.discipline))
    sections = [
        Section("Записи, внесённые с опозданием",
                ["Дата занятия", "Урок", "Учитель", "Группа", "Дисциплина", "Внесено",
                 "Занятие с опозданием", "Отметок с опозданием"],
                [[e["day"], e["number"], staff.get(e["teacher_id"], ""),
                  groups.get(e["group_id"], ""), disciplines.get(e["discipline_id"], ""),
                  e["entered_on"], "да" if int(e["late"]) else "нет", int(e["late_marks"])]
                 for e in sorted(late_entries, key=lambda e: (
                     e["day"], int(e["number"]), groups.get(e["group_id"], ""),
                     e["lesson_id"]))]),
        Section("Часы по плану и выданные",
                ["Группа", "Дисциплина", "По плану", "Выдано", "Выдано, %"],
                sorted([[groups.get(h["group_id"], ""), disciplines.get(h["discipline_id"], ""),
                         int(h["planned_hours"] or 0), int(h["given"]),
                         percent(int(h["given"]), int(h["planned_hours"] or 0))]
                        for h in hours], key=lambda r: (r[0], r[1]))),
    ]
    by_week: dict[str, set[str]] = defaultdict(set)
    by_month: dict[str, set[str]] = defaultdict(set)
    days_week: Counter[str] = Counter()
    days_month: Counter[str] = Counter()
    teachers_week: dict[str, set[str]] = defaultdict(set)
    seen: set[tuple[str, str]] = set()
    for a in activity:
        week, month = monday(a["day"]), a["day"][:7]
        by_week[week].add(a["person_id"])
        by_month[month].add(a["person_id"])
        if (a["person_id"], a["day"]) not in seen:
            seen.add((a["person_id"], a["day"]))
            days_week[week] += 1
            days_month[month] += 1
        if a["person_id"] in teachers and a["capacity"] in ("teacher", "substitute",
                                                             "curator"):
            teachers_week[week].add(a["person_id"])
    weeks, week = [], monday(first)
    while week <= last:
        weeks.append(week)
        week = date.fromordinal(date.fromisoformat(week).toordinal() + 7).isoformat()
    sections.append(Section(
        "Использование журнала по неделям",
        ["Неделя с", "Учителей вносили записи", "Учителей всего", "Учителей, %",
         "Пользователей вносили записи", "Человеко-дней"],
        [[w, len(teachers_week[w]), len(teachers), percent(len(teachers_week[w]),
                                                           len(teachers)),
          len(by_week[w]), days_week[w]] for w in weeks]))
    sections.append(Section(
        "Активность пользователей по месяцам",
        ["Месяц", "Пользователей вносили записи", "Человеко-дней"],
        [[m, len(by_month[m]), days_month[m]] for m in months_between(first, last)]))
    def due(c: Mapping[str, Any]) -> str:
        return date.fromordinal(date.fromisoformat(c["filed_on"]).toordinal()
                                + DECISION_DAYS).isoformat()

    open_ = sorted((c for c in corrections if c["status"] == "filed"),
                   key=lambda c: (c["filed_on"], c["app_number"]))
    sections.append(Section(
        "Заявления на исправление: нерассмотренные",
        ["№ заявления", "Дата заявления", "Зарегистрировано", "Срок рассмотрения",
         "Автор", "Просрочено"],
        [[c["app_number"], c["dated"], c["filed_on"], due(c), staff.get(c["author_id"], ""),
          "да" if today > due(c) else "нет"] for c in open_]))
    return ControlStatement(header, rows, sections)


# Итоговое состояние журналов учебного года ----------------------------------------------
@dataclass(frozen=True)
class SnapshotRow:
    group: str
    discipline: str
    student: str
    marks: dict[str, str]  # period key → mark


@dataclass
class YearSnapshotStatement:
    header: Header
    keys: list[str]  # period keys in column order: "1", "2", …, "year", "attestation", "exam"
    titles: list[str]
    rows: list[SnapshotRow]
    sections: list[Section]
    note: str = ("Итоговое состояние каждой страницы журнала учебного года: итоговые "
                 "отметки по периодам, годовые, аттестационные и экзаменационные; по "
                 "страницам — занятия, текущие отметки и пропуски. Основа архивного пакета.")
    kind: str = "year-snapshot"


def year_snapshot(header: Header, periods: Mapping[int, str], marks: Iterable[dict[str, Any]],
                  pages: list[dict[str, Any]], staff: Mapping[str, str]
                  ) -> YearSnapshotStatement:
    """`marks`: rows (group, discipline, student, student_id, period_key, value) ordered
    by group, discipline, student — streamed; `pages`: one row per group × discipline
    (group, discipline, teachers, planned_hours, lessons, marks, absences)."""
    keys_seen: set[str] = set()
    rows: list[SnapshotRow] = []
    current: tuple[str, str, str] | None = None
    cells: dict[str, str] = {}
    student = ""
    for m in marks:
        key = (m["group"], m["discipline"], m["student_id"])
        if key != current:
            if current is not None:
                rows.append(SnapshotRow(current[0], current[1], student, cells))
            current, cells, student = key, {}, m["student"]
        cells[m["period_key"]] = m["value"]
        keys_seen.add(m["period_key"])
    if current is not None:
        rows.append(SnapshotRow(current[0], current[1], student, cells))
    numbered = sorted((k for k in keys_seen if k.isdigit()), key=int)
    keys = [*numbered, *[k for k in ("year", "attestation", "exam") if k in keys_seen]]
    titles = [period_title(k, periods) for k in keys]
    page_rows = [[p["group"], p["discipline"],
                  ", ".join(sorted(staff.get(t, t) for t in (p["teachers"] or "").split(",")
                                   if t)),
                  int(p["planned_hours"] or 0), int(p["lessons"]), int(p["marks"]),
                  int(p["absences"])] for p in pages]
    return YearSnapshotStatement(header, keys, titles, rows, [Section(
        "Страницы журнала", ["Группа", "Дисциплина", "Учителя", "Часов по плану",
                             "Занятий", "Текущих отметок", "Пропусков"],
        sorted(page_rows, key=lambda r: (r[0], r[1])))])


def snapshot_of_group(statement: YearSnapshotStatement, group: str) -> YearSnapshotStatement:
    """The year snapshot of one group's journals: its rows and pages, headed with the
    group (the archive renders a year group by group: a document, and its rendering, is
    bounded by a group, not by the institution)."""
    return replace(
        statement, header=replace(statement.header, group=group),
        rows=[r for r in statement.rows if r.group == group],
        sections=[replace(s, rows=[r for r in s.rows if r[0] == group])
                  for s in statement.sections])
