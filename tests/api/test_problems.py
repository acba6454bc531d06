"""Problem details: no context of an error can collide with or replace a member of the
problem; every operation documents its problems as application/problem+json."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import problem
from tests.api.conftest import Api

PROBLEM = "application/problem+json"
DOCUMENTED = {"400", "401", "403", "404", "409", "413", "422"}


def test_extension_members_never_replace_the_problem_s_own() -> None:
    response = problem(422, "student_status_rule", "Нарушено правило", "Движение невозможно.",
                       status="enrolled", code="x", title="x", detail="x", type="x", field="f")
    body = json.loads(response.body)
    assert response.status_code == 422
    assert body == {"type": "https://ejournal.invalid/problems/student_status_rule",
                    "title": "Нарушено правило", "status": 422,
                    "detail": "Движение невозможно.", "code": "student_status_rule",
                    "field": "f"}


def test_an_order_for_a_student_in_the_wrong_status_is_a_422_problem(api: Api) -> None:
    """Was a 500: the error's context `status=` collided with problem()'s `status`."""
    s = api.school
    order = {"number": "77-к", "date": "2026-10-01"}
    cases = [
        ("/orders/enrolments", {"student_id": str(s.students[0]), "group_id": str(s.group),
                                "order": order, "effective": "2026-10-02"}),
        ("/orders/returns", {"student_id": str(s.students[0]), "group_id": str(s.group),
                             "order": order, "effective": "2026-10-02"}),
    ]
    for path, body in cases:
        response = api.call("POST", path, "director", body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        problem_ = response.json()
        assert problem_["code"] == "student_status_rule"
        assert problem_["status"] == 422
        assert problem_["student_status"] == "enrolled"
    admitted = api.call("POST", "/students", "director", {"full_name": "Новикова Дарья"})
    for path in ("/orders/transfers", "/orders/academic-leaves", "/orders/expulsions",
                 "/orders/graduations"):
        body = {"student_id": admitted.json()["id"], "to_group_id": str(s.group),
                "order": order, "effective": "2026-10-02"}
        if path != "/orders/transfers":
            del body["to_group_id"]
        response = api.call("POST", path, "director", body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["student_status"] == "admitted"


def test_every_operation_documents_its_problems_as_problem_json() -> None:
    document = TestClient(create_app(None)).get("/openapi.json").json()  # type: ignore[arg-type]
    assert "ProblemDetails" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [(path, method, op) for path, item in document["paths"].items()
                  for method, op in item.items()
                  if path.startswith("/api/v1/")]  # /health: no token, no body, no id
    assert len(operations) > 40
    for path, method, operation in operations:
        responses = operation["responses"]
        assert set(responses) >= DOCUMENTED, (method, path, sorted(responses))
        for status in DOCUMENTED:
            content = responses[status]["content"]
            assert list(content) == [PROBLEM], (method, path, status)
            assert content[PROBLEM]["schema"] == {
                "$ref": "#/components/schemas/ProblemDetails"}
