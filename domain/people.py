"""People of an institution: staff members, students, guardians, auditors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue, StudentStatusRule
from domain.values import STAFF_ROLES, Act, MoveKind, OrderRef, Role, StudentStatus, require_text


class StaffMember(Aggregate):
    """A director, deputy, journal administrator or teacher (roles may combine)."""

    @event("Hired")
    def __init__(self, full_name: str, roles: list[str], act: Act) -> None:
        self.full_name = full_name
        self.roles = frozenset(Role(r) for r in roles)
        self.assignment_ids: list[UUID] = []

    @event("AssignmentTaken")
    def take_assignment(self, assignment_id: UUID, act: Act) -> None:
        self.assignment_ids.append(assignment_id)

    @classmethod
    def hire(cls, full_name: str, roles: list[str], act: Act) -> StaffMember:
        parsed = {Role(r) for r in roles}
        if not parsed or not parsed <= STAFF_ROLES:
            raise InvalidValue(
                "Сотруднику назначаются роли: admin, director, deputy, teacher.", field="roles"
            )
        return cls(
            full_name=require_text(full_name, "full_name", "ФИО", 300),
            roles=sorted(r.value for r in parsed),
            act=act,
        )


@dataclass(frozen=True)
class Move:
    """One movement of a student by order."""

    kind: str
    order: OrderRef
    effective: date
    group_id: UUID | None  # the group entered (None when leaving)


class Student(Aggregate):
    """A student (обучающийся). Status and group change only by orders (приказы)."""

    @event("Admitted")
    def __init__(self, full_name: str, birth_date: date | None, act: Act) -> None:
        self.full_name = full_name
        self.birth_date = birth_date
        self.status = StudentStatus.ADMITTED
        self.group_id: UUID | None = None
        self.moves: list[Move] = []
        self.guardian_ids: set[UUID] = set()

    @classmethod
    def admit(cls, full_name: str, birth_date: date | None, act: Act) -> Student:
        return cls(
            full_name=require_text(full_name, "full_name", "ФИО", 300),
            birth_date=birth_date,
            act=act,
        )

    @property
    def last_effective(self) -> date | None:
        return self.moves[-1].effective if self.moves else None

    def check_move(self, kind: MoveKind, effective: date) -> None:
        allowed = {
            MoveKind.ENROLMENT: {StudentStatus.ADMITTED, StudentStatus.EXPELLED},
            MoveKind.TRANSFER: {StudentStatus.ENROLLED},
            MoveKind.ACADEMIC_LEAVE: {StudentStatus.ENROLLED},
            MoveKind.RETURN_FROM_LEAVE: {StudentStatus.ON_LEAVE},
            MoveKind.EXPULSION: {StudentStatus.ENROLLED, StudentStatus.ON_LEAVE},
            MoveKind.GRADUATION: {StudentStatus.ENROLLED},
        }[kind]
        if self.status not in allowed:
            raise StudentStatusRule(
                f"Движение «{kind.value}» невозможно для обучающегося в статусе "
                f"«{self.status.value}».",
                student_status=self.status.value,
            )
        if self.last_effective is not None and effective < self.last_effective:
            raise StudentStatusRule(
                f"Дата вступления приказа в силу {effective:%d.%m.%Y} раньше предыдущего "
                f"движения ({self.last_effective:%d.%m.%Y}).",
            )

    def move(
        self, kind: MoveKind, order: OrderRef, effective: date, group_id: UUID | None, act: Act
    ) -> None:
        self.check_move(kind, effective)
        self._moved(kind=kind.value, order=order, effective=effective, group_id=group_id, act=act)

    @event("Moved")
    def _moved(
        self, kind: str, order: OrderRef, effective: date, group_id: UUID | None, act: Act
    ) -> None:
        move_kind = MoveKind(kind)
        self.moves.append(Move(kind, order, effective, group_id))
        self.group_id = group_id
        self.status = {
            MoveKind.ENROLMENT: StudentStatus.ENROLLED,
            MoveKind.TRANSFER: StudentStatus.ENROLLED,
            MoveKind.RETURN_FROM_LEAVE: StudentStatus.ENROLLED,
            MoveKind.ACADEMIC_LEAVE: StudentStatus.ON_LEAVE,
            MoveKind.EXPULSION: StudentStatus.EXPELLED,
            MoveKind.GRADUATION: StudentStatus.GRADUATED,
        }[move_kind]

    def groups_between(self, first: date, last: date) -> list[tuple[UUID, date, date | None]]:
        """Groups the student belonged to that overlap [first, last]: (group, from, until)
        with `until` exclusive (None: still there)."""
        spans: list[tuple[UUID, date, date | None]] = []
        for i, m in enumerate(self.moves):
            if m.group_id is None:
                continue
            until = self.moves[i + 1].effective if i + 1 < len(self.moves) else None
            if m.effective <= last and (until is None or until > first):
                spans.append((m.group_id, m.effective, until))
        return spans

    @event("GuardianLinked")
    def link_guardian(self, guardian_id: UUID, document: str, act: Act) -> None:
        self.guardian_ids.add(guardian_id)


class Guardian(Aggregate):
    """A parent or other legal representative (законный представитель)."""

    @event("Registered")
    def __init__(self, full_name: str, act: Act) -> None:
        self.full_name = full_name
        self.children: set[UUID] = set()

    @classmethod
    def register(cls, full_name: str, act: Act) -> Guardian:
        return cls(full_name=require_text(full_name, "full_name", "ФИО", 300), act=act)

    @event("ChildLinked")
    def link_child(self, student_id: UUID, document: str, act: Act) -> None:
        self.children.add(student_id)


class Auditor(Aggregate):
    """An auditor (проверяющий) of the institution's archive: someone the founder or a
    control body appoints to verify the integrity of the signed record. Not a member of
    staff: reads the ledger, its checkpoints and proofs, nothing of the journal itself."""

    @event("Appointed")
    def __init__(self, full_name: str, basis: str, act: Act) -> None:
        self.full_name = full_name
        self.basis = basis

    @classmethod
    def appoint(cls, full_name: str, basis: str, act: Act) -> Auditor:
        return cls(full_name=require_text(full_name, "full_name", "ФИО", 300),
                   basis=require_text(basis, "basis", "Основание", 300), act=act)
