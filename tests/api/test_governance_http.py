"""The correction workflow through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
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
