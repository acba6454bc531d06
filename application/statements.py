"""Statements from the read models: authorise, bring the read models up to the journal's
verified state, fetch the rows, build the statement (`projections.statements`).

Who may: the administration every statement; a curator the progress and attendance
statements of their own group; teachers, students and guardians none of these
group-level documents (their own data is in the journal page and the diary)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from application.actors import Actor
from application.readmodels import ReadModels
from application.store import InstitutionStore
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.period_marks import check_period_key
from projections.statements import (
    AttendanceStatement,
    Header,
    LedgerState,
    MovementStatement,
    ProgressStatement,
    attendance,
    movement,
    progress,
)

MAX_RANGE_DAYS = 400


class Statements:
    def __init__(self, store: InstitutionStore, models: ReadModels) -> None:
        self.store, self.models = store, models

    # Access and common parts ------------------------------------------------------------
    def _group(self, actor: Actor, group_id: UUID) -> dict[str, str]:
        rows = self.models.query("SELECT * FROM {groups} WHERE group_id = ?", [str(group_id)])
        if not rows:
            raise NotFound("Группа не найдена.", id=str(group_id))
        group = rows[0]
        if actor.reads_everything():
            return group
        if actor.is_staff and group["curator_id"] == str(actor.person_id):
            return group
        raise Forbidden("Ведомости группы доступны администрации и куратору группы.")

    def _header(self, title: str, group: str | None, period: str) -> Header:
        self.models.catch_up()
        institution = self.models.query("SELECT name FROM {institution}")
        nid, position, head = self.models.ledger_state()
        # "As of" the last event the document reflects, not the wall clock: the same
        # journal state gives the same document, byte for byte.
        as_of = self.store.now_local()
        last = self.store.recorder.select_notifications(nid, 1) if nid else []
        if last:
            as_of = self.store.mapper.to_domain_event(last[0]).timestamp.astimezone(
                as_of.tzinfo)
        return Header(institution[0]["name"] if institution else self.store.slug, title,
                      group, period, as_of.strftime("%d.%m.%Y %H:%M"),
                      LedgerState(nid, position, head))

    def _names(self) -> dict[str, str]:
        return {r["student_id"]: r["full_name"]
                for r in self.models.query("SELECT student_id, full_name FROM {students}")}

    # Успеваемость -----------------------------------------------------------------------
    def progress(self, actor: Actor, group_id: UUID, period: str) -> ProgressStatement:
        key = check_period_key(period)
        if not (key.isdigit() or key == "year"):
            raise InvalidValue("Период: номер периода или year.", field="period")
        self.models.catch_up()
        group = self._group(actor, group_id)
        if key == "year":
            year = self.models.query("SELECT title, ends FROM {years} WHERE year_id = ?",
                                     [group["year_id"]])
            title, ends = f"{year[0]['title']} учебный год", year[0]["ends"]
        else:
            found = self.models.query("SELECT title, ends FROM {periods} WHERE year_id = ?"
                                      " AND number = ?", [group["year_id"], int(key)])
            if not found:
                raise NotFound("Такого периода в учебном году группы нет.", period=key)
            title, ends = found[0]["title"], found[0]["ends"]
        disciplines = {r["discipline_id"]: r["name"] for r in self.models.query(
            "SELECT d.discipline_id, d.name FROM {sheets} s JOIN {disciplines} d"
            " ON d.discipline_id = s.discipline_id WHERE s.group_id = ? AND s.period_key = ?",
            [str(group_id), key])}
        marks = self.models.query(
            "SELECT s.discipline_id, m.student_id, m.value FROM {sheets} s"
            " JOIN {period_marks} m ON m.sheet_id = s.sheet_id"
            " WHERE s.group_id = ? AND s.period_key = ?", [str(group_id), key])
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?", [str(group_id)])
        header = self._header("Сводная ведомость учёта успеваемости", group["name"], title)
        return progress(header, ends, roster, self._names(), disciplines, marks)

    # Посещаемость -----------------------------------------------------------------------
    def attendance(self, actor: Actor, group_id: UUID, first: date, last: date
                   ) -> AttendanceStatement:
        self._check_range(first, last)
        self.models.catch_up()
        group = self._group(actor, group_id)
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?", [str(group_id)])
        records = self.models.query(
            "SELECT a.student_id, l.day, a.status, a.minutes, a.reason FROM {lessons} l"
            " JOIN {attendance} a ON a.lesson_id = l.lesson_id"
            " WHERE l.group_id = ? AND l.day >= ? AND l.day <= ?",
            [str(group_id), first.isoformat(), last.isoformat()])
        header = self._header("Сводная ведомость учёта посещаемости", group["name"],
                              f"{first:%d.%m.%Y} – {last:%d.%m.%Y}")
        return attendance(header, first.isoformat(), last.isoformat(), roster, self._names(),
                          records)

    # Движение ---------------------------------------------------------------------------
    def movement(self, actor: Actor, first: date, last: date) -> MovementStatement:
        if not actor.reads_everything():
            raise Forbidden("Ведомость движения обучающихся доступна администрации.")
        self._check_range(first, last)
        self.models.catch_up()
        students = {r["student_id"]: r for r in self.models.query("SELECT * FROM {students}")}
        groups = {r["group_id"]: r["name"] for r in self.models.query("SELECT * FROM {groups}")}
        moves = self.models.query("SELECT * FROM {moves}")
        roster = self.models.query("SELECT * FROM {roster}")
        header = self._header("Сводная ведомость учёта движения обучающихся", None,
                              f"{first:%d.%m.%Y} – {last:%d.%m.%Y}")
        return movement(header, first.isoformat(), last.isoformat(), moves, students, groups,
                        roster)

    @staticmethod
    def _check_range(first: date, last: date) -> None:
        if last < first or (last - first).days > MAX_RANGE_DAYS:
            raise InvalidValue(f"Период ведомости — не более {MAX_RANGE_DAYS} дней, «с» не "
                               "позже «по».", field="to")
