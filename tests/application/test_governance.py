"""Deadlines by school policy, corrections by written application decided by the
director, period marks, academic debt, closing and reopening — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.corrections import AlreadyDecided, FourEyes, Status, Target
from domain.errors import Forbidden, InvalidValue
from domain.groups import Group
from domain.lessons import Lesson
from domain.period_marks import PeriodMarkSheet
from domain.policy import CorrectionRequired, MarksDisabled, PeriodClosed, RecordKind
from domain.values import AttendanceStatus, MarkValue, OrderRef, Role
from projections.history import mark_history
from tests.conftest import Clock, School, staff

ORDER = OrderRef("45-од", date(2026, 8, 30))
LESSON_DAY = date(2026, 10, 14)  # a Wednesday
# The school's clock (15.10) is before period 1 ends (25.10): closing it takes an order
# with a reason.
EARLY = (OrderRef("60-од", date(2026, 10, 15)), "Досрочное окончание четверти")


def moscow(clock: Clock, *args: int) -> None:
    """Set the clock to a Moscow (UTC+3) wall time."""
    clock.now = datetime(*args, tzinfo=ZoneInfo("Europe/Moscow"))


def adopted(school: School, preset: str = "gymnasium_139_001") -> School:
    school.journal.regulation.adopt_policy(school.director, preset, None, None, "half_up", None,
                                           ORDER)
    return school


@pytest.fixture
def strict(school: School, clock: Clock) -> School:
    """Gymnasium 139's policy; the clock on the lesson day, 20:00 Moscow."""
    moscow(clock, 2026, 10, 14, 20, 0)
    return adopted(school)


def marked(school: School, value: MarkValue = MarkValue.THREE) -> tuple:  # type: ignore[type-arg]
    lesson = school.lesson(day=LESSON_DAY)
    mark = school.journal.lessons.record_mark(school.teacher, lesson, school.students[0], value)
    return lesson, mark


def test_within_the_window_a_mark_changes_freely(strict: School) -> None:
    lesson, mark = marked(strict)
    strict.journal.lessons.change_mark(strict.teacher, lesson, mark, MarkValue.FOUR)
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FOUR


def test_after_the_window_a_change_is_refused_and_names_the_way(strict: School,
                                                               clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 0, 30)
    before = strict.journal.store.recorder.max_notification_id()
    with pytest.raises(CorrectionRequired, match="заявлению"):
        strict.journal.lessons.change_mark(strict.teacher, lesson, mark, MarkValue.FIVE)
    with pytest.raises(CorrectionRequired):
        strict.journal.lessons.cancel_mark(strict.teacher, lesson, mark)
    assert strict.journal.store.recorder.max_notification_id() == before


def test_a_first_entry_after_the_window_is_accepted_but_marked_late(strict: School,
                                                                   clock: Clock) -> None:
    lesson = strict.lesson(day=LESSON_DAY)
    moscow(clock, 2026, 10, 16, 9, 0)
    mark = strict.journal.lessons.record_mark(strict.teacher, lesson, strict.students[1],
                                      MarkValue.FIVE)
    _, events, names = strict.journal.reads.mark_history_sources(strict.director, lesson, mark)
    history = mark_history(strict.journal.get(Lesson, lesson), mark, events, names)
    assert history.entries[0].late


def test_attendance_changes_follow_the_window_too(strict: School, clock: Clock) -> None:
    lesson = strict.lesson(day=LESSON_DAY)
    strict.journal.lessons.record_attendance(strict.teacher, lesson, strict.students[1],
                                     AttendanceStatus.ABSENT, None)
    moscow(clock, 2026, 10, 15, 8, 0)
    with pytest.raises(CorrectionRequired):
        strict.journal.lessons.record_attendance(strict.teacher, lesson, strict.students[1],
                                         AttendanceStatus.PRESENT, None)


def test_a_control_work_gets_a_week_in_gymnasium_139(strict: School, clock: Clock) -> None:
    lesson = strict.lesson(day=LESSON_DAY, number=2, kind="control")
    mark = strict.journal.lessons.record_mark(strict.teacher, lesson, strict.students[0],
                                      MarkValue.THREE)
    moscow(clock, 2026, 10, 21, 18, 0)
    strict.journal.lessons.change_mark(strict.teacher, lesson, mark, MarkValue.FOUR)
    moscow(clock, 2026, 10, 22, 0, 10)
    with pytest.raises(CorrectionRequired):
        strict.journal.lessons.change_mark(strict.teacher, lesson, mark, MarkValue.FIVE)


