"""Commands whose writes do not logically conflict both succeed, even when they race for
one aggregate (a group's lesson index, one lesson's marks); a genuine conflict is still
refused exactly once (ADR 0008). SQLite and PostgreSQL; "another process" is a second
service on the same database with its own cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from application.config import Settings
from application.journal import Journal, MarkEntry
from application.service import Ejournal
from domain.errors import StaleVersion
from domain.lessons import Lesson, LessonIndex
from domain.values import MarkValue
from tests.conftest import Clock, School


@pytest.fixture
def elsewhere(database_url: str, key_dir: Path, school: School) -> Iterator[Journal]:
    service = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    yield service.journal(school.slug)
    service.close()


def test_marks_of_two_students_in_one_lesson_at_once_both_stand(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    lesson_id = school.lesson()
    anna, boris, _ = school.students
    # While this command runs, another process records Boris's mark in the same lesson.
    clock.interruptions.append(lambda: elsewhere.lessons.record_mark(
        school.teacher, lesson_id, boris, MarkValue.FOUR))
    school.journal.lessons.record_mark(school.teacher, lesson_id, anna, MarkValue.FIVE)
    marks = {m.student_id: m.value for m in school.journal.get(Lesson, lesson_id).marks.values()}
    assert marks == {anna: MarkValue.FIVE, boris: MarkValue.FOUR}


def test_two_changes_of_one_mark_from_the_same_value_one_is_refused(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    lesson_id = school.lesson()
    mark = school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                              MarkValue.THREE)
    clock.interruptions.append(lambda: elsewhere.lessons.change_mark(
        school.teacher, lesson_id, mark, MarkValue.FOUR, MarkValue.THREE))
    with pytest.raises(StaleVersion):
        school.journal.lessons.change_mark(school.teacher, lesson_id, mark, MarkValue.FIVE,
                                           MarkValue.THREE)
    assert school.journal.get(Lesson, lesson_id).marks[mark].value is MarkValue.FOUR


def test_eight_clients_filling_one_groups_lessons_at_once_all_succeed(
        school: School) -> None:
    """Eight threads submit whole lessons of one group (the same week and journal index)
    at the same moment: no conflict reaches a client and nothing is lost."""
    days = [date(2026, 10, 12 + d) for d in range(4)]
    slots = [(day, number) for day in days for number in (1, 2, 3, 4)]  # 16 lessons
    start, errors = threading.Barrier(8), []

    def client(k: int) -> None:
        start.wait()
        for day, number in slots[k::8]:
            try:
                school.journal.lessons.submit_lesson(
                    school.teacher, school.assignment, day, number, f"Тема {number}", None,
                    "ordinary", [], [MarkEntry(school.students[k % 3], MarkValue.FIVE)])
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    index = school.journal.find_index(LessonIndex.journal_key(school.group, school.math, 1))
    assert index is not None and len(index.lessons) == len(slots)
    assert all(len(school.journal.get(Lesson, lid).marks) == 1 for lid in index.lessons)


def test_threads_refilling_their_lessons_again_and_again_never_conflict(
        school: School) -> None:
    """Six threads of one process each submit the sheet of their own lesson of one group
    five times over (an update of an existing lesson each time after the first), with
    marks: the shared indexes and cache must never leave a thread on a stale version."""
    day, rounds, errors = date(2026, 10, 14), 5, []
    start = threading.Barrier(6)

    def client(k: int) -> None:
        start.wait()
        for _ in range(rounds):
            try:
                school.journal.lessons.submit_lesson(
                    school.teacher, school.assignment, day, k + 1, f"Тема {k}", None,
                    "ordinary", [], [MarkEntry(s, MarkValue.FOUR) for s in school.students])
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    index = school.journal.find_index(LessonIndex.week_key(school.group, day))
    assert index is not None and len(index.lessons) == 6
    assert all(len(school.journal.get(Lesson, lid).marks) == 3 * rounds
               for lid in index.lessons)


def test_a_new_mark_stands_after_many_other_writers_commit_to_its_lesson_first(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    """Sixteen clients on one lesson: one of them may lose the race to each of the others
    in turn. Sixty other marks committed while this command runs (several per attempt) do
    not turn it into a 409 (attack round 3: 3 % of marks on hot lessons were)."""
    lesson_id = school.lesson()
    others = [elsewhere.roster.admit_student(school.admin, f"Ученик {n}", None)
              for n in range(60)]
    for sid in others:
        elsewhere.roster.enrol(school.admin, sid, school.group, school.order,
                               date(2026, 9, 1))
    for sid in others:
        clock.interruptions.append(lambda sid=sid: elsewhere.lessons.record_mark(
            school.teacher, lesson_id, sid, MarkValue.FOUR))
    anna = school.students[0]
    school.journal.lessons.record_mark(school.teacher, lesson_id, anna, MarkValue.FIVE)
    marks = {m.student_id for m in school.journal.get(Lesson, lesson_id).marks.values()}
    assert marks == {anna, *others}
