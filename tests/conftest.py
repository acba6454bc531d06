"""Shared fixtures: real SQLite files and a real PostgreSQL database, a settable clock,
and a small school set up through the application's own use cases."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

import ledger
from application.actors import Actor
from application.config import Settings
from application.journal import Journal
from application.service import Ejournal
from application.storage.layout import schema_of
from domain.values import OrderRef, Role

PG_URL = os.environ.get("EJOURNAL_TEST_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")
_created_slugs: list[str] = []


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    return PG_URL


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _created_slugs or not postgres_available():
        return
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            # The directory exists once a PostgreSQL test created an institution.
            directory = conn.execute(
                "SELECT to_regclass('ejournal.institutions')").fetchone()
            for slug in _created_slugs:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema_of(slug)}" CASCADE')
                if directory is not None and directory[0] is not None:
                    conn.execute("DELETE FROM ejournal.access_tokens WHERE slug = %s",
                                 (slug,))
                    conn.execute("DELETE FROM ejournal.institutions WHERE slug = %s",
                                 (slug,))
    except psycopg.Error as error:  # clean-up only: never hide the session's report
        print(f"\nPostgreSQL clean-up incomplete: {error}")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 10, 15, 9, 0, tzinfo=UTC))
    # Run, one per reading of the clock, once each: lets a test act "while" a command
    # runs (every command reads the clock after it began and before it saves).
    interruptions: list[Callable[[], object]] = field(default_factory=list)

    def __call__(self) -> datetime:
        if self.interruptions:
            self.interruptions.pop(0)()
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys") / "keys"
    ledger.generate_key(directory)
    return directory


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ejournal.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ejournal(database_url: str, key_dir: Path, clock: Clock) -> Iterator[Ejournal]:
    service = Ejournal(Settings(database_url=database_url, key_dir=key_dir), clock, owner=True)
    yield service
    service.close()


def new_slug() -> str:
    slug = "t" + secrets.token_hex(6)
    _created_slugs.append(slug)
    return slug


def staff(slug: str, person_id: UUID, *roles: Role) -> Actor:
    return Actor(slug, person_id, "staff", frozenset(roles))


@dataclass
class School:
    """A small school: one year of two quarters, one group of three students (and
    a second group), mathematics taught by one teacher, a curator, a guardian."""

    slug: str
    journal: Journal
    admin: Actor
    director: Actor
    deputy: Actor
    teacher: Actor
    other_teacher: Actor
    curator: Actor
    year_id: UUID
    math: UUID
    physics: UUID
    group: UUID
    other_group: UUID
    students: list[UUID]
    outsider: UUID  # a student of the other group
    guardian: Actor
    student: Actor
    assignment: UUID
    other_assignment: UUID  # physics in the same group, other teacher
    auditor: Actor  # appointed by the founder's order (the command line)
    order: OrderRef = field(default_factory=lambda: OrderRef("1-к", date(2026, 8, 25)))

    def lesson(self, day: date = date(2026, 10, 14), number: int = 1,
               kind: str = "ordinary") -> UUID:
        return self.journal.lessons.conduct_lesson(self.teacher, self.assignment, day, number,
                                           "Логарифмы", "§12", kind)


def build_school(ejournal: Ejournal) -> School:
    slug = new_slug()
    ejournal.create_institution(slug, "Гимназия № 139", "Europe/Moscow")
    j = ejournal.journal(slug)
    # The founder's order (the command line) appoints the director; the director the
    # administrator and the deputy; the administration hires teachers.
    director = staff(slug, j.access.hire_staff(None, "Борпер Татьяна Семёновна", ["director"]),
                     Role.DIRECTOR)
    admin = staff(slug, j.access.hire_staff(director, "Ахметов Руслан Ильдарович", ["admin"]),
                  Role.ADMIN)
    deputy = staff(slug, j.access.hire_staff(director, "Гарипова Лилия Ринатовна", ["deputy"]),
                   Role.DEPUTY)
    teacher = staff(slug, j.access.hire_staff(admin, "Каримова Эльвира Маратовна", ["teacher"]),
                    Role.TEACHER)
    other = staff(slug, j.access.hire_staff(admin, "Соловьёв Павел Андреевич", ["teacher"]),
                  Role.TEACHER)
    curator = staff(slug, j.access.hire_staff(admin, "Белова Ирина Викторовна", ["teacher"]),
                    Role.TEACHER)
    year_id = j.setup.open_academic_year(admin, "2026/2027", date(2026, 9, 1), date(2027, 5, 31), [
        {"kind": "quarter", "title": "1 четверть", "starts": date(2026, 9, 1),
         "ends": date(2026, 10, 25)},
        {"kind": "quarter", "title": "2 четверть", "starts": date(2026, 11, 5),
         "ends": date(2026, 12, 28)},
    ])
    math = j.setup.add_discipline(admin, "Математика", "subject", 136)
    physics = j.setup.add_discipline(admin, "Физика", "subject", 68)
    group = j.setup.form_group(admin, year_id, "10А", curator.person_id)
    other_group = j.setup.form_group(admin, year_id, "10Б", None)
    order = OrderRef("1-к", date(2026, 8, 25))
    students = []
    for name in ("Иванова Анна Сергеевна", "Петров Борис Андреевич", "Сидоров Вадим Ильич"):
        sid = j.roster.admit_student(admin, name, date(2010, 5, 1))
        j.roster.enrol(admin, sid, group, order, date(2026, 9, 1))
        students.append(sid)
    outsider = j.roster.admit_student(admin, "Фёдорова Галина Петровна", None)
    j.roster.enrol(admin, outsider, other_group, order, date(2026, 9, 1))
    guardian_id = j.roster.register_guardian(admin, "Иванов Сергей Петрович", [students[0]],
                                      "Свидетельство о рождении II-ЕР 123456")
    assignment = j.setup.make_assignment(admin, teacher.person_id, group, None, math,
                                   date(2026, 9, 1))
    other_assignment = j.setup.make_assignment(admin, other.person_id, group, None, physics,
                                         date(2026, 9, 1))
    auditor_id = j.access.appoint_auditor(None, "Орлова Вера Николаевна",
                                          "Приказ учредителя № 12 от 01.09.2026")
    return School(
        auditor=Actor(slug, auditor_id, "auditor", frozenset({Role.AUDITOR})),
        slug=slug, journal=j, admin=admin, director=director, deputy=deputy, teacher=teacher,
        other_teacher=other, curator=curator, year_id=year_id, math=math, physics=physics,
        group=group, other_group=other_group, students=students, outsider=outsider,
        guardian=Actor(slug, guardian_id, "guardian", frozenset({Role.GUARDIAN})),
        student=Actor(slug, students[0], "student", frozenset({Role.STUDENT})),
        assignment=assignment, other_assignment=other_assignment,
    )


@pytest.fixture
def school(ejournal: Ejournal) -> School:
    return build_school(ejournal)
