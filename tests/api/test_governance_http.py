"""The correction workflow through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from tests.api.conftest import Api

ORDER = {"number": "45-од", "date": "2026-08-30"}


def test_after_the_deadline_a_mark_changes_only_through_an_approved_application(
        api: Api) -> None:
    s = api.school
    clock = api.ejournal.clock
    clock.now = datetime(2026, 10, 14, 20, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    assert api.call("PUT", "/policy", "director",
                    {"preset": "gymnasium_139_001", "order": ORDER}).status_code == 204
    lesson = api.call("POST", "/lessons", "teacher", {
        "assignment_id": str(s.assignment), "date": "2026-10-14", "number": 1,
        "topic": "Логарифмы"}).json()["id"]
    mark = api.call("POST", f"/lessons/{lesson}/marks", "teacher",
                    {"student_id": str(s.students[0]), "value": "3"}).json()["id"]

    clock.now = datetime(2026, 10, 15, 0, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    refused = api.call("PUT", f"/lessons/{lesson}/marks/{mark}", "teacher", {"value": "4"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "correction_application_required"
    assert "/api/v1/corrections" in refused.json()["detail"]

    filed = api.call("POST", "/corrections", "teacher", {
        "target": "mark", "record_id": lesson, "item_id": mark, "proposed_value": "4",
        "number": "17", "date": "2026-10-15", "reason": "Ошибка при переносе",
        "document": "Заявление учителя от 15.10.2026"})
    assert filed.status_code == 201, filed.text
    application = filed.json()["id"]
    listed = api.call("GET", "/corrections?status=filed", "director").json()
    assert [a["application_id"] for a in listed] == [application]
    assert api.call("POST", f"/corrections/{application}/decision", "teacher",
                    {"approve": True, "resolution": "Сам"}).status_code == 403
    assert api.call("POST", f"/corrections/{application}/decision", "director",
                    {"approve": True, "resolution": "Исправить"}).status_code == 204
    again = api.call("POST", f"/corrections/{application}/decision", "director",
                     {"approve": False, "resolution": "Передумал"})
    assert again.status_code == 409 and again.json()["code"] == "application_already_decided"

    history = api.call("GET", f"/lessons/{lesson}/marks/{mark}/history", "guardian").json()
    assert [(e["action"], e["value"]) for e in history["entries"]] == [
        ("recorded", "3"), ("application_filed", "4"), ("application_approved", None),
        ("changed", "4")]
    page = api.call("GET", f"/journals/{s.group}/{s.math}/1", "director").json()
    row = next(r for r in page["rows"] if r["student_id"] == str(s.students[0]))
    assert row["cells"][lesson]["marks"][0]["value"] == "4"


def test_a_period_sheet_shows_suggestions_and_debts(api: Api) -> None:
    s = api.school
    lesson = api.call("PUT", "/lessons/sheet", "teacher", {
        "assignment_id": str(s.assignment), "date": "2026-10-14", "number": 1,
        "topic": "Тема", "marks": [{"student_id": str(s.students[0]), "value": "5"},
                                   {"student_id": str(s.students[1]), "value": "2"}]})
    assert lesson.status_code == 200
    for student, value in ((s.students[0], "5"), (s.students[1], "2")):
        assert api.call("PUT", "/period-marks", "teacher", {
            "group_id": str(s.group), "discipline_id": str(s.math), "period": "1",
            "student_id": str(student), "value": value}).status_code == 204
    sheet = api.call("GET", f"/period-marks/{s.group}/{s.math}/1", "curator").json()
    rows = {r["full_name"]: r for r in sheet["rows"]}
    assert rows["Иванова Анна Сергеевна"]["suggested"] == "5"
    assert rows["Петров Борис Андреевич"]["academic_debt"] is True
    assert rows["Сидоров Вадим Ильич"]["value"] is None


def lesson_with_mark(api: Api, day: str = "2026-10-14", number: int = 1,
                     student: int = 0) -> tuple[str, str]:
    s = api.school
    lesson = api.call("POST", "/lessons", "teacher", {
        "assignment_id": str(s.assignment), "date": day, "number": number,
        "topic": "Логарифмы"}).json()["id"]
    mark = api.call("POST", f"/lessons/{lesson}/marks", "teacher",
                    {"student_id": str(s.students[student]), "value": "3"}).json()["id"]
    return lesson, mark


def apply(api: Api, lesson: str, mark: str, number: str):  # type: ignore[no-untyped-def]
    return api.call("POST", "/corrections", "teacher", {
        "target": "mark", "record_id": lesson, "item_id": mark, "proposed_value": "4",
        "number": number, "date": "2026-10-15", "reason": "Ошибка",
        "document": "Заявление учителя"})


def test_overdue_applications_are_flagged_and_filtered_for_the_director(api: Api) -> None:
    clock = api.ejournal.clock
    clock.now = datetime(2026, 10, 15, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    filed = apply(api, *lesson_with_mark(api), "18")
    assert filed.status_code == 201
    again = apply(api, *lesson_with_mark(api, number=2), "№ 18")
    assert again.status_code == 409 and again.json()["code"] == "application_number_taken"
    clock.now = datetime(2026, 10, 17, 9, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    [listed] = api.call("GET", "/corrections", "director").json()
    assert listed["overdue"] is True and listed["due_by"] == "2026-10-16"
    assert listed["filed_on"] == "2026-10-15"
    assert [a["application_id"] for a in api.call("GET", "/corrections?overdue=true",
                                                  "director").json()] == [filed.json()["id"]]
    assert api.call("GET", "/corrections?overdue=false", "director").json() == []


def test_a_substitution_names_its_lessons_either_way(api: Api) -> None:
    s = api.school
    path = f"/assignments/{s.assignment}/substitutes"
    substitute = str(s.other_teacher.person_id)
    assert api.call("POST", path, "deputy", {
        "substitute_id": substitute,
        "lessons": [{"date": "2026-10-13", "number": 2}]}).status_code == 204
    assert api.call("POST", path, "deputy", {
        "substitute_id": substitute, "date_from": "2026-10-14", "date_to": "2026-10-15",
        "numbers": [3]}).status_code == 204
    for day, number, expected in (("2026-10-13", 2, 201), ("2026-10-15", 3, 201),
                                  ("2026-10-13", 3, 403)):
        conducted = api.call("POST", "/lessons", "other_teacher", {
            "assignment_id": str(s.assignment), "date": day, "number": number,
            "topic": "Замена"})
        assert conducted.status_code == expected, conducted.text
    # A whole day is no longer a substitution; both forms at once are refused.
    whole_day = api.call("POST", path, "deputy", {"substitute_id": substitute,
                                                  "date": "2026-10-16"})
    assert whole_day.status_code == 422
    both = api.call("POST", path, "deputy", {
        "substitute_id": substitute, "lessons": [{"date": "2026-10-16", "number": 1}],
        "date_from": "2026-10-16", "date_to": "2026-10-16", "numbers": [1]})
    assert both.status_code == 422 and both.json()["code"] == "invalid_value"


def test_an_early_closure_needs_an_order_with_a_reason(api: Api) -> None:
    s = api.school
    body = {"year_id": str(s.year_id), "period_number": 1, "group_id": str(s.group)}
    refused = api.call("POST", "/periods/closures", "deputy", body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "early_closure_reason_required"
    assert api.call("POST", "/periods/closures", "deputy", {
        **body, "order": {"number": "70-од", "date": "2026-10-15"},
        "reason": "Учебная практика с 16.10"}).status_code == 204


def test_a_mark_never_entered_is_added_after_closing_through_the_api(api: Api) -> None:
    s = api.school
    lesson, _ = lesson_with_mark(api, day="2026-10-05")
    api.ejournal.clock.now = datetime(2026, 10, 26, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    assert api.call("POST", "/periods/closures", "deputy", {
        "year_id": str(s.year_id), "period_number": 1,
        "group_id": str(s.group)}).status_code == 204
    filed = api.call("POST", "/corrections", "teacher", {
        "target": "new_mark", "record_id": lesson, "item_id": str(s.students[1]),
        "proposed_value": "5", "number": "40", "date": "2026-10-26",
        "reason": "Отметка не была внесена", "document": "Заявление учителя"})
    assert filed.status_code == 201, filed.text
    assert api.call("POST", f"/corrections/{filed.json()['id']}/decision", "director",
                    {"approve": True, "resolution": "Внести"}).status_code == 204
    view = api.call("GET", f"/lessons/{lesson}", "director").json()
    row = next(r for r in view["roster"] if r["student_id"] == str(s.students[1]))
    assert [m["value"] for m in row["cells"][lesson]["marks"]] == ["5"]


def test_the_results_date_of_a_control_work_is_set_with_the_lesson_details(api: Api) -> None:
    s = api.school
    lesson = api.call("POST", "/lessons", "teacher", {
        "assignment_id": str(s.assignment), "date": "2026-10-12", "number": 1,
        "topic": "Контрольная работа", "work_kind": "control"}).json()["id"]
    assert api.call("PATCH", f"/lessons/{lesson}", "teacher",
                    {"results_on": "2026-10-14"}).status_code == 204
    assert api.call("GET", f"/lessons/{lesson}", "teacher").json()["column"][
        "results_on"] == "2026-10-14"
    future = api.call("PATCH", f"/lessons/{lesson}", "teacher", {"results_on": "2026-10-20"})
    assert future.status_code == 422 and future.json()["code"] == "invalid_value"


def test_the_director_delegates_decisions_to_the_journal_administrator(api: Api) -> None:
    s = api.school
    application = apply(api, *lesson_with_mark(api), "19").json()["id"]
    decision = {"approve": False, "resolution": "Нет оснований"}
    assert api.call("POST", f"/corrections/{application}/decision", "admin",
                    decision).status_code == 403
    assert api.call("POST", "/policy/delegations", "director", {
        "delegate_id": str(s.admin.person_id),
        "order": {"number": "52-од", "date": "2026-10-01"}}).status_code == 204
    assert api.call("POST", f"/corrections/{application}/decision", "admin",
                    decision).status_code == 204


def test_a_guardian_asking_for_another_childs_mark_gets_a_404_without_the_childs_id(
        api: Api) -> None:
    s = api.school
    lesson, mark = lesson_with_mark(api, student=1)
    denied = api.call("GET", f"/lessons/{lesson}/marks/{mark}/history", "guardian")
    assert denied.status_code == 404
    assert str(s.students[1]) not in denied.text
    unknown = api.call("GET", f"/lessons/{lesson}/marks/{uuid4()}/history", "guardian")
    assert {k for k in denied.json() if k != "mark_id"} == \
        {k for k in unknown.json() if k != "mark_id"}
    assert denied.json()["detail"] == unknown.json()["detail"]
    diary = api.call("GET", f"/students/{s.students[1]}/diary", "guardian")
    stranger = api.call("GET", f"/students/{uuid4()}/diary", "guardian")
    assert diary.status_code == stranger.status_code == 404
    assert diary.json()["detail"] == stranger.json()["detail"]
