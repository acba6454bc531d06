"""Archive packages across key rotations (ADR 0016): a package carries every
announcement with its inclusion proof and each key's stretch of the chain; an auditor
who pinned only the institution's first key verifies packages signed by later keys; a
hidden or forged announcement is caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import ledger
from api.documents import render
from application.archive import ArchiveExport
from application.config import Settings
from application.service import Ejournal
from domain.values import MarkValue
from ledger import archive as fmt
from tests.application.test_archive import members, repack
from tests.conftest import Clock, School, build_school


@dataclass
class Rotated:
    ejournal: Ejournal
    school: School
    key_dir: Path
    first_key: str
    second_key: str
    clock: Clock


@pytest.fixture
def rotated(tmp_path: Path) -> Iterator[Rotated]:
    """A school on SQLite with keys of its own, its key rotated in the middle of
    2026/2027 (marks before and after)."""
    key_dir = tmp_path / "keys"
    ledger.generate_key(key_dir)
    clock = Clock()
    ejournal = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 'e.sqlite3'}",
                                 key_dir=key_dir), clock)
    school = build_school(ejournal)
    first_key = ledger.active_key(key_dir)
    j = school.journal
    j.lessons.record_mark(school.teacher, school.lesson(number=1), school.students[0],
                          MarkValue.FOUR)
    second_key = ejournal.rotate_signing_key("Приказ № 12 от 14.10.2026").successor
    j.lessons.record_mark(school.teacher, school.lesson(number=2), school.students[0],
                          MarkValue.FIVE)
    yield Rotated(ejournal, school, key_dir, first_key, second_key, clock)
    ejournal.close()


def pinned(r: Rotated, *keys: str) -> ledger.KeyRing:
    ring = ledger.KeyRing.from_directory(r.key_dir)
    return ledger.KeyRing({k: ring.public_key(k) for k in keys})


def test_a_package_spanning_a_rotation_verifies_with_only_the_first_key_pinned(
        rotated: Rotated, tmp_path: Path) -> None:
    path = tmp_path / "year.zip"
    ArchiveExport(rotated.ejournal, render).export_year(rotated.school.slug, "2026/2027",
                                                        path)
    report = fmt.verify_archive(path, pinned(rotated, rotated.first_key))
    assert report.ok, report.problem
    assert any(f"key {rotated.second_key}: trusted through its announcement" in fact
               for fact in report.facts)
    _, files = members(path)
    validity = json.loads(files[fmt.VALIDITY])
    position = validity[rotated.first_key]["in_force_to"]
    assert validity == {
        rotated.first_key: {"in_force_from": 1, "in_force_to": position},
        rotated.second_key: {"in_force_from": position + 1, "in_force_to": None}}
    (line,) = files[fmt.ROTATIONS].decode().splitlines()
    assert json.loads(line)["entry"]["position"] == position


def test_a_later_year_verifies_with_the_first_key_through_the_announcement_before_it(
        rotated: Rotated, tmp_path: Path) -> None:
    j, school = rotated.school.journal, rotated.school
    year = j.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                      date(2028, 5, 31), [
        {"kind": "quarter", "title": "1 четверть", "starts": date(2027, 9, 1),
         "ends": date(2027, 10, 25)}])
    rotated.clock.now = datetime(2027, 9, 2, 9, 0, tzinfo=UTC)
    j.setup.form_group(school.admin, year, "11А", None)
    path = tmp_path / "next.zip"
    ArchiveExport(rotated.ejournal, render).export_year(school.slug, "2027/2028", path)
    _, files = members(path)
    package = json.loads(files[fmt.PACKAGE])
    assert json.loads(files[fmt.ROTATIONS].decode().splitlines()[0])["entry"]["position"] \
        < package["first_position"]
    assert fmt.verify_archive(path, pinned(rotated, rotated.first_key)).ok
    # The retired key pinned alone cannot vouch for a package whose announcement is gone.
    hidden = repack(path, tmp_path / "hidden.zip",
                    lambda f: f.update({fmt.ROTATIONS: b""}), key_dir=rotated.key_dir)
    report = fmt.verify_archive(hidden, pinned(rotated, rotated.first_key))
    assert not report.ok and report.problem is not None
    assert report.problem.member == fmt.SIGNATURE  # the second key is not trusted


def test_a_removed_announcement_is_caught_even_with_every_key_pinned(
        rotated: Rotated, tmp_path: Path) -> None:
    path = tmp_path / "year.zip"
    ArchiveExport(rotated.ejournal, render).export_year(rotated.school.slug, "2026/2027",
                                                        path)
    both = pinned(rotated, rotated.first_key, rotated.second_key)
    hidden = repack(path, tmp_path / "hidden.zip",
                    lambda f: f.update({fmt.ROTATIONS: b""}), key_dir=rotated.key_dir)
    report = fmt.verify_archive(hidden, both)
    assert not report.ok and report.problem is not None
    assert report.problem.member == fmt.ROTATIONS  # the entries hold an announcement


def test_an_announcement_with_a_broken_inclusion_proof_is_caught(
        rotated: Rotated, tmp_path: Path) -> None:
    path = tmp_path / "year.zip"
    ArchiveExport(rotated.ejournal, render).export_year(rotated.school.slug, "2026/2027",
                                                        path)

    def break_proof(files: dict[str, bytes]) -> None:
        line = json.loads(files[fmt.ROTATIONS])
        line["inclusion_proof"] = line["inclusion_proof"][:-1]
        files[fmt.ROTATIONS] = (json.dumps(line) + "\n").encode()

    broken = repack(path, tmp_path / "broken.zip", break_proof, key_dir=rotated.key_dir)
    report = fmt.verify_archive(broken, pinned(rotated, rotated.first_key,
                                               rotated.second_key))
    assert not report.ok and report.problem is not None
    assert report.problem.member == fmt.ROTATIONS
    assert "inclusion proof" in report.problem.what


def test_a_package_hiding_an_announcement_its_entries_hold_is_caught(
        rotated: Rotated, tmp_path: Path) -> None:
    path = tmp_path / "year.zip"
    ArchiveExport(rotated.ejournal, render).export_year(rotated.school.slug, "2026/2027",
                                                        path)
    lie = json.dumps({rotated.second_key: {"in_force_from": 1, "in_force_to": None}})
    hidden = repack(path, tmp_path / "hidden.zip",
                    lambda f: (f.pop(fmt.ROTATIONS), f.update({fmt.VALIDITY: lie.encode()})),
                    key_dir=rotated.key_dir)
    report = fmt.verify_archive(hidden, pinned(rotated, rotated.first_key,
                                               rotated.second_key))
    assert not report.ok and report.problem is not None
    assert report.problem.member == fmt.ROTATIONS