def file(school: School, lesson, mark, value: MarkValue | None = MarkValue.FIVE,  # type: ignore[no-untyped-def]
         actor=None, number: str = "17"):  # type: ignore[no-untyped-def]
    return school.journal.corrections.file_correction(
        actor or school.teacher, Target.MARK, lesson, mark, value, number, date(2026, 10, 15),
        "Ошибка при переносе из тетради", "Заявление учителя от 15.10.2026")


def test_an_approved_application_corrects_the_mark_and_the_history_shows_it_all(
        strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark)
    # Check the open list before the decision
    assert [a.id for a in strict.journal.reads.corrections_sources(strict.director,
                                                             Status.FILED)] == [application]
    strict.journal.corrections.decide_correction(strict.director, application, True,
                                     "Исправить: подтверждено тетрадью")
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FIVE
    _, events, names = strict.journal.reads.mark_history_sources(strict.director, lesson, mark)
    history = mark_history(strict.journal.get(Lesson, lesson), mark, events, names)
    assert [(e.action, e.value) for e in history.entries] == [
        ("recorded", "3"), ("application_filed", "5"), ("application_approved", None),
        ("changed", "5")]
    assert history.entries[1].actor_name == "Каримова Эльвира Маратовна"
    assert history.entries[2].actor_name == "Борпер Татьяна Семёновна"
    assert history.entries[3].basis["application_id"] == str(application)
    assert strict.journal.reads.corrections_sources(strict.director, Status.FILED) == []


def test_a_rejected_application_changes_nothing(strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark)
    strict.journal.corrections.decide_correction(strict.director, application, False,
                                                 "Оснований нет")
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.THREE


