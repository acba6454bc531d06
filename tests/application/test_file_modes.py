"""SQLite files hold pupils' personal data (152-FZ): the directory file, each
institution's file and SQLite's side files are 0600, a directory made for them 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.config import Settings
from application.service import Ejournal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask 022 would leave new files 0644: the code must not rely on it."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def open_deployment(path: Path, key_dir: Path) -> Ejournal:
    return Ejournal(Settings(database_url=f"sqlite:///{path}", key_dir=key_dir))


def files_of(path: Path, slug: str) -> list[Path]:
    """The directory file, the institution's file, and their side files present now."""
    institution = path.with_name(f"{path.stem}.{slug}.sqlite3")
    return [f for base in (path, institution)
            for f in (base, *(base.with_name(base.name + s) for s in ("-wal", "-shm",
                                                                     "-journal")))
            if f.exists()]


def test_a_new_deployment_makes_its_directory_0700_and_its_files_0600(
        tmp_path: Path, key_dir: Path) -> None:
    path = tmp_path / "var" / "ejournal.sqlite3"
    ejournal = open_deployment(path, key_dir)
    try:
        ejournal.create_institution("lyceum", "Лицей № 1", "Europe/Moscow")
        institution = path.with_name("ejournal.lyceum.sqlite3")
        # While connections are open, in WAL mode: the side files exist too.
        present = files_of(path, "lyceum")
        assert path in present and institution in present
        assert institution.with_name(institution.name + "-wal") in present
        assert {f.name: mode(f) for f in present} == {f.name: 0o600 for f in present}
        assert mode(path.parent) == 0o700
    finally:
        ejournal.close()
    assert {f.name: mode(f) for f in files_of(path, "lyceum")} == {
        f.name: 0o600 for f in files_of(path, "lyceum")}


def test_files_left_open_by_an_older_version_are_tightened_to_0600(
        tmp_path: Path, key_dir: Path) -> None:
    path = tmp_path / "ejournal.sqlite3"
    ejournal = open_deployment(path, key_dir)
    ejournal.create_institution("lyceum", "Лицей № 1", "Europe/Moscow")
    ejournal.close()
    for f in files_of(path, "lyceum"):
        os.chmod(f, 0o644)
    ejournal = open_deployment(path, key_dir)
    try:
        ejournal.journal("lyceum")  # opens the institution's store
        present = files_of(path, "lyceum")
        assert {f.name: mode(f) for f in present} == {f.name: 0o600 for f in present}
    finally:
        ejournal.close()


def test_an_existing_data_directory_is_left_as_it_is(tmp_path: Path, key_dir: Path) -> None:
    (tmp_path / "var").mkdir()
    os.chmod(tmp_path / "var", 0o750)
    path = tmp_path / "var" / "ejournal.sqlite3"
    ejournal = open_deployment(path, key_dir)
    try:
        ejournal.create_institution("lyceum", "Лицей № 1", "Europe/Moscow")
    finally:
        ejournal.close()
    assert mode(tmp_path / "var") == 0o750
    assert mode(path) == mode(path.with_name("ejournal.lyceum.sqlite3")) == 0o600
