"""Bodies: authenticated before a byte is read, capped at MAX_BODY_BYTES (413), malformed
ones a 400 problem with a stable code; 422s say what is wrong with each field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import MAX_BODY_BYTES
from tests.api.conftest import Api

PROBLEM = "application/problem+json"
SHEET = "/api/v1/lessons/sheet"


class Source:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, total: int, chunk: int = 16 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            piece = b" " * min(self.chunk, self.total - self.pulled)
            self.pulled += len(piece)
            yield piece


def send(api: Api, body: Source, headers: dict[str, str]) -> httpx.Response:
    """PUT the streamed body through httpx's ASGI transport, which hands the app each
    chunk only when the app asks for it."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.put(SHEET, content=body,
                                    headers={"Content-Type": "application/json", **headers})
    return asyncio.run(go())


def test_a_big_body_without_a_token_is_refused_unread(shared_api: Api) -> None:
    body = Source(50 * 1024 * 1024)
    response = send(shared_api, body, {"Content-Length": str(body.total)})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "unauthenticated"
    assert body.pulled == 0


def test_a_body_with_a_token_that_does_not_authenticate_is_refused_unread(
        shared_api: Api) -> None:
    body = Source(1024 * 1024)
    for authorization in ("Bearer ej_nobody", "Basic dXNlcjpwYXNz", "Bearer", "ej_x"):
        response = send(shared_api, body, {"Authorization": authorization})
        assert response.status_code == 401, authorization
        assert response.json()["code"] == "unauthenticated"
    assert body.pulled == 0


def test_a_declared_length_over_the_cap_is_413_unread(shared_api: Api) -> None:
    body = Source(MAX_BODY_BYTES + 1)
    response = send(shared_api, body, {**shared_api.headers("teacher"),
                                       "Content-Length": str(body.total)})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "body_too_large"
    assert str(MAX_BODY_BYTES) in response.json()["detail"]
    assert body.pulled == 0


def test_a_chunked_body_is_stopped_once_it_passes_the_cap(shared_api: Api) -> None:
    body = Source(10 * MAX_BODY_BYTES)
    response = send(shared_api, body, shared_api.headers("teacher"))  # no Content-Length
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert body.pulled <= MAX_BODY_BYTES + body.chunk


def test_the_largest_legal_request_fits_the_cap(shared_api: Api) -> None:
    """The lesson sheet at its limits, written in the costliest legal way (api/limits.py):
    every character of the texts an astral code point escaped as a surrogate pair,
    pretty-printed. It must reach validation, not stop at the cap."""
    s, astral = shared_api.school, "\U0001d4d0"
    body = {"assignment_id": str(s.assignment), "date": "2026-10-14", "number": 12,
            "topic": astral * 500, "homework": astral * 2000, "work_kind": "laboratory",
            "attendance": [{"student_id": str(s.students[0]), "status": "present",
                            "minutes": 90}] * 60,
            "marks": [{"student_id": str(s.students[0]), "value": "не зачтено"}] * 200}
    raw = json.dumps(body, ensure_ascii=True, indent=4).encode()
    assert len(raw) < MAX_BODY_BYTES
    response = shared_api.client.put(SHEET, content=raw, headers={
        **shared_api.headers("teacher"), "Content-Type": "application/json"})
    assert response.status_code not in (400, 413), response.text


def post_raw(api: Api, raw: bytes) -> httpx.Response:
    return api.client.post("/api/v1/students", content=raw, headers={
        **api.headers("director"), "Content-Type": "application/json"})


def test_malformed_bodies_are_400_problems_in_russian(shared_api: Api) -> None:
    cases = {
        b'{"full_name": "\xff\xfe"}': "UTF-8",
        b"[" * 50_000 + b"]" * 50_000: "вложенность",
        b'{"full_name": "x",}': "некорректный JSON (позиция 18)",
        b"not json": "некорректный JSON (позиция 0)",
    }
    for raw, expected in cases.items():
        response = post_raw(shared_api, raw)
        assert response.status_code == 400, raw[:20]
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["code"] == "malformed_body"
        assert expected in problem["detail"], problem["detail"]


