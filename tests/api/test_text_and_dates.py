"""Texts refuse control, bidirectional and separator characters (the API with a 422
naming the character, the domain again with InvalidValue); dates stay within a sane range."""

from __future__ import annotations

import re
import sys
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.schemas import LINE_PATTERN, MULTILINE_PATTERN
from domain.errors import InvalidValue
from domain.values import (
    EARLIEST_DATE,
    LATEST_DATE,
    OrderRef,
    forbidden_character,
    require_text,
)
from tests.api.conftest import Api

FORBIDDEN = ([chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]
             + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
             + [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
             + ["\ud800", "\udfff"])
IN_MULTILINE = [c for c in FORBIDDEN if c not in "\t\n"]


def forbidden_chars(multiline: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(IN_MULTILINE if multiline else FORBIDDEN)


@given(st.text(max_size=50), st.booleans(), st.data())
def test_require_text_refuses_any_text_holding_a_forbidden_character(
        around: str, multiline: bool, data: st.DataObject) -> None:
    bad = data.draw(forbidden_chars(multiline))
    at = data.draw(st.integers(0, len(around)))
    text = around[:at] + bad + around[at:]
    with pytest.raises(InvalidValue) as refused:
        require_text(text, "topic", "тема", 2000, multiline)
    assert "недопустимый символ" in refused.value.message


ALLOWED = st.characters(codec="utf-8", exclude_characters="".join(FORBIDDEN))


@given(st.text(ALLOWED, min_size=1, max_size=200), st.booleans())
def test_require_text_keeps_any_allowed_text(text: str, multiline: bool) -> None:
    if not text.strip():
        with pytest.raises(InvalidValue):
            require_text(text, "topic", "тема", 2000, multiline)
        return
    assert require_text(text, "topic", "тема", 2000, multiline) == text.strip()


@given(st.text(st.sampled_from("ab \t\n"), min_size=1, max_size=20).filter(str.strip))
def test_multiline_texts_keep_tab_and_line_feed_one_line_texts_do_not(text: str) -> None:
    assert require_text(text, "homework", "домашнее задание", multiline=True) == text.strip()
    if "\t" in text.strip() or "\n" in text.strip():
        with pytest.raises(InvalidValue):
            require_text(text, "topic", "тема")


def test_the_documented_patterns_agree_with_the_domain_for_every_code_point() -> None:
    line, multiline = re.compile(LINE_PATTERN), re.compile(MULTILINE_PATTERN)
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue  # refused, but left out of the patterns (see api/schemas.py)
        c = chr(code)
        assert (line.fullmatch(c) is None) == (forbidden_character(c) is not None), hex(code)
        if c != "\r":  # the API turns CR into LF in a multi-line text
            assert ((multiline.fullmatch(c) is None)
                    == (forbidden_character(c, multiline=True) is not None)), hex(code)


def test_orders_are_dated_within_the_range_but_stored_ones_are_read_as_they_are() -> None:
    with pytest.raises(InvalidValue):
        OrderRef("1-к", date(1, 1, 1))
    with pytest.raises(InvalidValue):
        OrderRef("1-к", date(9999, 12, 31))
    with pytest.raises(InvalidValue):
        OrderRef("1-к\u202e", date(2026, 9, 1))
    assert OrderRef("1-к", EARLIEST_DATE).date == EARLIEST_DATE
    assert OrderRef("1-к", LATEST_DATE).date == LATEST_DATE
    assert OrderRef.restore("1-к", date(1, 1, 1)) == OrderRef.restore("1-к", date(1, 1, 1))


def test_the_api_refuses_control_and_bidi_characters_in_names(api: Api) -> None:
    for name in ("Иванов\x00", "Ив\x07анов", "Иванов\u202eвонавИ", "Иванов\nИван",
                 "Иванов\tИван", "Иванов\u2066", "Иванов\x85"):
        response = api.call("POST", "/students", "director", {"full_name": name})
        assert response.status_code == 422, repr(name)
        problem = response.json()
        assert problem["errors"][0]["type"] == "forbidden_character"
        assert problem["errors"][0]["field"] == "full_name"
        assert "full_name: недопустимый символ U+" in problem["detail"]


def test_a_multi_line_text_keeps_line_breaks_and_tabs_a_one_line_text_does_not(
        api: Api) -> None:
    s = api.school
    lesson = {"assignment_id": str(s.assignment), "date": "2026-10-14", "number": 3,
              "topic": "Логарифмы"}
    refused = api.call("POST", "/lessons", "teacher", {**lesson, "topic": "Лога\nрифмы"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "topic"
    created = api.call("POST", "/lessons", "teacher",
                       {**lesson, "homework": "§12\r\n№1–4\tустно\rписьменно"})
    assert created.status_code == 201, created.text
    read = api.call("GET", f"/lessons/{created.json()['id']}", "teacher").json()
    assert read["column"]["homework"] == "§12\n№1–4\tустно\nписьменно"
    bell = api.call("POST", "/lessons", "teacher", {**lesson, "number": 4, "homework": "§\x07"})
    assert bell.status_code == 422


def test_lone_surrogates_are_refused(api: Api) -> None:
    raw = b'{"full_name": "\\ud800\\u0418"}'
    response = api.client.post("/api/v1/students", content=raw, headers={
        **api.headers("director"), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "full_name"


def test_dates_outside_the_range_are_422(api: Api) -> None:
    s = api.school
    order = {"student_id": str(s.students[0]), "order": {"number": "9-к", "date": "0001-01-01"},
             "effective": "9999-12-31"}
    response = api.call("POST", "/orders/academic-leaves", "director", order)
    assert response.status_code == 422
    fields = {e["field"]: e for e in response.json()["errors"]}
    assert set(fields) == {"order.date", "effective"}
    assert fields["effective"]["type"] == "date_out_of_range"
    assert "01.01.2000–31.12.2100" in fields["effective"]["message"]
    old = api.call("POST", "/students", "director",
                   {"full_name": "Старейшая Анна", "birth_date": "1905-03-01"})
    assert old.status_code == 201
    assert api.call("POST", "/students", "director",
                    {"full_name": "Древняя Анна", "birth_date": "1899-12-31"}).status_code == 422
    assert api.call("GET", f"/groups/{s.group}?on=9999-12-31", "director").status_code == 422
    diary = api.call("GET", f"/students/{s.students[0]}/diary?from=9999-12-31", "director")
    assert diary.status_code == 422


def test_every_text_of_every_request_body_is_checked() -> None:
    """A plain `str` in a request body would let control characters through: every string
    property is an enumeration, an id, a date, or one of the checked text types."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    document = TestClient(create_app(None)).get("/openapi.json").json()  # type: ignore[arg-type]
    schemas = document["components"]["schemas"]
    bodies = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
              for item in document["paths"].values() for op in item.values()
              if "requestBody" in op}
    seen: set[str] = set()

    def walk(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for field, prop in schemas[name].get("properties", {}).items():
            for option in prop.get("anyOf", [prop]):
                if "$ref" in option:
                    walk(option["$ref"].rsplit("/")[-1])
                    continue
                items = option.get("items", {})
                if "$ref" in items:
                    walk(items["$ref"].rsplit("/")[-1])
                elif items.get("type") == "string" and "enum" not in items:
                    assert items.get("format") in ("uuid", "date") or items.get("pattern") in (
                        LINE_PATTERN, MULTILINE_PATTERN), (name, field)
                extra = option.get("additionalProperties")
                if isinstance(extra, dict) and "$ref" in extra:
                    walk(extra["$ref"].rsplit("/")[-1])
                if option.get("type") == "string" and "enum" not in option:
                    assert (option.get("format") in ("uuid", "date")
                            or option.get("pattern") in (LINE_PATTERN, MULTILINE_PATTERN)), (
                        name, field)

    for body in bodies:
        walk(body)
    assert {"LessonSheetIn", "CorrectionIn", "Order", "AttendanceIn"} <= seen
