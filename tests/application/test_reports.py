"""The rest of issue 9's statements — group results, the curator's preliminary report,
attendance by month, academic debt, the control report, the forecast, the year-end
snapshot — equal what the raw events say, computed here independently of the read
models; who may read which; the policy's treatment of зачтено / н/а / освобождён.
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.documents import as_csv, as_pdf
from domain.corrections import Target
from domain.errors import Forbidden, NotFound
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue, OrderRef
from tests.application.test_statements import events, kind, needs_poppler
from tests.conftest import School

ORDER = OrderRef("12-од", date(2026, 9, 1))
WEIGHTS = {"ordinary": 1, "practical": 1, "laboratory": 1, "control": 2, "test": 2, "exam": 3}


@pytest.fixture
def term(school: School) -> School:
    """A term in progress: math and physics lessons with marks (one changed, one
    cancelled), absences with and without reasons, a late lesson under an adopted
    same-day policy, period marks with debts, a correction application left open."""
    j, (anna, boris, vadim) = school.journal, school.students
    math = [school.lesson(day=date(2026, 9, 28 + k), kind="control" if k == 2 else "ordinary")
            for k in range(3)]
    for lesson, values in zip(math, [("5", "2", None), ("4", "2", None), ("5", "3", "3")],
                              strict=True):
        for student, value in zip((anna, boris, vadim), values, strict=True):
            if value:
                j.lessons.record_mark(school.teacher, lesson, student, MarkValue(value))
    changed = j.lessons.record_mark(school.teacher, math[0], boris, MarkValue.ONE)
    j.lessons.change_mark(school.teacher, math[0], changed, MarkValue.TWO)
    gone = j.lessons.record_mark(school.teacher, math[1], anna, MarkValue.TWO)
    j.lessons.cancel_mark(school.teacher, math[1], gone)
    for lesson in math[:2]:
        j.lessons.record_attendance(school.teacher, lesson, vadim, AttendanceStatus.ABSENT,
                                    None)
    j.lessons.set_absence_reason(school.curator, math[0], vadim, AbsenceReasonKind.ILLNESS,
                                 "Справка № 3")
    physics = j.lessons.conduct_lesson(school.other_teacher, school.other_assignment,
                                       date(2026, 10, 2), 2, "Кинематика", None, "ordinary")
    j.lessons.record_mark(school.other_teacher, physics, anna, MarkValue.FOUR)
    j.lessons.record_attendance(school.other_teacher, physics, boris,
                                AttendanceStatus.ABSENT, None)
    j.regulation.adopt_policy(school.director, "tomsk_it_000", None, None, "half_up", None,
                              ORDER)
    late = j.lessons.conduct_lesson(school.teacher, school.assignment, date(2026, 10, 12), 1,
                                    "Повторение", "§14", "ordinary")  # entered on the 15th
    j.lessons.record_mark(school.teacher, late, anna, MarkValue.FIVE)
    for student, value in ((anna, "5"), (boris, "2"), (vadim, "н/а")):
        j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1",
                                       student, MarkValue(value), None)
    for student, value in ((anna, "3"), (boris, "4"), (vadim, "освобождён")):
        j.period_marks.set_period_mark(school.other_teacher, school.group, school.physics,
                                       "1", student, MarkValue(value), None)
    j.corrections.file_correction(school.teacher, Target.MARK, math[0], changed, "3", "З-1",
                                  date(2026, 10, 14), "Ошибка ввода", "Заявление учителя")
    return school


def raw(school: School) -> dict[str, Any]:
    """What the raw events say: lessons, current marks, absences, period marks."""
    lessons: dict[Any, dict[str, Any]] = {}
    marks: dict[Any, dict[str, Any]] = {}
    absences: dict[tuple[Any, Any], dict[str, Any]] = {}
    sheets: dict[Any, tuple[Any, Any, str]] = {}
    period: dict[tuple[Any, Any, str, Any], str] = {}
    applications: dict[Any, str] = {}
    actors: set[tuple[Any, date]] = set()
    for e in events(school):
        k = kind(e)
        if getattr(e, "act", None) is not None:
            actors.add((e.act.actor_id, e.act.local_date))
        if k == "Lesson.Conducted":
            lessons[e.originator_id] = {"discipline": e.discipline_id, "day": e.day,
                                        "kind": e.work_kind, "late": bool(e.late),
                                        "assignment": e.assignment_id, "topic": e.topic,
                                        "homework": e.homework}
        elif k == "Lesson.MarkRecorded":
            marks[e.mark_id] = {"lesson": e.originator_id, "student": e.student_id,
                                "value": e.value, "late": bool(getattr(e, "late", False))}
        elif k == "Lesson.MarkChanged":
            marks[e.mark_id]["value"] = e.value
        elif k == "Lesson.MarkCancelled":
            del marks[e.mark_id]
        elif k == "Lesson.AttendanceRecorded":
            if e.status == "present":
                absences.pop((e.originator_id, e.student_id), None)
            else:
                absences[(e.originator_id, e.student_id)] = {"status": e.status,
                                                             "reason": None}
        elif k == "Lesson.AbsenceReasonSet":
            absences[(e.originator_id, e.student_id)]["reason"] = e.kind
        elif k == "PeriodMarkSheet.Opened":
            sheets[e.originator_id] = (e.group_id, e.discipline_id, e.key)
        elif k in ("PeriodMarkSheet.PeriodMarkSet", "PeriodMarkSheet.PeriodMarkChanged"):
            period[(*sheets[e.originator_id], e.student_id)] = e.value
        elif k == "CorrectionApplication.Filed":
            applications[e.originator_id] = "filed"
        elif k in ("CorrectionApplication.Decided", "CorrectionApplication.Withdrawn"):
            applications[e.originator_id] = "decided"
    return {"lessons": lessons, "marks": marks, "absences": absences, "period": period,
            "applications": applications, "actors": actors}


def weighted(values: list[tuple[str, str]]) -> float | None:
    numeric = [(int(v), WEIGHTS[k]) for v, k in values if v.isdigit()]
    if not numeric:
        return None
    average = Decimal(sum(p * w for p, w in numeric)) / sum(w for _, w in numeric)
    return float(average.quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_group_results_sort_students_by_their_period_marks(term: School) -> None:
    statement = term.journal.statements.group_results(term.director, term.group, "1")
    period = raw(term)["period"]
    names = dict(zip(term.students, ("Иванова Анна Сергеевна", "Петров Борис Андреевич",
                                     "Сидоров Вадим Ильич"), strict=True))
    rows = {r.student: r for r in statement.rows}
    for student, name in names.items():
        values = [v for (g, _, key, s), v in period.items()
                  if g == term.group and key == "1" and s == student]
        assert rows[name].counts["5"] == values.count("5")
        assert rows[name].counts["2"] == sum(v in ("2", "1") for v in values)
        assert rows[name].counts["н/а"] == values.count("н/а")
    assert [r.category for r in statement.rows] == ["с одной «3»", "неуспевающий",
                                                    "неуспевающий"]
    assert (statement.n, statement.success, statement.quality) == (3, 33.3, 0.0)


def test_the_curators_preliminary_report_weights_the_current_marks(term: School) -> None:
    statement = term.journal.statements.curator_preliminary(term.curator, term.group, "1")
    r = raw(term)
    assert statement.disciplines == ["Математика", "Физика"]
    for row, student in zip(statement.rows, term.students, strict=True):
        for name, discipline, cell in zip(statement.disciplines, (term.math, term.physics),
                                          row.averages, strict=True):
            values = [(m["value"], r["lessons"][m["lesson"]]["kind"])
                      for m in r["marks"].values() if m["student"] == student
                      and r["lessons"][m["lesson"]]["discipline"] == discipline]
            expected = weighted(values)
            assert cell.startswith(f"{expected:.2f}".replace(".", ",")) if expected \
                else cell == "", (name, cell)
        gone = [a for (lesson, s), a in r["absences"].items()
                if s == student and a["status"] == "absent"]
        assert row.missed == len(gone)
        assert row.unexcused == sum(a["reason"] is None for a in gone)
    # Анна: 5, 4, 5 (control ×2), 5 → 4.8; the cancelled 2 does not count.
    assert statement.rows[0].averages[0] == "4,80 → 5"


def test_attendance_by_month_counts_every_absence_in_its_month(term: School) -> None:
    statement = term.journal.statements.attendance_by_month(
        term.director, term.group, date(2026, 9, 1), date(2026, 10, 31))
    r = raw(term)
    assert statement.months == ["2026-09", "2026-10"]
    for row, student in zip(statement.rows, term.students, strict=True):
        for month in statement.months:
            gone = [a for (lesson, s), a in r["absences"].items() if s == student
                    and a["status"] == "absent"
                    and r["lessons"][lesson]["day"].isoformat()[:7] == month]
            assert row.months[month] == [len(gone), sum(a["reason"] is None for a in gone)]
    assert statement.total.missed == 3 and statement.total.unexcused == 2


def test_debts_list_every_failing_period_mark(term: School) -> None:
    j = term.journal
    everything = j.statements.debts(term.director)
    expected = sorted((v, s) for (g, d, key, s), v in raw(term)["period"].items()
                      if v in ("2", "1", "н/а", "не зачтено"))
    assert sorted(r.mark for r in everything.rows) == [v for v, _ in expected] == ["2", "н/а"]
    assert everything.students == 2 and everything.by_group == {"10А": 2}
    assert [r.period for r in everything.rows] == ["1 четверть", "1 четверть"]
    # The group's curator, and a teacher for their own disciplines only.
    assert len(j.statements.debts(term.curator, term.group).rows) == 2
    assert len(j.statements.debts(term.teacher, term.group).rows) == 2
    assert j.statements.debts(term.other_teacher, term.group).rows == []
    # A student and a guardian: their own debts only.
    boris = term.students[1]
    assert [r.mark for r in j.statements.debts(term.director, student_id=boris).rows] == ["2"]
    assert j.statements.debts(term.guardian, student_id=term.students[0]).rows == []
    with pytest.raises(NotFound):
        j.statements.debts(term.guardian, student_id=boris)
    for who in ("guardian", "student", "teacher"):
        with pytest.raises(Forbidden):
            j.statements.debts(getattr(term, who))


def test_the_control_report_counts_lessons_marks_and_late_entries(term: School) -> None:
    statement = term.journal.statements.control(term.director, date(2026, 9, 1),
                                                date(2026, 10, 25))
    r = raw(term)
    rows = {r_.discipline: r_ for r_ in statement.rows}
    for name, assignment in (("Математика", term.assignment),
                             ("Физика", term.other_assignment)):
        lessons = {k: v for k, v in r["lessons"].items() if v["assignment"] == assignment}
        marks = [m for m in r["marks"].values() if m["lesson"] in lessons]
        row = rows[name]
        assert row.lessons == len(lessons)
        assert row.late_lessons == sum(v["late"] for v in lessons.values())
        assert row.marks == len(marks)
        assert row.late_marks == sum(m["late"] for m in marks)
        assert row.students == 3
        assert row.without_marks == 3 - len({m["student"] for m in marks})
        assert row.fill == round(100 * len(marks) / (len(lessons) * 3), 1)
        assert row.no_homework == sum(not v["homework"] for v in lessons.values())
    assert (rows["Математика"].lessons, rows["Математика"].late_lessons) == (4, 1)
    late = statement.sections[0]
    assert [(row[0], row[6], row[7]) for row in late.rows] == [("2026-10-12", "да", 1)]
    hours = {row[1]: row[2:4] for row in statement.sections[1].rows}
    assert hours == {"Математика": [136, 4], "Физика": [68, 1]}
    weeks = {row[0]: row for row in statement.sections[2].rows}
    writers = {a for a, d in r["actors"] if date(2026, 10, 12) <= d <= date(2026, 10, 18)}
    assert weeks["2026-10-12"][4] == len(writers - {UUID(int=0)})
    assert weeks["2026-10-12"][1:3] == [3, 3]  # the curator wrote absence reasons
    open_ = statement.sections[-1].rows
    assert len(open_) == sum(s == "filed" for s in r["applications"].values()) == 1
    assert open_[0][0] == "З-1" and open_[0][-1] == "нет"  # filed today: not overdue yet


def test_a_teacher_sees_the_control_report_of_their_own_assignments(term: School) -> None:
    j = term.journal
    own = j.statements.control(term.other_teacher, date(2026, 9, 1), date(2026, 10, 25))
    assert [row.discipline for row in own.rows] == ["Физика"]
    assert len(own.sections) == 2  # no institution-wide activity, no applications
    for who in ("guardian", "student"):
        with pytest.raises(Forbidden):
            j.statements.control(getattr(term, who), date(2026, 9, 1), date(2026, 10, 25))


def test_the_forecast_names_the_risk_and_its_reason(term: School) -> None:
    j = term.journal
    statement = j.statements.forecast(term.curator, "1", term.group)
    r = raw(term)
    by = {(row.student, row.discipline): row for row in statement.rows}
    boris = by[("Петров Борис Андреевич", "Математика")]
    values = [(m["value"], r["lessons"][m["lesson"]]["kind"]) for m in r["marks"].values()
              if m["student"] == term.students[1]
              and r["lessons"][m["lesson"]]["discipline"] == term.math]
    assert boris.average == weighted(values) == 2.4  # 2, 2, 2 and a control work's 3
    assert (boris.risk, boris.suggested) == ("2", "2")
    assert boris.reasons == ["средний балл 2,40"]
    vadim = by[("Сидоров Вадим Ильич", "Математика")]
    assert (vadim.lessons, vadim.missed, vadim.unexcused, vadim.marks) == (4, 2, 1, 1)
    assert vadim.risk == "н/а" and "пропущено 2 из 4 занятий" in vadim.reasons[0]
    anna = by[("Иванова Анна Сергеевна", "Математика")]
    assert (anna.risk, anna.reasons) == ("", [])
    math = next(s for s in statement.summary if s.discipline == "Математика")
    assert (math.not_attested, math.failing, math.students) == (1, 1, 3)
    assert statement.at_risk == 2
    # Students and guardians: their own forecast only; a teacher: own disciplines.
    own = j.statements.forecast(term.guardian, "1", student_id=term.students[0])
    assert {row.student for row in own.rows} == {"Иванова Анна Сергеевна"}
    assert j.statements.forecast(term.student, "1", student_id=term.students[0]).rows
    with pytest.raises(NotFound):
        j.statements.forecast(term.guardian, "1", student_id=term.students[1])
    with pytest.raises(Forbidden):
        j.statements.forecast(term.guardian, "1", term.group)
    taught = j.statements.forecast(term.other_teacher, "1", term.group)
    assert {row.discipline for row in taught.rows} == {"Физика"}


def test_the_year_snapshot_holds_every_period_mark_of_every_page(term: School) -> None:
    j = term.journal
    j.period_marks.set_period_mark(term.teacher, term.group, term.math, "year",
                                   term.students[0], MarkValue.FIVE, None)
    statement = j.statements.year_snapshot(term.director)
    period = raw(term)["period"]
    assert statement.keys == ["1", "year"] and statement.titles == ["1 четверть", "год"]
    got = {(row.discipline, row.student, key): value for row in statement.rows
           for key, value in row.marks.items()}
    names = dict(zip(term.students, ("Иванова Анна Сергеевна", "Петров Борис Андреевич",
                                     "Сидоров Вадим Ильич"), strict=True))
    disciplines = {term.math: "Математика", term.physics: "Физика"}
    assert got == {(disciplines[d], names[s], key): v for (g, d, key, s), v in period.items()}
    pages = {row[1]: row for row in statement.sections[0].rows}
    assert pages["Математика"][4:] == [4, 9, 2] and pages["Физика"][4:] == [1, 1, 1]
    for who in ("curator", "teacher", "guardian"):
        with pytest.raises(Forbidden):
            j.statements.year_snapshot(getattr(term, who))


@pytest.mark.parametrize("who", ["teacher", "student", "guardian"])
def test_group_documents_are_not_for_teachers_students_or_guardians(
        term: School, who: str) -> None:
    st, actor = term.journal.statements, getattr(term, who)
    for build in (lambda: st.group_results(actor, term.group, "1"),
                  lambda: st.curator_preliminary(actor, term.group, "1"),
                  lambda: st.attendance_by_month(actor, term.group, date(2026, 9, 1),
                                                 date(2026, 10, 31))):
        with pytest.raises(Forbidden):
            build()


# The policy's treatment of зачтено / н/а / освобождён --------------------------------------
def test_the_policy_decides_how_rates_count_special_marks_and_the_footnote_says_so(
        term: School) -> None:
    j = term.journal
    default = j.statements.progress(term.director, term.group, "1")
    # Математика: 5, 2, н/а → N 3, 1 успевает; Физика: 3, 4, освобождён → N 2.
    assert [(s.n, s.success) for s in default.summary] == [(3, 33.3), (2, 100.0)]
    assert "«н/а» входит в N и не считается успевающим" in default.formula
    j.regulation.adopt_policy(term.director, "tomsk_it_000", None, None, "half_up", None,
                              OrderRef("13-од", date(2026, 10, 15)),
                              {"not_attested": "excluded", "exempt": "success"})
    changed = j.statements.progress(term.director, term.group, "1")
    assert [(s.n, s.success) for s in changed.summary] == [(2, 50.0), (3, 100.0)]
    assert "кроме не имеющих итоговой отметки, «н/а»" in changed.formula
    assert "«освобождён» входит в N и считается успевающим" in changed.formula
    assert changed.formula in as_csv(changed).decode("utf-8-sig")
    assert j.reads.policy_sources(term.director)[0].rates["exempt"] == "success"


def test_a_policy_stored_before_the_setting_replays_with_the_defaults(term: School) -> None:
    policy = term.journal.reads.policy_sources(term.director)[0]
    adopted = next(e for e in events(term) if kind(e) == "JournalPolicy.Adopted")
    del adopted.__dict__["rates"]  # as stored before the setting existed
    from domain.policy import DEFAULT_RATES, JournalPolicy

    fresh = JournalPolicy.__new__(JournalPolicy)
    for e in [e for e in events(term) if kind(e).startswith("JournalPolicy.")][:1]:
        fresh = e.mutate(None)
    adopted.mutate(fresh)
    assert fresh.rates == DEFAULT_RATES == policy.rates


# Documents ------------------------------------------------------------------------------
def test_every_new_document_reads_back_as_csv(term: School) -> None:
    st, d = term.journal.statements, term.director
    documents = [st.group_results(d, term.group, "1"),
                 st.curator_preliminary(d, term.group, "1"),
                 st.attendance_by_month(d, term.group, date(2026, 9, 1), date(2026, 10, 31)),
                 st.debts(d), st.control(d, date(2026, 9, 1), date(2026, 10, 25)),
                 st.forecast(d, "1", term.group), st.year_snapshot(d)]
    for statement in documents:
        rows = list(csv.reader(io.StringIO(as_csv(statement).decode("utf-8-sig")),
                               delimiter=";"))
        assert rows[0] == [statement.header.title]
        assert "Состояние журнала: запись №" in rows[-1][0]
    control = list(csv.reader(io.StringIO(as_csv(documents[4]).decode("utf-8-sig")),
                              delimiter=";"))
    assert ["Записи, внесённые с опозданием"] in control
    assert ["Заявления на исправление: нерассмотренные"] in control


@needs_poppler
def test_the_control_report_prints_with_its_sections(term: School, tmp_path: Path) -> None:
    statement = term.journal.statements.control(term.director, date(2026, 9, 1),
                                                date(2026, 10, 25))
    pdf = tmp_path / "control.pdf"
    pdf.write_bytes(as_pdf(statement))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for expected in ("Контроль ведения электронного журнала", "Каримова Эльвира Маратовна",
                     "Записи, внесённые с опозданием", "Часы по плану и выданные",
                     "Использование журнала по неделям", "З-1",
                     statement.header.ledger.head[:16]):
        assert expected in text, expected