def test_an_application_can_cancel_a_mark(strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    strict.journal.corrections.decide_correction(strict.director, file(strict, lesson, mark,
                                                 None), True,
                                     "Отменить")
    assert strict.journal.get(Lesson, lesson).marks[mark].cancelled


def test_a_corrected_mark_is_corrected_again_the_same_way(strict: School,
                                                           clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    strict.journal.corrections.decide_correction(strict.director, file(strict, lesson, mark),
                                                 True, "Да")
    second = file(strict, lesson, mark, MarkValue.FOUR, number="18")
    strict.journal.corrections.decide_correction(strict.director, second, True, "Да")
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FOUR


def test_only_the_director_or_a_delegated_deputy_decides(strict: School,
                                                         clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark)
    for actor in (strict.teacher, strict.curator, strict.admin, strict.deputy):
        with pytest.raises(Forbidden):
            strict.journal.corrections.decide_correction(actor, application, True, "Да")
    strict.journal.regulation.delegate_decisions(strict.director, strict.deputy.person_id,
                                      OrderRef("50-од", date(2026, 9, 1)))
    strict.journal.corrections.decide_correction(strict.deputy, application, True,
                                                 "Да, по доверенности")
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FIVE


def test_nobody_decides_their_own_application(strict: School, clock: Clock) -> None:
    j = strict.journal
    head = staff(strict.slug, j.access.hire_staff(strict.director, "Завуч-учитель", ["deputy",
                                                  "teacher"]),
                 Role.DEPUTY, Role.TEACHER)
    j.regulation.delegate_decisions(strict.director, head.person_id, ORDER)
    assignment = j.setup.make_assignment(strict.admin, head.person_id, strict.group, None,
                                   strict.physics, date(2026, 9, 1))
    lesson = j.lessons.conduct_lesson(head, assignment, LESSON_DAY, 5, "Оптика", None, "ordinary")
    mark = j.lessons.record_mark(head, lesson, strict.students[0], MarkValue.THREE)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark, actor=head)
    with pytest.raises(FourEyes):
        j.corrections.decide_correction(head, application, True, "Сам себе")


def test_an_application_is_decided_once_and_then_cannot_be_withdrawn(strict: School,
                                                                      clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark)
    strict.journal.corrections.decide_correction(strict.director, application, False, "Нет")
    with pytest.raises(AlreadyDecided):
        strict.journal.corrections.decide_correction(strict.director, application, True,
                                                     "Передумал")
    with pytest.raises(AlreadyDecided):
        strict.journal.corrections.withdraw_correction(strict.teacher, application)


def test_only_the_author_withdraws_an_open_application(strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    application = file(strict, lesson, mark)
    with pytest.raises(Forbidden):
        strict.journal.corrections.withdraw_correction(strict.curator, application)
    strict.journal.corrections.withdraw_correction(strict.teacher, application)
    assert strict.journal.reads.corrections_sources(strict.teacher, Status.WITHDRAWN)[0].id == \
        application


def test_the_curator_may_file_another_teacher_may_not(strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    file(strict, lesson, mark, actor=strict.curator)
    with pytest.raises(Forbidden):
        file(strict, lesson, mark, actor=strict.other_teacher, number="19")


def test_authors_see_their_own_applications_only(strict: School, clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    mine = file(strict, lesson, mark)
    curators = file(strict, lesson, mark, actor=strict.curator, number="20")
    assert [a.id for a in strict.journal.reads.corrections_sources(strict.teacher, None)] == [mine]
    assert {a.id for a in strict.journal.reads.corrections_sources(strict.director, None)} == {
        mine, curators}
    assert strict.journal.reads.corrections_sources(strict.other_teacher, None) == []


def test_an_application_for_a_mark_changed_since_is_not_applied(strict: School,
                                                                clock: Clock) -> None:
    lesson, mark = marked(strict)
    moscow(clock, 2026, 10, 15, 10, 0)
    first, second = file(strict, lesson, mark), file(strict, lesson, mark, MarkValue.FOUR,
                                                     number="21")
    strict.journal.corrections.decide_correction(strict.director, first, True, "Да")
    from domain.errors import StaleVersion

    with pytest.raises(StaleVersion):
        strict.journal.corrections.decide_correction(strict.director, second, True, "Да")
    assert strict.journal.get(Lesson, lesson).marks[mark].value is MarkValue.FIVE


# Period marks, academic debt, closing ---------------------------------------------------
def test_the_suggested_period_mark_follows_weights_and_rounding(school: School) -> None:
    j, anna = school.journal, school.students[0]
    for day, kind, value in ((date(2026, 10, 5), "ordinary", MarkValue.FOUR),
                             (date(2026, 10, 6), "control", MarkValue.THREE),
                             (date(2026, 10, 7), "ordinary", MarkValue.FIVE)):
        lesson = school.lesson(day=day, kind=kind)
        j.lessons.record_mark(school.teacher, lesson, anna, value)
    group = j.get(Group, school.group)
    # (4 + 3·2 + 5) / 4 = 3.75 → 4 with half up
    assert j.period_marks.suggest(group, school.math, "1")[anna] is MarkValue.FOUR
    j.regulation.adopt_policy(school.director, None, None, {"control": 4}, "half_up", None, ORDER)
    # (4 + 3·4 + 5) / 6 = 3.5 → 4 half up; → 3 half down
    assert j.period_marks.suggest(group, school.math, "1")[anna] is MarkValue.FOUR
    j.regulation.adopt_policy(school.director, None, None, {"control": 4}, "half_down", None, ORDER)
    assert j.period_marks.suggest(group, school.math, "1")[anna] is MarkValue.THREE


def test_a_period_mark_may_differ_from_the_suggestion_and_a_two_is_a_debt(
        school: School) -> None:
    j, anna, boris = school.journal, school.students[0], school.students[1]
    lesson = school.lesson(day=date(2026, 10, 5))
    j.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1", anna,
                                   MarkValue.FOUR,
                      None)
    j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1", boris,
                                   MarkValue.TWO,
                      None)
    sheet = j.period_marks.find_sheet(school.group, school.math, "1")
    assert sheet.marks[anna] is MarkValue.FOUR and sheet.suggested[anna] is MarkValue.FIVE
    assert sheet.debtors() == [boris]


def test_only_the_disciplines_teacher_sets_period_marks(school: School) -> None:
    with pytest.raises(Forbidden):
        school.journal.period_marks.set_period_mark(school.other_teacher, school.group,
                                                    school.math, "1",
                                       school.students[0], MarkValue.FIVE, None)
    with pytest.raises(InvalidValue):
        school.journal.period_marks.set_period_mark(school.teacher, school.group, school.math,
                                                    "quarter",
                                       school.students[0], MarkValue.FIVE, None)


def test_a_closed_period_takes_changes_only_by_application(school: School) -> None:
    j, anna = school.journal, school.students[0]
    lesson = school.lesson(day=date(2026, 10, 5))
    mark = j.lessons.record_mark(school.teacher, lesson, anna, MarkValue.THREE)
    j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1", anna,
                                   MarkValue.THREE,
                      None)
    with pytest.raises(Forbidden):
        j.regulation.close_period(school.teacher, school.year_id, 1, school.group)
    j.regulation.close_period(school.deputy, school.year_id, 1, school.group, *EARLY)
    with pytest.raises(PeriodClosed):
        j.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)
    with pytest.raises(PeriodClosed):
        j.period_marks.set_period_mark(school.teacher, school.group, school.math, "1", anna,
                          MarkValue.FOUR, None)
    sheet_id = PeriodMarkSheet.create_id(school.group, school.math, "1")
    application = j.corrections.file_correction(school.teacher, Target.PERIOD_MARK, sheet_id, anna,
                                    MarkValue.FOUR, "22", date(2026, 10, 15), "Пересчёт",
                                    "Заявление от 15.10.2026")
    j.corrections.decide_correction(school.director, application, True, "Исправить")
    assert j.period_marks.find_sheet(school.group, school.math, "1").marks[anna] is MarkValue.FOUR


