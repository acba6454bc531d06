"""Who may act and read: the role grants of staff, the bearer tokens (issued and
revoked as ledgered events), and read authorisation. Deny by default."""

from __future__ import annotations

from uuid import UUID

from application.actors import Actor
from application.store import NAMES, Area
from application.unit_of_work import units_of_work
from domain.access import Credentials
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.groups import Group
from domain.lessons import Lesson
from domain.people import Auditor, Guardian, StaffMember, Student
from domain.values import STAFF_ROLES, Capacity, Role

STAFF_ROLE_NAMES = frozenset(r.value for r in STAFF_ROLES)
PERSON_KINDS: dict[str, type] = {"staff": StaffMember, "student": Student, "guardian": Guardian,
                                 "auditor": Auditor}
KIND_ROLES = {"student": Role.STUDENT, "guardian": Role.GUARDIAN, "auditor": Role.AUDITOR}
STUDENT_NOT_FOUND = f"{NAMES[Student]} не найден(а)."


@units_of_work
class Access(Area):
    # Role grants ----------------------------------------------------------------------
    def hire_staff(self, actor: Actor | None, full_name: str, roles: list[str]) -> UUID:
        """`actor=None` only from the command line, acting on the founder's order: the
        only way to appoint a director. Through the API (see `may_grant`): the director
        grants deputy and administrator roles; the administration grants the teacher
        role; nobody grants "director", nor a role they do not hold themselves."""
        if actor is None:
            capacity = Capacity.SYSTEM
        else:
            capacity = actor.administration()
            refused = sorted(r for r in set(roles)
                             if r in STAFF_ROLE_NAMES and not self.may_grant(actor, r))
            if refused:
                raise Forbidden("Недостаточно прав, чтобы назначить роль: "
                                + ", ".join(refused) + ". Роли заместителя и администратора "
                                "назначает директор; роль директора — только приказом "
                                "учредителя (командная строка).", roles=refused)
        member = StaffMember.hire(full_name, roles, self._act(actor, capacity))
        self._save(member)
        return member.id

    def appoint_auditor(self, actor: Actor | None, full_name: str, basis: str) -> UUID:
        """An auditor of the archive, appointed on the founder's or a control body's
        order: from the command line only (`actor=None`), like the director; nobody of
        the institution appoints who audits it."""
        if actor is not None:
            raise Forbidden("Проверяющего назначает учредитель или орган контроля "
                            "(командная строка), не сотрудники организации.")
        auditor = Auditor.appoint(full_name, basis, self._act(None, Capacity.SYSTEM))
        self._save(auditor)
        return auditor.id

    @staticmethod
    def may_grant(actor: Actor, role: str) -> bool:
        """Whether `actor` may give a staff member `role` through the API."""
        if not actor.is_staff:
            return False
        if role == Role.TEACHER.value:
            # The teacher role itself gives no power over any journal: that comes with
            # a teaching assignment, which only the administration makes.
            return actor.has(Role.DIRECTOR, Role.DEPUTY, Role.ADMIN)
        if role in (Role.DEPUTY.value, Role.ADMIN.value):
            return Role.DIRECTOR in actor.roles
        return False  # director, or anything unknown

    # Bearer tokens: issued and revoked as events of the institution's signed record ------
    def issue_token(self, actor: Actor | None, person_id: UUID, kind: str,
                    token_sha256: str) -> None:
        """Records that a token whose SHA-256 is `token_sha256` admits the person.
        `actor=None`: from the command line (tokens are issued there only)."""
        if kind not in PERSON_KINDS:
            raise InvalidValue("Вид лица: staff, student, guardian или auditor.", field="kind")
        self._get(PERSON_KINDS[kind], person_id, copy=False)
        act = self._act(actor, Capacity.SYSTEM if actor is None else actor.administration())
        credentials = self._credentials(person_id)
        if credentials is None:
            credentials = Credentials.open(person_id, kind, act)
        elif credentials.person_kind != kind:
            raise InvalidValue("Лицо зарегистрировано с другим видом.", field="kind")
        credentials.issue(token_sha256, act)
        self._save(credentials)

    def revoke_tokens(self, actor: Actor | None, person_id: UUID, reason: str) -> int:
        """Revokes every live token of the person (a member of staff who left, a lost
        token); returns how many. A new token may be issued afterwards."""
        if not reason.strip():
            raise InvalidValue("Укажите причину отзыва.", field="reason")
        act = self._act(actor, Capacity.SYSTEM if actor is None else actor.administration())
        credentials = self._credentials(person_id)
        if credentials is None:
            return 0
        count = credentials.revoke_all(reason, act)
        self._save(credentials)
        return count

    def _credentials(self, person_id: UUID) -> Credentials | None:
        try:
            return self._get(Credentials, Credentials.create_id(person_id))
        except NotFound:
            return None

    def admit(self, person_id: UUID, kind: str, token_sha256: str
              ) -> tuple[UUID, frozenset[Role]] | None:
        """If the person's recorded credentials admit the token (issued for this person
        and kind, not revoked): the credentials' id and the person's current roles;
        else None. One unit of work: read fresh from the record at every request."""
        credentials = self.store.find(Credentials, Credentials.create_id(person_id))
        if (credentials is None or credentials.person_kind != kind
                or not credentials.admits(token_sha256)):
            return None
        person = self.store.find(PERSON_KINDS[kind], person_id)
        if person is None:
            return None
        if kind == "staff":
            return credentials.id, frozenset(person.roles)
        return credentials.id, frozenset({KIND_ROLES[kind]})

    # Read authorisation ------------------------------------------------------------------

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
        # Object-level denial looks exactly like absence (the store's own 404 for an
        # unknown id): it reveals neither who exists nor anything the caller did not send.
        raise NotFound(STUDENT_NOT_FOUND, id=str(student.id))
