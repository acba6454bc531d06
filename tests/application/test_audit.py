"""Every stored event says who acted, in which capacity, when (UTC instant and the
institution-local date); any sequence of valid commands leaves a chain that verifies."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from application.config import Settings
from application.journal import AttendanceEntry, MarkEntry
from application.service import Ejournal
from domain.errors import DomainError
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue
from tests.conftest import Clock, School, build_school


def test_every_stored_event_records_actor_capacity_instant_and_local_date(
        school: School) -> None:
    anna, boris, _ = school.students
    lesson = school.lesson()
    school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    school.journal.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT,
                                     None)
    school.journal.lessons.set_absence_reason(school.curator, lesson, boris,
                                      AbsenceReasonKind.UNEXCUSED, None)
    notifications = school.journal.store.recorder.select_notifications(start=1, limit=10_000)
    assert notifications
    for n in notifications:
        event = school.journal.store.mapper.to_domain_event(n)
        assert event.timestamp.utcoffset() is not None, type(event).__name__
        assert event.act.capacity and event.act.local_date, type(event).__name__
    capacities = {school.journal.store.mapper.to_domain_event(n).act.capacity
                  for n in notifications}
    assert {"system", "admin", "teacher", "curator"} <= capacities


commands = st.lists(st.tuples(
    st.sampled_from(["sheet", "mark", "change", "cancel", "absent", "reason", "transfer"]),
    st.integers(0, 2), st.integers(0, 20), st.sampled_from(list(MarkValue))),
    min_size=1, max_size=15)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(script=commands)
def test_any_sequence_of_valid_commands_leaves_a_verifying_chain(
        tmp_path: Path, key_dir: Path, script: list) -> None:  # type: ignore[type-arg]
    ej = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}",
                           key_dir=key_dir), Clock())
    try:
        s = build_school(ej)
        j = s.journal
        lessons, marks = [], []
        for verb, who, k, value in script:
            student = s.students[who]
            day = date(2026, 9, 1) + timedelta(days=k)
            try:
                if verb == "sheet":
                    lid, ids = j.lessons.submit_lesson(
                        s.teacher, s.assignment, day, 1 + k % 6, "Тема", None, "ordinary",
                        [AttendanceEntry(s.students[(who + 1) % 3], AttendanceStatus.LATE, 5)],
                        [MarkEntry(student, value)])
                    lessons.append(lid)
                    marks.extend((lid, m) for m in ids)
                elif verb == "mark" and lessons:
                    lid = lessons[k % len(lessons)]
                    marks.append((lid, j.lessons.record_mark(s.teacher, lid, student, value)))
                elif verb in ("change", "cancel") and marks:
                    lid, mid = marks[k % len(marks)]
                    if verb == "change":
                        j.lessons.change_mark(s.teacher, lid, mid, value)
                    else:
                        j.lessons.cancel_mark(s.teacher, lid, mid)
                elif verb == "absent" and lessons:
                    j.lessons.record_attendance(s.teacher, lessons[k % len(lessons)], student,
                                        AttendanceStatus.ABSENT, None)
                elif verb == "reason" and lessons:
                    j.lessons.set_absence_reason(s.curator, lessons[k % len(lessons)], student,
                                         AbsenceReasonKind.ORDER, "Приказ № 5")
                elif verb == "transfer":
                    j.roster.transfer(s.admin, student, s.other_group, s.order, day)
            except DomainError:
                pass  # a refused command writes nothing; the chain must still verify
        report = ej.verify(s.slug, ledger.KeyRing.from_directory(key_dir))
        assert report.ok, report.failure
        assert report.count == j.store.recorder.max_notification_id()
    finally:
        ej.close()
