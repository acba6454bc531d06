"""`ejournal demo`: a realistic institution in Russian, loaded through the same use
cases the API calls (so every demo event is signed and chained)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from application.actors import Actor
from application.journal import AttendanceEntry, Journal, MarkEntry
from application.service import Ejournal
from domain.assignments import TeachingAssignment
from domain.groups import Group
from domain.lessons import Lesson
from domain.values import (
    AbsenceReasonKind,
    AttendanceStatus,
    MarkValue,
    OrderRef,
    Role,
    WorkKind,
)

SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
            "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев",
            "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев"]
MALE = ["Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья",
        "Кирилл", "Михаил"]
FEMALE = ["Анастасия", "Мария", "Дарья", "Анна", "Елизавета", "Полина", "Виктория",
          "Екатерина", "Софья", "Алиса"]
PATRONYMIC_M = ["Александрович", "Дмитриевич", "Сергеевич", "Андреевич", "Игоревич"]
PATRONYMIC_F = ["Александровна", "Дмитриевна", "Сергеевна", "Андреевна", "Игоревна"]
TOPICS = {
    "Математика": ["Действительные числа", "Приближённые вычисления", "Комплексные числа",
                   "Корни и степени", "Логарифмы", "Показательная функция",
                   "Контрольная работа по разделу «Алгебра»", "Прямые и плоскости",
                   "Векторы в пространстве", "Производная"],
    "Информатика": ["Информация и информационные процессы", "Системы счисления",
                    "Логические основы ЭВМ", "Алгоритмы и исполнители",
                    "Практическая работа: ветвления", "Циклы", "Массивы",
                    "Лабораторная работа: сортировка", "Базы данных", "Компьютерные сети"],
    "Русский язык": ["Язык и речь", "Фонетика и орфоэпия", "Лексика", "Фразеология",
                     "Морфемика", "Орфография", "Диктант", "Синтаксис",
                     "Пунктуация", "Стилистика"],
    "МДК.01.01 Разработка программных модулей": [
        "Жизненный цикл программного обеспечения", "Модульное программирование",
        "Лабораторная работа: модули и пакеты", "Тестирование модулей",
        "Отладка", "Документирование кода", "Практическая работа: рефакторинг",
        "Контрольная работа по теме «Модули»", "Системы контроля версий",
        "Код-ревью"],
}
KIND_OF = {"Контрольная": WorkKind.CONTROL, "Диктант": WorkKind.CONTROL,
           "Практическая": WorkKind.PRACTICAL, "Лабораторная": WorkKind.LABORATORY}


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(SURNAMES)} {rng.choice(MALE)} {rng.choice(PATRONYMIC_M)}"
    return f"{rng.choice(SURNAMES)}а {rng.choice(FEMALE)} {rng.choice(PATRONYMIC_F)}"


def staff_actor(slug: str, person_id: UUID, *roles: Role) -> Actor:
    return Actor(slug, person_id, "staff", frozenset(roles))


@dataclass(frozen=True)
class DemoLoaded:
    tokens: dict[str, str]  # role → bearer token
    ids: dict[str, UUID]  # what the README's curl lines need


def load_demo(ejournal: Ejournal, slug: str = "demo", seed: int = 139,
              progress: bool = True) -> DemoLoaded:
    """Loads the demo institution; returns a token per demo role and example ids."""
    rng = random.Random(seed)
    ejournal.create_institution(slug, "ОГБПОУ «Томский техникум информационных технологий»",
                                "Asia/Tomsk")
    j: Journal = ejournal.journal(slug)
    today = j.local_date()
    year_start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    year_end = date(year_start.year + 1, 6, 30)
    title = f"{year_start.year}/{year_end.year}"

    director_id = j.access.hire_staff(None, "Борпер Татьяна Семёновна", ["director"])
    director = staff_actor(slug, director_id, Role.DIRECTOR)
    deputy_id = j.access.hire_staff(director, "Гарипова Лилия Ринатовна", ["deputy", "teacher"])
    admin_id = j.access.hire_staff(director, "Ахметов Руслан Ильдарович", ["admin"])
    admin = staff_actor(slug, admin_id, Role.ADMIN)
    teachers = {
        "Математика": j.access.hire_staff(admin, "Каримова Эльвира Маратовна", ["teacher"]),
        "Информатика": j.access.hire_staff(admin, "Соловьёв Павел Андреевич", ["teacher"]),
        "Русский язык": j.access.hire_staff(admin, "Белова Ирина Викторовна", ["teacher"]),
        "МДК.01.01 Разработка программных модулей": deputy_id,
    }
    curator_id = teachers["Информатика"]

    year_id = j.setup.open_academic_year(admin, title, year_start, year_end, [
        {"kind": "semester", "title": "1 семестр", "starts": year_start,
         "ends": date(year_start.year, 12, 28)},
        {"kind": "semester", "title": "2 семестр", "starts": date(year_end.year, 1, 12),
         "ends": year_end},
    ])
    hours = {"Математика": 117, "Информатика": 100, "Русский язык": 78,
             "МДК.01.01 Разработка программных модулей": 120}
    disciplines = {name: j.setup.add_discipline(admin, name, "module" if name.startswith("МДК")
                                          else "discipline", h) for name, h in hours.items()}
    groups = {
        "ИС-21": j.setup.form_group(admin, year_id, "ИС-21", curator_id),
        "ИС-22": j.setup.form_group(admin, year_id, "ИС-22", teachers["Русский язык"]),
    }
    enrol_order = OrderRef("112-к", year_start - timedelta(days=10))
    students: dict[str, list[UUID]] = {}
    guardians: list[UUID] = []
    for name, group_id in groups.items():
        students[name] = []
        for _ in range(14):
            sid = j.roster.admit_student(admin, person_name(rng), date(2010, rng.randint(1, 12),
                                                                  rng.randint(1, 28)))
            j.roster.enrol(admin, sid, group_id, enrol_order, year_start)
            students[name].append(sid)
            guardians.append(j.roster.register_guardian(
                admin, person_name(rng), [sid], f"Заявление о приёме № {rng.randint(100, 999)}"))
    subgroups = {n: j.setup.add_subgroup(admin, groups["ИС-21"], n)
                 for n in ("1 подгруппа", "2 подгруппа")}
    for i, sid in enumerate(students["ИС-21"]):
        j.roster.place_in_subgroup(admin, groups["ИС-21"], subgroups["1 подгруппа" if i % 2 == 0
                                                              else "2 подгруппа"],
                            sid, OrderRef("115-у", year_start), year_start)
    assignments = []
    for group_name, group_id in groups.items():
        for discipline, teacher_id in teachers.items():
            if discipline.startswith("МДК") and group_name == "ИС-21":
                for sub_name, sub_id in subgroups.items():
                    teacher = teacher_id if sub_name == "1 подгруппа" else teachers["Информатика"]
                    assignments.append((j.setup.make_assignment(admin, teacher, group_id, sub_id,
                                                          disciplines[discipline], year_start),
                                        teacher, discipline, group_name))
                continue
            assignments.append((j.setup.make_assignment(admin, teacher_id, group_id, None,
                                                  disciplines[discipline], year_start),
                                teacher_id, discipline, group_name))
    # A transfer by order in the middle of the term.
    moved = students["ИС-22"][-1]
    transfer_day = year_start + timedelta(days=45)
    j.roster.transfer(admin, moved, groups["ИС-21"], OrderRef("187-к",
                      transfer_day - timedelta(days=3)),
               transfer_day)

    # A term of lessons up to yesterday: each assignment twice a week.
    last_day = min(today - timedelta(days=1), date(year_start.year, 12, 28))
    lessons = 0
    last_lesson: dict[UUID, UUID] = {}
    for a_index, (assignment_id, teacher_id, discipline, _) in enumerate(assignments):
        teacher = staff_actor(slug, teacher_id, Role.TEACHER)
        weekdays = (a_index % 5, (a_index + 2) % 5)
        day, n = year_start, 0
        while day <= last_day:
            if day.weekday() in weekdays:
                topic = TOPICS[discipline][n % len(TOPICS[discipline])]
                kind = next((k for word, k in KIND_OF.items() if topic.startswith(word)),
                            WorkKind.ORDINARY)
                lesson_id = _demo_lesson(j, teacher, assignment_id, day, a_index % 6 + 1,
                                         topic, kind, rng)
                if lesson_id:
                    last_lesson[assignment_id] = lesson_id
                if lesson_id and rng.random() < 0.3:
                    _demo_reason(j, director, lesson_id, rng)
                n += 1
                lessons += 1
            day += timedelta(days=1)
        if progress:
            print(f"  нагрузка {a_index + 1}/{len(assignments)}: {discipline}", flush=True)

    # The college's regulation (seed 000): marks and attendance on the lesson day. Adopted
    # after the term's history was loaded, so only what happens from now on is judged.
    j.regulation.adopt_policy(director, "tomsk_it_000", None, None, "half_up", None,
                   OrderRef("201-од", today))
    j.regulation.delegate_decisions(director, deputy_id, OrderRef("202-од", today))

    tokens = {
        "director": ejournal.issue_token(slug, director_id, "staff"),
        "deputy": ejournal.issue_token(slug, deputy_id, "staff"),
        "admin": ejournal.issue_token(slug, admin_id, "staff"),
        "teacher": ejournal.issue_token(slug, teachers["Математика"], "staff"),
        "curator": ejournal.issue_token(slug, curator_id, "staff"),
        "student": ejournal.issue_token(slug, students["ИС-21"][0], "student"),
        "guardian": ejournal.issue_token(slug, guardians[0], "guardian"),
    }
    math = next(a for a, _, d, g in assignments if d == "Математика" and g == "ИС-21")
    ids = {"group_id": groups["ИС-21"], "discipline_id": disciplines["Математика"],
           "assignment_id": math, "student_id": students["ИС-21"][0]}
    if math in last_lesson:
        ids["lesson_id"] = last_lesson[math]
    return DemoLoaded(tokens, ids)


def _demo_lesson(j: Journal, teacher: Actor, assignment_id: UUID, day: date,
                 number: int, topic: str, kind: WorkKind, rng: random.Random) -> UUID | None:
    assignment = j.get(TeachingAssignment, assignment_id)
    group = j.get(Group, assignment.group_id)
    roster = sorted(group.roster_on(day, assignment.subgroup_id))
    attendance, marks = [], []
    for sid in roster:
        r = rng.random()
        if r < 0.07:
            attendance.append(AttendanceEntry(sid, AttendanceStatus.ABSENT))
            continue
        if r < 0.10:
            attendance.append(AttendanceEntry(sid, AttendanceStatus.LATE, rng.randint(3, 20)))
        if kind is not WorkKind.ORDINARY or rng.random() < 0.3:
            marks.append(MarkEntry(sid, rng.choices(
                [MarkValue.FIVE, MarkValue.FOUR, MarkValue.THREE, MarkValue.TWO],
                weights=[30, 40, 25, 5])[0]))
    lesson_id, _ = j.lessons.submit_lesson(teacher, assignment_id, day, number, topic,
                                   "Повторить конспект" if rng.random() < 0.7 else None,
                                   kind.value, attendance, marks)
    return lesson_id if any(a.status is AttendanceStatus.ABSENT for a in attendance) else None


def _demo_reason(j: Journal, director: Actor, lesson_id: UUID,
                 rng: random.Random) -> None:
    lesson = j.get(Lesson, lesson_id)
    group = j.get(Group, lesson.group_id)
    assert group.curator_id is not None
    curator = staff_actor(director.slug, group.curator_id, Role.TEACHER)
    for sid, attendance in lesson.attendance.items():
        if attendance.status is AttendanceStatus.ABSENT:
            kind = rng.choice(list(AbsenceReasonKind))
            document = {AbsenceReasonKind.ILLNESS: f"Справка № {rng.randint(1, 999)}",
                        AbsenceReasonKind.ORDER: f"Приказ № {rng.randint(1, 300)}-у",
                        AbsenceReasonKind.GUARDIAN_APPLICATION: "Заявление родителя"}.get(kind)
            j.lessons.set_absence_reason(curator, lesson_id, sid, kind, document)