def test_a_422_says_what_is_wrong_with_each_field(shared_api: Api) -> None:
    s = shared_api.school
    response = shared_api.call("PUT", "/lessons/sheet", "teacher", {
        "assignment_id": "nope", "date": "2026-10-14", "number": 13, "topic": "x" * 501,
        "marks": [{"student_id": str(s.students[0]), "value": "6"}], "extra": 1})
    assert response.status_code == 422
    problem = response.json()
    detail = problem["detail"]
    assert detail.startswith("Проверьте поля: ")
    assert "assignment_id: ожидается идентификатор (UUID)" in detail
    assert "number: не больше 12" in detail
    assert "topic: не длиннее 500 симв." in detail
    assert "marks.0.value: допустимые значения" in detail
    assert "extra: лишнее поле" in detail
    assert {e["field"] for e in problem["errors"]} == {
        "assignment_id", "number", "topic", "marks.0.value", "extra"}


def test_query_errors_name_the_parameter_not_its_location(shared_api: Api) -> None:
    s = shared_api.school
    response = shared_api.call("GET", f"/groups/{s.group}?on=someday", "director")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "on"
    assert "on: ожидается дата ГГГГ-ММ-ДД" in response.json()["detail"]


def test_a_content_length_that_is_not_ascii_digits_is_400_unread(shared_api: Api) -> None:
    """'²'.isdigit() is true but int('²') raises."""
    sent: list[dict] = []  # type: ignore[type-arg]

    async def receive() -> dict:  # type: ignore[type-arg]
        raise AssertionError("the body must not be read")

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    token = shared_api.tokens["director"].encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/v1/students",
             "raw_path": b"/api/v1/students", "query_string": b"", "root_path": "",
             "headers": [(b"authorization", b"Bearer " + token),
                         (b"content-length", "²".encode())],
             "client": ("127.0.0.1", 1), "server": ("test", 80), "state": {}}
    asyncio.run(create_app(shared_api.ejournal)(scope, receive, send))
    assert sent[0]["status"] == 400


ASTRAL = "\U0001d4d0"  # 12 bytes as a \uXXXX\uXXXX escape: the costliest legal character


def costliest(schema: dict, defs: dict) -> object:  # type: ignore[type-arg]
    """The instance of a request schema that takes the most bytes: every string and list
    at its bound, every optional member present. An unbounded string, list or object
    fails: nothing would bound the request."""
    if "$ref" in schema:
        return costliest(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        candidates = [costliest(o, defs) for o in options if o.get("type") != "null"]
        return max(candidates, key=lambda c: len(json.dumps(c)))
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return max(values, key=lambda v: len(json.dumps(v)))
    kind = schema.get("type")
    if kind == "object":
        instance = {name: costliest(s, defs) for name, s in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            names = schema.get("propertyNames") or {}
            names = defs[names["$ref"].rsplit("/", 1)[-1]] if "$ref" in names else names
            if "enum" in names:  # keys of an enumeration: each at most once
                keys = [str(k) for k in names["enum"]]
            else:
                assert "maxProperties" in schema, f"unbounded object: {schema}"
                width = names.get("maxLength", 30)
                keys = [f"{i:0{width}}" for i in range(schema["maxProperties"])]
            instance.update((k, costliest(extra, defs)) for k in keys)
        return instance
    if kind == "array":
        assert "maxItems" in schema, f"unbounded list: {schema}"
        return [costliest(schema["items"], defs)] * schema["maxItems"]
    if kind == "string":
        if schema.get("format") == "uuid":
            return "00000000-0000-0000-0000-000000000000"
        if schema.get("format") == "date":
            return "2026-10-14"
        assert "maxLength" in schema, f"unbounded string: {schema}"
        return ASTRAL * schema["maxLength"]
    if kind == "integer":
        return -10 ** 18
    if kind == "number":
        return -1.2345678901234567e-300
    if kind == "boolean":
        return False
    raise AssertionError(f"no bound known for {schema}")


def test_every_legal_request_body_fits_the_cap() -> None:
    document = TestClient(create_app(None)).get("/openapi.json").json()  # type: ignore[arg-type]
    defs = document["components"]["schemas"]
    sizes = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            schema = body["content"]["application/json"]["schema"]
            worst = json.dumps(costliest(schema, defs), ensure_ascii=True, indent=4)
            sizes[f"{method.upper()} {path}"] = len(worst.encode())
    assert sizes
    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] < MAX_BODY_BYTES, (largest, sizes[largest])
