"""The journal of one institution: every use case is one method that authorises the
actor, loads the aggregates it needs, applies the domain rules and saves all changed
aggregates atomically — their events and ledger entries in one transaction."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Recording,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, JSONTranscoder

from application.actors import SYSTEM_ACTOR_ID, Actor
from application.cache import CoherentRepository
from application.governance import Governance
from application.storage.chain import ChainWriter
from application.storage.layout import Backend
from application.transcodings import ALL as TRANSCODINGS
from application.unit_of_work import current, units_of_work
from domain.assignments import TeachingAssignment
from domain.errors import DuplicateEntry, Forbidden, InvalidValue, NotFound, StaleVersion
from domain.groups import Group
from domain.institution import Institution, Period
from domain.lessons import Lesson, LessonIndex
from domain.people import Guardian, StaffMember, Student
from domain.policy import RecordKind, record_kind
from domain.values import (
    AbsenceReasonKind,
    Act,
    AttendanceStatus,
    Capacity,
    MarkValue,
    MoveKind,
    OrderRef,
    Role,
    WorkKind,
)

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AttendanceEntry:
    student_id: UUID
    status: AttendanceStatus
    minutes: int | None = None


@dataclass(frozen=True)
class MarkEntry:
    student_id: UUID
    value: MarkValue


MAX_DIARY_DAYS = 30


@dataclass(frozen=True)
class JournalSources:
    institution: Institution
    group: Group
    discipline_name: str
    period: Period
    lessons: list[Lesson]
    weights: dict[WorkKind, int]


@dataclass(frozen=True)
class DiarySources:
    institution: Institution
    student: Student
    groups: dict[UUID, Group]
    lessons: list[Lesson]


NAMES = {
    Institution: "Организация", Group: "Группа", Student: "Обучающийся",
    StaffMember: "Сотрудник", Guardian: "Законный представитель",
    TeachingAssignment: "Учебная нагрузка", Lesson: "Занятие",
}


@units_of_work
class JournalApplication(Governance, Application[UUID]):
    """One institution's journal (one chain, one schema or file)."""

    name = "Journal"

    def __init__(self, backend: Backend, slug: str, chain: ChainWriter,
                 clock: Clock = utc_now) -> None:
        self.backend = backend
        self.slug = slug
        self.chain = chain
        self.clock = clock
        self.institution_id = Institution.create_id(slug)
        self._zone: ZoneInfo | None = None
        self._periods: dict[tuple[UUID, int], Period] = {}
        super().__init__(env=backend.app_env(slug))

    # Infrastructure -------------------------------------------------------------------
    def construct_recorder(self) -> ApplicationRecorder:
        return self.backend.recorder(self.factory, self.chain)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding())

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return CoherentRepository(event_store=self.events, snapshot_store=self.snapshots,
                                  cache_maxsize=int(maxsize) if maxsize else None)

    def begin_unit_of_work(self) -> None:
        """Brings the aggregate cache up to date with what any process stored since."""
        assert isinstance(self.repository, CoherentRepository)
        self.repository.sync(self._changes_since,
                             lambda: self.recorder.max_notification_id() or 0)

    def _changes_since(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        return self.recorder.changes_since(after, limit)  # type: ignore[attr-defined, no-any-return]

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        # eventsourcing's own step, with the cache update made safe against a sync
        # running while the events are being written (application/cache.py).
        assert isinstance(self.repository, CoherentRepository)
        generation = self.repository.generation
        recordings = self.events.put(processing_event.events,
                                     tracking=processing_event.tracking,
                                     **processing_event.saved_kwargs)
        self.repository.remember(generation, processing_event.aggregates)
        return recordings

    def _get(self, cls: type[A], aggregate_id: UUID, *, copy: bool = True) -> A:
        """The aggregate, as of the start of the command (checked again when the
        command saves). `copy=False` for read-only use: skips the defensive copy of the
        cached aggregate (the caller must not mutate it)."""
        unit = None if copy else current()
        loaded = None if unit is None else unit.loaded
        if loaded is not None and aggregate_id in loaded:
            aggregate = loaded[aggregate_id]
        else:
            try:
                aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
            except AggregateNotFoundError:
                aggregate = None
            if loaded is not None:
                loaded[aggregate_id] = aggregate
        if not isinstance(aggregate, cls):
            raise NotFound(f"{NAMES.get(cls, 'Объект')} не найден(а).", id=str(aggregate_id))
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def _save(self, *aggregates: Aggregate | None) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise StaleVersion(
                "Данные изменены одновременно другим пользователем: обновите их и повторите."
            ) from None

    def local_date(self, institution: Institution | None = None) -> date:
        """Today in the institution's time zone (the zone never changes once registered,
        so it is read once)."""
        if self._zone is None:
            self._zone = ZoneInfo((institution or self.institution()).timezone)
        return self.clock().astimezone(self._zone).date()

    def _act(self, actor: Actor | None, capacity: Capacity,
             institution: Institution | None = None) -> Act:
        actor_id = actor.person_id if actor else SYSTEM_ACTOR_ID
        return Act(actor_id=actor_id, capacity=capacity.value,
                   local_date=self.local_date(institution))

    def institution(self) -> Institution:
        return self._get(Institution, self.institution_id)

    def _institution_ro(self) -> Institution:
        return self._get(Institution, self.institution_id, copy=False)

    # Set-up (administration) ------------------------------------------------------------
    def register_institution(self, name: str, timezone: str) -> UUID:
        act = Act(SYSTEM_ACTOR_ID, Capacity.SYSTEM.value,
                  self.clock().astimezone(ZoneInfo("UTC")).date())
        institution = Institution.register(self.slug, name, timezone, act)
        self._save(institution)
        return institution.id

    def hire_staff(self, actor: Actor | None, full_name: str, roles: list[str]) -> UUID:
        """`actor=None` only from the command line (bootstrap of the first administrator)."""
        capacity = actor.administration() if actor else Capacity.SYSTEM
        member = StaffMember.hire(full_name, roles, self._act(actor, capacity))
        self._save(member)
        return member.id

    def open_academic_year(self, actor: Actor, title: str, starts: date, ends: date,
                           periods: list[dict[str, Any]]) -> UUID:
        institution = self.institution()
        act = self._act(actor, actor.administration(), institution)
        year_id = uuid4()
        institution.open_year(year_id, title, starts, ends, periods, act)
        self._save(institution)
        return year_id

    def add_discipline(self, actor: Actor, name: str, kind: str, planned_hours: int) -> UUID:
        institution = self.institution()
        act = self._act(actor, actor.administration(), institution)
        discipline_id = uuid4()
        institution.add_discipline(discipline_id, name, kind, planned_hours, act)
        self._save(institution)
        return discipline_id

    def admit_student(self, actor: Actor, full_name: str, birth_date: date | None) -> UUID:
        student = Student.admit(full_name, birth_date, self._act(actor, actor.administration()))
        self._save(student)
        return student.id

    def register_guardian(self, actor: Actor, full_name: str, student_ids: Sequence[UUID],
                          document: str) -> UUID:
        act = self._act(actor, actor.administration())
        students = [self._get(Student, s) for s in student_ids]
        guardian = Guardian.register(full_name, act)
        for student in students:
            self._link(guardian, student, document, act)
        self._save(guardian, *students)
        return guardian.id

    def link_guardian(self, actor: Actor, guardian_id: UUID, student_id: UUID,
                      document: str) -> None:
        act = self._act(actor, actor.administration())
        guardian, student = self._get(Guardian, guardian_id), self._get(Student, student_id)
        self._link(guardian, student, document, act)
        self._save(guardian, student)

    @staticmethod
    def _link(guardian: Guardian, student: Student, document: str, act: Act) -> None:
        if not document.strip():
            raise InvalidValue("Укажите документ, подтверждающий представительство.",
                               field="document")
        if student.id not in guardian.children:
            guardian.link_child(student_id=student.id, document=document, act=act)
            student.link_guardian(guardian_id=guardian.id, document=document, act=act)

    def form_group(self, actor: Actor, year_id: UUID, name: str,
                   curator_id: UUID | None) -> UUID:
        institution = self.institution()
        act = self._act(actor, actor.administration(), institution)
        if curator_id is not None:
            self._get(StaffMember, curator_id)
        group = Group.form(year_id, name, curator_id, act)
        institution.register_group(group.id, group.name, year_id, act)
        self._save(group, institution)
        return group.id

    def assign_curator(self, actor: Actor, group_id: UUID, curator_id: UUID,
                       order: OrderRef) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        self._get(StaffMember, curator_id)
        group.assign_curator(curator_id=curator_id, order=order, act=act)
        self._save(group)

    def add_subgroup(self, actor: Actor, group_id: UUID, name: str) -> UUID:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        subgroup_id = uuid4()
        group.add_subgroup(subgroup_id, name, act)
        self._save(group)
        return subgroup_id

    def make_assignment(self, actor: Actor, teacher_id: UUID, group_id: UUID,
                        subgroup_id: UUID | None, discipline_id: UUID, starts: date) -> UUID:
        institution = self.institution()
        act = self._act(actor, actor.administration(), institution)
        teacher = self._get(StaffMember, teacher_id)
        if Role.TEACHER not in teacher.roles:
            raise InvalidValue("Нагрузку можно дать только сотруднику с ролью «учитель».",
                               field="teacher_id")
        group = self._get(Group, group_id)
        if subgroup_id is not None:
            group.check_subgroup(subgroup_id)
        institution.discipline(discipline_id)
        assignment = TeachingAssignment(
            teacher_id=teacher_id, group_id=group_id, subgroup_id=subgroup_id,
            discipline_id=discipline_id, year_id=group.year_id, starts=starts, act=act,
        )
        group.note_assignment(assignment_id=assignment.id, teacher_id=teacher_id,
                              discipline_id=discipline_id, subgroup_id=subgroup_id, act=act)
        teacher.take_assignment(assignment_id=assignment.id, act=act)
        self._save(assignment, group, teacher)
        return assignment.id

    def appoint_substitute(self, actor: Actor, assignment_id: UUID, substitute_id: UUID,
                           day: date) -> None:
        act = self._act(actor, actor.administration())
        assignment = self._get(TeachingAssignment, assignment_id)
        substitute = self._get(StaffMember, substitute_id)
        if Role.TEACHER not in substitute.roles:
            raise InvalidValue("Замену может вести только сотрудник с ролью «учитель».",
                               field="substitute_id")
        assignment.appoint_substitute(substitute_id, day, act)
        self._save(assignment)

    # Orders: student movement -------------------------------------------------------------
    def enrol(self, actor: Actor, student_id: UUID, group_id: UUID, order: OrderRef,
              effective: date) -> None:
        act = self._act(actor, actor.administration())
        student, group = self._get(Student, student_id), self._get(Group, group_id)
        student.move(MoveKind.ENROLMENT, order, effective, group.id, act)
        group.admit(student.id, student.full_name, order, effective, act)
        self._save(student, group)

    def transfer(self, actor: Actor, student_id: UUID, to_group_id: UUID, order: OrderRef,
                 effective: date) -> None:
        act = self._act(actor, actor.administration())
        student = self._get(Student, student_id)
        student.check_move(MoveKind.TRANSFER, effective)
        assert student.group_id is not None
        if student.group_id == to_group_id:
            raise InvalidValue("Обучающийся уже в этой группе.", field="to_group_id")
        source, target = self._get(Group, student.group_id), self._get(Group, to_group_id)
        source.release(student.id, order, effective, MoveKind.TRANSFER.value, act)
        target.admit(student.id, student.full_name, order, effective, act)
        student.move(MoveKind.TRANSFER, order, effective, target.id, act)
        self._save(student, source, target)

    def _leave_group(self, actor: Actor, kind: MoveKind, student_id: UUID, order: OrderRef,
                     effective: date) -> None:
        act = self._act(actor, actor.administration())
        student = self._get(Student, student_id)
        student.check_move(kind, effective)
        group = self._get(Group, student.group_id) if student.group_id else None
        if group is not None:
            group.release(student.id, order, effective, kind.value, act)
        student.move(kind, order, effective, None, act)
        self._save(student, group)

    def grant_academic_leave(self, actor: Actor, student_id: UUID, order: OrderRef,
                             effective: date) -> None:
        self._leave_group(actor, MoveKind.ACADEMIC_LEAVE, student_id, order, effective)

    def expel(self, actor: Actor, student_id: UUID, order: OrderRef, effective: date) -> None:
        self._leave_group(actor, MoveKind.EXPULSION, student_id, order, effective)

    def graduate(self, actor: Actor, student_id: UUID, order: OrderRef, effective: date) -> None:
        self._leave_group(actor, MoveKind.GRADUATION, student_id, order, effective)

    def return_from_leave(self, actor: Actor, student_id: UUID, group_id: UUID,
                          order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        student, group = self._get(Student, student_id), self._get(Group, group_id)
        student.move(MoveKind.RETURN_FROM_LEAVE, order, effective, group.id, act)
        group.admit(student.id, student.full_name, order, effective, act)
        self._save(student, group)

    def place_in_subgroup(self, actor: Actor, group_id: UUID, subgroup_id: UUID,
                          student_id: UUID, order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        group.place_in_subgroup(subgroup_id, student_id, order, effective, act)
        self._save(group)

    def remove_from_subgroup(self, actor: Actor, group_id: UUID, subgroup_id: UUID,
                             student_id: UUID, order: OrderRef, effective: date) -> None:
        act = self._act(actor, actor.administration())
        group = self._get(Group, group_id)
        group.remove_from_subgroup(subgroup_id, student_id, order, effective, act)
        self._save(group)

    # Lessons ------------------------------------------------------------------------------
    def _conducting_capacity(self, actor: Actor, assignment: TeachingAssignment,
                             day: date) -> Capacity:
        if actor.is_staff and Role.TEACHER in actor.roles:
            capacity = assignment.may_conduct(actor.person_id, day)
            if capacity is not None:
                return Capacity(capacity)
        raise Forbidden("Занятие ведёт только учитель этой нагрузки или назначенная замена.")

    def _new_lesson(self, actor: Actor, assignment_id: UUID, day: date, number: int,
                    topic: str, homework: str | None, work_kind: str,
                    ) -> tuple[Lesson, list[Aggregate], Group, Act]:
        institution = self._institution_ro()
        assignment = self._get(TeachingAssignment, assignment_id, copy=False)
        capacity = self._conducting_capacity(actor, assignment, day)
        act = self._act(actor, capacity, institution)
        period = institution.year(assignment.year_id).period_of(day)
        late = self.entry_check(RecordKind.LESSON, day, assignment.year_id, period.number,
                                assignment.group_id, period.ends, first=True)
        lesson = Lesson.conduct(
            assignment_id=assignment.id, group_id=assignment.group_id,
            subgroup_id=assignment.subgroup_id, discipline_id=assignment.discipline_id,
            day=day, number=number, period_number=period.number,
            teacher_id=actor.person_id, substitute=capacity is Capacity.SUBSTITUTE,
            topic=topic, homework=homework, work_kind=work_kind, act=act, late=late,
        )
        if self._exists(lesson.id):
            raise DuplicateEntry(
                f"Занятие №{number} на {day:%d.%m.%Y} у этой группы уже проведено.",
                lesson_id=str(lesson.id),
            )
        indexes = [
            self._index(LessonIndex.journal_key(assignment.group_id, assignment.discipline_id,
                                                period.number), act),
            self._index(LessonIndex.week_key(assignment.group_id, day), act),
        ]
        for index in indexes:
            index.list_lesson(lesson_id=lesson.id, day=day, number=number,
                              discipline_id=assignment.discipline_id,
                              subgroup_id=assignment.subgroup_id, act=act)
        return lesson, indexes, self._get(Group, assignment.group_id, copy=False), act

    def _index(self, key: str, act: Act) -> LessonIndex:
        try:
            return self._get(LessonIndex, LessonIndex.create_id(key))
        except NotFound:
            return LessonIndex(key=key, act=act)

    def conduct_lesson(self, actor: Actor, assignment_id: UUID, day: date, number: int,
                       topic: str, homework: str | None, work_kind: str) -> UUID:
        lesson, indexes, _, _ = self._new_lesson(actor, assignment_id, day, number, topic,
                                                 homework, work_kind)
        self._save(lesson, *indexes)
        return lesson.id

    def _writable_lesson(self, actor: Actor, lesson_id: UUID
                         ) -> tuple[Lesson, Act]:
        lesson = self._get(Lesson, lesson_id)
        assignment = self._get(TeachingAssignment, lesson.assignment_id, copy=False)
        capacity = self._conducting_capacity(actor, assignment, lesson.day)
        return lesson, self._act(actor, capacity)

    def _roster(self, lesson: Lesson, group: Group | None = None) -> frozenset[UUID]:
        group = group or self._get(Group, lesson.group_id, copy=False)
        return group.roster_on(lesson.day, lesson.subgroup_id)

    def change_lesson_details(self, actor: Actor, lesson_id: UUID, topic: str | None,
                              homework: str | None, work_kind: str | None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._change_details(lesson, topic, homework, work_kind, act)
        self._save(lesson)

    def _change_details(self, lesson: Lesson, topic: str | None, homework: str | None,
                        work_kind: str | None, act: Act) -> None:
        before = lesson.version
        probe = copy.deepcopy(lesson)
        probe.change_details(topic, homework, work_kind, act)
        if probe.version != before:  # something really changes
            self.lesson_entry_check(lesson, RecordKind.LESSON, first=False)
            lesson.change_details(topic, homework, work_kind, act)

    def record_mark(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                    value: MarkValue) -> UUID:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self.check_marks_enabled()
        late = self.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=True)
        mark_id = uuid4()
        lesson.record_mark(mark_id, student_id, value, self._roster(lesson), act, late)
        self._save(lesson)
        return mark_id

    def change_mark(self, actor: Actor, lesson_id: UUID, mark_id: UUID, value: MarkValue,
                    previous_value: MarkValue | None = None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._check_previous(lesson, mark_id, previous_value)
        if lesson.active_mark(mark_id).value is not value:
            self.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=False)
        lesson.change_mark(mark_id, value, act)
        self._save(lesson)

    def cancel_mark(self, actor: Actor, lesson_id: UUID, mark_id: UUID,
                    previous_value: MarkValue | None = None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._check_previous(lesson, mark_id, previous_value)
        lesson.active_mark(mark_id)
        self.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=False)
        lesson.cancel_mark(mark_id, act)
        self._save(lesson)

    @staticmethod
    def _check_previous(lesson: Lesson, mark_id: UUID, previous: MarkValue | None) -> None:
        current = lesson.mark(mark_id).value
        if previous is not None and current is not previous:
            raise StaleVersion(
                f"Отметка уже изменена другим пользователем (сейчас «{current.value}»)."
            )

    def record_attendance(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                          status: AttendanceStatus, minutes: int | None) -> None:
        lesson, act = self._writable_lesson(actor, lesson_id)
        self._attendance(lesson, student_id, status, minutes, self._roster(lesson), act)
        self._save(lesson)

    def _attendance(self, lesson: Lesson, student_id: UUID, status: AttendanceStatus,
                    minutes: int | None, roster: frozenset[UUID], act: Act) -> None:
        first = student_id not in lesson.attendance
        if first and status is AttendanceStatus.PRESENT:
            return  # present is the default: nothing to record
        late = self.lesson_entry_check(lesson, RecordKind.LESSON, first=first)
        lesson.record_attendance(student_id, status, minutes, roster, act, late)

    def set_absence_reason(self, actor: Actor, lesson_id: UUID, student_id: UUID,
                           kind: AbsenceReasonKind, document: str | None) -> None:
        lesson = self._get(Lesson, lesson_id)
        group = self._get(Group, lesson.group_id, copy=False)
        if actor.is_staff and group.curator_id == actor.person_id:
            act = self._act(actor, Capacity.CURATOR)
        else:
            lesson, act = self._writable_lesson(actor, lesson_id)
        late = self.lesson_entry_check(lesson, RecordKind.ABSENCE_REASON,
                                       first=student_id not in lesson.reasons)
        lesson.set_absence_reason(student_id, kind, document, act, late)
        self._save(lesson)

    def submit_lesson(
        self, actor: Actor, assignment_id: UUID, day: date, number: int, topic: str,
        homework: str | None, work_kind: str, attendance: Sequence[AttendanceEntry],
        marks: Sequence[MarkEntry],
    ) -> tuple[UUID, list[UUID]]:
        """A whole lesson — details, attendance, marks — in one transaction. Conducts the
        lesson if it is new; otherwise updates its details and adds to it."""
        assignment = self._get(TeachingAssignment, assignment_id)
        lesson_id = Lesson.create_id(assignment.group_id, assignment.subgroup_id, day, number)
        extra: list[Aggregate] = []
        if self._exists(lesson_id):
            lesson, act = self._writable_lesson(actor, lesson_id)
            if lesson.assignment_id != assignment_id:
                raise InvalidValue("Это занятие проведено по другой нагрузке.",
                                   field="assignment_id")
            self._change_details(lesson, topic, homework, work_kind, act)
            group = self._get(Group, lesson.group_id, copy=False)
        else:
            lesson, extra, group, act = self._new_lesson(actor, assignment_id, day, number,
                                                         topic, homework, work_kind)
        roster = self._roster(lesson, group)
        seen: set[UUID] = set()
        for entry in attendance:
            if entry.student_id in seen:
                raise InvalidValue("Обучающийся указан в посещаемости дважды.",
                                   field="attendance")
            seen.add(entry.student_id)
            self._attendance(lesson, entry.student_id, entry.status, entry.minutes, roster, act)
        mark_ids = []
        if marks:
            self.check_marks_enabled()
            late = self.lesson_entry_check(lesson, record_kind(lesson.work_kind), first=True)
        for mark in marks:
            mark_id = uuid4()
            lesson.record_mark(mark_id, mark.student_id, mark.value, roster, act, late)
            mark_ids.append(mark_id)
        self._save(lesson, *extra)
        return lesson.id, mark_ids

    # Read authorisation --------------------------------------------------------------------
    def check_reads_group_discipline(self, actor: Actor, group: Group,
                                     discipline_id: UUID) -> None:
        if actor.reads_everything():
            return
        if actor.is_staff and (group.curator_id == actor.person_id
                               or group.teaches(actor.person_id, discipline_id)):
            return
        raise Forbidden("Нет доступа к журналу этой группы по этой дисциплине.")

    def check_reads_lesson(self, actor: Actor, lesson: Lesson) -> None:
        if actor.is_staff and lesson.teacher_id == actor.person_id:
            return
        self.check_reads_group_discipline(actor, self._get(Group, lesson.group_id),
                                          lesson.discipline_id)

    def check_reads_student(self, actor: Actor, student: Student) -> None:
        if actor.reads_everything():
            return
        if actor.kind == "student" and actor.person_id == student.id:
            return
        if actor.kind == "guardian" and actor.person_id in student.guardian_ids:
            return
        if (actor.is_staff and student.group_id is not None
                and self._get(Group, student.group_id).curator_id == actor.person_id):
            return
        # Object-level denial looks like absence: do not reveal who exists.
        raise NotFound("Обучающийся не найден.", id=str(student.id))

    # Reads: authorise, then load exactly what the read model needs ------------------------
    def journal_sources(self, actor: Actor, group_id: UUID, discipline_id: UUID,
                        period_number: int) -> JournalSources:
        institution = self.institution()
        group = self._get(Group, group_id, copy=False)
        self.check_reads_group_discipline(actor, group, discipline_id)
        discipline = institution.discipline(discipline_id)
        period = institution.year(group.year_id).period(period_number)
        index = self.find_index(LessonIndex.journal_key(group_id, discipline_id, period_number))
        listed = sorted(index.lessons.values(), key=lambda e: (e.day, e.number)) if index else []
        lessons = [self._get(Lesson, e.lesson_id, copy=False) for e in listed]
        return JournalSources(institution, group, discipline.name, period, lessons,
                              dict(self.policy().weights))

    def diary_sources(self, actor: Actor, student_id: UUID, first: date, last: date
                      ) -> DiarySources:
        if last < first or (last - first).days > MAX_DIARY_DAYS:
            raise InvalidValue(f"Дневник показывается за период до {MAX_DIARY_DAYS + 1} дней.",
                               field="to")
        student = self._get(Student, student_id, copy=False)
        self.check_reads_student(actor, student)
        institution = self.institution()
        groups: dict[UUID, Group] = {}
        lessons: list[Lesson] = []
        for group_id, starts, until in student.groups_between(first, last):
            group = groups.setdefault(group_id, self._get(Group, group_id, copy=False))
            keys = {LessonIndex.week_key(group_id, first + timedelta(days=d))
                    for d in range((last - first).days + 1)}
            for key in sorted(keys):
                index = self.find_index(key)
                for entry in index.lessons.values() if index else ():
                    if not (first <= entry.day <= last and starts <= entry.day
                            and (until is None or entry.day < until)):
                        continue
                    if entry.subgroup_id and not group.is_member(student.id, entry.day,
                                                                 entry.subgroup_id):
                        continue
                    lessons.append(self._get(Lesson, entry.lesson_id, copy=False))
        lessons.sort(key=lambda lesson: (lesson.day, lesson.number))
        return DiarySources(institution, student, groups, lessons)

    def group_sources(self, actor: Actor, group_id: UUID) -> Group:
        group = self._get(Group, group_id, copy=False)
        if actor.reads_everything() or (actor.is_staff and (
                group.curator_id == actor.person_id
                or any(t == actor.person_id for t, _, _ in group.assignments.values()))):
            return group
        raise Forbidden("Нет доступа к составу этой группы.")

    def lesson_sources(self, actor: Actor, lesson_id: UUID) -> tuple[Lesson, Group]:
        lesson = self._get(Lesson, lesson_id, copy=False)
        self.check_reads_lesson(actor, lesson)
        return lesson, self._get(Group, lesson.group_id, copy=False)

    def mark_history_sources(self, actor: Actor, lesson_id: UUID, mark_id: UUID
                             ) -> tuple[Lesson, list[Any], dict[UUID, str]]:
        lesson = self._get(Lesson, lesson_id)
        mark = lesson.mark(mark_id)
        if actor.kind in ("student", "guardian"):
            self.check_reads_student(actor, self._get(Student, mark.student_id))
        else:
            self.check_reads_lesson(actor, lesson)
        events = list(self.repository.event_store.get(lesson_id))
        for application in self.corrections_of(mark_id):
            events.extend(self.repository.event_store.get(application.id))
        events.sort(key=lambda e: e.timestamp)
        names = {}
        for actor_id in {e.act.actor_id for e in events if hasattr(e, "act")}:
            try:
                names[actor_id] = self._get(StaffMember, actor_id).full_name
            except NotFound:
                names[actor_id] = "система"
        return lesson, events, names

    # Loading for reads ------------------------------------------------------------------
    def get(self, cls: type[A], aggregate_id: UUID) -> A:
        """Read-only access (the returned aggregate must not be mutated)."""
        return self._get(cls, aggregate_id, copy=False)

    def find_index(self, key: str) -> LessonIndex | None:
        index_id = LessonIndex.create_id(key)
        try:
            return self._get(LessonIndex, index_id, copy=False)
        except NotFound:
            return None

