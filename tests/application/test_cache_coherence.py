"""The aggregate cache of one process stays coherent with writes of another (ADR 0005),
on SQLite and PostgreSQL: each process here is its own Ejournal service on the same
database, with its own cache."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from application.config import Settings
from application.journal import Journal
from application.service import Ejournal
from domain.errors import StaleVersion, StudentNotInGroup
from domain.lessons import Lesson, LessonIndex
from domain.values import MarkValue
from tests.conftest import Clock, School, build_school


@pytest.fixture
def elsewhere(database_url: str, key_dir: Path, school: School) -> Iterator[Journal]:
    """The same institution's journal in another process."""
    service = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    yield service.journal(school.slug)
    service.close()


def stored(journal: Journal, lesson_id: UUID) -> Lesson:
    """The lesson replayed from the store, bypassing every cache."""
    lesson: Lesson = journal.store.repository.get(lesson_id, version=2**62)
    return lesson


def test_a_mark_recorded_in_another_process_is_read_at_once(
        school: School, elsewhere: Journal) -> None:
    lesson_id = school.lesson()
    assert school.journal.get(Lesson, lesson_id).marks == {}  # now cached here
    elsewhere.lessons.record_mark(school.teacher, lesson_id, school.students[0], MarkValue.FIVE)
    marks = school.journal.get(Lesson, lesson_id).marks
    assert [m.value for m in marks.values()] == [MarkValue.FIVE]


def test_an_aggregate_created_in_another_process_replaces_a_cached_absence(
        school: School, elsewhere: Journal) -> None:
    key = LessonIndex.week_key(school.group, date(2026, 10, 14))
    assert school.journal.find_index(key) is None  # the absence is now cached here
    lesson_id = elsewhere.lessons.conduct_lesson(school.teacher, school.assignment,
                                         date(2026, 10, 14), 1, "Логарифмы", None, "ordinary")
    index = school.journal.find_index(key)
    assert index is not None and lesson_id in index.lessons


def test_a_command_whose_reads_changed_meanwhile_runs_again_on_fresh_state(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    anna = school.students[0]
    lesson_id = school.lesson(day=date(2026, 10, 14))
    school.journal.get(Lesson, lesson_id)  # the group and the lesson are cached here
    # Check: while the mark command runs, another process transfers Anna out of the
    # group before the lesson's date; the command's roster was read before that.
    clock.interruptions.append(lambda: elsewhere.roster.transfer(
        school.admin, anna, school.other_group, school.order, date(2026, 10, 1)))
    with pytest.raises(StudentNotInGroup):
        school.journal.lessons.record_mark(school.teacher, lesson_id, anna, MarkValue.FIVE)
    assert stored(school.journal, lesson_id).marks == {}


def in_another_thread(action: Callable[[], object]) -> None:
    """Runs `action` as a concurrent request of the same process would: in its own
    thread, so in its own unit of work."""
    worker = threading.Thread(target=action)
    worker.start()
    worker.join()


def test_a_command_whose_reads_another_thread_changed_meanwhile_runs_again(
        school: School, clock: Clock) -> None:
    anna = school.students[0]
    lesson_id = school.lesson(day=date(2026, 10, 14))
    # Check: this time the transfer comes from the same process (so the ledger head this
    # process knows stays current, and the write is tried in one round trip).
    clock.interruptions.append(lambda: in_another_thread(lambda: school.journal.roster.transfer(
        school.admin, anna, school.other_group, school.order, date(2026, 10, 1))))
    with pytest.raises(StudentNotInGroup):
        school.journal.lessons.record_mark(school.teacher, lesson_id, anna, MarkValue.FIVE)
    assert stored(school.journal, lesson_id).marks == {}
    assert anna not in school.journal.get(Lesson, lesson_id).marks  # and no cache says so


def test_processes_taking_turns_keep_one_unbroken_chain(
        school: School, elsewhere: Journal, ejournal: Ejournal,
        key_dir: Path) -> None:
    lesson_id = school.lesson()
    for turn in range(6):
        writer = (school.journal, elsewhere)[turn % 2]
        writer.lessons.record_mark(school.teacher, lesson_id, school.students[turn % 3],
                           MarkValue.FOUR)
    report = ejournal.verify(school.slug, ledger.KeyRing.from_directory(key_dir))
    assert report.ok, report.failure
    assert report.count == len(school.journal.store.recorder.select_notifications(1, 10_000))
    assert len(stored(school.journal, lesson_id).marks) == 6


def test_a_command_whose_reads_keep_changing_gives_up_with_a_conflict(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    lesson_id = school.lesson()
    school.journal.get(Lesson, lesson_id)
    # Check: another process changes the group at every reading of the clock, so every
    # attempt of the command finds its roster changed when it saves.
    from application.unit_of_work import ATTEMPTS

    clock.interruptions.extend(
        (lambda n=n: elsewhere.setup.add_subgroup(school.admin, school.group, f"Подгруппа {n}"))
        for n in range(5 * ATTEMPTS))
    with pytest.raises(StaleVersion):
        school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                   MarkValue.FIVE)
    assert stored(school.journal, lesson_id).marks == {}


def test_a_change_elsewhere_of_what_a_command_does_not_read_costs_no_retry(
        school: School, elsewhere: Journal, clock: Clock) -> None:
    lesson_id = school.lesson()
    other = school.journal.lessons.conduct_lesson(school.teacher, school.assignment,
                                          date(2026, 10, 13), 1, "Степени", None, "ordinary")
    clock.interruptions.append(lambda: elsewhere.lessons.record_mark(
        school.teacher, other, school.students[1], MarkValue.THREE))
    school.journal.lessons.record_mark(school.teacher, lesson_id, school.students[0],
                                       MarkValue.FIVE)
    assert clock.interruptions == []
    assert len(stored(school.journal, lesson_id).marks) == 1
    assert len(stored(school.journal, other).marks) == 1


# Any interleaving of two processes' writes: each reads what the store holds. ------------
MARKS = st.sampled_from([MarkValue.TWO, MarkValue.THREE, MarkValue.FOUR, MarkValue.FIVE])
STEPS = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 2), MARKS,
                           st.booleans()), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None)
@given(steps=STEPS)
def test_two_processes_always_read_what_the_store_holds(
        steps: list[tuple[int, int, int, MarkValue, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ejournal.sqlite3'}"
        keys = Path(tmp) / "keys"
        ledger.generate_key(keys)
        services = [Ejournal(Settings(database_url=url, key_dir=keys), Clock())
                    for _ in range(2)]
        try:
            school = build_school(services[0])
            journals = [school.journal, services[1].journal(school.slug)]
            lessons = [school.lesson(number=n) for n in (1, 2)]
            for who, lesson_no, student_no, value, change in steps:
                j, lesson_id = journals[who], lessons[lesson_no]
                mine = [m for m in j.get(Lesson, lesson_id).marks.values()
                        if m.student_id == school.students[student_no] and not m.cancelled]
                if change and mine:
                    j.lessons.change_mark(school.teacher, lesson_id, mine[0].mark_id, value)
                else:
                    j.lessons.record_mark(school.teacher, lesson_id, school.students[student_no],
                                  value)
                for reader in journals:
                    for lid in lessons:
                        assert (reader.get(Lesson, lid).marks
                                == stored(reader, lid).marks)
            assert services[0].verify(school.slug, ledger.KeyRing.from_directory(keys)).ok
        finally:
            for service in services:
                service.close()
