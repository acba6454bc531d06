"""Governance as the regulations say (seeds 001–004): windows of laboratory and practical
works, control works dated by their results, Monday in seed 004, marks added after
closing, early closing, numbering, overdue applications, delegation to the journal
administrator, backdated moves — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.corrections import ApplicationNumberTaken, Status, Target
from domain.errors import Forbidden, InvalidValue, StudentNotInGroup
from domain.groups import Group
from domain.lessons import Lesson, MarkForAbsent, RecordsAfterMove
from domain.policy import CorrectionRequired, EarlyClosure, PeriodClosed
from domain.values import AttendanceStatus, MarkValue, OrderRef
from projections.history import mark_history
from tests.conftest import Clock, School

ORDER = OrderRef("45-од", date(2026, 8, 30))


def moscow(clock: Clock, *args: int) -> None:
    clock.now = datetime(*args, tzinfo=ZoneInfo("Europe/Moscow"))


def adopt(school: School, preset: str) -> None:
    school.journal.regulation.adopt_policy(school.director, preset, None, None, "half_up",
                                           None, ORDER)


def written(school: School) -> int:
    return school.journal.store.recorder.max_notification_id() or 0


# Seed 001 §4.3 ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["laboratory", "practical"])
def test_laboratory_and_practical_works_get_a_week_in_gymnasium_139(
        school: School, clock: Clock, kind: str) -> None:
    moscow(clock, 2026, 10, 14, 20, 0)
    adopt(school, "gymnasium_139_001")
    lesson = school.lesson(day=date(2026, 10, 14), kind=kind)
    mark = school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                              MarkValue.THREE)
    moscow(clock, 2026, 10, 21, 18, 0)
    school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)
    moscow(clock, 2026, 10, 22, 0, 10)
    with pytest.raises(CorrectionRequired):
        school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FIVE)


# Seed 004 §6.1 and §6.9 ----------------------------------------------------------------
def test_in_semt_last_weeks_marks_change_until_sunday_and_monday_is_late(
        school: School, clock: Clock) -> None:
    moscow(clock, 2026, 10, 16, 15, 0)  # Friday
    adopt(school, "semt_004")
    lesson = school.lesson(day=date(2026, 10, 16))
    mark = school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                              MarkValue.THREE)
    moscow(clock, 2026, 10, 18, 23, 0)  # Sunday
    school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)
    moscow(clock, 2026, 10, 19, 8, 0)  # Monday of the current week
    with pytest.raises(CorrectionRequired):
        school.journal.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FIVE)


def test_in_semt_control_work_marks_are_due_a_day_after_the_results(
        school: School, clock: Clock) -> None:
    j = school.journal
    moscow(clock, 2026, 10, 12, 10, 0)  # Monday: the control work is written
    adopt(school, "semt_004")
    work = school.lesson(day=date(2026, 10, 12), kind="control")
    moscow(clock, 2026, 10, 15, 17, 0)  # Thursday: the checked works come back
    j.lessons.change_lesson_details(school.teacher, work, None, None, None,
                                    results_on=date(2026, 10, 15))
    moscow(clock, 2026, 10, 16, 20, 0)  # within a day of the results
    mark = j.lessons.record_mark(school.teacher, work, school.students[0], MarkValue.FOUR)
    j.lessons.change_mark(school.teacher, work, mark, MarkValue.FIVE)
    recorded = [e for e in j.store.repository.event_store.get(work)
                if type(e).__name__ == "MarkRecorded"]
    assert not recorded[0].late
    moscow(clock, 2026, 10, 17, 0, 5)
    with pytest.raises(CorrectionRequired):
        j.lessons.change_mark(school.teacher, work, mark, MarkValue.THREE)


def test_without_a_results_date_a_control_work_counts_from_its_lesson_day(
        school: School, clock: Clock) -> None:
    moscow(clock, 2026, 10, 12, 10, 0)
    adopt(school, "semt_004")
    work = school.lesson(day=date(2026, 10, 12), kind="control")
    moscow(clock, 2026, 10, 16, 20, 0)
    mark = school.journal.lessons.record_mark(school.teacher, work, school.students[0],
                                              MarkValue.FOUR)
    assert [e.late for e in school.journal.store.repository.event_store.get(work)
            if type(e).__name__ == "MarkRecorded"] == [True]
    with pytest.raises(CorrectionRequired):
        school.journal.lessons.change_mark(school.teacher, work, mark, MarkValue.FIVE)


def test_only_the_teacher_of_the_lesson_records_its_results_date(school: School) -> None:
    work = school.lesson(day=date(2026, 10, 12), kind="control")
    with pytest.raises(Forbidden):
        school.journal.lessons.change_lesson_details(school.other_teacher, work, None, None,
                                                     None, results_on=date(2026, 10, 14))


# A mark never entered, after closing -----------------------------------------------------
def closed_after_its_end(school: School, clock: Clock) -> tuple:  # type: ignore[type-arg]
    lesson = school.lesson(day=date(2026, 10, 5))
    school.journal.lessons.record_attendance(school.teacher, lesson, school.students[2],
                                             AttendanceStatus.ABSENT, None)
    moscow(clock, 2026, 10, 26, 10, 0)
    school.journal.regulation.close_period(school.deputy, school.year_id, 1, school.group)
    return school.journal, lesson


def new_mark(school: School, lesson, student, number: str = "40"):  # type: ignore[no-untyped-def]
    return school.journal.corrections.file_correction(
        school.teacher, Target.NEW_MARK, lesson, student, "4", number, date(2026, 10, 26),
        "Отметка за устный ответ не была внесена", "Заявление учителя от 26.10.2026")


def test_a_mark_never_entered_is_added_after_closing_by_an_approved_application(
        school: School, clock: Clock) -> None:
    j, lesson = closed_after_its_end(school, clock)
    boris = school.students[1]
    with pytest.raises(PeriodClosed):
        j.lessons.record_mark(school.teacher, lesson, boris, MarkValue.FOUR)
    application = new_mark(school, lesson, boris)
    assert j.get(Lesson, lesson).active_marks_of(boris) == []
    j.corrections.decide_correction(school.director, application, True, "Внести")
    [added] = j.get(Lesson, lesson).active_marks_of(boris)
    assert added.value is MarkValue.FOUR
    # Check the mark's history cites the application, from filing to the entry.
    _, events, names = j.reads.mark_history_sources(school.director, lesson, added.mark_id)
    history = mark_history(j.get(Lesson, lesson), added.mark_id, events, names)
    assert [(e.action, e.value) for e in history.entries] == [
        ("application_filed", "4"), ("application_approved", None), ("recorded", "4")]
    assert history.entries[-1].basis["application_id"] == str(application)


def test_a_new_mark_application_is_checked_like_the_mark_itself(school: School,
                                                                  clock: Clock) -> None:
    j, lesson = closed_after_its_end(school, clock)
    before = written(school)
    with pytest.raises(StudentNotInGroup):
        new_mark(school, lesson, school.outsider)
    with pytest.raises(MarkForAbsent):
        new_mark(school, lesson, school.students[2])
    with pytest.raises(Forbidden):
        j.corrections.file_correction(
            school.other_teacher, Target.NEW_MARK, lesson, school.students[1], "4", "41",
            date(2026, 10, 26), "—", "—")
    assert written(school) == before


# Closing early -----------------------------------------------------------------------------
def test_closing_a_period_before_its_last_day_needs_a_reason_in_the_order(
        school: School) -> None:
    j = school.journal  # the clock: 15.10; period 1 ends 25.10
    before = written(school)
    with pytest.raises(EarlyClosure):
        j.regulation.close_period(school.deputy, school.year_id, 1, school.group)
    with pytest.raises(EarlyClosure):
        j.regulation.close_period(school.deputy, school.year_id, 1, school.group,
                                  OrderRef("70-од", date(2026, 10, 15)), " ")
    assert written(school) == before
    j.regulation.close_period(school.deputy, school.year_id, 1, school.group,
                              OrderRef("70-од", date(2026, 10, 15)),
                              "Учебная практика с 16.10: четверть завершается досрочно")
    assert j.policy().is_closed(school.year_id, 1, school.group)


# Numbers, the one-day deadline, delegation -------------------------------------------------
def marked(school: School, student: int = 0) -> tuple:  # type: ignore[type-arg]
    lesson = school.lesson(day=date(2026, 10, 14), number=student + 1)
    return lesson, school.journal.lessons.record_mark(school.teacher, lesson,
                                                      school.students[student],
                                                      MarkValue.THREE)


def apply_for(school: School, lesson, mark, number: str,  # type: ignore[no-untyped-def]
              dated: date = date(2026, 10, 15)):
    return school.journal.corrections.file_correction(
        school.teacher, Target.MARK, lesson, mark, "5", number, dated, "Ошибка",
        "Заявление учителя")


def test_application_numbers_are_unique_per_institution_and_year(school: School,
                                                                 clock: Clock) -> None:
    first, second = marked(school, 0), marked(school, 1)
    apply_for(school, *first, "18")
    before = written(school)
    with pytest.raises(ApplicationNumberTaken):
        apply_for(school, *second, "№ 18")
    assert written(school) == before
    moscow(clock, 2027, 1, 15, 10, 0)
    apply_for(school, *second, "18", dated=date(2027, 1, 15))  # a new year, a new count


def test_overdue_applications_are_flagged_for_the_director(school: School,
                                                           clock: Clock) -> None:
    j = school.journal
    moscow(clock, 2026, 10, 15, 10, 0)
    late, prompt = apply_for(school, *marked(school, 0), "50"), \
        apply_for(school, *marked(school, 1), "51")
    moscow(clock, 2026, 10, 16, 23, 0)
    assert j.reads.corrections_sources(school.director, None, overdue=True) == []
    j.corrections.decide_correction(school.director, prompt, True, "Исправить")
    moscow(clock, 2026, 10, 17, 9, 0)
    assert [a.id for a in j.reads.corrections_sources(school.director, None,
                                                      overdue=True)] == [late]
    assert {a.id for a in j.reads.corrections_sources(school.director, None,
                                                      overdue=False)} == {prompt}
    assert [a.id for a in j.reads.corrections_sources(school.director, Status.FILED)] == [late]


def test_the_director_may_delegate_decisions_to_the_journal_administrator(
        school: School, clock: Clock) -> None:
    j = school.journal
    application = apply_for(school, *marked(school), "60")
    with pytest.raises(Forbidden):
        j.corrections.decide_correction(school.admin, application, True, "Да")
    with pytest.raises(Forbidden):
        j.regulation.delegate_decisions(school.deputy, school.admin.person_id, ORDER)
    with pytest.raises(InvalidValue):
        j.regulation.delegate_decisions(school.director, school.teacher.person_id, ORDER)
    j.regulation.delegate_decisions(school.director, school.admin.person_id,
                                    OrderRef("52-од", date(2026, 10, 1)))
    assert [a.id for a in j.reads.corrections_sources(school.admin, Status.FILED)] == [
        application]
    j.corrections.decide_correction(school.admin, application, True, "Исправить")
    events = list(j.store.repository.event_store.get(application))
    assert events[-1].act.capacity == "admin"
    j.regulation.delegate_decisions(school.director, school.admin.person_id,
                                    OrderRef("53-од", date(2026, 10, 2)), revoke=True)
    with pytest.raises(Forbidden):
        j.corrections.decide_correction(school.admin, apply_for(school, *marked(school, 1),
                                                                "61"), True, "Да")


# Backdated moves ---------------------------------------------------------------------------
def test_a_backdated_transfer_that_would_hide_marks_is_refused_with_the_list(
        school: School) -> None:
    j, anna = school.journal, school.students[0]
    lesson = school.lesson(day=date(2026, 10, 5))
    j.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FOUR)
    before = written(school)
    with pytest.raises(RecordsAfterMove) as refused:
        j.roster.transfer(school.admin, anna, school.other_group,
                          OrderRef("80-к", date(2026, 10, 15)), date(2026, 10, 1))
    assert "05.10.2026" in refused.value.message and "отметка 4" in refused.value.message
    assert refused.value.context["earliest_effective"] == "2026-10-06"
    assert written(school) == before
    assert j.get(Group, school.group).is_member(anna, date(2026, 10, 5))
    # An effective date after the last record is accepted; the mark stays where it was.
    j.roster.transfer(school.admin, anna, school.other_group,
                      OrderRef("80-к", date(2026, 10, 15)), date(2026, 10, 6))
    page = j.reads.journal_sources(school.director, school.group, school.math, 1)
    assert page.lessons[0].active_marks_of(anna)
    assert j.get(Group, school.group).is_member(anna, date(2026, 10, 5))


@pytest.mark.parametrize("move", ["expel", "grant_academic_leave", "graduate"])
def test_a_backdated_departure_that_would_hide_an_absence_is_refused(
        school: School, move: str) -> None:
    j, boris = school.journal, school.students[1]
    lesson = school.lesson(day=date(2026, 10, 12))
    j.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT, None)
    with pytest.raises(RecordsAfterMove, match="пропуск"):
        getattr(j.roster, move)(school.admin, boris, OrderRef("81-к", date(2026, 10, 15)),
                                date(2026, 10, 12))


def test_a_backdated_removal_from_a_subgroup_that_would_hide_marks_is_refused(
        school: School) -> None:
    j, anna = school.journal, school.students[0]
    sub = j.setup.add_subgroup(school.admin, school.group, "1 подгруппа")
    j.roster.place_in_subgroup(school.admin, school.group, sub, anna, school.order,
                               date(2026, 9, 1))
    assignment = j.setup.make_assignment(school.admin, school.teacher.person_id, school.group,
                                         sub, school.physics, date(2026, 9, 1))
    lesson = j.lessons.conduct_lesson(school.teacher, assignment, date(2026, 10, 7), 4,
                                      "Оптика", None, "laboratory")
    j.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    with pytest.raises(RecordsAfterMove):
        j.roster.remove_from_subgroup(school.admin, school.group, sub, anna, school.order,
                                      date(2026, 10, 1))
    j.roster.remove_from_subgroup(school.admin, school.group, sub, anna, school.order,
                                  date(2026, 10, 8))


def test_a_move_dated_today_or_later_scans_nothing_and_passes(school: School) -> None:
    j, anna = school.journal, school.students[0]
    j.lessons.record_mark(school.teacher, school.lesson(day=date(2026, 10, 14)), anna,
                          MarkValue.FOUR)
    j.roster.transfer(school.admin, anna, school.other_group,
                      OrderRef("82-к", date(2026, 10, 15)), date(2026, 10, 15))
    assert j.get(Group, school.other_group).is_member(anna, date(2026, 10, 15))


# New event shapes read back from the database, not the cache --------------------------------
def test_the_new_events_read_back_from_storage(school: School, clock: Clock) -> None:
    j = school.journal
    j.setup.appoint_substitute(school.admin, school.assignment, school.other_teacher.person_id,
                               first=date(2026, 10, 12), last=date(2026, 10, 13), numbers=[4])
    work = school.lesson(day=date(2026, 10, 12), kind="exam")
    j.lessons.change_lesson_details(school.teacher, work, None, None, None,
                                    results_on=date(2026, 10, 14))
    moscow(clock, 2026, 10, 26, 10, 0)
    j.regulation.close_period(school.deputy, school.year_id, 1, school.group)
    application = j.corrections.file_correction(
        school.teacher, Target.NEW_MARK, work, school.students[0], "5", "№ 7",
        date(2026, 10, 26), "Не внесена", "Заявление")
    j.corrections.decide_correction(school.director, application, True, "Внести")

    def rebuilt(aggregate_id):  # type: ignore[no-untyped-def]
        aggregate = None
        for e in j.store.repository.event_store.get(aggregate_id):
            aggregate = e.mutate(aggregate)
        return aggregate

    assignment = rebuilt(school.assignment)
    assert assignment.may_conduct(school.other_teacher.person_id, date(2026, 10, 13), 4)
    assert not assignment.may_conduct(school.other_teacher.person_id, date(2026, 10, 13), 3)
    lesson = rebuilt(work)
    assert lesson.results_on == date(2026, 10, 14)
    [mark] = lesson.active_marks_of(school.students[0])
    assert mark.value is MarkValue.FIVE
    assert rebuilt(j.policy().id).is_closed(school.year_id, 1, school.group)
    from domain.corrections import CorrectionIndex

    index = rebuilt(CorrectionIndex.create_id(j.institution_id))
    assert index.number_holder(2026, "7") == application
