"""Read models follow the verified log exactly once (ADR 0010): incremental equals rebuilt,
a runner that dies mid-write resumes with the same result, an event delivered twice
changes nothing, a poison event stops the projection loudly. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from application import readmodels
from application.journal import AttendanceEntry, MarkEntry
from application.readmodels import ReadModels
from application.service import Ejournal
from domain.corrections import Target
from domain.values import AbsenceReasonKind, AttendanceStatus, MarkValue, OrderRef
from projections.tables import TABLES, changes_for
from tests.conftest import School, build_school

ORDER = OrderRef("7-к", date(2026, 10, 1))


def snapshot(models: ReadModels) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table."""
    out = {}
    for name, (columns, _) in TABLES.items():
        rows = models.query(f"SELECT {', '.join(columns)} FROM {{{name[3:]}}}")
        out[name] = sorted(tuple(str(r[c]) for c in columns) for r in rows)
    return out


def rebuilt(models: ReadModels) -> dict[str, list[tuple[Any, ...]]]:
    models.rebuild()
    return snapshot(models)


def busy(school: School) -> None:
    """Marks, a change, a cancellation, absences with and without reasons, a transfer."""
    j, anna, boris, vadim = school.journal, *school.students
    lesson = school.lesson(day=date(2026, 10, 5))
    j.lessons.submit_lesson(school.teacher, school.assignment, date(2026, 10, 6), 1, "Тема",
                            None, "ordinary", [AttendanceEntry(boris, AttendanceStatus.ABSENT)],
                            [MarkEntry(anna, MarkValue.FIVE)])
    mark = j.lessons.record_mark(school.teacher, lesson, anna, MarkValue.THREE)
    j.lessons.change_mark(school.teacher, lesson, mark, MarkValue.FOUR)
    other = j.lessons.record_mark(school.teacher, lesson, vadim, MarkValue.TWO)
    j.lessons.cancel_mark(school.teacher, lesson, other)
    j.lessons.record_attendance(school.teacher, lesson, boris, AttendanceStatus.ABSENT, None)
    j.lessons.set_absence_reason(school.curator, lesson, boris, AbsenceReasonKind.ILLNESS,
                                 "Справка № 1")
    j.roster.transfer(school.admin, vadim, school.other_group, ORDER, date(2026, 10, 10))


def test_the_read_models_follow_every_kind_of_change(school: School) -> None:
    busy(school)
    models = school.journal.read_models
    assert models.catch_up() > 0
    marks = models.query("SELECT student_id, value, cancelled FROM {marks}")
    assert sorted((m["value"], int(m["cancelled"])) for m in marks) == [
        ("2", 1), ("4", 0), ("5", 0)]
    absences = models.query("SELECT status, reason FROM {attendance}")
    assert sorted((a["status"], a["reason"] or "") for a in absences) == [
        ("absent", ""), ("absent", "illness")]
    vadim = str(school.students[2])
    spans = models.query("SELECT group_id, starts, ends FROM {roster} WHERE student_id = ?",
                         [vadim])
    assert sorted((s["group_id"], s["ends"] or "") for s in spans) == sorted([
        (str(school.group), "2026-10-10"), (str(school.other_group), "")])


def test_incremental_equals_rebuilt_from_zero(school: School) -> None:
    models = school.journal.read_models
    models.catch_up()
    busy(school)
    models.catch_up()
    incremental = snapshot(models)
    assert rebuilt(models) == incremental


