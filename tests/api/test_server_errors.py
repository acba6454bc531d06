"""Inputs that made the server answer 500 (found by fuzzing and by reading the code the
fuzzer pointed at), each now a problem response."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_period_key_of_unicode_digits_is_refused_not_a_500(shared_api: Api) -> None:
    """'²'.isdigit() is true but int('²') raises: the period key must be ASCII digits."""
    s = shared_api.school
    for key in ("²", "٣", "１"):
        response = shared_api.call("GET", f"/period-marks/{s.group}/{s.math}/{key}", "director")
        assert response.status_code == 422, key
        assert response.json()["code"] == "invalid_value"


def test_a_diary_from_the_last_representable_date_is_refused_not_a_500(
        shared_api: Api) -> None:
    """`to` defaults to `from` + 6 days, which overflowed past 9999-12-31."""
    s = shared_api.school
    response = shared_api.call("GET", f"/students/{s.students[0]}/diary?from=9999-12-31",
                               "director")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from"

