"""Opening year-end archive packages (ADR 0014, addendum 2): the packages of every year
from the first, verified with pinned keys, load into a read-only instance whose journals
and statements equal the live service's; writes are refused; a package that does not
verify, a gap, another institution or unpinned keys open nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

import ledger
from api.app import create_app
from api.documents import render
from application.archive import ArchiveExport
from application.archive_open import ArchiveNotOpened, open_instance, open_packages
from application.config import Settings
from application.service import Ejournal
from domain.values import AttendanceStatus, MarkValue
from ledger import archive as fmt
from tests.application.test_archive import repack
from tests.conftest import Clock, School, build_school


@dataclass
class Live:
    ejournal: Ejournal
    school: School
    key_dir: Path
    clock: Clock
    director_token: str
    lessons: list[UUID]

    @property
    def ring(self) -> ledger.KeyRing:
        return ledger.KeyRing.from_directory(self.key_dir)

    def export(self, year: str, out: Path) -> Path:
        ArchiveExport(self.ejournal, render).export_year(self.school.slug, year, out)
        return out


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    key_dir = tmp_path / "keys"
    ledger.generate_key(key_dir)
    clock = Clock()
    ejournal = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 'live.sqlite3'}",
                                 key_dir=key_dir), clock)
    school = build_school(ejournal)
    j = school.journal
    lessons = []
    for number in (1, 2, 3):
        lesson = school.lesson(number=number)
        lessons.append(lesson)
        j.lessons.record_mark(school.teacher, lesson, school.students[0], MarkValue.FOUR)
        j.lessons.record_attendance(school.teacher, lesson, school.students[1],
                                    AttendanceStatus.ABSENT, None)
    token = ejournal.issue_token(school.slug, school.director.person_id, "staff")
    yield Live(ejournal, school, key_dir, clock, token, lessons)
    ejournal.close()


def reads(client: TestClient, token: str, school: School) -> dict[str, object]:
    """What the API serves of the school's journal: its group, its journal page, its
    statements (JSON)."""
    headers = {"Authorization": f"Bearer {token}"}
    paths = [f"/groups/{school.group}",
             f"/journals/{school.group}/{school.math}/1",
             f"/statements/progress?group_id={school.group}&period=year",
             f"/statements/attendance?group_id={school.group}&from=2026-09-01"
             f"&to=2026-10-15"]
    found = {}
    for path in paths:
        response = client.get("/api/v1" + path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        found[path] = response.json()
    return found


def test_an_opened_archive_serves_the_journals_and_statements_of_the_live_service(
        live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")
    slug = open_packages([package], live.ring, tmp_path / "opened")
    assert slug == live.school.slug
    opened, token = open_instance(tmp_path / "opened")
    try:
        expected = reads(TestClient(create_app(live.ejournal)), live.director_token,
                         live.school)
        assert reads(TestClient(create_app(opened)), token, live.school) == expected
    finally:
        opened.close()


def test_an_opened_archive_refuses_every_write_and_unknown_tokens(
        live: Live, tmp_path: Path) -> None:
    open_packages([live.export("2026/2027", tmp_path / "year.zip")], live.ring,
                  tmp_path / "opened")
    opened, token = open_instance(tmp_path / "opened")
    try:
        client = TestClient(create_app(opened))
        response = client.post("/api/v1/disciplines",
                               headers={"Authorization": f"Bearer {token}"},
                               json={"name": "Астрономия", "kind": "subject",
                                     "planned_hours": 34})
        assert response.status_code == 403
        assert response.json()["code"] == "read_only"
        other = client.get(f"/api/v1/groups/{live.school.group}",
                           headers={"Authorization": "Bearer eja_not-the-token"})
        assert other.status_code == 401
    finally:
        opened.close()


@pytest.mark.parametrize("write", ["valid", "invalid body", "no body"])
def test_an_opened_archive_refuses_a_write_as_read_only_before_validating_it(
        live: Live, tmp_path: Path, write: str) -> None:
    """A teacher's own kind of write (PATCH a lesson) is 403 `read_only`, not `forbidden`
    for the reader's role, nor 422 for its body: the instance writes nothing."""
    open_packages([live.export("2026/2027", tmp_path / "year.zip")], live.ring,
                  tmp_path / "opened")
    opened, token = open_instance(tmp_path / "opened")
    try:
        client = TestClient(create_app(opened))
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/lessons/{live.lessons[0]}"
        response = {
            "valid": lambda: client.patch(path, headers=headers, json={"topic": "Дроби"}),
            "invalid body": lambda: client.patch(path, headers=headers,
                                                 json={"topic": 42, "unknown": True}),
            "no body": lambda: client.post(f"{path}/marks/{live.lessons[1]}/cancellation",
                                           headers=headers),
        }[write]()
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "read_only"
    finally:
        opened.close()


