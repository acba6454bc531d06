"""Every endpoint × every role, object level included: deny by default."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.values import AttendanceStatus, MarkValue, OrderRef
from tests.api.conftest import ROLES, Api

counter = itertools.count(1)
ADMINISTRATION = {"director", "deputy", "admin"}
READERS = ADMINISTRATION | {"teacher", "curator"}
ORDER = {"number": "77-к", "date": "2026-09-20"}
EARLY = OrderRef("78-од", date(2026, 10, 15))  # the shared clock is before period 1 ends


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: Callable[[Api, int], str]
    body: Callable[[Api, int], Any]
    allowed: set[str]
    family_denied: int = 403  # guardians and students
    staff_denied: int = 403


def fresh_student(api: Api, n: int, enrolled: bool = True) -> str:
    s = api.school
    sid = s.journal.roster.admit_student(s.admin, f"Новиков Ученик {n}", None)
    if enrolled:
        s.journal.roster.enrol(s.admin, sid, s.group, OrderRef("5-к", date(2026, 9, 1)),
                        date(2026, 9, 1))
    return str(sid)


def fresh_teacher(api: Api, n: int) -> str:
    """A teacher of no one else's concern, so that granting them rights changes no
    other case's expectations."""
    s = api.school
    return str(s.journal.access.hire_staff(s.admin, f"Учитель {n}", ["teacher"]))


def fresh_deputy(api: Api, n: int) -> str:
    s = api.school
    return str(s.journal.access.hire_staff(s.director, f"Заместитель {n}", ["deputy"]))


def fresh_admin(api: Api, n: int) -> str:
    s = api.school
    return str(s.journal.access.hire_staff(s.director, f"Администратор {n}", ["admin"]))


def fresh_group(api: Api, n: int) -> str:
    s = api.school
    return str(s.journal.setup.form_group(s.admin, s.year_id, f"Закрываемая {n}", None))


def closed_group(api: Api, n: int) -> str:
    s = api.school
    group = fresh_group(api, n)
    s.journal.regulation.close_period(s.deputy, s.year_id, 1, UUID(group), EARLY,
                                      "Досрочное закрытие")
    return group


def application(api: Api, n: int) -> str:
    s = api.school
    lesson_id, mark = marked(api, n)
    from domain.corrections import Target

    return str(s.journal.corrections.file_correction(s.teacher, Target.MARK, UUID(lesson_id),
                                                     UUID(mark),
                                         MarkValue.FIVE, f"З-{n}", date(2026, 10, 15),
                                         "Ошибка", "Заявление учителя"))


# Lesson days of the school's two quarters, less those the lesson cases use.
DAYS = [d for d in (date(2026, 9, 1) + timedelta(days=i) for i in range(119))
        if (d <= date(2026, 10, 25) or d >= date(2026, 11, 5))
        and d not in (date(2026, 10, 5), date(2026, 10, 6))]


slots = itertools.count()  # lesson slots (day, number), earliest first, each used once


