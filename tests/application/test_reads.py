"""Read authorisation and the diary, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from domain.errors import Forbidden, InvalidValue, NotFound
from domain.values import MarkValue
from projections.diary import diary
from tests.conftest import School


def test_a_guardian_reads_the_own_childs_diary(school: School) -> None:
    anna = school.students[0]
    lesson = school.lesson(day=date(2026, 10, 13))
    school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    src = school.journal.reads.diary_sources(school.guardian, anna, date(2026, 10, 12),
                                       date(2026, 10, 18))
    d = diary(src.institution, src.student, src.lessons, date(2026, 10, 12), date(2026, 10, 18))
    assert [(x.discipline_name, [m.value for m in x.marks]) for x in d.lessons] == [
        ("Математика", ["5"])]


@pytest.mark.parametrize("who", ["guardian", "student"])
def test_family_cannot_read_another_students_diary(school: School, who: str) -> None:
    with pytest.raises(NotFound):
        school.journal.reads.diary_sources(getattr(school, who), school.students[1],
                                     date(2026, 10, 12), date(2026, 10, 18))


def test_a_diary_spans_at_most_31_days(school: School) -> None:
    with pytest.raises(InvalidValue):
        school.journal.reads.diary_sources(school.student, school.students[0], date(2026, 9, 1),
                                     date(2026, 10, 15))


def test_the_diary_follows_the_student_across_a_transfer(school: School) -> None:
    anna = school.students[0]
    school.lesson(day=date(2026, 9, 30))
    school.journal.roster.transfer(school.admin, anna, school.other_group, school.order,
                            date(2026, 10, 1))
    school.lesson(day=date(2026, 10, 1))
    src = school.journal.reads.diary_sources(school.student, anna, date(2026, 9, 28),
                                       date(2026, 10, 4))
    assert [lesson.day for lesson in src.lessons] == [date(2026, 9, 30)]


def test_journal_readers_are_administration_curator_and_the_teacher(school: School) -> None:
    for actor in (school.director, school.deputy, school.admin, school.curator, school.teacher):
        school.journal.reads.journal_sources(actor, school.group, school.math, 1)
    for actor in (school.other_teacher, school.guardian, school.student):
        with pytest.raises(Forbidden):
            school.journal.reads.journal_sources(actor, school.group, school.math, 1)


# A family's denial echoes nothing the caller did not send ---------------------------------
@pytest.mark.parametrize("who", ["guardian", "student"])
def test_another_childs_mark_history_is_denied_as_an_unknown_mark(school: School,
                                                                  who: str) -> None:
    boris = school.students[1]
    lesson = school.lesson(day=date(2026, 10, 13))
    mark = school.journal.lessons.record_mark(school.teacher, lesson, boris, MarkValue.FOUR)
    with pytest.raises(NotFound) as denied:
        school.journal.reads.mark_history_sources(getattr(school, who), lesson, mark)
    with pytest.raises(NotFound) as unknown:
        school.journal.reads.mark_history_sources(getattr(school, who), lesson, uuid4())
    assert str(boris) not in repr(denied.value.context)
    assert denied.value.message == unknown.value.message
    assert set(denied.value.context) == set(unknown.value.context)


@pytest.mark.parametrize("who", ["guardian", "student"])
def test_another_childs_diary_is_denied_as_an_unknown_student(school: School,
                                                              who: str) -> None:
    with pytest.raises(NotFound) as denied:
        school.journal.reads.diary_sources(getattr(school, who), school.students[1],
                                           date(2026, 10, 12), date(2026, 10, 18))
    stranger = uuid4()
    with pytest.raises(NotFound) as unknown:
        school.journal.reads.diary_sources(getattr(school, who), stranger,
                                           date(2026, 10, 12), date(2026, 10, 18))
    assert denied.value.message == unknown.value.message
    assert denied.value.context == {"id": str(school.students[1])}  # what the caller sent
    assert unknown.value.context == {"id": str(stranger)}
