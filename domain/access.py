"""Access to an institution's journal: the bearer tokens of one person, as facts of the
institution's signed record. Only a token's SHA-256 is ever stored; issuing and revoking
are events, so who could act — and since when, and until when — is as provable as what
they did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue
from domain.values import Act, require_text

PERSON_KINDS = ("staff", "student", "guardian", "auditor")


@dataclass(frozen=True)
class TokenGrant:
    person_kind: str
    issued_on: str  # the institution-local date, ISO
    revoked: bool = False


class Credentials(Aggregate):
    """The access tokens of one person (staff member, student or guardian)."""

    @staticmethod
    def create_id(person_id: UUID, **_: Any) -> UUID:
        return uuid5(person_id, "credentials")

    @event("Opened")
    def __init__(self, person_id: UUID, person_kind: str, act: Act) -> None:
        self.person_id = person_id
        self.person_kind = person_kind
        self.tokens: dict[str, TokenGrant] = {}

    @classmethod
    def open(cls, person_id: UUID, person_kind: str, act: Act) -> Credentials:
        if person_kind not in PERSON_KINDS:
            raise InvalidValue("Вид лица: staff, student, guardian или auditor.", field="kind")
        return cls(person_id=person_id, person_kind=person_kind, act=act)

    def issue(self, token_sha256: str, act: Act) -> None:
        if len(token_sha256) != 64 or token_sha256 in self.tokens:
            raise InvalidValue("Недопустимый токен.", field="token")
        self._issued(token_sha256=token_sha256, act=act)

    @event("TokenIssued")
    def _issued(self, token_sha256: str, act: Act) -> None:
        self.tokens[token_sha256] = TokenGrant(self.person_kind, act.local_date.isoformat())

    def revoke_all(self, reason: str, act: Act) -> int:
        """Revokes every token still valid; returns how many."""
        live = sorted(h for h, g in self.tokens.items() if not g.revoked)
        if live:
            self._revoked(token_sha256s=live,
                          reason=require_text(reason, "reason", "Причина отзыва", 500), act=act)
        return len(live)

    @event("TokensRevoked")
    def _revoked(self, token_sha256s: list[str], reason: str, act: Act) -> None:
        for h in token_sha256s:
            grant = self.tokens[h]
            self.tokens[h] = TokenGrant(grant.person_kind, grant.issued_on, revoked=True)

    def admits(self, token_sha256: str) -> bool:
        grant = self.tokens.get(token_sha256)
        return grant is not None and not grant.revoked
