"""The institution: its name, time zone, academic years with periods, disciplines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import Aggregate, event

from domain.errors import DateOutsideYear, DuplicateEntry, InvalidValue, NotFound
from domain.values import Act, DisciplineKind, PeriodKind, require_text

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
NAMESPACE = uuid5(NAMESPACE_URL, "https://ejournal.invalid/institution")


@dataclass(frozen=True)
class Period:
    number: int
    kind: str
    title: str
    starts: date
    ends: date  # inclusive

    def covers(self, day: date) -> bool:
        return self.starts <= day <= self.ends


@dataclass(frozen=True)
class AcademicYear:
    year_id: UUID
    title: str
    starts: date
    ends: date  # inclusive
    periods: tuple[Period, ...]

    def period_of(self, day: date) -> Period:
        for period in self.periods:
            if period.covers(day):
                return period
        raise DateOutsideYear(
            f"Дата {day:%d.%m.%Y} не входит ни в один учебный период {self.title} года.",
            date=day.isoformat(),
        )

    def period(self, number: int) -> Period:
        for period in self.periods:
            if period.number == number:
                return period
        raise NotFound(f"В {self.title} учебном году нет периода №{number}.")


@dataclass(frozen=True)
class Discipline:
    discipline_id: UUID
    name: str
    kind: str
    planned_hours: int


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidValue(
            "Код организации: латинские строчные буквы, цифры и «_», от 2 до 40 символов, "
            "начинается с буквы.",
            field="slug",
        )
    return slug


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(
            f"Неизвестный часовой пояс «{name}» (ожидается, например, Europe/Moscow).",
            field="timezone",
        ) from None
    return name


def build_periods(starts: date, ends: date, raw: list[dict[str, Any]]) -> tuple[Period, ...]:
    if not raw:
        raise InvalidValue("Учебный год должен содержать хотя бы один период.", field="periods")
    periods: list[Period] = []
    for i, item in enumerate(sorted(raw, key=lambda p: p["starts"]), start=1):
        kind = PeriodKind(item["kind"]).value
        period = Period(
            number=i,
            kind=kind,
            title=require_text(item["title"], "periods.title", "название периода", 100),
            starts=item["starts"],
            ends=item["ends"],
        )
        if period.ends < period.starts:
            raise InvalidValue(f"Период «{period.title}» кончается раньше, чем начинается.",
                               field="periods")
        if period.starts < starts or period.ends > ends:
            raise InvalidValue(f"Период «{period.title}» выходит за границы учебного года.",
                               field="periods")
        if periods and period.starts <= periods[-1].ends:
            raise InvalidValue(
                f"Периоды «{periods[-1].title}» и «{period.title}» пересекаются.", field="periods"
            )
        periods.append(period)
    return tuple(periods)


class Institution(Aggregate):
    """An educational organisation: the unit of placement, of the ledger chain and of
    the archive. Its id derives from its slug."""

    @staticmethod
    def create_id(slug: str, **_: Any) -> UUID:
        return uuid5(NAMESPACE, slug)

    @event("Registered")
    def __init__(self, slug: str, name: str, timezone: str, act: Act) -> None:
        self.slug = slug
        self.name = name
        self.timezone = timezone
        self.years: dict[UUID, AcademicYear] = {}
        self.disciplines: dict[UUID, Discipline] = {}
        self.groups: dict[UUID, tuple[str, UUID]] = {}

    @classmethod
    def register(cls, slug: str, name: str, timezone: str, act: Act) -> Institution:
        return cls(
            slug=check_slug(slug),
            name=require_text(name, "name", "наименование", 300),
            timezone=check_timezone(timezone),
            act=act,
        )

    # Academic years -----------------------------------------------------------------
    def open_year(
        self, year_id: UUID, title: str, starts: date, ends: date,
        periods: list[dict[str, Any]], act: Act,
    ) -> None:
        title = require_text(title, "title", "учебный год", 20)
        if ends <= starts:
            raise InvalidValue("Учебный год кончается раньше, чем начинается.", field="ends")
        built = build_periods(starts, ends, periods)
        for year in self.years.values():
            if year.title == title:
                raise DuplicateEntry(f"Учебный год {title} уже открыт.")
            if starts <= year.ends and year.starts <= ends:
                raise InvalidValue(f"Учебный год пересекается с {year.title}.", field="starts")
        self._year_opened(
            year_id=year_id, title=title, starts=starts, ends=ends,
            periods=[
                {"number": p.number, "kind": p.kind, "title": p.title,
                 "starts": p.starts, "ends": p.ends}
                for p in built
            ],
            act=act,
        )

    @event("AcademicYearOpened")
    def _year_opened(
        self, year_id: UUID, title: str, starts: date, ends: date,
        periods: list[dict[str, Any]], act: Act,
    ) -> None:
        self.years[year_id] = AcademicYear(
            year_id=year_id, title=title, starts=starts, ends=ends,
            periods=tuple(Period(**p) for p in periods),
        )

    def year(self, year_id: UUID) -> AcademicYear:
        try:
            return self.years[year_id]
        except KeyError:
            raise NotFound("Учебный год не найден.", year_id=str(year_id)) from None

    # Disciplines --------------------------------------------------------------------
    def add_discipline(
        self, discipline_id: UUID, name: str, kind: str, planned_hours: int, act: Act
    ) -> None:
        name = require_text(name, "name", "наименование дисциплины", 300)
        kind = DisciplineKind(kind).value
        if not 0 <= planned_hours <= 10000:
            raise InvalidValue("Плановое число часов должно быть от 0 до 10000.",
                               field="planned_hours")
        if any(d.name == name for d in self.disciplines.values()):
            raise DuplicateEntry(f"Дисциплина «{name}» уже есть.")
        self._discipline_added(
            discipline_id=discipline_id, name=name, kind=kind,
            planned_hours=planned_hours, act=act,
        )

    @event("DisciplineAdded")
    def _discipline_added(
        self, discipline_id: UUID, name: str, kind: str, planned_hours: int, act: Act
    ) -> None:
        self.disciplines[discipline_id] = Discipline(discipline_id, name, kind, planned_hours)

    def discipline(self, discipline_id: UUID) -> Discipline:
        try:
            return self.disciplines[discipline_id]
        except KeyError:
            raise NotFound("Дисциплина не найдена.", discipline_id=str(discipline_id)) from None

    # Groups (the index of the institution's groups; each group is its own aggregate) ----
    def register_group(self, group_id: UUID, name: str, year_id: UUID, act: Act) -> None:
        self.year(year_id)
        if (name, year_id) in self.groups.values():
            raise DuplicateEntry(f"Группа «{name}» в этом учебном году уже есть.")
        self._group_registered(group_id=group_id, name=name, year_id=year_id, act=act)

    @event("GroupRegistered")
    def _group_registered(self, group_id: UUID, name: str, year_id: UUID, act: Act) -> None:
        self.groups[group_id] = (name, year_id)
