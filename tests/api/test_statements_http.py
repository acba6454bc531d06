"""Statements through the HTTP API: JSON, CSV and PDF with their media types."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_statement_comes_as_json_csv_and_pdf(api: Api) -> None:
    path = f"/statements/progress?group_id={api.school.group}&period=1"
    json_ = api.call("GET", path, "director")
    assert json_.status_code == 200 and json_.json()["kind"] == "progress"
    assert json_.json()["header"]["ledger"]["position"] > 0
    csv_ = api.call("GET", path + "&format=csv", "director")
    assert csv_.headers["content-type"].startswith("text/csv")
    assert csv_.content.startswith(b"\xef\xbb\xbf")
    pdf = api.call("GET", path + "&format=pdf", "curator")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_an_unknown_format_or_period_is_a_clear_error(api: Api) -> None:
    base = f"/statements/progress?group_id={api.school.group}"
    assert api.call("GET", base + "&period=1&format=docx", "director").status_code == 422
    missing = api.call("GET", base + "&period=7", "director")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_a_reversed_date_range_is_refused(api: Api) -> None:
    response = api.call("GET", "/statements/movement?from=2026-10-31&to=2026-09-01",
                        "director")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_value"