def test_reopening_takes_the_directors_order_with_a_reason(school: School) -> None:
    j = school.journal
    lesson = school.lesson(day=date(2026, 10, 5))
    mark = j.lessons.record_mark(school.teacher, lesson, school.students[0], MarkValue.THREE)
    j.regulation.close_period(school.deputy, school.year_id, 1, None, *EARLY)  # institution
    with pytest.raises(Forbidden):
        j.regulation.reopen_period(school.deputy, school.year_id, 1, None, ORDER, "Ошибка")
    with pytest.raises(InvalidValue):
        j.regulation.reopen_period(school.director, school.year_id, 1, None, ORDER, " ")
    j.regulation.reopen_period(school.director, school.year_id, 1, None, OrderRef("61-од",
                    date(2026, 10, 15)), "Ошибка в выставлении отметок")
    j.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)


def test_additional_education_records_attendance_without_marks(school: School) -> None:
    adopted(school, "kvantorium_003")
    lesson = school.lesson(day=date(2026, 10, 13))
    with pytest.raises(MarksDisabled):
        school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                           MarkValue.FIVE)
    school.journal.lessons.record_attendance(school.teacher, lesson, school.students[0],
                                     AttendanceStatus.ABSENT, None)


def test_semt_period_marks_are_due_two_days_before_the_period_ends(school: School,
                                                                   clock: Clock) -> None:
    adopted(school, "semt_004")
    anna = school.students[0]
    moscow(clock, 2026, 10, 22, 12, 0)  # period 1 ends 25.10: due by 23.10 inclusive
    school.journal.period_marks.set_period_mark(school.teacher, school.group, school.math, "1",
                                                anna,
                                   MarkValue.FOUR, None)
    moscow(clock, 2026, 10, 24, 12, 0)
    with pytest.raises(CorrectionRequired):
        school.journal.period_marks.set_period_mark(school.teacher, school.group, school.math,
                                                    "1", anna,
                                       MarkValue.FIVE, None)


def test_the_curators_weekly_check_is_within_the_absence_reason_window(
        school: School, clock: Clock) -> None:
    adopted(school, "semt_004")
    moscow(clock, 2026, 10, 16, 15, 0)  # Friday
    lesson = school.lesson(day=date(2026, 10, 16))
    boris = school.students[1]
    school.journal.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT,
                                     None)
    moscow(clock, 2026, 10, 19, 17, 0)  # Monday: the curator's weekly check
    from domain.values import AbsenceReasonKind

    school.journal.lessons.set_absence_reason(school.curator, lesson, boris,
                                      AbsenceReasonKind.ILLNESS, "Справка № 7")
    moscow(clock, 2026, 10, 20, 9, 0)  # Tuesday: too late to change
    with pytest.raises(CorrectionRequired):
        school.journal.lessons.set_absence_reason(school.curator, lesson, boris,
                                          AbsenceReasonKind.UNEXCUSED, None)


