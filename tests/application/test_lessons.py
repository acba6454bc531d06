"""Lessons, marks and attendance through the application layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from application.journal import AttendanceEntry, MarkEntry
from application.unit_of_work import WriteConflict
from domain.errors import (
    DateOutsideYear,
    DuplicateEntry,
    Forbidden,
    InvalidValue,
    StaleVersion,
    StudentNotInGroup,
)
from domain.lessons import Lesson
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue
from projections.history import mark_history
from projections.journal import journal_page
from tests.conftest import School


def page(school: School, period: int = 1):  # type: ignore[no-untyped-def]
    src = school.journal.reads.journal_sources(school.teacher, school.group, school.math, period)
    return journal_page(src.group, school.math, src.discipline_name, src.period, src.lessons)


def test_a_recorded_mark_is_on_the_journal_page_with_the_average(school: School) -> None:
    anna = school.students[0]
    lesson = school.lesson(kind="control")
    school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    second = school.lesson(day=date(2026, 10, 15), number=2)
    school.journal.lessons.record_mark(school.teacher, second, anna, MarkValue.TWO)
    journal = page(school)
    row = next(r for r in journal.rows if r.student_id == anna)
    assert [c.value for c in row.cells[lesson].marks] == ["5"]
    assert row.average == Decimal("4.00")  # (5×2 + 2×1) / 3
    assert [c.lesson_id for c in journal.lessons] == [lesson, second]


def test_a_teacher_cannot_conduct_another_teachers_assignment(school: School) -> None:
    with pytest.raises(Forbidden):
        school.journal.lessons.conduct_lesson(school.other_teacher, school.assignment,
                                      date(2026, 10, 14), 1, "Тема", None, "ordinary")


def test_a_teacher_cannot_mark_in_another_teachers_lesson(school: School) -> None:
    lesson = school.lesson()
    with pytest.raises(Forbidden):
        school.journal.lessons.record_mark(school.other_teacher, lesson, school.students[0],
                                   MarkValue.FIVE)


def test_the_substitute_conducts_only_the_appointed_lessons(school: School) -> None:
    day = date(2026, 10, 14)
    school.journal.setup.appoint_substitute(school.deputy, school.assignment,
                                      school.other_teacher.person_id, lessons=[(day, 3)])
    lesson_id = school.journal.lessons.conduct_lesson(school.other_teacher, school.assignment,
                                                      day, 3,
                                              "Замена: решение задач", None, "ordinary")
    lesson = school.journal.get(Lesson, lesson_id)
    assert lesson.substitute and lesson.teacher_id == school.other_teacher.person_id
    first = next(iter(school.journal.store.repository.event_store.get(lesson_id)))
    assert first.act.capacity == "substitute"
    with pytest.raises(Forbidden):
        school.journal.lessons.conduct_lesson(school.other_teacher, school.assignment,
                                      date(2026, 10, 15), 3, "Тема", None, "ordinary")
    # Another lesson of the same group and discipline that day is not covered.
    with pytest.raises(Forbidden):
        school.journal.lessons.conduct_lesson(school.other_teacher, school.assignment,
                                      day, 4, "Тема", None, "ordinary")


def test_the_substitute_fills_only_the_covered_lessons_the_teacher_conducted(
        school: School) -> None:
    day, j = date(2026, 10, 14), school.journal
    covered, other = school.lesson(day=day, number=1), school.lesson(day=day, number=2)
    j.setup.appoint_substitute(school.admin, school.assignment,
                               school.other_teacher.person_id, first=day, last=day,
                               numbers=[1])
    j.lessons.record_mark(school.other_teacher, covered, school.students[0], MarkValue.FIVE)
    with pytest.raises(Forbidden):
        j.lessons.record_mark(school.other_teacher, other, school.students[0], MarkValue.FIVE)
    with pytest.raises(Forbidden):
        j.lessons.record_attendance(school.other_teacher, other, school.students[1],
                                    AttendanceStatus.ABSENT, None)


def test_a_substitution_over_a_date_range_covers_its_lesson_numbers_each_day(
        school: School) -> None:
    j = school.journal
    j.setup.appoint_substitute(school.deputy, school.assignment, school.other_teacher.person_id,
                               first=date(2026, 10, 12), last=date(2026, 10, 14),
                               numbers=[2, 5])
    for day in (date(2026, 10, 12), date(2026, 10, 13), date(2026, 10, 14)):
        for number in (2, 5):
            j.lessons.conduct_lesson(school.other_teacher, school.assignment, day, number,
                                     "Замена", None, "ordinary")
    with pytest.raises(Forbidden):
        j.lessons.conduct_lesson(school.other_teacher, school.assignment, date(2026, 10, 12),
                                 3, "Замена", None, "ordinary")
    with pytest.raises(InvalidValue):
        j.setup.appoint_substitute(school.deputy, school.assignment,
                                   school.other_teacher.person_id, first=date(2026, 10, 12),
                                   last=date(2026, 10, 14))


def test_the_same_lesson_cannot_be_conducted_twice(school: School) -> None:
    school.lesson()
    with pytest.raises(DuplicateEntry):
        school.lesson()


def test_a_lesson_outside_every_period_is_refused(school: School) -> None:
    with pytest.raises(DateOutsideYear):
        school.lesson(day=date(2026, 11, 2))  # каникулы


def test_no_mark_for_a_student_who_was_not_in_the_group_that_day(school: School) -> None:
    anna = school.students[0]
    school.journal.roster.transfer(school.admin, anna, school.other_group, school.order,
                            date(2026, 10, 1))
    before = school.lesson(day=date(2026, 9, 30))
    after = school.lesson(day=date(2026, 10, 1))
    school.journal.lessons.record_mark(school.teacher, before, anna, MarkValue.FOUR)
    with pytest.raises(StudentNotInGroup):
        school.journal.lessons.record_mark(school.teacher, after, anna, MarkValue.FOUR)
    with pytest.raises(StudentNotInGroup):
        school.journal.lessons.record_mark(school.teacher, after, school.outsider, MarkValue.FOUR)


def test_a_transferred_student_keeps_earlier_cells_only(school: School) -> None:
    anna = school.students[0]
    before = school.lesson(day=date(2026, 9, 30))
    school.journal.roster.transfer(school.admin, anna, school.other_group, school.order,
                            date(2026, 10, 1))
    after = school.lesson(day=date(2026, 10, 2))
    row = next(r for r in page(school).rows if r.student_id == anna)
    assert before in row.cells and after not in row.cells


def test_a_whole_lesson_is_submitted_in_one_transaction(school: School) -> None:
    anna, boris, vadim = school.students
    lesson_id, mark_ids = school.journal.lessons.submit_lesson(
        school.teacher, school.assignment, date(2026, 10, 14), 1, "Логарифмы", "§12",
        "ordinary",
        [AttendanceEntry(boris, AttendanceStatus.ABSENT),
         AttendanceEntry(vadim, AttendanceStatus.LATE, 7)],
        [MarkEntry(anna, MarkValue.FIVE), MarkEntry(vadim, MarkValue.FOUR)],
    )
    lesson = school.journal.get(Lesson, lesson_id)
    assert len(mark_ids) == 2
    assert lesson.attendance[boris].status is AttendanceStatus.ABSENT
    assert lesson.attendance[vadim].minutes == 7


def test_a_bad_line_in_a_lesson_sheet_writes_nothing(school: School) -> None:
    anna = school.students[0]
    before = school.journal.store.recorder.max_notification_id()
    with pytest.raises(StudentNotInGroup):
        school.journal.lessons.submit_lesson(
            school.teacher, school.assignment, date(2026, 10, 14), 1, "Логарифмы", None,
            "ordinary", [], [MarkEntry(anna, MarkValue.FIVE),
                             MarkEntry(school.outsider, MarkValue.FOUR)],
        )
    assert school.journal.store.recorder.max_notification_id() == before
    assert not school.journal.store.exists(Lesson.create_id(school.group, None,
                                                       date(2026, 10, 14), 1))


def test_resubmitting_a_sheet_adds_to_the_same_lesson(school: School) -> None:
    anna, boris, _ = school.students
    args = (school.teacher, school.assignment, date(2026, 10, 14), 1, "Логарифмы", None,
            "ordinary")
    first, _ = school.journal.lessons.submit_lesson(*args, [], [MarkEntry(anna, MarkValue.FIVE)])
    second, _ = school.journal.lessons.submit_lesson(*args, [], [MarkEntry(boris, MarkValue.THREE)])
    lesson = school.journal.get(Lesson, first)
    assert first == second and len(lesson.marks) == 2


def test_the_curator_sets_an_absence_reason_in_own_group(school: School) -> None:
    boris = school.students[1]
    lesson = school.lesson()
    school.journal.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT,
                                     None)
    school.journal.lessons.set_absence_reason(school.curator, lesson, boris,
                                              AbsenceReasonKind.ILLNESS,
                                      "Справка № 42 от 15.10.2026")
    assert school.journal.get(Lesson, lesson).reasons[boris].kind.excused
    with pytest.raises(Forbidden):
        school.journal.lessons.set_absence_reason(school.other_teacher, lesson, boris,
                                          AbsenceReasonKind.UNEXCUSED, None)


def test_a_marks_history_shows_every_value_with_who_and_when(school: School) -> None:
    anna = school.students[0]
    lesson = school.lesson()
    mark = school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.THREE)
    school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)
    school.journal.lessons.cancel_mark(school.teacher, lesson, mark)
    lesson_agg, events, names = school.journal.reads.mark_history_sources(school.guardian, lesson,
                                                                    mark)
    history = mark_history(lesson_agg, mark, events, names)
    assert [(e.action, e.value) for e in history.entries] == [
        ("recorded", "3"), ("changed", "4"), ("cancelled", None)]
    assert {e.actor_name for e in history.entries} == {"Каримова Эльвира Маратовна"}
    assert all(e.local_date == date(2026, 10, 15) for e in history.entries)
    assert history.cancelled


def test_a_stale_previous_value_is_a_conflict_not_a_lost_update(school: School) -> None:
    anna = school.students[0]
    lesson = school.lesson()
    mark = school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.THREE)
    school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR,
                               previous_value=MarkValue.THREE)
    with pytest.raises(StaleVersion):
        school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FIVE,
                                   previous_value=MarkValue.THREE)
    assert school.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FOUR


def test_concurrent_saves_of_one_lesson_conflict_in_the_store(school: School) -> None:
    anna, boris, _ = school.students
    lesson_id = school.lesson()
    j = school.journal
    roster = frozenset(school.students)
    from uuid import uuid4

    from domain.values import Act

    act = Act(school.teacher.person_id, "teacher", date(2026, 10, 15))
    first, second = j.store.load(Lesson, lesson_id), j.store.load(Lesson, lesson_id)
    first.record_mark(uuid4(), anna, MarkValue.FIVE, roster, act)
    second.record_mark(uuid4(), boris, MarkValue.TWO, roster, act)
    j.store.commit(first)
    with pytest.raises(WriteConflict):
        j.store.commit(second)
    assert [m.student_id for m in j.get(Lesson, lesson_id).marks.values()] == [anna]


def test_a_writer_reads_its_write_immediately(school: School) -> None:
    lesson = school.lesson()
    mark = school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                      MarkValue.FIVE)
    row = next(r for r in page(school).rows if r.student_id == school.students[0])
    assert row.cells[lesson].marks[0].mark_id == mark
