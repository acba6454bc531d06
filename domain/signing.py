"""The keys that sign an institution's record (ADR 0016): every change of the signing
key is an announcement in the record itself, signed by the key it replaces, so that the
record says which key may sign it at every position and a retired key never signs again.

The announcement event's topic and its "predecessor", "successor" and "public_key"
fields are part of the ledger's format (`ledger.rotation`): never rename them."""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue, RuleViolation
from domain.values import Act, require_text

_KEY_ID = re.compile(r"[0-9a-f]{32}")
_PUBLIC_HEX = re.compile(r"[0-9a-f]{64}")


class KeyRetired(RuleViolation):
    code = "key_retired"


class KeyNotInForce(RuleViolation):
    code = "key_not_in_force"


class SigningKeys(Aggregate):
    """The succession of an institution's signing keys."""

    @staticmethod
    def create_id(institution_id: UUID) -> UUID:
        return uuid5(institution_id, "signing-keys")

    @event("Started")
    def __init__(self, institution_id: UUID) -> None:
        self.institution_id = institution_id
        self.retired: list[str] = []
        self.in_force: str | None = None

    def rotate(self, predecessor: str, successor: str, public_key: str, basis: str,
               act: Act) -> None:
        """Announces `successor` (its raw public key in hex) in place of `predecessor`,
        the key in force, on `basis` (the order or reason)."""
        for name, value, pattern in (("predecessor", predecessor, _KEY_ID),
                                     ("successor", successor, _KEY_ID),
                                     ("public_key", public_key, _PUBLIC_HEX)):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise InvalidValue("Недопустимый ключ подписи.", field=name)
        basis = require_text(basis, "basis", "Основание смены ключа")
        if successor == predecessor or successor in self.retired:
            raise KeyRetired("Выведенный из действия ключ подписи больше не применяется.")
        if self.in_force is not None and predecessor != self.in_force:
            raise KeyNotInForce("Смену ключа объявляет только действующий ключ подписи.")
        self._rotated(predecessor=predecessor, successor=successor, public_key=public_key,
                      basis=basis, act=act)

    @event("Rotated")
    def _rotated(self, predecessor: str, successor: str, public_key: str, basis: str,
                 act: Act) -> None:
        self.retired.append(predecessor)
        self.in_force = successor
