"""Who is asking, and what they may do. Deny by default: every use case names the
capacity it needs, and anything not granted below is refused."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.errors import Forbidden
from domain.values import Capacity, Role

ADMINISTRATION = (Role.DIRECTOR, Role.DEPUTY, Role.ADMIN)


@dataclass(frozen=True)
class Actor:
    slug: str
    person_id: UUID
    kind: str  # staff | student | guardian
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def administration(self) -> Capacity:
        """Director, deputy or journal administrator — in that order of precedence."""
        for role in ADMINISTRATION:
            if role in self.roles:
                return Capacity(role.value)
        raise Forbidden("Действие доступно только администрации организации.")

    def reads_everything(self) -> bool:
        return self.is_staff and self.has(*ADMINISTRATION)


SYSTEM_ACTOR_ID = UUID(int=0)
