from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from domain.lessons import Lesson
from domain.values import Act

TEACHER = uuid4()
TODAY = date(2026, 10, 15)


def act(day: date = TODAY, actor: UUID = TEACHER, capacity: str = "teacher") -> Act:
    return Act(actor_id=actor, capacity=capacity, local_date=day)


def lesson(day: date = date(2026, 10, 14), number: int = 2, work_kind: str = "ordinary",
           group_id: UUID | None = None) -> Lesson:
    return Lesson.conduct(
        assignment_id=uuid4(), group_id=group_id or uuid4(), subgroup_id=None,
        discipline_id=uuid4(), day=day, number=number, period_number=1, teacher_id=TEACHER,
        substitute=False, topic="Логарифмы", homework="§12, №3–5", work_kind=work_kind,
        act=act(),
    )


def replay(aggregate: object) -> object:
    """Rebuild an aggregate from the events it has collected so far."""
    rebuilt = None
    for e in aggregate.collect_events():  # type: ignore[attr-defined]
        rebuilt = e.mutate(rebuilt)
    return rebuilt
