"""Teaching assignments (педагогическая нагрузка): teacher × group or subgroup ×
discipline for one academic year, and substitutions (замены)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DuplicateEntry, InvalidValue
from domain.lessons import MAX_LESSON_NUMBER
from domain.values import Act, OrderRef

MAX_SUBSTITUTION_DAYS = 31  # a date range of a substitution: a month at most
MAX_SUBSTITUTION_LESSONS = MAX_SUBSTITUTION_DAYS * MAX_LESSON_NUMBER


def substitution_lessons(lessons: Sequence[tuple[date, int]] | None, first: date | None,
                         last: date | None, numbers: Sequence[int] | None
                         ) -> list[tuple[date, int]]:
    """The (date, lesson number) pairs a substitution covers, named one of two ways:
    a list of them, or a date range [first, last] with the lesson numbers of each day."""
    ranged = first is not None or last is not None or numbers is not None
    if (lessons is not None) == ranged:
        raise InvalidValue("Замена называет свои уроки одним способом: списком (дата, номер "
                           "урока) или периодом дат с номерами уроков.", field="lessons")
    if lessons is None:
        if first is None or last is None or not numbers:
            raise InvalidValue("Для замены на период укажите первую и последнюю дату и номера "
                               "уроков.", field="numbers")
        if last < first or (last - first).days >= MAX_SUBSTITUTION_DAYS:
            raise InvalidValue(f"Период замены — от 1 до {MAX_SUBSTITUTION_DAYS} дней, первая "
                               "дата не позже последней.", field="date_to")
        lessons = [(first + timedelta(days=d), n) for d in range((last - first).days + 1)
                   for n in numbers]
    if not lessons or len(lessons) > MAX_SUBSTITUTION_LESSONS:
        raise InvalidValue(f"Замена охватывает от 1 до {MAX_SUBSTITUTION_LESSONS} уроков.",
                           field="lessons")
    if any(not 1 <= n <= MAX_LESSON_NUMBER for _, n in lessons):
        raise InvalidValue(f"Номер урока должен быть от 1 до {MAX_LESSON_NUMBER}.",
                           field="numbers")
    return sorted(set(lessons))


class TeachingAssignment(Aggregate):
    @event("Made")
    def __init__(
        self, teacher_id: UUID, group_id: UUID, subgroup_id: UUID | None,
        discipline_id: UUID, year_id: UUID, starts: date, act: Act,
    ) -> None:
        self.teacher_id = teacher_id
        self.group_id = group_id
        self.subgroup_id = subgroup_id
        self.discipline_id = discipline_id
        self.year_id = year_id
        self.starts = starts
        self.ends: date | None = None
        # Whole days: substitutions stored before they named their lessons (kept for replay).
        self.substitutes: dict[date, set[UUID]] = {}
        self.covered: dict[tuple[date, int], set[UUID]] = {}  # (date, lesson number)

    def active_on(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day < self.ends)

    def may_conduct(self, person_id: UUID, day: date, number: int) -> str | None:
        """'teacher' or 'substitute' if the person may conduct and fill this assignment's
        lesson `number` on `day`; None otherwise."""
        if person_id == self.teacher_id and self.active_on(day):
            return "teacher"
        if (person_id in self.covered.get((day, number), ())
                or person_id in self.substitutes.get(day, ())):
            return "substitute"
        return None

    def appoint_substitute(self, substitute_id: UUID, lessons: Sequence[tuple[date, int]],
                           act: Act) -> None:
        """Covers the named lessons (see `substitution_lessons`); lessons already covered
        for this substitute are left as they are."""
        if substitute_id == self.teacher_id:
            raise InvalidValue("Нельзя назначить замену самому учителю нагрузки.",
                               field="substitute_id")
        outside = sorted({day for day, _ in lessons if not self.active_on(day)})
        if outside:
            raise InvalidValue(f"Нагрузка не действует {outside[0]:%d.%m.%Y}: замена "
                               "назначается на её уроки.", field="lessons")
        new = [(day, number) for day, number in sorted(set(lessons))
               if self.may_conduct(substitute_id, day, number) is None]
        if not new:
            raise DuplicateEntry("Эта замена уже назначена.")
        self._substitution_appointed(substitute_id=substitute_id,
                                     lessons=[[day, number] for day, number in new], act=act)

    @event("SubstitutionAppointed")
    def _substitution_appointed(self, substitute_id: UUID, lessons: list[list[object]],
                                act: Act) -> None:
        for day, number in lessons:
            self.covered.setdefault((day, number), set()).add(substitute_id)  # type: ignore[arg-type]

    @event("SubstituteAppointed")
    def _substitute_appointed(self, substitute_id: UUID, day: date, act: Act) -> None:
        # Stored before substitutions named their lessons: the whole day, as it meant then.
        self.substitutes.setdefault(day, set()).add(substitute_id)

    def end(self, effective: date, order: OrderRef, act: Act) -> None:
        if self.ends is not None:
            raise DuplicateEntry("Нагрузка уже снята.")
        if effective <= self.starts:
            raise InvalidValue("Нагрузку можно снять только после её начала.", field="effective")
        self._ended(effective=effective, order=order, act=act)

    @event("Ended")
    def _ended(self, effective: date, order: OrderRef, act: Act) -> None:
        self.ends = effective