def lesson(api: Api, n: int) -> str:
    s, k = api.school, next(slots)
    return str(s.lesson(day=DAYS[k // 12 % len(DAYS)], number=k % 12 + 1))


def absent_lesson(api: Api, n: int) -> str:
    lesson_id = UUID(lesson(api, n))
    s = api.school
    s.journal.lessons.record_attendance(s.teacher, lesson_id, s.students[1],
                                        AttendanceStatus.ABSENT,
                                None)
    return str(lesson_id)


def marked(api: Api, n: int, student: int = 0) -> tuple[str, str]:
    lesson_id = UUID(lesson(api, n))
    s = api.school
    mark = s.journal.lessons.record_mark(s.teacher, lesson_id, s.students[student], MarkValue.THREE)
    return str(lesson_id), str(mark)


def prepared(api: Api, n: int) -> dict[str, Any]:
    s = api.school
    s.journal.regulation.prepare_policy(s.admin, None, {"lesson": {"rule": "none"}}, None,
                                        "half_up", None)
    return {"order": ORDER}


_cache: dict[tuple[str, int], Any] = {}


def once(key: str, n: int, make: Callable[[], Any]) -> Any:
    if (key, n) not in _cache:
        _cache[(key, n)] = make()
    return _cache[(key, n)]


CASES = [
    Case("open year", "POST", lambda a, n: "/academic-years", lambda a, n: {
        "title": f"{2030 + n}/{2031 + n}", "starts": f"{2030 + n}-09-01",
        "ends": f"{2031 + n}-05-31", "periods": [{"kind": "semester", "title": "1 семестр",
                                                  "starts": f"{2030 + n}-09-01",
                                                  "ends": f"{2030 + n}-12-28"}]},
         ADMINISTRATION),
    Case("add discipline", "POST", lambda a, n: "/disciplines",
         lambda a, n: {"name": f"Дисциплина {n}", "kind": "subject", "planned_hours": 34},
         ADMINISTRATION),
    Case("hire staff", "POST", lambda a, n: "/staff",
         lambda a, n: {"full_name": f"Сотрудник {n}", "roles": ["teacher"]}, ADMINISTRATION),
    Case("grant deputy", "POST", lambda a, n: "/staff",
         lambda a, n: {"full_name": f"Заместитель {n}", "roles": ["deputy"]}, {"director"}),
    Case("grant administrator", "POST", lambda a, n: "/staff",
         lambda a, n: {"full_name": f"Администратор {n}", "roles": ["admin"]}, {"director"}),
    Case("grant director", "POST", lambda a, n: "/staff",
         lambda a, n: {"full_name": f"Директор {n}", "roles": ["director"]}, set()),
    Case("admit student", "POST", lambda a, n: "/students",
         lambda a, n: {"full_name": f"Ученик {n}"}, ADMINISTRATION),
    Case("register guardian", "POST", lambda a, n: "/guardians", lambda a, n: {
        "full_name": f"Родитель {n}", "student_ids": [str(a.school.students[2])],
        "document": "Свидетельство о рождении"}, ADMINISTRATION),
    Case("form group", "POST", lambda a, n: "/groups", lambda a, n: {
        "year_id": str(a.school.year_id), "name": f"Г-{n}"}, ADMINISTRATION),
    Case("assign curator", "POST", lambda a, n: f"/groups/{a.school.other_group}/curator",
         lambda a, n: {"curator_id": fresh_teacher(a, n), "order": ORDER},
         ADMINISTRATION),
    Case("add subgroup", "POST", lambda a, n: f"/groups/{a.school.group}/subgroups",
         lambda a, n: {"name": f"Подгруппа {n}"}, ADMINISTRATION),
    Case("make assignment", "POST", lambda a, n: "/assignments", lambda a, n: {
        "teacher_id": fresh_teacher(a, n), "group_id": str(a.school.group),
        "discipline_id": str(a.school.math), "starts": "2026-09-01"}, ADMINISTRATION),
    Case("appoint substitute", "POST",
         lambda a, n: f"/assignments/{a.school.assignment}/substitutes",
         lambda a, n: {"substitute_id": fresh_teacher(a, n),
                       "lessons": [{"date": str(date(2026, 9, 1) + timedelta(days=n)),
                                    "number": 1}]}, ADMINISTRATION),
    Case("appoint substitute over days", "POST",
         lambda a, n: f"/assignments/{a.school.assignment}/substitutes",
         lambda a, n: {"substitute_id": fresh_teacher(a, n), "date_from": "2026-10-12",
                       "date_to": "2026-10-16", "numbers": [1, 2]}, ADMINISTRATION),
    Case("enrol", "POST", lambda a, n: "/orders/enrolments", lambda a, n: {
        "student_id": fresh_student(a, n, enrolled=False), "group_id": str(a.school.group),
        "order": ORDER, "effective": "2026-09-21"}, ADMINISTRATION),
    Case("transfer", "POST", lambda a, n: "/orders/transfers", lambda a, n: {
        "student_id": fresh_student(a, n), "to_group_id": str(a.school.other_group),
        "order": ORDER, "effective": "2026-09-21"}, ADMINISTRATION),
    Case("academic leave", "POST", lambda a, n: "/orders/academic-leaves", lambda a, n: {
        "student_id": fresh_student(a, n), "order": ORDER, "effective": "2026-09-21"},
         ADMINISTRATION),
    Case("expel", "POST", lambda a, n: "/orders/expulsions", lambda a, n: {
        "student_id": fresh_student(a, n), "order": ORDER, "effective": "2026-09-21"},
         ADMINISTRATION),
    Case("graduate", "POST", lambda a, n: "/orders/graduations", lambda a, n: {
        "student_id": fresh_student(a, n), "order": ORDER, "effective": "2026-09-21"},
         ADMINISTRATION),
    Case("conduct lesson", "POST", lambda a, n: "/lessons", lambda a, n: {
        "assignment_id": str(a.school.assignment), "date": "2026-10-05", "number": n % 12 + 1,
        "topic": "Тема"}, {"teacher"}),
    Case("submit sheet", "PUT", lambda a, n: "/lessons/sheet", lambda a, n: {
        "assignment_id": str(a.school.assignment), "date": "2026-10-06", "number": n % 12 + 1,
        "topic": "Тема", "marks": [{"student_id": str(a.school.students[0]), "value": "5"}]},
         {"teacher"}),
    Case("read lesson", "GET", lambda a, n: f"/lessons/{once('lesson', n, lambda: lesson(a, n))}",
         lambda a, n: None, READERS),
    Case("change details", "PATCH", lambda a, n: f"/lessons/{lesson(a, n)}",
         lambda a, n: {"homework": "§13"}, {"teacher"}),
    Case("record mark", "POST", lambda a, n: f"/lessons/{lesson(a, n)}/marks",
         lambda a, n: {"student_id": str(a.school.students[0]), "value": "4"}, {"teacher"}),
    Case("change mark", "PUT",
         lambda a, n: "/lessons/{}/marks/{}".format(*once("m", n, lambda: marked(a, n))),
         lambda a, n: {"value": "5"}, {"teacher"}),
    Case("cancel mark", "POST",
         lambda a, n: "/lessons/{}/marks/{}/cancellation".format(
             *once("m", n, lambda: marked(a, n))), lambda a, n: {}, {"teacher"}),
    Case("record attendance", "PUT", lambda a, n: f"/lessons/{lesson(a, n)}/attendance",
         lambda a, n: {"student_id": str(a.school.students[2]), "status": "late",
                       "minutes": 5}, {"teacher"}),
    Case("absence reason", "PUT",
         lambda a, n: f"/lessons/{once('abs', n, lambda: absent_lesson(a, n))}/absence-reasons",
         lambda a, n: {"student_id": str(a.school.students[1]), "kind": "unexcused"},
         {"teacher", "curator"}),
    Case("institution", "GET", lambda a, n: "/institution", lambda a, n: None, set(ROLES)),
    # Every teacher with an assignment in the group sees its roster (other_teacher
    # teaches physics there); only the math teacher sees the math journal.
    Case("group roster", "GET", lambda a, n: f"/groups/{a.school.group}", lambda a, n: None,
         READERS | {"other_teacher"}),
    Case("other group roster", "GET", lambda a, n: f"/groups/{a.school.other_group}",
         lambda a, n: None, ADMINISTRATION),
    Case("read policy", "GET", lambda a, n: "/policy", lambda a, n: None,
         ADMINISTRATION | {"teacher", "other_teacher", "curator"}),
    Case("adopt policy", "PUT", lambda a, n: "/policy", lambda a, n: {
        "windows": {"lesson": {"rule": "none"}}, "order": ORDER}, {"director"}),
    Case("prepare policy", "PUT", lambda a, n: "/policy/draft", lambda a, n: {
        "windows": {"lesson": {"rule": "none"}}}, {"director", "admin"}),
    Case("adopt prepared policy", "POST", lambda a, n: "/policy/draft/adoption",
         lambda a, n: prepared(a, n), {"director"}),
    Case("delegate decisions", "POST", lambda a, n: "/policy/delegations",
         lambda a, n: {"deputy_id": fresh_deputy(a, n), "order": ORDER}, {"director"}),
    Case("delegate decisions to the administrator", "POST",
         lambda a, n: "/policy/delegations",
         lambda a, n: {"delegate_id": fresh_admin(a, n), "order": ORDER}, {"director"}),
    Case("close period", "POST", lambda a, n: "/periods/closures", lambda a, n: {
        "year_id": str(a.school.year_id), "period_number": 1, "group_id": fresh_group(a, n),
        "order": {"number": "78-од", "date": "2026-10-15"}, "reason": "Досрочно"},
         {"director", "deputy"}),
    Case("reopen period", "POST", lambda a, n: "/periods/reopenings", lambda a, n: {
        "year_id": str(a.school.year_id), "period_number": 1, "group_id": closed_group(a, n),
        "order": ORDER, "reason": "Ошибка"}, {"director"}),
    Case("set period mark", "PUT", lambda a, n: "/period-marks", lambda a, n: {
        "group_id": str(a.school.group), "discipline_id": str(a.school.math), "period": "2",
        "student_id": str(a.school.students[n % 3]), "value": "4"}, {"teacher"}),
    Case("read period marks", "GET",
         lambda a, n: f"/period-marks/{a.school.group}/{a.school.math}/1", lambda a, n: None,
         READERS),
    Case("file correction", "POST", lambda a, n: "/corrections", lambda a, n: {
        "target": "mark", **dict(zip(("record_id", "item_id"), marked(a, n), strict=True)),
        "proposed_value": "5", "number": f"№{n}", "date": "2026-10-15",
        "reason": "Ошибка", "document": "Заявление"}, {"teacher", "curator"}),
    Case("list corrections", "GET", lambda a, n: "/corrections?status=filed",
         lambda a, n: None, ADMINISTRATION | {"teacher", "other_teacher", "curator"}),
    Case("list overdue corrections", "GET", lambda a, n: "/corrections?overdue=true",
         lambda a, n: None, ADMINISTRATION | {"teacher", "other_teacher", "curator"}),
    Case("file new-mark correction", "POST", lambda a, n: "/corrections", lambda a, n: {
        "target": "new_mark", "record_id": lesson(a, n), "item_id": str(a.school.students[2]),
        "proposed_value": "5", "number": f"Н-{n}", "date": "2026-10-15",
        "reason": "Не внесена", "document": "Заявление"}, {"teacher", "curator"}),
    Case("decide correction", "POST",
         lambda a, n: f"/corrections/{application(a, n)}/decision",
         lambda a, n: {"approve": False, "resolution": "Нет оснований"}, {"director"}),
    Case("withdraw correction", "POST",
         lambda a, n: f"/corrections/{application(a, n)}/withdrawal", lambda a, n: None,
         {"teacher"}),
    Case("me", "GET", lambda a, n: "/me", lambda a, n: None, set(ROLES)),
    Case("progress statement", "GET",
         lambda a, n: f"/statements/progress?group_id={a.school.group}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator"}),
    Case("attendance statement (pdf)", "GET",
         lambda a, n: f"/statements/attendance?group_id={a.school.group}&from=2026-09-01"
                      "&to=2026-10-31&format=pdf", lambda a, n: None,
         ADMINISTRATION | {"curator"}),
    Case("movement statement (csv)", "GET",
         lambda a, n: "/statements/movement?from=2026-09-01&to=2026-10-31&format=csv",
         lambda a, n: None, ADMINISTRATION),
    Case("journal page", "GET",
         lambda a, n: f"/journals/{a.school.group}/{a.school.math}/1", lambda a, n: None,
         READERS),
    Case("own child's diary", "GET",
         lambda a, n: f"/students/{a.school.students[0]}/diary?from=2026-10-12&to=2026-10-18",
         lambda a, n: None, ADMINISTRATION | {"curator", "guardian", "student"},
         family_denied=404, staff_denied=404),
    Case("another child's diary", "GET",
         lambda a, n: f"/students/{a.school.students[1]}/diary", lambda a, n: None,
         ADMINISTRATION | {"curator"}, family_denied=404, staff_denied=404),
    Case("own child's mark history", "GET",
         lambda a, n: "/lessons/{}/marks/{}/history".format(
             *once("h", n, lambda: marked(a, n, 0))), lambda a, n: None,
         READERS | {"guardian", "student"}, family_denied=404),
    Case("another child's mark history", "GET",
         lambda a, n: "/lessons/{}/marks/{}/history".format(
             *once("h1", n, lambda: marked(a, n, 1))), lambda a, n: None, READERS,
         family_denied=404),
    # Issue 10: the signed record for auditors, receipts for families.
    Case("latest checkpoint", "GET", lambda a, n: "/audit/checkpoint", lambda a, n: None,
         {"auditor"}),
    Case("checkpoint history", "GET", lambda a, n: "/audit/checkpoints", lambda a, n: None,
         {"auditor"}),
    Case("inclusion proof", "GET", lambda a, n: "/audit/proofs/inclusion?index=0",
         lambda a, n: None, {"auditor"}),
    Case("consistency proof", "GET", lambda a, n: "/audit/proofs/consistency?old_size=1",
         lambda a, n: None, {"auditor"}),
    Case("ledger entries", "GET", lambda a, n: "/audit/entries?from=1&to=3",
         lambda a, n: None, {"auditor"}),
    Case("own child's mark receipt", "GET",
         lambda a, n: "/lessons/{}/marks/{}/receipt".format(
             *once("r", n, lambda: marked(a, n, 0))), lambda a, n: None,
         {"guardian", "student"}, family_denied=404),
    Case("another child's mark receipt", "GET",
         lambda a, n: "/lessons/{}/marks/{}/receipt".format(
             *once("r1", n, lambda: marked(a, n, 1))), lambda a, n: None, set(),
         family_denied=404),
    # Issue 9's other documents (last: they conduct no lessons, so the lesson days the
    # cases above draw from the shared counter stay before the shared clock).
    Case("group results", "GET",
         lambda a, n: f"/statements/group-results?group_id={a.school.group}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator"}),
    Case("curator's preliminary report", "GET",
         lambda a, n: f"/statements/curator-preliminary?group_id={a.school.group}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator"}),
    Case("attendance by month (csv)", "GET",
         lambda a, n: f"/statements/attendance-by-month?group_id={a.school.group}"
                      "&from=2026-09-01&to=2026-10-31&format=csv", lambda a, n: None,
         ADMINISTRATION | {"curator"}),
    Case("institution's debts", "GET", lambda a, n: "/statements/debts", lambda a, n: None,
         ADMINISTRATION),
    Case("group's debts", "GET", lambda a, n: f"/statements/debts?group_id={a.school.group}",
         lambda a, n: None, ADMINISTRATION | {"curator", "teacher", "other_teacher"}),
    Case("own child's debts", "GET",
         lambda a, n: f"/statements/debts?student_id={a.school.students[0]}",
         lambda a, n: None, ADMINISTRATION | {"curator", "guardian", "student"},
         family_denied=404, staff_denied=404),
    Case("another child's debts", "GET",
         lambda a, n: f"/statements/debts?student_id={a.school.students[1]}",
         lambda a, n: None, ADMINISTRATION | {"curator"}, family_denied=404,
         staff_denied=404),
    Case("control report", "GET",
         lambda a, n: "/statements/control?from=2026-09-01&to=2026-10-31",
         lambda a, n: None, ADMINISTRATION | {"teacher", "other_teacher"}),  # own load
    Case("group's forecast", "GET",
         lambda a, n: f"/statements/forecast?group_id={a.school.group}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator", "teacher", "other_teacher"}),
    Case("own child's forecast", "GET",
         lambda a, n: f"/statements/forecast?student_id={a.school.students[0]}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator", "guardian", "student"},
         family_denied=404, staff_denied=404),
    Case("year snapshot", "GET", lambda a, n: "/statements/year-snapshot",
         lambda a, n: None, ADMINISTRATION),
    # A student's documents come only in a group of the student: another group's id, or
    # an unknown one, is the same 404 to everyone (it revealed the group's name and
    # curriculum to families, or was a 500).
    Case("own child's forecast in own group", "GET",
         lambda a, n: f"/statements/forecast?student_id={a.school.students[0]}"
                      f"&group_id={a.school.group}&period=1",
         lambda a, n: None, ADMINISTRATION | {"curator", "guardian", "student"},
         family_denied=404, staff_denied=404),
    Case("own child's forecast in another group", "GET",
         lambda a, n: f"/statements/forecast?student_id={a.school.students[0]}"
                      f"&group_id={a.school.other_group}&period=1",
         lambda a, n: None, set(), family_denied=404, staff_denied=404),
    Case("own child's forecast in an unknown group", "GET",
         lambda a, n: f"/statements/forecast?student_id={a.school.students[0]}"
                      f"&group_id={UUID(int=n)}&period=1",
         lambda a, n: None, set(), family_denied=404, staff_denied=404),
    Case("own child's debts in own group", "GET",
         lambda a, n: f"/statements/debts?student_id={a.school.students[0]}"
                      f"&group_id={a.school.group}",
         lambda a, n: None, ADMINISTRATION | {"curator", "guardian", "student"},
         family_denied=404, staff_denied=404),
    Case("own child's debts in another group", "GET",
         lambda a, n: f"/statements/debts?student_id={a.school.students[0]}"
                      f"&group_id={a.school.other_group}",
         lambda a, n: None, set(), family_denied=404, staff_denied=404),
    Case("own child's debts in an unknown group", "GET",
         lambda a, n: f"/statements/debts?student_id={a.school.students[0]}"
                      f"&group_id={UUID(int=n)}",
         lambda a, n: None, set(), family_denied=404, staff_denied=404),
    Case("another group's forecast", "GET",
         lambda a, n: f"/statements/forecast?group_id={a.school.other_group}&period=1",
         lambda a, n: None, ADMINISTRATION),
    Case("another group's debts", "GET",
         lambda a, n: f"/statements/debts?group_id={a.school.other_group}",
         lambda a, n: None, ADMINISTRATION),
    Case("another group's progress", "GET",
         lambda a, n: f"/statements/progress?group_id={a.school.other_group}&period=1",
         lambda a, n: None, ADMINISTRATION),
]



@pytest.mark.parametrize("role", [*ROLES, None])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_endpoint_allows_exactly_its_roles(shared_api: Api, case: Case, role: str | None
                                           ) -> None:
    n = next(counter)
    path, body = case.path(shared_api, n), case.body(shared_api, n)
    response = shared_api.call(case.method, path, role, body)
    if role is None:
        assert response.status_code == 401
    elif role in case.allowed:
        assert response.status_code < 300, response.text[:300]
    else:
        # Object-level denials to families (another child) do not reveal the object.
        expected = case.family_denied if role in ("guardian", "student") else case.staff_denied
        assert response.status_code == expected, response.text[:300]
        assert response.headers["content-type"] == "application/problem+json"