def test_a_runner_that_dies_mid_write_resumes_with_the_same_result(
        school: School, monkeypatch: pytest.MonkeyPatch) -> None:
    models = school.journal.read_models
    models.catch_up()
    busy(school)
    before = (models.position(), snapshot(models))
    original = readmodels.ReadModels._apply

    def crash(self: ReadModels, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("killed")

    monkeypatch.setattr(readmodels.ReadModels, "_apply", crash)
    with pytest.raises(ConnectionError):
        models.catch_up()
    assert (models.position(), snapshot(models)) == before  # nothing half-applied
    monkeypatch.setattr(readmodels.ReadModels, "_apply", original)
    models.catch_up()
    assert snapshot(models) == rebuilt(models)


def test_an_event_delivered_twice_changes_nothing(school: School) -> None:
    busy(school)
    models = school.journal.read_models
    models.catch_up()
    once = snapshot(models)
    store = school.journal.store
    changes = [c for n in store.recorder.select_notifications(1, 10_000)
               for c in changes_for(store.mapper.to_domain_event(n))]
    position = models.position()
    models._apply(changes, position, position, "rm_")  # every event again
    assert snapshot(models) == once


def test_a_poison_event_stops_the_projection_loudly(
        school: School, monkeypatch: pytest.MonkeyPatch) -> None:
    models = school.journal.read_models
    models.catch_up()
    school.lesson()

    def poison(event: Any) -> list[Any]:
        raise ValueError("cannot apply")

    monkeypatch.setattr(readmodels, "changes_for", poison)
    runner = readmodels.ProjectionRunner(models, interval=0.01)
    runner.start()
    runner.join(10)
    assert not runner.is_alive()
    status = models.status()
    assert status.error is not None and "cannot apply" in status.error
    assert status.position < status.head


def test_a_runner_overtaken_by_another_process_writes_nothing(
        database_url: str, key_dir: Any, school: School) -> None:
    from application.config import Settings
    from tests.conftest import Clock

    mine = school.journal.read_models
    mine.catch_up()
    before = mine.position()
    busy(school)
    other = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        theirs = other.journal(school.slug).read_models
        theirs.catch_up()  # the other process's runner applies the new events first
        after = theirs.position()
        assert after > before
        with pytest.raises(readmodels._Overtaken):
            mine._apply([], before, after, "rm_")  # this runner's stale page
        assert mine.position() == after
        assert mine.catch_up() == 0
    finally:
        other.close()
    assert snapshot(mine) == rebuilt(mine)


# Any sequence of commands: the incrementally built model equals the one rebuilt. --------
STEPS = st.lists(st.tuples(st.sampled_from(["mark", "change", "absent", "reason", "cancel",
                                            "period", "policy", "file", "decide",
                                            "subgroup"]),
                           st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=10)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=STEPS)
@example(steps=[("mark", 0, 0), ("file", 0, 0), ("decide", 1, 0), ("period", 0, 1),
                ("policy", 1, 0), ("subgroup", 0, 2), ("file", 0, 0)])
def test_any_command_sequence_builds_what_a_rebuild_builds(ejournal: Ejournal,
                                                           steps: list[Any]) -> None:
    school = build_school(ejournal)
    j, models = school.journal, school.journal.read_models
    lessons = [school.lesson(day=date(2026, 10, 12 + k)) for k in range(3)]
    marks: list[tuple[Any, Any]] = []
    applications: list[Any] = []
    for verb, k, who in steps:
        lesson, student = lessons[k], school.students[who]
        try:
            if verb == "mark":
                marks.append((lesson, j.lessons.record_mark(school.teacher, lesson, student,
                                                            MarkValue.FOUR)))
            elif verb == "change" and marks:
                j.lessons.change_mark(school.teacher, *marks[-1], MarkValue.FIVE)
            elif verb == "cancel" and marks:
                j.lessons.cancel_mark(school.teacher, *marks.pop())
            elif verb == "absent":
                j.lessons.record_attendance(school.teacher, lesson, student,
                                            AttendanceStatus.ABSENT, None)
            elif verb == "reason":
                j.lessons.set_absence_reason(school.curator, lesson, student,
                                             AbsenceReasonKind.UNEXCUSED, None)
            elif verb == "period":
                j.period_marks.set_period_mark(school.teacher, school.group, school.math,
                                               str(k % 2 + 1), student, MarkValue.TWO, None)
            elif verb == "policy":
                j.regulation.adopt_policy(school.director, None, None, {"control": k + 1},
                                          "half_up", None, ORDER,
                                          {"exempt": ["excluded", "success", "failure"][k]})
            elif verb == "file" and marks:
                applications.append(j.corrections.file_correction(
                    school.teacher, Target.MARK, *marks[-1], "5", f"З-{len(applications)}",
                    date(2026, 10, 15), "Ошибка", "Заявление"))
            elif verb == "decide" and applications:
                j.corrections.decide_correction(school.director, applications.pop(0),
                                                bool(k % 2), "Резолюция")
            elif verb == "subgroup":
                subgroup = j.setup.add_subgroup(school.admin, school.group, f"П-{k}-{who}")
                j.roster.place_in_subgroup(school.admin, school.group, subgroup, student,
                                           ORDER, date(2026, 10, 1))
        except Exception as error:  # a rule refused the command: nothing was written
            assert type(error).__module__.startswith("domain"), error
        models.catch_up()
    assert snapshot(models) == rebuilt(models)
    if steps[:3] == [("mark", 0, 0), ("file", 0, 0), ("decide", 1, 0)]:  # the example
        for table in ("corrections", "period_marks", "policy", "subgroup_members",
                      "activity"):
            assert models.query(f"SELECT * FROM {{{table}}}"), table


def test_closing_and_reopening_a_period_are_followed(school: School) -> None:
    j, models = school.journal, school.journal.read_models
    j.regulation.close_period(school.deputy, school.year_id, 1, school.group, ORDER,
                              "Конец четверти перенесён приказом")
    models.catch_up()
    rows = models.query("SELECT group_id, closed, reason FROM {closures}")
    assert [(r["group_id"], int(r["closed"])) for r in rows] == [(str(school.group), 1)]
    j.regulation.reopen_period(school.director, school.year_id, 1, school.group, ORDER,
                               "Исправление ошибки")
    models.catch_up()
    rows = models.query("SELECT closed, reason FROM {closures}")
    assert [(int(r["closed"]), r["reason"]) for r in rows] == [(0, "Исправление ошибки")]
    assert snapshot(models) == rebuilt(models)


def test_a_runner_under_the_integrity_alarm_says_so_once_and_pauses(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import threading
    from types import SimpleNamespace

    import ledger
    from application.integrity import IntegrityAlarm

    calls = threading.Semaphore(0)

    def catch_up() -> None:
        calls.release()
        raise IntegrityAlarm("tamper", ledger.Failure(3, ledger.FailureKind.CHANGED, "x"))

    models = SimpleNamespace(store=SimpleNamespace(slug="tamper", committed=[]),
                             catch_up=catch_up, error=None)
    monkeypatch.setattr(readmodels, "ALARM_PAUSE", 0.01)
    runner = readmodels.ProjectionRunner(models, interval=0.01)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, "ejournal.projections"):
        runner.start()
        for _ in range(5):  # it keeps checking, paused between checks
            assert calls.acquire(timeout=5)
        runner.stop()
        runner.join(5)
    said = [r for r in caplog.records if r.name == "ejournal.projections"]
    assert len(said) == 1 and said[0].exc_info is None
    assert "paused" in said[0].getMessage()
