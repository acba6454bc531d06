"""Statements from the read models: authorise, bring the read models up to the journal's
verified state, fetch the rows, build the statement (`projections.statements`).

Who may (issue 9, section 5): the administration every statement; a curator the
group-level documents of their own group; a teacher the control report, the forecast
and the debts of their own assignments; students and guardians none of the group-level
documents — only their own debts and forecast (and the diary)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

from application.access import STUDENT_NOT_FOUND
from application.actors import Actor
from application.readmodels import ReadModels
from application.store import InstitutionStore
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.people import Student
from domain.period_marks import DEBT, check_period_key
from domain.policy import DEFAULT_RATES
from projections.statements import (
    AttendanceByMonthStatement,
    AttendanceStatement,
    ControlStatement,
    CuratorPreliminaryStatement,
    DebtStatement,
    ForecastStatement,
    GroupResultsStatement,
    Header,
    LedgerState,
    MovementStatement,
    ProgressStatement,
    YearSnapshotStatement,
    attendance,
    attendance_by_month,
    control,
    curator_preliminary,
    debts,
    forecast,
    group_results,
    movement,
    progress,
    year_snapshot,
)

MAX_RANGE_DAYS = 400


class Statements:
    def __init__(self, store: InstitutionStore, models: ReadModels) -> None:
        self.store, self.models = store, models

    # Access and common parts ------------------------------------------------------------
    def _group(self, actor: Actor, group_id: UUID) -> dict[str, str]:
        if not actor.is_staff:  # before the look-up: no oracle of which groups exist
            raise Forbidden("Ведомости группы доступны администрации и куратору группы.")
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

    def _policy(self) -> dict[str, Any]:
        """The adopted policy's weights, rounding and rates (the defaults until one is
        adopted, and for policies adopted before the rates existed)."""
        rows = self.models.query("SELECT weights, rounding, rates FROM {policy}")
        if not rows:
            return {"weights": None, "rounding": "half_up", "rates": dict(DEFAULT_RATES)}
        return {"weights": json.loads(rows[0]["weights"]), "rounding": rows[0]["rounding"],
                "rates": json.loads(rows[0]["rates"] or "null") or dict(DEFAULT_RATES)}

    def _teaches(self, actor: Actor, group_id: str) -> set[str]:
        """The disciplines the actor teaches in the group (their assignments)."""
        if not actor.is_staff:
            return set()
        return {r["discipline_id"] for r in self.models.query(
            "SELECT discipline_id FROM {assignments} WHERE group_id = ? AND teacher_id = ?",
            [group_id, str(actor.person_id)])}

    def _scope(self, actor: Actor, group_id: UUID) -> tuple[dict[str, str], set[str] | None]:
        """The group and the disciplines the actor may see in it (None: all): the
        administration and the curator all, a teacher their own assignments'. Students,
        guardians and auditors have no group-level document: refused before the look-up,
        the same whether the group exists or not."""
        if not actor.is_staff:
            raise Forbidden("Документ доступен администрации, куратору группы и учителям своих "
                            "дисциплин в группе.")
        rows = self.models.query("SELECT * FROM {groups} WHERE group_id = ?", [str(group_id)])
        if not rows:
            raise NotFound("Группа не найдена.", id=str(group_id))
        group = rows[0]
        if actor.reads_everything() or (actor.is_staff
                                        and group["curator_id"] == str(actor.person_id)):
            return group, None
        own = self._teaches(actor, group["group_id"])
        if own:
            return group, own
        raise Forbidden("Документ доступен администрации, куратору группы и учителям своих "
                        "дисциплин в группе.")

    def _student(self, actor: Actor, student_id: UUID) -> str | None:
        """The student's current group, if the actor may read the student's own
        documents: the administration, the student, their guardians, the curator of
        their group; to anyone else the student does not exist."""
        student = self.store.get(Student, student_id)
        group = str(student.group_id) if student.group_id else None
        if (actor.reads_everything()
                or (actor.kind == "student" and actor.person_id == student.id)
                or (actor.kind == "guardian" and actor.person_id in student.guardian_ids)):
            return group
        if actor.is_staff and group is not None and self.models.query(
                "SELECT 1 AS x FROM {groups} WHERE group_id = ? AND curator_id = ?",
                [group, str(actor.person_id)]):
            return group
        raise NotFound(STUDENT_NOT_FOUND, id=str(student_id))

    def _student_group(self, actor: Actor, student_id: UUID, group_id: UUID | None
                       ) -> dict[str, str] | None:
        """The group of a student's own document, once the actor may read the student's
        documents (`_student`): `group_id` if the student is or was in it (the roster),
        otherwise — no group_id — the current group (None if the student is in none).
        A group the student never was in, or one that does not exist, is the same 404
        for every role, naming neither: the pair (student, group) names nothing."""
        current = self._student(actor, student_id)
        wanted = str(group_id) if group_id is not None else current
        if wanted is None:
            return None
        member = wanted == current or self.models.query(
            "SELECT 1 AS x FROM {roster} WHERE group_id = ? AND student_id = ?",
            [wanted, str(student_id)])
        rows = self.models.query("SELECT * FROM {groups} WHERE group_id = ?",
                                 [wanted]) if member else []
        if not rows:
            raise NotFound("Обучающийся в этой группе не числится.", id=str(student_id))
        return rows[0]

    def _period(self, year_id: str, key: str) -> dict[str, Any]:
        if key == "year":
            year = self.models.query("SELECT title, starts, ends FROM {years}"
                                     " WHERE year_id = ?", [year_id])
            if not year:
                raise NotFound("Учебный год группы не найден.", id=year_id)
            return {"title": f"{year[0]['title']} учебный год", "starts": year[0]["starts"],
                    "ends": year[0]["ends"]}
        found = self.models.query("SELECT title, starts, ends FROM {periods} WHERE year_id = ?"
                                  " AND number = ?", [year_id, int(key)])
        if not found:
            raise NotFound("Такого периода в учебном году группы нет.", period=key)
        return found[0]

    @staticmethod
    def _number(period: str) -> str:
        key = check_period_key(period)
        if not key.isdigit():
            raise InvalidValue("Период: номер периода.", field="period")
        return key

    def _as_of(self, header: Header) -> str:
        """The institution-local date of the journal state's last event (its act's
        date): what "today" means for a document of that state."""
        nid = header.ledger.notification_id
        last = self.store.recorder.select_notifications(nid, 1) if nid else []
        act = getattr(self.store.mapper.to_domain_event(last[0]), "act", None) if last \
            else None
        if act is not None:
            return act.local_date.isoformat()
        return datetime.strptime(header.generated_at, "%d.%m.%Y %H:%M").date().isoformat()

    def period_marks_of(self, student_id: UUID) -> list[dict[str, str]]:
        """A student's period and year marks (discipline, period_key, value) — for the
        diary, whose reader `Reads.diary_sources` has already authorised."""
        self.models.catch_up()
        return self.models.query(
            "SELECT d.name AS discipline, s.period_key, m.value FROM {period_marks} m"
            " JOIN {sheets} s ON s.sheet_id = m.sheet_id"
            " JOIN {disciplines} d ON d.discipline_id = s.discipline_id"
            " WHERE m.student_id = ?", [str(student_id)])

    # Успеваемость -----------------------------------------------------------------------
    def progress(self, actor: Actor, group_id: UUID, period: str) -> ProgressStatement:
        key = check_period_key(period)
        if not (key.isdigit() or key == "year"):
            raise InvalidValue("Период: номер периода или year.", field="period")
        self.models.catch_up()
        group = self._group(actor, group_id)
        found = self._period(group["year_id"], key)
        title, ends = found["title"], found["ends"]
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
        return progress(header, ends, roster, self._names(), disciplines, marks,
                        self._policy()["rates"])

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

    # Итоги успеваемости группы за период ----------------------------------------------------
    def group_results(self, actor: Actor, group_id: UUID, period: str
                      ) -> GroupResultsStatement:
        key = check_period_key(period)
        if not (key.isdigit() or key == "year"):
            raise InvalidValue("Период: номер периода или year.", field="period")
        self.models.catch_up()
        group = self._group(actor, group_id)
        found = self._period(group["year_id"], key)
        marks = self.models.query(
            "SELECT m.student_id, m.value FROM {sheets} s"
            " JOIN {period_marks} m ON m.sheet_id = s.sheet_id"
            " WHERE s.group_id = ? AND s.period_key = ?", [str(group_id), key])
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?", [str(group_id)])
        header = self._header("Итоги успеваемости группы за период", group["name"],
                              found["title"])
        return group_results(header, found["ends"], roster, self._names(), marks)

    # Предварительный отчёт куратора ------------------------------------------------------------
    def _current(self, group_id: str, number: int, day: str,
                 disciplines: set[str] | None) -> dict[str, Any]:
        """The group's lessons, current marks and absences in the period up to `day`."""
        where = "l.group_id = ? AND l.period_number = ? AND l.day <= ?"
        params: list[Any] = [group_id, number, day]
        lessons = [r for r in self.models.query(
            "SELECT l.lesson_id, l.discipline_id, l.subgroup_id, l.day FROM {lessons} l"
            f" WHERE {where}", params)
            if disciplines is None or r["discipline_id"] in disciplines]
        marks = [r for r in self.models.query(
            "SELECT l.lesson_id, l.discipline_id, m.student_id, m.value, l.work_kind"
            " FROM {lessons} l JOIN {marks} m ON m.lesson_id = l.lesson_id"
            f" WHERE {where} AND m.cancelled = 0", params)
            if disciplines is None or r["discipline_id"] in disciplines]
        absences = [r for r in self.models.query(
            "SELECT l.lesson_id, l.discipline_id, a.student_id, a.status, a.reason"
            " FROM {lessons} l JOIN {attendance} a ON a.lesson_id = l.lesson_id"
            f" WHERE {where}", params)
            if disciplines is None or r["discipline_id"] in disciplines]
        names = {r["discipline_id"]: r["name"]
                 for r in self.models.query("SELECT discipline_id, name FROM {disciplines}")}
        taught = {r["discipline_id"] for r in lessons} | {
            r["discipline_id"] for r in self.models.query(
                "SELECT discipline_id FROM {assignments} WHERE group_id = ?", [group_id])
            if disciplines is None or r["discipline_id"] in disciplines}
        return {"lessons": lessons, "marks": marks, "absences": absences,
                "disciplines": {d: names.get(d, d) for d in taught}}

    def curator_preliminary(self, actor: Actor, group_id: UUID, period: str
                            ) -> CuratorPreliminaryStatement:
        key = self._number(period)
        self.models.catch_up()
        group = self._group(actor, group_id)
        found = self._period(group["year_id"], key)
        header = self._header("Предварительный отчёт куратора об успеваемости и "
                              "посещаемости", group["name"], found["title"])
        day = min(found["ends"], self._as_of(header))
        current = self._current(group["group_id"], int(key), day, None)
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?", [str(group_id)])
        policy = self._policy()
        return curator_preliminary(header, day, roster, self._names(),
                                   current["disciplines"], current["marks"],
                                   current["absences"], policy["weights"], policy["rounding"])

    # Прогноз ------------------------------------------------------------------------------
    def forecast(self, actor: Actor, period: str, group_id: UUID | None = None,
                 student_id: UUID | None = None) -> ForecastStatement:
        """A group's forecast (administration, curator; a teacher for own disciplines)
        or one student's (also the student and their guardians)."""
        key = self._number(period)
        self.models.catch_up()
        only = None
        if student_id is not None:
            own = self._student_group(actor, student_id, group_id)
            if own is None:
                raise NotFound("Обучающийся не состоит в группе.", id=str(student_id))
            group, disciplines, only = own, None, str(student_id)
        elif group_id is not None:
            group, disciplines = self._scope(actor, group_id)
        else:
            raise InvalidValue("Укажите группу или обучающегося.", field="group_id")
        found = self._period(group["year_id"], key)
        header = self._header("Прогноз успеваемости", group["name"], found["title"])
        day = min(found["ends"], self._as_of(header))
        current = self._current(group["group_id"], int(key), day, disciplines)
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?",
                                   [group["group_id"]])
        subgroups = self.models.query("SELECT * FROM {subgroup_members} WHERE group_id = ?",
                                      [group["group_id"]])
        policy = self._policy()
        return forecast(header, day, roster, subgroups, self._names(), current["disciplines"],
                        current["lessons"], current["marks"], current["absences"],
                        policy["weights"], policy["rounding"], only)

    # Посещаемость по месяцам ----------------------------------------------------------------
    def attendance_by_month(self, actor: Actor, group_id: UUID, first: date, last: date
                            ) -> AttendanceByMonthStatement:
        self._check_range(first, last)
        self.models.catch_up()
        group = self._group(actor, group_id)
        roster = self.models.query("SELECT * FROM {roster} WHERE group_id = ?", [str(group_id)])
        records = self.models.query(
            "SELECT a.student_id, l.day, a.status, a.reason FROM {lessons} l"
            " JOIN {attendance} a ON a.lesson_id = l.lesson_id"
            " WHERE l.group_id = ? AND l.day >= ? AND l.day <= ? AND a.status = 'absent'",
            [str(group_id), first.isoformat(), last.isoformat()])
        header = self._header("Отчёт о посещаемости группы по месяцам", group["name"],
                              f"{first:%d.%m.%Y} – {last:%d.%m.%Y}")
        return attendance_by_month(header, first.isoformat(), last.isoformat(), roster,
                                   self._names(), records)

    # Академическая задолженность -------------------------------------------------------------
    def debts(self, actor: Actor, group_id: UUID | None = None,
              student_id: UUID | None = None) -> DebtStatement:
        """The institution's (administration), a group's (curator; a teacher: own
        disciplines) or one student's (also the student and their guardians)."""
        self.models.catch_up()
        where, params, disciplines, title_group = [], [], None, None
        if student_id is not None:
            self._student_group(actor, student_id, group_id)  # group_id: one of theirs
            where.append("m.student_id = ?")
            params.append(str(student_id))
        if group_id is not None:
            if student_id is None:
                group, disciplines = self._scope(actor, group_id)
                title_group = group["name"]
            where.append("s.group_id = ?")
            params.append(str(group_id))
        if student_id is None and group_id is None and not actor.reads_everything():
            raise Forbidden("Задолженность по организации доступна администрации.")
        debt = sorted(v.value for v in DEBT)
        where.append(f"m.value IN ({', '.join('?' * len(debt))})")
        marks = [r for r in self.models.query(
            "SELECT s.group_id, m.student_id, s.discipline_id, s.period_key, m.value"
            " FROM {sheets} s JOIN {period_marks} m ON m.sheet_id = s.sheet_id"
            f" WHERE {' AND '.join(where)}", [*params, *debt])
            if disciplines is None or r["discipline_id"] in disciplines]
        groups = {r["group_id"]: r for r in self.models.query("SELECT * FROM {groups}")}
        header = self._header("Академическая задолженность", title_group,
                              "по состоянию журнала")
        return debts(header, marks, self._names(),
                     {g: r["name"] for g, r in groups.items()},
                     {r["discipline_id"]: r["name"] for r in self.models.query(
                         "SELECT discipline_id, name FROM {disciplines}")},
                     {(r["year_id"], int(r["number"])): r["title"]
                      for r in self.models.query("SELECT * FROM {periods}")},
                     {g: r["year_id"] for g, r in groups.items()})

    # Контроль ведения журнала ---------------------------------------------------------------
    def control(self, actor: Actor, first: date, last: date) -> ControlStatement:
        """The administration: every teacher; a teacher: their own assignments (without
        the institution-wide activity and applications)."""
        if not actor.reads_everything() and not (actor.is_staff and actor.roles):
            raise Forbidden("Отчёты о ведении журнала доступны администрации и учителям.")
        mine = None if actor.reads_everything() else str(actor.person_id)
        self._check_range(first, last)
        self.models.catch_up()
        span = [first.isoformat(), last.isoformat()]
        teacher = " AND l.teacher_id = ?" if mine else ""
        own = [mine] if mine else []
        assignments = self.models.query(
            "SELECT * FROM {assignments} WHERE starts <= ?"
            + (" AND teacher_id = ?" if mine else ""), [span[1], *own])
        if mine and not assignments:
            raise Forbidden("Отчёт доступен учителю по его нагрузке.")
        ids = {a["assignment_id"] for a in assignments}
        lesson_stats = {r["assignment_id"]: r for r in self.models.query(
            "SELECT l.assignment_id, COUNT(*) AS lessons, SUM(l.late) AS late,"
            " SUM(CASE WHEN l.topic IS NULL OR l.topic = '' THEN 1 ELSE 0 END) AS no_topic,"
            " SUM(CASE WHEN l.homework IS NULL OR l.homework = '' THEN 1 ELSE 0 END)"
            " AS no_homework FROM {lessons} l WHERE l.day >= ? AND l.day <= ?"
            " GROUP BY l.assignment_id", span) if r["assignment_id"] in ids}
        mark_stats = {r["assignment_id"]: r for r in self.models.query(
            "SELECT l.assignment_id, COUNT(*) AS marks, SUM(m.late) AS late FROM {lessons} l"
            " JOIN {marks} m ON m.lesson_id = l.lesson_id WHERE m.cancelled = 0"
            " AND l.day >= ? AND l.day <= ? GROUP BY l.assignment_id", span)
            if r["assignment_id"] in ids}
        marked = [(r["assignment_id"], r["student_id"]) for r in self.models.query(
            "SELECT DISTINCT l.assignment_id, m.student_id FROM {lessons} l"
            " JOIN {marks} m ON m.lesson_id = l.lesson_id WHERE m.cancelled = 0"
            " AND l.day >= ? AND l.day <= ?", span) if r["assignment_id"] in ids]
        late_entries = self.models.query(
            "SELECT l.lesson_id, l.day, l.number, l.teacher_id, l.group_id, l.discipline_id,"
            " l.late, COALESCE(MAX(m.entered_on), l.entered_on) AS entered_on,"
            " COUNT(m.mark_id) AS late_marks FROM {lessons} l LEFT JOIN {marks} m"
            " ON m.lesson_id = l.lesson_id AND m.late = 1 AND m.cancelled = 0"
            f" WHERE l.day >= ? AND l.day <= ?{teacher}"
            " GROUP BY l.lesson_id, l.day, l.number, l.teacher_id, l.group_id,"
            " l.discipline_id, l.late, l.entered_on"
            " HAVING l.late = 1 OR COUNT(m.mark_id) > 0", [*span, *own])
        years = [r["year_id"] for r in self.models.query(
            "SELECT year_id FROM {years} WHERE starts <= ? AND ends >= ?",
            [span[1], span[0]])]
        given = {(r["group_id"], r["discipline_id"]): int(r["given"]) for r in self.models.query(
            "SELECT l.group_id, l.discipline_id, COUNT(*) AS given FROM {lessons} l"
            " JOIN {groups} g ON g.group_id = l.group_id"
            f" WHERE l.day <= ? AND g.year_id IN ({', '.join('?' * len(years)) or 'NULL'})"
            " GROUP BY l.group_id, l.discipline_id", [span[1], *years])}
        planned = {r["discipline_id"]: r["planned_hours"] for r in self.models.query(
            "SELECT discipline_id, planned_hours FROM {disciplines}")}
        year_groups = {r["group_id"] for r in self.models.query("SELECT * FROM {groups}")
                       if r["year_id"] in years}
        pairs = {(a["group_id"], a["discipline_id"]) for a in assignments
                 if a["group_id"] in year_groups}
        if not mine:
            pairs |= set(given)
        hours = [{"group_id": g, "discipline_id": d, "planned_hours": planned.get(d),
                  "given": given.get((g, d), 0)} for g, d in pairs]
        activity = [] if mine else [r for r in self.models.query(
            "SELECT DISTINCT person_id, day, capacity FROM {activity}"
            " WHERE day >= ? AND day <= ?", span) if r["person_id"] != str(UUID(int=0))]
        staff = self.models.query("SELECT * FROM {staff}")
        teachers = set() if mine else {r["staff_id"] for r in staff
                                        if "teacher" in (r["roles"] or "").split(",")}
        corrections = [] if mine else self.models.query(
            "SELECT * FROM {corrections} WHERE filed_on <= ?", [span[1]])
        header = self._header("Контроль ведения электронного журнала", None,
                              f"{first:%d.%m.%Y} – {last:%d.%m.%Y}")
        today = self._as_of(header)  # overdue as of the journal state, not the wall clock
        statement = control(
            header, span[0], span[1], today,
            assignments, lesson_stats, mark_stats, marked,
            self.models.query("SELECT * FROM {roster}"),
            self.models.query("SELECT * FROM {subgroup_members}"),
            {r["staff_id"]: r["full_name"] for r in staff},
            {r["group_id"]: r["name"] for r in self.models.query("SELECT * FROM {groups}")},
            {d: r for d, r in ((r["discipline_id"], r["name"]) for r in self.models.query(
                "SELECT discipline_id, name FROM {disciplines}"))},
            late_entries, hours, activity, teachers, corrections)
        if mine:  # a teacher's own report: no institution-wide sections
            statement.sections = statement.sections[:2]
        return statement

    # Итоговое состояние журналов года ---------------------------------------------------------
    def year_snapshot(self, actor: Actor, year_id: UUID | None = None
                      ) -> YearSnapshotStatement:
        if not actor.reads_everything():
            raise Forbidden("Итоговое состояние журналов доступно администрации.")
        self.models.catch_up()
        years = self.models.query("SELECT * FROM {years} ORDER BY starts DESC")
        year = next((y for y in years if year_id is None or y["year_id"] == str(year_id)),
                    None)
        if year is None:
            raise NotFound("Учебный год не найден.", id=str(year_id))
        y = [year["year_id"]]
        periods = {int(r["number"]): r["title"] for r in self.models.query(
            "SELECT number, title FROM {periods} WHERE year_id = ?", y)}

        def per_page(sql: str) -> dict[tuple[str, str], int]:
            return {(r["group_id"], r["discipline_id"]): int(r["n"])
                    for r in self.models.query(sql, y)}

        on = " JOIN {groups} g ON g.group_id = l.group_id WHERE g.year_id = ?"
        lessons = per_page("SELECT l.group_id, l.discipline_id, COUNT(*) AS n FROM {lessons} l"
                           + on + " GROUP BY l.group_id, l.discipline_id")
        marks = per_page("SELECT l.group_id, l.discipline_id, COUNT(*) AS n FROM {lessons} l"
                         " JOIN {marks} m ON m.lesson_id = l.lesson_id" + on
                         + " AND m.cancelled = 0 GROUP BY l.group_id, l.discipline_id")
        absences = per_page("SELECT l.group_id, l.discipline_id, COUNT(*) AS n"
                            " FROM {lessons} l JOIN {attendance} a ON a.lesson_id = l.lesson_id"
                            + on + " AND a.status = 'absent'"
                            " GROUP BY l.group_id, l.discipline_id")
        groups = {r["group_id"]: r["name"] for r in self.models.query(
            "SELECT * FROM {groups} WHERE year_id = ?", y)}
        disciplines = {r["discipline_id"]: r for r in self.models.query(
            "SELECT * FROM {disciplines}")}
        teachers: dict[tuple[str, str], set[str]] = {}
        for a in self.models.query("SELECT * FROM {assignments}"):
            if a["group_id"] in groups:
                teachers.setdefault((a["group_id"], a["discipline_id"]), set()).add(
                    a["teacher_id"])
        sheets = {(r["group_id"], r["discipline_id"]) for r in self.models.query(
            "SELECT DISTINCT s.group_id, s.discipline_id FROM {sheets} s"
            " JOIN {groups} g ON g.group_id = s.group_id WHERE g.year_id = ?", y)}
        pages = [{"group": groups[g], "discipline": disciplines[d]["name"],
                  "teachers": ",".join(sorted(teachers.get((g, d), ()))),
                  "planned_hours": disciplines[d]["planned_hours"],
                  "lessons": lessons.get((g, d), 0), "marks": marks.get((g, d), 0),
                  "absences": absences.get((g, d), 0)}
                 for g, d in {*lessons, *teachers, *sheets} if g in groups and d in disciplines]
        header = self._header("Итоговое состояние журналов учебного года", None,
                              f"{year['title']} учебный год")
        rows = self.models.query(
            "SELECT g.name AS group_name, d.name AS discipline, st.full_name AS student,"
            " m.student_id, s.period_key, m.value FROM {sheets} s"
            " JOIN {period_marks} m ON m.sheet_id = s.sheet_id"
            " JOIN {groups} g ON g.group_id = s.group_id"
            " JOIN {disciplines} d ON d.discipline_id = s.discipline_id"
            " LEFT JOIN {students} st ON st.student_id = m.student_id"
            " WHERE g.year_id = ? ORDER BY g.name, d.name, st.full_name, m.student_id", y)
        staff = {r["staff_id"]: r["full_name"] for r in self.models.query(
            "SELECT staff_id, full_name FROM {staff}")}
        return year_snapshot(header, periods, _renamed(rows), pages, staff)

    @staticmethod
    def _check_range(first: date, last: date) -> None:
        if last < first or (last - first).days > MAX_RANGE_DAYS:
            raise InvalidValue(f"Период ведомости — не более {MAX_RANGE_DAYS} дней, «с» не "
                               "позже «по».", field="to")


def _renamed(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in rows:
        yield {**r, "group": r["group_name"], "student": r["student"] or r["student_id"]}

