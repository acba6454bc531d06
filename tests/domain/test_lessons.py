from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import (
    DuplicateEntry,
    InvalidValue,
    MarkCancelled,
    NoAbsence,
    NotFound,
    StudentNotInGroup,
)
from domain.lessons import (
    Lesson,
    MarkForAbsent,
    RecordsAfterMove,
    ResultsAfterMarks,
    check_no_records_from,
    lesson_id_for,
)
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue
from tests.domain.helpers import act, lesson, replay

ANNA, BORIS = uuid4(), uuid4()
ROSTER = frozenset({ANNA, BORIS})


def test_lesson_id_is_the_same_for_the_same_group_date_and_number() -> None:
    group = uuid4()
    a = lesson(group_id=group)
    b = lesson(group_id=group)
    assert a.id == b.id == lesson_id_for(group, None, date(2026, 10, 14), 2)


def test_lesson_cannot_be_conducted_in_the_future() -> None:
    with pytest.raises(InvalidValue):
        lesson(day=date(2026, 10, 16))


@pytest.mark.parametrize("number", [0, 13])
def test_lesson_number_is_between_1_and_12(number: int) -> None:
    with pytest.raises(InvalidValue):
        lesson(number=number)


def test_mark_is_recorded_for_a_student_on_the_roster() -> None:
    lsn = lesson()
    mark_id = uuid4()
    lsn.record_mark(mark_id, ANNA, MarkValue.FIVE, ROSTER, act())
    assert lsn.marks[mark_id].value is MarkValue.FIVE
    assert lsn.active_marks_of(ANNA)[0].mark_id == mark_id


def test_mark_for_a_student_not_on_the_roster_is_refused() -> None:
    lsn = lesson()
    with pytest.raises(StudentNotInGroup):
        lsn.record_mark(uuid4(), uuid4(), MarkValue.FIVE, ROSTER, act())
    assert lsn.marks == {}


def test_a_student_may_get_two_marks_at_one_lesson() -> None:
    lsn = lesson()
    lsn.record_mark(uuid4(), ANNA, MarkValue.FIVE, ROSTER, act())
    lsn.record_mark(uuid4(), ANNA, MarkValue.FOUR, ROSTER, act())
    assert sorted(m.value.value for m in lsn.active_marks_of(ANNA)) == ["4", "5"]


def test_mark_id_cannot_be_reused() -> None:
    lsn = lesson()
    mark_id = uuid4()
    lsn.record_mark(mark_id, ANNA, MarkValue.FIVE, ROSTER, act())
    with pytest.raises(DuplicateEntry):
        lsn.record_mark(mark_id, BORIS, MarkValue.FOUR, ROSTER, act())


def test_changing_a_mark_is_a_new_event_and_keeps_the_student() -> None:
    lsn = lesson()
    mark_id = uuid4()
    lsn.record_mark(mark_id, ANNA, MarkValue.THREE, ROSTER, act())
    lsn.change_mark(mark_id, MarkValue.FOUR, act())
    names = [type(e).__name__ for e in lsn.collect_events()]
    assert names == ["Conducted", "MarkRecorded", "MarkChanged"]
    assert lsn.marks[mark_id].student_id == ANNA
    assert lsn.marks[mark_id].value is MarkValue.FOUR


def test_changing_a_mark_to_its_own_value_records_nothing() -> None:
    lsn = lesson()
    mark_id = uuid4()
    lsn.record_mark(mark_id, ANNA, MarkValue.THREE, ROSTER, act())
    lsn.collect_events()
    lsn.change_mark(mark_id, MarkValue.THREE, act())
    assert lsn.collect_events() == []


def test_a_cancelled_mark_cannot_be_changed_or_cancelled_again() -> None:
    lsn = lesson()
    mark_id = uuid4()
    lsn.record_mark(mark_id, ANNA, MarkValue.TWO, ROSTER, act())
    lsn.cancel_mark(mark_id, act())
    assert lsn.active_marks_of(ANNA) == []
    with pytest.raises(MarkCancelled):
        lsn.change_mark(mark_id, MarkValue.FOUR, act())
    with pytest.raises(MarkCancelled):
        lsn.cancel_mark(mark_id, act())


def test_unknown_mark_is_not_found() -> None:
    with pytest.raises(NotFound):
        lesson().change_mark(uuid4(), MarkValue.FOUR, act())