def test_an_opened_archive_describes_its_reader_at_me(live: Live, tmp_path: Path) -> None:
    open_packages([live.export("2026/2027", tmp_path / "year.zip")], live.ring,
                  tmp_path / "opened")
    opened, token = open_instance(tmp_path / "opened")
    try:
        response = TestClient(create_app(opened)).get(
            "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        me = response.json()
        assert (me["institution"], me["kind"]) == (live.school.slug, "archive_reader")
        assert "архив" in me["full_name"].lower()
    finally:
        opened.close()


def next_year(live: Live) -> None:
    """2027/2028 opened during 2026/2027, then a group formed in it."""
    j, school = live.school.journal, live.school
    year = j.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                      date(2028, 5, 31), [
        {"kind": "quarter", "title": "1 четверть", "starts": date(2027, 9, 1),
         "ends": date(2027, 10, 25)}])
    live.clock.now = datetime(2027, 9, 2, 9, 0, tzinfo=UTC)
    j.setup.form_group(school.admin, year, "11А", None)


def test_the_packages_of_consecutive_years_tile_the_chain_and_open_together(
        live: Live, tmp_path: Path) -> None:
    next_year(live)
    first = live.export("2026/2027", tmp_path / "first.zip")  # after the year ended
    second = live.export("2027/2028", tmp_path / "second.zip")
    metas = [json.loads(_member(p, fmt.PACKAGE)) for p in (first, second)]
    assert metas[0]["first_position"] == 1
    assert 1 < metas[1]["first_position"] <= metas[0]["last_position"] + 1
    with pytest.raises(ArchiveNotOpened, match="не с первой"):
        open_packages([second], live.ring, tmp_path / "alone")
    assert open_packages([second, first], live.ring, tmp_path / "both") == live.school.slug
    opened, token = open_instance(tmp_path / "both")
    try:
        response = TestClient(create_app(opened)).get(
            "/api/v1/institution", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert {y["title"] for y in response.json()["years"]} == {"2026/2027", "2027/2028"}
    finally:
        opened.close()


def test_a_year_exported_before_it_ended_leaves_a_gap_that_opens_nothing(
        live: Live, tmp_path: Path) -> None:
    early = live.export("2026/2027", tmp_path / "early.zip")  # still in October
    next_year(live)  # the next year is opened in October too: in neither package
    second = live.export("2027/2028", tmp_path / "second.zip")
    with pytest.raises(ArchiveNotOpened, match="Пропуск"):
        open_packages([early, second], live.ring, tmp_path / "opened")


def test_a_package_that_does_not_verify_opens_nothing(live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")

    def forge(files: dict[str, bytes]) -> None:
        header, *lines = files[fmt.ENTRIES].decode().splitlines()
        entry = json.loads(lines[5])
        entry["event"]["topic"] = entry["event"]["topic"] + "X"
        lines[5] = json.dumps(entry)
        files[fmt.ENTRIES] = ("\n".join([header, *lines]) + "\n").encode()

    forged = repack(package, tmp_path / "forged.zip", forge, key_dir=live.key_dir)
    with pytest.raises(ArchiveNotOpened, match="не прошёл проверку"):
        open_packages([forged], live.ring, tmp_path / "opened")
    assert not any((tmp_path / "opened").glob("*.sqlite3"))


def test_keys_taken_from_the_package_alone_open_nothing(live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")
    with pytest.raises(ArchiveNotOpened, match="ключ проверки не указан"):
        open_packages([package], None, tmp_path / "opened")


def test_an_archive_opens_only_into_an_empty_directory(live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("x")
    with pytest.raises(ArchiveNotOpened, match="не пуст"):
        open_packages([package], live.ring, tmp_path / "busy")


def _member(path: Path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/", 1)[0] + "/"
        return z.read(root + name)


def test_the_same_package_named_twice_opens_nothing(live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")
    with pytest.raises(ArchiveNotOpened, match="указан дважды"):
        open_packages([package, package], live.ring, tmp_path / "opened")
    assert not (tmp_path / "opened").exists()


def test_a_copy_of_the_same_package_opens_nothing(live: Live, tmp_path: Path) -> None:
    package = live.export("2026/2027", tmp_path / "year.zip")
    copy = tmp_path / "copy.zip"
    copy.write_bytes(package.read_bytes())
    with pytest.raises(ArchiveNotOpened, match="один и тот же архив"):
        open_packages([package, copy], live.ring, tmp_path / "opened")
    assert not (tmp_path / "opened").exists()
