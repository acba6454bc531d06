"""Statements through the HTTP API: JSON, CSV and PDF with their media types."""

from __future__ import annotations

from datetime import date

from domain.values import MarkValue, OrderRef
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


def test_every_new_statement_comes_through_the_api(api: Api) -> None:
    group = api.school.group
    paths = {
        "group-results": f"/statements/group-results?group_id={group}&period=1",
        "curator-preliminary": f"/statements/curator-preliminary?group_id={group}&period=1",
        "attendance-by-month": f"/statements/attendance-by-month?group_id={group}"
                               "&from=2026-09-01&to=2026-10-31",
        "debts": "/statements/debts",
        "control": "/statements/control?from=2026-09-01&to=2026-10-31",
        "forecast": f"/statements/forecast?group_id={group}&period=1",
        "year-snapshot": "/statements/year-snapshot",
    }
    for kind, path in paths.items():
        response = api.call("GET", path, "director")
        assert response.status_code == 200, (kind, response.text[:300])
        assert response.json()["kind"] == kind
        csv_ = api.call("GET", path + "&format=csv" if "?" in path else path + "?format=csv",
                        "director")
        assert csv_.headers["content-type"].startswith("text/csv")
    assert api.call("GET", "/statements/forecast?period=1", "director").status_code == 422
    assert api.call("GET", f"/statements/forecast?group_id={group}&period=year",
                    "director").status_code == 422


def test_the_policy_takes_the_rates_setting(api: Api) -> None:
    body = {"windows": {"lesson": {"rule": "none"}}, "rates": {"exempt": "success"},
            "order": {"number": "90-од", "date": "2026-10-01"}}
    assert api.call("PUT", "/policy", "director", body).status_code == 204
    assert api.call("GET", "/policy", "director").json()["rates"] == {
        "passed": "success", "not_attested": "failure", "exempt": "success"}
    bad = api.call("PUT", "/policy/draft", "admin", {"rates": {"exempt": "maybe"}})
    assert bad.status_code == 422
    draft = api.call("PUT", "/policy/draft", "admin", {"rates": {"passed": "excluded"}})
    assert draft.status_code == 204
    assert api.call("GET", "/policy", "director").json()["draft"]["rates"]["passed"] == \
        "excluded"


def test_the_diary_shows_the_students_own_period_marks_and_debts(api: Api) -> None:
    s = api.school
    anna = s.students[0]
    s.journal.period_marks.set_period_mark(s.teacher, s.group, s.math, "1", anna,
                                           MarkValue.TWO, None)
    for role in ("student", "guardian"):
        diary = api.call("GET", f"/students/{anna}/diary?from=2026-10-12&to=2026-10-18",
                         role).json()
        assert diary["period_marks"] == [{"discipline_name": "Математика", "period": "1",
                                          "value": "2", "academic_debt": True}]


UNKNOWN = "00000000-0000-0000-0000-000000000000"


def test_a_students_forecast_comes_only_in_a_group_of_the_student(api: Api) -> None:
    """Issue: the guardian's forecast with group_id=<unknown> was a 500, with another
    group's id that group's name and disciplines. Now both are the same 404 for every
    role, naming neither the group nor anything in it; the student's own group is 200."""
    s = api.school
    anna = s.students[0]
    base = f"/statements/forecast?period=1&student_id={anna}"
    for role in ("guardian", "student", "curator", "director"):
        own = api.call("GET", base + f"&group_id={s.group}", role)
        assert own.status_code == 200, (role, own.text[:300])
        assert own.json()["header"]["group"] == "10А"
        refused = [api.call("GET", base + f"&group_id={group}", role)
                   for group in (UNKNOWN, s.other_group)]
        for response in refused:
            assert response.status_code == 404, (role, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json"
            assert "10Б" not in response.text and str(s.other_group) not in response.text
        assert refused[0].json() == refused[1].json()


def test_a_students_debts_come_only_in_a_group_of_the_student(api: Api) -> None:
    s = api.school
    base = f"/statements/debts?student_id={s.students[0]}"
    for role in ("guardian", "student", "curator", "director"):
        assert api.call("GET", base + f"&group_id={s.group}", role).status_code == 200
        refused = [api.call("GET", base + f"&group_id={group}", role)
                   for group in (UNKNOWN, s.other_group)]
        assert [r.status_code for r in refused] == [404, 404], role
        assert refused[0].json() == refused[1].json()


def test_a_transferred_students_forecast_comes_in_their_former_group_too(api: Api) -> None:
    s = api.school
    vadim = s.students[2]
    s.journal.roster.transfer(s.admin, vadim, s.other_group, OrderRef("9-к", date(2026, 10, 1)),
                              date(2026, 10, 1))
    for group, name in ((s.group, "10А"), (s.other_group, "10Б")):
        response = api.call("GET", f"/statements/forecast?period=1&student_id={vadim}"
                                   f"&group_id={group}", "director")
        assert response.status_code == 200, response.text[:300]
        assert response.json()["header"]["group"] == name


def test_an_unknown_group_is_404_to_staff_and_the_same_403_as_any_group_to_families(
        api: Api) -> None:
    """Group-level documents are never a family's: whether the group exists or not, a
    student or guardian gets the same refusal (no oracle of group ids)."""
    s = api.school
    paths = ["/statements/progress?period=1&group_id={}",
             "/statements/group-results?period=1&group_id={}",
             "/statements/curator-preliminary?period=1&group_id={}",
             "/statements/attendance?from=2026-09-01&to=2026-10-31&group_id={}",
             "/statements/attendance-by-month?from=2026-09-01&to=2026-10-31&group_id={}",
             "/statements/debts?group_id={}",
             "/statements/forecast?period=1&group_id={}"]
    for path in paths:
        for role in ("director", "teacher"):
            response = api.call("GET", path.format(UNKNOWN), role)
            assert response.status_code == 404, (path, role, response.text[:300])
        for role in ("guardian", "student"):
            unknown = api.call("GET", path.format(UNKNOWN), role)
            existing = api.call("GET", path.format(s.other_group), role)
            assert unknown.status_code == existing.status_code == 403, (path, role)
            assert unknown.json() == existing.json()