def test_an_absent_student_gets_no_numeric_mark() -> None:
    lsn = lesson()
    lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    with pytest.raises(MarkForAbsent):
        lsn.record_mark(uuid4(), ANNA, MarkValue.FIVE, ROSTER, act())


def test_an_absent_student_may_be_marked_not_attested() -> None:
    lsn = lesson()
    lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    lsn.record_mark(uuid4(), ANNA, MarkValue.NOT_ATTESTED, ROSTER, act())
    assert lsn.active_marks_of(ANNA)[0].value is MarkValue.NOT_ATTESTED


def test_a_student_with_a_numeric_mark_cannot_be_marked_absent() -> None:
    lsn = lesson()
    lsn.record_mark(uuid4(), ANNA, MarkValue.FIVE, ROSTER, act())
    with pytest.raises(MarkForAbsent):
        lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())


def test_late_needs_minutes_and_absent_takes_none() -> None:
    lsn = lesson()
    with pytest.raises(InvalidValue):
        lsn.record_attendance(ANNA, AttendanceStatus.LATE, None, ROSTER, act())
    with pytest.raises(InvalidValue):
        lsn.record_attendance(ANNA, AttendanceStatus.LATE, 91, ROSTER, act())
    with pytest.raises(InvalidValue):
        lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, 5, ROSTER, act())
    lsn.record_attendance(ANNA, AttendanceStatus.LATE, 10, ROSTER, act())
    assert lsn.attendance[ANNA].minutes == 10


def test_marking_present_clears_the_absence_and_its_reason() -> None:
    lsn = lesson()
    lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    lsn.set_absence_reason(ANNA, AbsenceReasonKind.UNEXCUSED, None, act())
    lsn.record_attendance(ANNA, AttendanceStatus.PRESENT, None, ROSTER, act())
    assert ANNA not in lsn.attendance and ANNA not in lsn.reasons


def test_absence_reason_needs_an_absence() -> None:
    with pytest.raises(NoAbsence):
        lesson().set_absence_reason(ANNA, AbsenceReasonKind.ILLNESS, "Справка 12", act())


def test_illness_needs_a_document() -> None:
    lsn = lesson()
    lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    with pytest.raises(InvalidValue):
        lsn.set_absence_reason(ANNA, AbsenceReasonKind.ILLNESS, " ", act())
    lsn.set_absence_reason(ANNA, AbsenceReasonKind.ILLNESS, "Справка № 12", act())
    assert lsn.reasons[ANNA].kind.excused


def test_absence_reason_can_change_later_as_a_new_event() -> None:
    lsn = lesson()
    lsn.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    lsn.set_absence_reason(ANNA, AbsenceReasonKind.UNEXCUSED, None, act())
    lsn.set_absence_reason(ANNA, AbsenceReasonKind.GUARDIAN_APPLICATION, "Заявление", act())
    names = [type(e).__name__ for e in lsn.collect_events()]
    assert names.count("AbsenceReasonSet") == 2
    assert lsn.reasons[ANNA].kind is AbsenceReasonKind.GUARDIAN_APPLICATION


def test_topic_homework_and_kind_change_together() -> None:
    lsn = lesson()
    lsn.change_details("Контрольная работа", None, "control", act())
    assert (lsn.topic, lsn.homework, lsn.work_kind.value) == ("Контрольная работа", "§12, №3–5",
                                                        "control")


commands = st.lists(
    st.tuples(
        st.sampled_from(["record", "change", "cancel", "absent", "late", "present", "reason"]),
        st.sampled_from([ANNA, BORIS]),
        st.sampled_from(list(MarkValue)),
        st.integers(min_value=0, max_value=5),
    ),
    max_size=40,
)


@given(commands)
def test_replaying_a_lessons_events_gives_the_same_state(script: list) -> None:  # type: ignore[type-arg]
    lsn = lesson()
    marks: list = []  # type: ignore[type-arg]
    for verb, student, value, pick in script:
        try:
            if verb == "record":
                mark_id = uuid4()
                lsn.record_mark(mark_id, student, value, ROSTER, act())
                marks.append(mark_id)
            elif verb in ("change", "cancel") and marks:
                mark_id = marks[pick % len(marks)]
                if verb == "change":
                    lsn.change_mark(mark_id, value, act())
                else:
                    lsn.cancel_mark(mark_id, act())
            elif verb in ("absent", "late", "present"):
                minutes = 5 if verb == "late" else None
                lsn.record_attendance(student, AttendanceStatus(verb), minutes, ROSTER, act())
            elif verb == "reason":
                lsn.set_absence_reason(student, AbsenceReasonKind.UNEXCUSED, None, act())
        except (MarkForAbsent, MarkCancelled, NoAbsence):
            pass
    rebuilt = replay(lsn)
    assert isinstance(rebuilt, Lesson)
    assert (rebuilt.marks, rebuilt.attendance, rebuilt.reasons, rebuilt.version) == (
        lsn.marks, lsn.attendance, lsn.reasons, lsn.version)


