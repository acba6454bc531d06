"""Statements equal what the raw events say, computed here independently of the read
models; documents read back (CSV parsed, PDF/A text extracted, fonts embedded, PDF/A
identified, same state → same bytes). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.documents import as_csv, as_pdf
from domain.errors import Forbidden
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue, OrderRef
from tests.conftest import School

ORDER = OrderRef("9-к", date(2026, 10, 1))


def events(school: School) -> list[Any]:
    store = school.journal.store
    return [store.mapper.to_domain_event(n)
            for n in store.recorder.select_notifications(1, 100_000)]


def kind(event: Any) -> str:
    return type(event).__qualname__


@pytest.fixture
def graded(school: School) -> School:
    anna, boris, vadim = school.students
    j = school.journal
    for student, value in ((anna, MarkValue.FIVE), (boris, MarkValue.FOUR),
                           (vadim, MarkValue.NOT_ATTESTED)):
        j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1",
                                       student, value, None)
    for student, value in ((anna, MarkValue.THREE), (boris, MarkValue.TWO),
                           (vadim, MarkValue.EXEMPT)):
        j.period_marks.set_period_mark(school.other_teacher, school.group, school.physics,
                                       "1", student, value, None)
    return school


def test_progress_equals_the_period_marks_in_the_raw_events(graded: School) -> None:
    statement = graded.journal.statements.progress(graded.director, graded.group, "1")
    sheets, marks = {}, {}
    for e in events(graded):  # independently: the sheets and their marks as stored
        if kind(e) == "PeriodMarkSheet.Opened":
            sheets[e.originator_id] = e.discipline_id
        elif kind(e) in ("PeriodMarkSheet.PeriodMarkSet", "PeriodMarkSheet.PeriodMarkChanged"):
            marks[(sheets[e.originator_id], e.student_id)] = e.value
    by_discipline: dict[Any, list[str]] = defaultdict(list)
    for (discipline, _), value in marks.items():
        by_discipline[discipline].append(value)
    names = {graded.math: "Математика", graded.physics: "Физика"}
    assert statement.disciplines == ["Математика", "Физика"]
    for summary in statement.summary:
        discipline = next(d for d, n in names.items() if n == summary.discipline)
        values = by_discipline[discipline]
        n = len([v for v in values if v != "освобождён"])
        assert summary.n == n
        assert summary.success == round(100 * sum(v in ("5", "4", "3") for v in values) / n, 1)
        assert summary.quality == round(100 * sum(v in ("5", "4") for v in values) / n, 1)
    # Математика: 5, 4, н/а → 2 of 3 успевают, 2 of 3 качество; Физика: 3, 2 (освобождён
    # out of N) → 1 of 2, 0 of 2.
    assert [(s.success, s.quality) for s in statement.summary] == [(66.7, 66.7), (50.0, 0.0)]
    assert [r.average for r in statement.rows] == [4.0, 3.0, None]


def test_attendance_equals_the_absences_in_the_raw_events(school: School) -> None:
    anna, boris, _ = school.students
    j = school.journal
    first = school.lesson(day=date(2026, 9, 28))
    second = school.lesson(day=date(2026, 10, 5))
    for lesson in (first, second):
        j.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT,
                                    None)
    j.lessons.set_absence_reason(school.curator, first, boris, AbsenceReasonKind.ILLNESS,
                                 "Справка № 5")
    j.lessons.record_attendance(school.teacher, second, anna, AttendanceStatus.LATE, 7)
    statement = j.statements.attendance(school.director, school.group, date(2026, 9, 1),
                                        date(2026, 10, 31))
    status, reason = {}, {}
    for e in events(school):
        if kind(e) == "Lesson.AttendanceRecorded":
            status[(e.originator_id, e.student_id)] = (e.status, e.minutes)
        elif kind(e) == "Lesson.AbsenceReasonSet":
            reason[(e.originator_id, e.student_id)] = e.kind
    rows = {r.student: r for r in statement.rows}
    boris_row = rows["Петров Борис Андреевич"]
    absences = [k for k, (s, _) in status.items() if k[1] == boris and s == "absent"]
    assert boris_row.missed == len(absences) == 2
    assert boris_row.illness == sum(reason.get(k) == "illness" for k in absences) == 1
    assert boris_row.unexcused == 1
    assert boris_row.by_month == {"2026-09": 1, "2026-10": 1}
    anna_row = rows["Иванова Анна Сергеевна"]
    assert (anna_row.late, anna_row.late_minutes) == (1, 7)
    assert statement.total.missed == 2


def test_movement_lists_every_order_in_the_range_with_headcounts(school: School) -> None:
    _, boris, vadim = school.students
    j = school.journal
    j.roster.transfer(school.admin, vadim, school.other_group, ORDER, date(2026, 10, 2))
    j.roster.expel(school.admin, boris, OrderRef("10-к", date(2026, 10, 3)), date(2026, 10, 3))
    statement = j.statements.movement(school.director, date(2026, 10, 1), date(2026, 10, 31))
    moved = [(e.originator_id, e.kind) for e in events(school)
             if kind(e) == "Student.Moved" and date(2026, 10, 1) <= e.effective]
    assert len(statement.rows) == len(moved) == 2
    transfer = next(r for r in statement.rows if r.kind == "перевод")
    assert (transfer.from_group, transfer.to_group) == ("10А", "10Б")
    counts = {h.group: (h.opening, h.arrived, h.left, h.closing) for h in statement.headcounts}
    assert counts == {"10А": (3, 0, 2, 1), "10Б": (1, 1, 0, 2)}


@pytest.mark.parametrize("who", ["teacher", "student", "guardian"])
def test_group_statements_are_not_for_teachers_students_or_guardians(
        graded: School, who: str) -> None:
    with pytest.raises(Forbidden):
        graded.journal.statements.progress(getattr(graded, who), graded.group, "1")


def test_the_curator_reads_their_groups_statements_and_not_the_movement(
        graded: School) -> None:
    assert graded.journal.statements.progress(graded.curator, graded.group, "1").rows
    with pytest.raises(Forbidden):
        graded.journal.statements.movement(graded.curator, date(2026, 9, 1),
                                           date(2026, 10, 31))


# Documents ------------------------------------------------------------------------------
def test_the_csv_opens_in_excel_and_reads_back(graded: School) -> None:
    data = as_csv(graded.journal.statements.progress(graded.director, graded.group, "1"))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[2] == ["№", "Обучающийся", "Математика", "Физика", "Средний балл"]
    assert rows[3] == ["1", "Иванова Анна Сергеевна", "5", "3", "4"]
    assert "Состояние журнала: запись №" in rows[-1][0]


needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None
                                   or shutil.which("qpdf") is None,
                                   reason="poppler-utils and qpdf (installed by .ci/run)")


@needs_poppler
def test_the_pdf_is_pdf_a_with_embedded_fonts_and_reads_back_exactly(
        graded: School, tmp_path: Path) -> None:
    statement = graded.journal.statements.progress(graded.director, graded.group, "1")
    pdf = tmp_path / "progress.pdf"
    pdf.write_bytes(as_pdf(statement))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for expected in ("Сводная ведомость учёта успеваемости", "Гимназия № 139",
                     "Иванова Анна Сергеевна", "Петров Борис Андреевич", "н/а",
                     "освобождён", statement.header.ledger.head[:16]):
        assert expected in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts)
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
    # Every page renders (as a person would look at it).
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.stat().st_size > 2000 for p in pages)
    plain = tmp_path / "plain.pdf"
    subprocess.run(["qpdf", "--stream-data=uncompress", "--object-streams=disable", str(pdf),
                    str(plain)], check=True)
    raw = plain.read_bytes()
    assert b'pdfaid:part="3"' in raw and b'pdfaid:conformance="B"' in raw  # PDF/A-3b
    assert b"/AFRelationship /Data" in raw
    assert "Иванова Анна Сергеевна".encode() in raw  # the CSV travels inside


def test_the_same_journal_state_gives_the_same_bytes(graded: School) -> None:
    first = graded.journal.statements.progress(graded.director, graded.group, "1")
    second = graded.journal.statements.progress(graded.director, graded.group, "1")
    assert as_csv(first) == as_csv(second)
    assert as_pdf(first) == as_pdf(second)
