"""`ejournal demo --size year`: a real-sized college's whole academic year, loaded through
the same use cases the API calls, day by day on a simulated clock (every event signed and
chained, every entry judged by the college's regulation as it happens).

About 30 groups of 25 students (subgroups for languages and informatics), 10–12
disciplines per group, 17 lessons a week per group for the year's 36 weeks, marks on
about a third of the student-lessons, absences with reasons, control works, transfers,
academic leaves and expulsions by order, period and year marks, a closed period and a few
correction applications. Deterministic for a given seed: the same people, timetable,
marks and orders (aggregate ids and event timestamps are new on every load)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.demo import DemoLoaded
from api.demo import person_name as name_of
from api.demo import staff_actor as staff
from application.actors import Actor
from application.journal import AttendanceEntry, MarkEntry
from application.service import Ejournal
from domain.corrections import Target
from domain.lessons import Lesson, LessonIndex
from domain.values import (
    AbsenceReasonKind,
    AttendanceStatus,
    MarkValue,
    OrderRef,
    Role,
    WorkKind,
)

ZONE = "Europe/Moscow"
SPECIALTIES = ["ИС", "ПК", "СА", "ЭК", "БД"]  # 5 specialties × 3 courses × 2 groups = 30
DISCIPLINES = {  # name → (weekly lessons, split into subgroups, kinds of work it uses)
    "Русский язык": (2, False, (WorkKind.CONTROL,)),
    "Литература": (2, False, ()),
    "Иностранный язык": (2, True, (WorkKind.CONTROL,)),
    "Математика": (3, False, (WorkKind.CONTROL,)),
    "История": (1, False, ()),
    "Физическая культура": (2, False, (WorkKind.TEST,)),
    "Информатика": (2, True, (WorkKind.PRACTICAL,)),
    "Физика": (2, False, (WorkKind.LABORATORY, WorkKind.CONTROL)),
    "Химия": (1, False, (WorkKind.LABORATORY,)),
    "Обществознание": (1, False, ()),
    "Основы безопасности жизнедеятельности": (1, False, ()),
    "Экономика организации": (2, False, (WorkKind.PRACTICAL,)),
    "МДК.01.01 Разработка программных модулей": (3, True, (WorkKind.LABORATORY,)),
    "Операционные системы и среды": (2, False, (WorkKind.PRACTICAL,)),
}
CORE = ["Русский язык", "Литература", "Иностранный язык", "Математика", "История",
        "Физическая культура", "Информатика"]
LESSONS_PER_WEEK = 17
MARKS = [MarkValue.FIVE, MarkValue.FOUR, MarkValue.THREE, MarkValue.TWO]


@dataclass
class SimulatedClock:
    """The loader's clock: set to each school day in turn."""

    now: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=ZoneInfo(ZONE)))

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int = 16) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=ZoneInfo(ZONE))


@dataclass
class Teaching:
    assignment_id: UUID
    teacher: Actor
    discipline: str
    group: str
    subgroup: UUID | None
    kinds: tuple[WorkKind, ...]
    given: int = 0  # lessons given so far


@dataclass
class YearPlan:
    starts: date
    ends: date
    first_ends: date
    second_starts: date

    @classmethod
    def last_complete(cls, today: date) -> YearPlan:
        y = today.year - 1 if today.month >= 7 else today.year - 2
        return cls(date(y, 9, 1), date(y + 1, 6, 30), date(y, 12, 28), date(y + 1, 1, 12))

    def school_days(self) -> Iterator[date]:
        """Monday to Friday, 36 weeks: 1 September – 27 December, 12 January – 29 May
        (less the public holidays that fall on weekdays)."""
        holidays = {(11, 4), (2, 23), (3, 8), (5, 1), (5, 9)}
        day = self.starts
        last = date(self.ends.year, 5, 29)
        while day <= last:
            in_term = day <= date(self.starts.year, 12, 27) or day >= self.second_starts
            if in_term and day.weekday() < 5 and (day.month, day.day) not in holidays:
                yield day
            day += timedelta(days=1)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as progress:
        yield progress