def test_a_copied_lesson_is_independent_of_the_original() -> None:
    import copy

    original = lesson()
    original.record_mark(uuid4(), ANNA, MarkValue.THREE, ROSTER, act())
    original.collect_events()
    clone = copy.deepcopy(original)
    clone.record_mark(uuid4(), BORIS, MarkValue.FIVE, ROSTER, act())
    clone.record_attendance(ANNA, AttendanceStatus.LATE, 3, ROSTER, act())
    assert len(original.marks) == 1 and original.attendance == {}
    assert original.collect_events() == [] and len(clone.collect_events()) == 2
    assert original.version + 2 == clone.version


# The date a control work's results were received (seed 004 §6.9) ------------------------
def test_a_control_work_records_when_its_results_were_received() -> None:
    work = lesson(day=date(2026, 10, 12), work_kind="control")
    assert work.results_on is None
    work.record_results(date(2026, 10, 14), act(date(2026, 10, 15)))
    assert replay(work).results_on == date(2026, 10, 14)


@pytest.mark.parametrize("results_on", [date(2026, 10, 11), date(2026, 10, 16)])
def test_results_are_received_between_the_lesson_and_today(results_on: date) -> None:
    with pytest.raises(InvalidValue):
        lesson(day=date(2026, 10, 12), work_kind="test").record_results(
            results_on, act(date(2026, 10, 15)))


def test_only_control_works_have_a_results_date() -> None:
    with pytest.raises(InvalidValue):
        lesson(work_kind="laboratory").record_results(date(2026, 10, 14), act())


def test_the_results_date_comes_before_the_marks() -> None:
    work = lesson(day=date(2026, 10, 12), work_kind="control")
    work.record_mark(uuid4(), ANNA, MarkValue.FOUR, ROSTER, act())
    with pytest.raises(ResultsAfterMarks) as refused:
        work.record_results(date(2026, 10, 14), act())
    assert refused.value.code == "results_after_marks"


def test_a_mark_recorded_by_an_approved_application_cites_it() -> None:
    lsn, mark_id = lesson(), uuid4()
    basis = {"application_id": str(uuid4()), "application_number": "18"}
    lsn.record_mark(mark_id, ANNA, MarkValue.FIVE, ROSTER, act(), basis=basis)
    recorded = lsn.collect_events()[-1]
    assert recorded.basis == basis
    assert lsn.marks[mark_id].value is MarkValue.FIVE


# Records a backdated move would hide ------------------------------------------------------
def test_a_move_backdated_before_records_of_the_student_is_refused_with_the_list() -> None:
    a, b, c = lesson(day=date(2026, 10, 5)), lesson(day=date(2026, 10, 7), number=3), \
        lesson(day=date(2026, 10, 9))
    a.record_mark(uuid4(), ANNA, MarkValue.FOUR, ROSTER, act())
    b.record_attendance(ANNA, AttendanceStatus.ABSENT, None, ROSTER, act())
    c.record_mark(uuid4(), BORIS, MarkValue.FIVE, ROSTER, act())  # another student's
    with pytest.raises(RecordsAfterMove) as refused:
        check_no_records_from(ANNA, date(2026, 10, 5), [a, b, c], "10А")
    error = refused.value
    assert error.code == "records_after_effective_date"
    assert "05.10.2026" in error.message and "отметка 4" in error.message
    assert "07.10.2026" in error.message and "пропуск" in error.message
    assert error.context["earliest_effective"] == "2026-10-08"
    check_no_records_from(ANNA, date(2026, 10, 8), [a, b, c], "10А")


def test_a_cancelled_mark_hides_nothing() -> None:
    a, mark = lesson(day=date(2026, 10, 5)), uuid4()
    a.record_mark(mark, ANNA, MarkValue.FOUR, ROSTER, act())
    a.cancel_mark(mark, act())
    check_no_records_from(ANNA, date(2026, 10, 1), [a], "10А")
