"""The HTTP API through a real client, on SQLite and PostgreSQL: problem+json errors that
write nothing, 404s, 409s, a whole lesson in one request, reads after writes."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

import ledger
from api.app import create_app
from application.integrity import IntegrityAlarm
from application.service import Ejournal
from tests.api.conftest import Api, make_api
from tests.application.rawdb import RawDb

PROBLEM = "application/problem+json"


def events(api: Api) -> int:
    return RawDb(api.ejournal, api.school.slug).count("events")


def sheet(api: Api, **overrides: object) -> dict:  # type: ignore[type-arg]
    s = api.school
    body = {"assignment_id": str(s.assignment), "date": "2026-10-14", "number": 2,
            "topic": "Логарифмические уравнения", "homework": "§13 №1–4", "work_kind": "control",
            "attendance": [{"student_id": str(s.students[1]), "status": "absent"},
                           {"student_id": str(s.students[2]), "status": "late", "minutes": 7}],
            "marks": [{"student_id": str(s.students[0]), "value": "5"},
                      {"student_id": str(s.students[2]), "value": "4"}]}
    body.update(overrides)
    return body


def test_a_whole_lesson_in_one_request_appears_in_the_journal(api: Api) -> None:
    s = api.school
    created = api.call("PUT", "/lessons/sheet", "teacher", sheet(api))
    assert created.status_code == 200, created.text
    lesson_id = created.json()["lesson_id"]
    page = api.call("GET", f"/journals/{s.group}/{s.math}/1", "teacher").json()
    rows = {r["full_name"]: r for r in page["rows"]}
    assert rows["Иванова Анна Сергеевна"]["cells"][lesson_id]["marks"][0]["value"] == "5"
    assert rows["Петров Борис Андреевич"]["cells"][lesson_id]["attendance"] == "absent"
    assert rows["Сидоров Вадим Ильич"]["cells"][lesson_id]["late_minutes"] == 7
    assert rows["Иванова Анна Сергеевна"]["average"] == "5.00"
    assert page["lessons"][0]["work_kind"] == "control"


def test_invalid_input_is_a_russian_problem_and_writes_nothing(api: Api) -> None:
    before = events(api)
    response = api.call("PUT", "/lessons/sheet", "teacher",
                        sheet(api, marks=[{"student_id": str(api.school.students[0]),
                                           "value": "6"}]))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_request" and body["status"] == 422
    assert body["errors"][0]["field"] == "marks.0.value"
    assert "Проверьте поля" in body["detail"]
    assert events(api) == before


def test_a_domain_rule_violation_is_a_stable_code_and_writes_nothing(api: Api) -> None:
    before = events(api)
    body = sheet(api, marks=[{"student_id": str(api.school.students[0]), "value": "5"},
                             {"student_id": str(api.school.outsider), "value": "4"}])
    response = api.call("PUT", "/lessons/sheet", "teacher", body)
    assert response.status_code == 422
    assert response.json()["code"] == "student_not_in_group"
    assert "не состоял" in response.json()["detail"]
    assert events(api) == before


def test_a_mark_for_an_absent_student_is_refused(api: Api) -> None:
    body = sheet(api, marks=[{"student_id": str(api.school.students[1]), "value": "5"}])
    response = api.call("PUT", "/lessons/sheet", "teacher", body)
    assert response.json()["code"] == "mark_for_absent_student"


def test_unknown_ids_are_404_problems(api: Api) -> None:
    response = api.call("POST", f"/lessons/{uuid4()}/marks", "teacher",
                        {"student_id": str(api.school.students[0]), "value": "5"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.call("GET", "/nowhere", "teacher").headers["content-type"] == PROBLEM


def test_conducting_the_same_lesson_twice_is_a_409(api: Api) -> None:
    body = {"assignment_id": str(api.school.assignment), "date": "2026-10-14", "number": 1,
            "topic": "Тема"}
    assert api.call("POST", "/lessons", "teacher", body).status_code == 201
    again = api.call("POST", "/lessons", "teacher", body)
    assert again.status_code == 409 and again.json()["code"] == "duplicate"


def test_a_stale_mark_change_is_a_409_and_the_newer_value_stays(api: Api) -> None:
    s = api.school
    lesson = api.call("POST", "/lessons", "teacher", {
        "assignment_id": str(s.assignment), "date": "2026-10-14", "number": 1,
        "topic": "Тема"}).json()["id"]
    mark = api.call("POST", f"/lessons/{lesson}/marks", "teacher",
                    {"student_id": str(s.students[0]), "value": "3"}).json()["id"]
    first = api.call("PUT", f"/lessons/{lesson}/marks/{mark}", "teacher",
                     {"value": "4", "previous_value": "3"})
    second = api.call("PUT", f"/lessons/{lesson}/marks/{mark}", "teacher",
                      {"value": "5", "previous_value": "3"})
    assert (first.status_code, second.status_code) == (204, 409)
    assert second.json()["code"] == "concurrent_edit"
    history = api.call("GET", f"/lessons/{lesson}/marks/{mark}/history", "guardian").json()
    assert [e["value"] for e in history["entries"]] == ["3", "4"]


def test_a_missing_or_bad_token_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/me", headers={"Authorization": "Bearer ej_nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


def test_a_revoked_token_is_401_and_other_tokens_still_work(api: Api) -> None:
    teacher = api.school.teacher.person_id
    assert api.ejournal.revoke_tokens(api.school.slug, teacher, "Утеря токена") == 1
    assert api.call("GET", "/me", "teacher").status_code == 401
    assert api.call("GET", "/me", "curator").status_code == 200
    assert api.ejournal.revoke_tokens(api.school.slug, teacher, "Повторно") == 0
    fresh = api.ejournal.issue_token(api.school.slug, teacher, "staff")
    response = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"})
    assert response.status_code == 200


def test_the_openapi_document_lists_the_endpoints(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert "/api/v1/lessons/sheet" in schema["paths"]
    assert api.client.get("/docs").status_code == 200


def test_me_tells_a_guardian_their_children(api: Api) -> None:
    me = api.call("GET", "/me", "guardian").json()
    assert me["kind"] == "guardian" and me["children"] == [str(api.school.students[0])]


def test_a_tampered_institution_answers_423_and_serves_nothing(api: Api) -> None:
    from tests.application.rawdb import RawDb

    s = api.school
    lesson_id = s.lesson()
    raw = RawDb(api.ejournal, s.slug)
    oid = lesson_id.hex if raw.kind == "sqlite" else str(lesson_id)
    raw.run("INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, 2, topic, state FROM {events}"
            " WHERE originator_id = ? AND originator_version = 1", (oid,))
    for method, path, body in [("GET", "/me", None),
                               ("POST", f"/lessons/{lesson_id}/marks",
                                {"student_id": str(s.students[0]), "value": "5"})]:
        response = api.call(method, path, "teacher", body)
        assert response.status_code == 423
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "integrity_alarm"


def test_serving_keeps_the_read_models_of_the_institutions_in_use_current(api: Api) -> None:
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api.ejournal, projections=True)) as client:
        assert client.get("/health").json()["projections"] == {"running": 0, "stopped": 0}
        headers = api.headers("teacher")
        lesson = api.school.lesson()
        response = client.post(f"/api/v1/lessons/{lesson}/marks", headers=headers,
                               json={"student_id": str(api.school.students[0]), "value": "5"})
        assert response.status_code == 201
        assert client.get("/health").json() == {
            "status": "ok", "integrity_alarms": 0,
            "projections": {"running": 1, "stopped": 0}}
        models = api.school.journal.read_models
        deadline = time.monotonic() + 5
        while not models.query("SELECT 1 FROM {marks}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert models.query("SELECT value FROM {marks}") == [{"value": "5"}]


def test_health_reports_an_institution_under_the_integrity_alarm(api: Api) -> None:
    guard = api.school.journal.store.chain.guard
    assert guard is not None
    with TestClient(create_app(api.ejournal)) as client:
        assert client.get("/health").json()["status"] == "ok"
        with pytest.raises(IntegrityAlarm):
            guard.alarm(ledger.Failure(3, ledger.FailureKind.CHANGED, "a row altered"))
        health = client.get("/health").json()
        assert (health["status"], health["integrity_alarms"]) == ("integrity_alarm", 1)


def test_serving_signs_a_checkpoint_of_each_institution_in_use_once_a_day(api: Api) -> None:
    import time

    from api.app import DailyCheckpoints, Projections

    runners = Projections(True)
    runners.ensure(api.school.journal)
    job = DailyCheckpoints(api.ejournal, runners, every=0.01)
    job.start()
    try:
        reader = api.ejournal.backend.chain_reader(api.school.slug)
        deadline = time.monotonic() + 10
        while reader.latest_checkpoint() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first = reader.latest_checkpoint()
        assert first is not None
        time.sleep(0.1)  # the same local day: nothing new is signed
        assert reader.latest_checkpoint() == first
        assert job.signed_on == {api.school.slug: api.school.journal.local_date()}
    finally:
        job.stop()
        runners.stop()


def test_a_write_without_the_private_key_in_force_answers_423_and_writes_nothing(
        tmp_path: Path, key_dir: Path) -> None:
    """The key in force was deleted by hand (not retired by a rotation): the journal
    cannot be signed, which is the operator's to fix — never a 5xx (ADR 0016)."""
    import shutil

    import ledger
    from application.config import Settings
    from tests.conftest import Clock

    keys = tmp_path / "keys"
    shutil.copytree(key_dir, keys)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e.sqlite3'}", key_dir=keys)
    first = Ejournal(settings, Clock())
    api = make_api(first)
    lesson_id = api.school.lesson()
    first.close()
    old = ledger.active_key(keys)
    ledger.activate_key(keys, ledger.generate_key(keys))
    ledger.destroy_private_key(keys, old)
    later = Ejournal(settings, Clock())
    try:
        client = TestClient(create_app(later))
        before = later.backend.chain_reader(api.school.slug).tree_size()
        response = client.post(f"/api/v1/lessons/{lesson_id}/marks",
                               headers=api.headers("teacher"),
                               json={"student_id": str(api.school.students[0]), "value": "5"})
        assert response.status_code == 423
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "signing_key_unavailable"
        assert later.backend.chain_reader(api.school.slug).tree_size() == before
    finally:
        later.close()