def test_additional_education_moves_students_to_the_next_iteration(school: School) -> None:
    j = school.journal
    adopted(school, "kvantorium_003")
    year = j.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                date(2028, 5, 31), [
        {"kind": "iteration", "title": "Итерация 1", "starts": date(2027, 9, 1),
         "ends": date(2027, 12, 20)},
        {"kind": "iteration", "title": "Итерация 2", "starts": date(2028, 1, 10),
         "ends": date(2028, 5, 31)}])
    first = j.setup.form_group(school.admin, year, "Робототехника, итерация 1", None)
    second = j.setup.form_group(school.admin, year, "Робототехника, итерация 2", None)
    anna = j.roster.admit_student(school.admin, "Лебедева Алиса Игоревна", None)
    j.roster.enrol(school.admin, anna, first, school.order, date(2027, 9, 1))
    j.roster.transfer(school.admin, anna, second, OrderRef("3-дo", date(2027, 12, 25)),
               date(2028, 1, 10))
    assert j.get(Group, first).is_member(anna, date(2027, 12, 1))
    assert j.get(Group, second).is_member(anna, date(2028, 1, 10))
    assert not j.get(Group, first).is_member(anna, date(2028, 1, 10))


def test_an_absence_reason_after_its_window_changes_by_application(school: School,
                                                                   clock: Clock) -> None:
    from domain.values import AbsenceReasonKind

    adopted(school, "semt_004")
    moscow(clock, 2026, 10, 16, 15, 0)
    lesson = school.lesson(day=date(2026, 10, 16))
    boris = school.students[1]
    school.journal.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT,
                                     None)
    school.journal.lessons.set_absence_reason(school.curator, lesson, boris,
                                      AbsenceReasonKind.UNEXCUSED, None)
    moscow(clock, 2026, 10, 21, 9, 0)
    application = school.journal.corrections.file_correction(
        school.curator, Target.ABSENCE_REASON, lesson, boris, "illness", "31",
        date(2026, 10, 21), "Справка принесена после проверки", "Заявление куратора",
        proposed_document="Справка № 112 от 20.10.2026")
    with pytest.raises(InvalidValue):
        school.journal.corrections.file_correction(school.curator, Target.ABSENCE_REASON, lesson,
                                                   boris,
                                       "болел", "32", date(2026, 10, 21), "—", "—")
    school.journal.corrections.decide_correction(school.director, application, True, "Уважительная")
    reason = school.journal.get(Lesson, lesson).reasons[boris]
    assert reason.kind is AbsenceReasonKind.ILLNESS
    assert reason.document == "Справка № 112 от 20.10.2026"


# The policy is the director's act --------------------------------------------------------
@pytest.mark.parametrize("who", ["admin", "deputy", "teacher"])
def test_only_the_director_adopts_the_policy(school: School, who: str) -> None:
    with pytest.raises(Forbidden):
        school.journal.regulation.adopt_policy(getattr(school, who), None,
                                               {"lesson": {"rule": "none"}}, None, "half_up",
                                               None, ORDER)
    assert school.journal.policy().order is None


def test_a_draft_prepared_by_the_administrator_binds_nobody_until_adopted(
        strict: School) -> None:
    j = strict.journal
    before = j.policy().window(RecordKind.LESSON)
    j.regulation.prepare_policy(strict.admin, None, {"lesson": {"rule": "none"}}, None,
                                "half_up", None)
    assert j.policy().window(RecordKind.LESSON) == before
    assert j.policy().draft is not None
    with pytest.raises(Forbidden):
        j.regulation.adopt_prepared_policy(strict.admin, ORDER)
    j.regulation.adopt_prepared_policy(strict.director, OrderRef("46-од", date(2026, 10, 1)))
    assert j.policy().window(RecordKind.LESSON).rule.value == "none"
    assert j.policy().draft is None and j.policy().order.number == "46-од"


def test_adopting_without_a_draft_is_refused(school: School) -> None:
    with pytest.raises(InvalidValue):
        school.journal.regulation.adopt_prepared_policy(school.director, ORDER)


def test_an_unknown_rounding_is_a_clear_error(school: School) -> None:
    with pytest.raises(InvalidValue):
        school.journal.regulation.adopt_policy(school.director, None, None, None, "banker",
                                               None, ORDER)