class YearLoader:
    def __init__(self, ejournal: Ejournal, clock: SimulatedClock, slug: str, seed: int,
                 groups: int = 30, students: int = 25, show: bool = True) -> None:
        self.ej, self.clock, self.slug = ejournal, clock, slug
        self.rng = random.Random(seed)
        self.n_groups, self.n_students, self.show = groups, students, show
        self.plan = YearPlan.last_complete(datetime.now(ZoneInfo(ZONE)).date())
        self.counts = {"lessons": 0, "marks": 0, "absences": 0, "reasons": 0, "late": 0,
                       "moves": 0, "period_marks": 0, "corrections": 0}
        # (lesson id, its teacher, students present) of the day being loaded, and a hook
        # called after each school day (`make bench` measures the year as it grows).
        self.today: list[tuple[UUID, Actor, list[UUID]]] = []
        self.probe: Callable[[YearLoader, int, date], None] | None = None

    # Set-up ---------------------------------------------------------------------------
    def load(self) -> DemoLoaded:
        rng, plan = self.rng, self.plan
        self.clock.at(plan.starts - timedelta(days=14), 10)
        self.ej.create_institution(self.slug, "ГБПОУ «Колледж информационных технологий № 1»",
                                   ZONE)
        j = self.j = self.ej.journal(self.slug)
        director_id = j.access.hire_staff(None, "Борпер Татьяна Семёновна", ["director"])
        self.director = staff(self.slug, director_id, Role.DIRECTOR)
        deputy_id = j.access.hire_staff(self.director, "Гарипова Лилия Ринатовна", ["deputy"])
        self.deputy = staff(self.slug, deputy_id, Role.DEPUTY)
        admin_id = j.access.hire_staff(self.director, "Ахметов Руслан Ильдарович", ["admin"])
        self.admin = staff(self.slug, admin_id, Role.ADMIN)
        year_id = self.year_id = j.setup.open_academic_year(
            self.admin, f"{plan.starts.year}/{plan.ends.year}", plan.starts, plan.ends, [
                {"kind": "semester", "title": "1 семестр", "starts": plan.starts,
                 "ends": plan.first_ends},
                {"kind": "semester", "title": "2 семестр", "starts": plan.second_starts,
                 "ends": plan.ends}])
        j.regulation.adopt_policy(self.director, "tomsk_it_000", None, None, "half_up", None,
                                  OrderRef("1-од", plan.starts - timedelta(days=14)))
        j.regulation.delegate_decisions(self.director, deputy_id,
                                        OrderRef("2-од", plan.starts - timedelta(days=14)))
        disciplines = {name: j.setup.add_discipline(
            self.admin, name, "module" if name.startswith("МДК") else "discipline",
            weekly * 36) for name, (weekly, _, _) in DISCIPLINES.items()}
        # Teachers: two to four per discipline; some also curators.
        pools: dict[str, list[Actor]] = {}
        for name in DISCIPLINES:
            pools[name] = [staff(self.slug, j.access.hire_staff(self.admin, name_of(rng),
                                                                ["teacher"]), Role.TEACHER)
                           for _ in range(rng.randint(2, 4))]
        everyone = [t for pool in pools.values() for t in pool]
        enrol_order = OrderRef("112-к", plan.starts - timedelta(days=10))
        self.groups: dict[str, UUID] = {}
        self.curators: dict[UUID, Actor] = {}
        self.students: dict[str, list[UUID]] = {}
        self.teaching: list[Teaching] = []
        self.timetable: dict[str, list[tuple[int, int, list[Teaching]]]] = {}
        group_names = [f"{s}-{course}{k}" for course in (1, 2, 3) for s in SPECIALTIES
                       for k in (1, 2)][:self.n_groups]
        with self._bar("Группы, обучающиеся, нагрузка", len(group_names)) as advance:
            for gname in group_names:
                curator = everyone[len(self.groups) % len(everyone)]
                gid = j.setup.form_group(self.admin, year_id, gname, curator.person_id)
                self.groups[gname], self.curators[gid] = gid, curator
                subgroups = [j.setup.add_subgroup(self.admin, gid, f"{n} подгруппа")
                             for n in (1, 2)]
                members = []
                for i in range(self.n_students):
                    sid = j.roster.admit_student(self.admin, name_of(rng), date(
                        plan.starts.year - 16 - int(gname[3]), rng.randint(1, 12),
                        rng.randint(1, 28)))
                    j.roster.enrol(self.admin, sid, gid, enrol_order, plan.starts)
                    j.roster.place_in_subgroup(self.admin, gid, subgroups[i % 2], sid,
                                               OrderRef("115-у", plan.starts), plan.starts)
                    if rng.random() < 0.5:
                        j.roster.register_guardian(
                            self.admin, name_of(rng), [sid],
                            f"Заявление о приёме № {rng.randint(100, 999)}")
                    members.append(sid)
                self.students[gname] = members
                self._plan_group(gname, gid, subgroups, disciplines, pools)
                advance()
        return self._run_year()

    def _plan_group(self, gname: str, gid: UUID, subgroups: list[UUID],
                    disciplines: dict[str, UUID], pools: dict[str, list[Actor]]) -> None:
        """10–12 disciplines summing to 17 lessons a week, laid on Monday–Friday."""
        rng, j = self.rng, self.j
        extra = [d for d in DISCIPLINES if d not in CORE]
        chosen = CORE + rng.sample(extra, rng.randint(3, 5))
        weekly = {d: DISCIPLINES[d][0] for d in chosen}
        while sum(weekly.values()) > LESSONS_PER_WEEK:
            weekly[max(weekly, key=lambda d: (weekly[d], d))] -= 1
        while sum(weekly.values()) < LESSONS_PER_WEEK:
            weekly[rng.choice(chosen)] += 1
        slots: list[list[Teaching]] = []
        for name in chosen:
            _, split, kinds = DISCIPLINES[name]
            parts = subgroups if split else [None]
            teaching = []
            for sub in parts:
                teacher = rng.choice(pools[name])
                assignment = j.setup.make_assignment(self.admin, teacher.person_id, gid, sub,
                                                     disciplines[name], self.plan.starts)
                teaching.append(Teaching(assignment, teacher, name, gname, sub, kinds))
            self.teaching.extend(teaching)
            slots.extend([teaching] * weekly[name])
        rng.shuffle(slots)
        per_day = [4, 4, 3, 3, 3]  # 17 a week
        table, k = [], 0
        for weekday, count in enumerate(per_day):
            for number in range(1, count + 1):
                table.append((weekday, number, slots[k]))
                k += 1
        self.timetable[gname] = table

    # The year, day by day ---------------------------------------------------------------
    def _run_year(self) -> DemoLoaded:
        plan, rng = self.plan, self.rng
        days = list(self.plan.school_days())
        move_days = set(rng.sample(days[20:-20], 20))
        closed = False
        with self._bar("Учебный год по дням", len(days)) as advance:
            for day in days:
                if not closed and day >= plan.second_starts:
                    self._period_end(1, plan.first_ends)
                    self._close_period(1, day)
                    closed = True
                if day in move_days:
                    self._move(day)
                self.clock.at(day, 16)
                self.today = []
                for table in self.timetable.values():
                    for weekday, number, teaching in table:
                        if weekday == day.weekday():
                            for t in teaching:
                                self._lesson(t, day, number)
                if closed and rng.random() < 0.08:
                    self._correction(day)
                if self.probe is not None:
                    self.clock.at(day, 17)
                    self.probe(self, days.index(day), day)
                advance()
        self._period_end(2, plan.ends)
        return self._tokens()

    def _lesson(self, t: Teaching, day: date, number: int) -> None:
        rng, j = self.rng, self.j
        t.given += 1
        kind = WorkKind.ORDINARY
        if t.kinds and t.given % 8 == 0:
            kind = t.kinds[(t.given // 8) % len(t.kinds)]
        gid = self.groups[t.group]
        roster = sorted(j.reads.group_sources(self.director, gid).roster_on(day, t.subgroup))
        attendance, marks, absent = [], [], []
        for sid in roster:
            r = rng.random()
            if r < 0.06:
                attendance.append(AttendanceEntry(sid, AttendanceStatus.ABSENT))
                absent.append(sid)
                continue
            if r < 0.08:
                attendance.append(AttendanceEntry(sid, AttendanceStatus.LATE, rng.randint(3, 20)))
            if kind is not WorkKind.ORDINARY or rng.random() < 0.3:
                marks.append(MarkEntry(sid, rng.choices(MARKS, weights=[30, 40, 25, 5])[0]))
        late = rng.random() < 0.02  # a few lessons are filled in the next morning
        if late:
            self.clock.at(day + timedelta(days=1), 9)
        lesson_id, _ = j.lessons.submit_lesson(
            t.teacher, t.assignment_id, day, number, f"{t.discipline}: занятие {t.given}",
            "Повторить конспект" if rng.random() < 0.7 else None, kind.value, attendance,
            marks)
        self.counts["lessons"] += 1
        self.counts["marks"] += len(marks)
        self.today.append((lesson_id, t.teacher, [s for s in roster if s not in absent]))
        self.counts["absences"] += len(absent)
        self.counts["late"] += late
        curator = self.curators[gid]
        for sid in absent:
            if rng.random() < 0.5:
                reason = rng.choice([AbsenceReasonKind.ILLNESS, AbsenceReasonKind.ILLNESS,
                                     AbsenceReasonKind.GUARDIAN_APPLICATION,
                                     AbsenceReasonKind.UNEXCUSED])
                document = {AbsenceReasonKind.ILLNESS: f"Справка № {rng.randint(1, 999)}",
                            AbsenceReasonKind.GUARDIAN_APPLICATION: "Заявление родителя"
                            }.get(reason)
                j.lessons.set_absence_reason(curator, lesson_id, sid, reason, document)
                self.counts["reasons"] += 1
        if late:
            self.clock.at(day, 16)

    def _move(self, day: date) -> None:
        """One order: a transfer to a parallel group, an academic leave or an expulsion."""
        rng, j = self.rng, self.j
        self.clock.at(day, 9)
        gname = rng.choice(list(self.groups))
        if len(self.students[gname]) < self.n_students - 3:
            return
        sid = self.students[gname].pop(rng.randrange(len(self.students[gname])))
        order = OrderRef(f"{rng.randint(200, 400)}-к", day)
        kind = rng.random()
        if kind < 0.5:
            twin = gname[:-1] + ("2" if gname.endswith("1") else "1")
            target = twin if twin in self.groups else gname
            if target != gname:
                j.roster.transfer(self.admin, sid, self.groups[target], order, day)
                self.students[target].append(sid)
            else:
                self.students[gname].append(sid)
                return
        elif kind < 0.75:
            j.roster.grant_academic_leave(self.admin, sid, order, day)
        else:
            j.roster.expel(self.admin, sid, order, day)
        self.counts["moves"] += 1

    def _period_end(self, period: int, last_day: date) -> None:
        """The teacher of each group × discipline sets the period's marks (the suggested
        mark, or 3 where there is none); after the second period, the year's marks too."""
        j = self.j
        self.clock.at(last_day - timedelta(days=1), 12)
        keys = [str(period)] + (["year"] if period == 2 else [])
        sheets: dict[tuple[UUID, UUID], Teaching] = {}
        for t in self.teaching:
            sheets.setdefault((self.groups[t.group], self._discipline_id(t)), t)
        with self._bar(f"Итоговые отметки: {', '.join(keys)}", len(sheets) * len(keys)) as adv:
            for key in keys:
                for (gid, discipline_id), t in sheets.items():
                    _, _, suggestions = j.reads.period_sheet_sources(t.teacher, gid,
                                                                     discipline_id, key)
                    for sid, suggested in suggestions.items():
                        j.period_marks.set_period_mark(t.teacher, gid, discipline_id, key, sid,
                                                       suggested or MarkValue.THREE, None)
                        self.counts["period_marks"] += 1
                    adv()

    def _discipline_id(self, t: Teaching) -> UUID:
        from domain.assignments import TeachingAssignment

        return self.j.get(TeachingAssignment, t.assignment_id).discipline_id

    def _close_period(self, period: int, day: date) -> None:
        self.clock.at(day, 9)
        self.j.regulation.close_period(self.deputy, self.year_id, period, None)

    def _correction(self, day: date) -> None:
        """A teacher's written application to change a mark given over a week ago; the
        director (or the delegated deputy) decides it."""
        rng, j = self.rng, self.j
        t = rng.choice(self.teaching)
        gid = self.groups[t.group]
        index = j.find_index(LessonIndex.journal_key(gid, self._discipline_id(t), 2))
        if index is None:
            return
        old = [e.lesson_id for e in index.lessons.values() if e.day < day - timedelta(days=7)]
        if not old:
            return
        lesson = j.get(Lesson, rng.choice(old))
        if lesson.teacher_id != t.teacher.person_id:
            return
        marks = [m for m in lesson.marks.values() if not m.cancelled]
        if not marks:
            return
        mark = rng.choice(marks)
        self.clock.at(day, 11)
        number = f"З-{self.counts['corrections'] + 1}"
        application = j.corrections.file_correction(
            t.teacher, Target.MARK, lesson.id, mark.mark_id,
            MarkValue.FOUR.value if mark.value is not MarkValue.FOUR else MarkValue.FIVE.value,
            number, day, "Ошибка при выставлении отметки", "Заявление учителя")
        self.clock.at(day, 15)
        j.corrections.decide_correction(self.director, application, rng.random() < 0.8,
                                        "Исправить" if rng.random() < 0.8 else "Отказать")
        self.counts["corrections"] += 1

    def _tokens(self) -> DemoLoaded:
        t = next(t for t in self.teaching if t.discipline == "Математика")
        first_group = next(iter(self.groups))
        tokens = {
            "director": self.ej.issue_token(self.slug, self.director.person_id, "staff"),
            "deputy": self.ej.issue_token(self.slug, self.deputy.person_id, "staff"),
            "admin": self.ej.issue_token(self.slug, self.admin.person_id, "staff"),
            "teacher": self.ej.issue_token(self.slug, t.teacher.person_id, "staff"),
            "curator": self.ej.issue_token(self.slug, self.curators[self.groups[t.group]]
                                           .person_id, "staff"),
            "student": self.ej.issue_token(self.slug, self.students[first_group][0],
                                           "student"),
        }
        ids = {"group_id": self.groups[t.group], "discipline_id": self._discipline_id(t),
               "assignment_id": t.assignment_id, "student_id": self.students[t.group][0]}
        return DemoLoaded(tokens, ids)

    @contextmanager
    def _bar(self, title: str, total: int) -> Iterator[Callable[[], None]]:
        if not self.show:
            yield lambda: None
            return
        with progress_bar() as progress:
            task = progress.add_task(title, total=total)
            yield lambda: progress.advance(task)


def load_year(ejournal: Ejournal, clock: SimulatedClock, slug: str = "college",
              seed: int = 139, groups: int = 30, students: int = 25, show: bool = True,
              probe: Callable[[YearLoader, int, date], None] | None = None
              ) -> tuple[DemoLoaded, dict[str, int]]:
    loader = YearLoader(ejournal, clock, slug, seed, groups, students, show)
    loader.probe = probe
    loaded = loader.load()
    return loaded, loader.counts
