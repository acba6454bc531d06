"""The deployment: many institutions, each its own journal application and chain.
Entry point for the API and the CLI."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import ledger
from application.access import PERSON_KINDS
from application.actors import Actor
from application.config import Settings
from application.integrity import ChainGuard
from application.journal import Clock, Journal, utc_now
from application.storage.chain import ChainWriter
from application.storage.directory import AlreadyRegistered, InstitutionEntry, TokenEntry
from application.storage.layout import Backend, NotOwner, open_backend
from application.store import InstitutionStore
from domain.errors import DuplicateEntry, InvalidValue, NotFound
from domain.institution import Institution, check_slug, check_timezone

TOKEN_PREFIX = "ej_"
MAX_CACHED_ROUTES = 100_000


class Unauthenticated(Exception):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def chain_id_of(institution_id: UUID) -> str:
    return f"ejournal:{institution_id}"


def ensure_key(key_dir: Path) -> str:
    """The active signing key's id; generates the first key if there is none."""
    try:
        return ledger.Signer.from_directory(key_dir).key_id
    except ledger.KeyNotFound:
        return ledger.generate_key(key_dir)


class Ejournal:
    def __init__(self, settings: Settings, clock: Clock = utc_now, *,
                 require_signer: bool = True, owner: bool = False) -> None:
        """`require_signer=False`: a read-only deployment (verification, export) that
        needs no private key. `owner=True`: connected as the owner of the schemas
        (settings.owner_url), for set-up — creating institutions, granting the runtime
        role; otherwise as the runtime role, which runs no DDL (ADR 0007)."""
        self.settings = settings
        self.clock = clock
        self.signer = (ledger.Signer.from_directory(settings.key_dir)
                       if require_signer else None)
        self.owner = owner
        self.backend: Backend = open_backend(
            settings.owner_url if owner else settings.database_url, owner=owner)
        self._journals: dict[str, Journal] = {}
        self._lock = threading.Lock()
        self._routes: dict[str, TokenEntry] = {}
        self._keyring: ledger.KeyRing | None = None

    # Institutions ----------------------------------------------------------------------
    def create_institution(self, slug: str, name: str, timezone: str) -> UUID:
        check_slug(slug)
        check_timezone(timezone)
        if self.backend.kind == "postgresql" and not self.owner:
            raise NotOwner("an institution is created by the owner of the schemas "
                           "(ejournal institutions add)")
        institution_id = Institution.create_id(slug)
        try:
            self.backend.directory.add_institution(InstitutionEntry(slug, institution_id, name))
        except AlreadyRegistered:
            raise DuplicateEntry(f"Организация с кодом «{slug}» уже есть.") from None
        self.backend.prepare_institution(slug)
        self.journal(slug).setup.register_institution(name, timezone)
        return institution_id

    def journal(self, slug: str) -> Journal:
        with self._lock:
            journal = self._journals.get(slug)
            if journal is None:
                entry = self.backend.directory.institution(slug)
                if entry is None:
                    raise NotFound(f"Организация «{slug}» не найдена.")
                if self.signer is None:
                    raise RuntimeError("this deployment was opened without a signing key")
                chain_id = chain_id_of(entry.institution_id)
                guard = ChainGuard(slug, chain_id, self.keyring(), self.signer)
                chain = ChainWriter(chain_id, self.signer, guard)
                journal = Journal(InstitutionStore(self.backend, slug, chain, self.clock))
                self._journals[slug] = journal
            return journal

    # Access tokens ---------------------------------------------------------------------
    def issue_token(self, slug: str, person_id: UUID, kind: str) -> str:
        """A new bearer token for the person, shown once. Its issuance is an event of the
        institution's signed record (only the SHA-256 is stored); the directory keeps a
        routing hint from the hash to the institution, which grants nothing by itself."""
        if kind not in PERSON_KINDS:
            raise InvalidValue("Вид лица: staff, student или guardian.", field="kind")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        self.journal(slug).access.issue_token(None, person_id, kind, digest)
        self.backend.directory.add_token(digest, TokenEntry(slug, person_id, kind))
        return token

    def revoke_tokens(self, slug: str, person_id: UUID, reason: str) -> int:
        """Revokes every token of the person (a member of staff who left, a lost
        token) by an event of the signed record; returns how many."""
        return self.journal(slug).access.revoke_tokens(None, person_id, reason)

    def authenticate(self, token: str) -> tuple[Actor, Journal]:
        """The token's holder, if the institution's record admits it: issued for this
        person and kind and not revoked since, read afresh at every request. Every event
        of that record has passed the chain guard (ADR 0009): its ledger entry verifies
        and links, signed by a trusted key."""
        digest = token_hash(token)
        entry = self._routes.get(digest)
        if entry is None:
            entry = self.backend.directory.token(digest)
            if entry is None:
                raise Unauthenticated
            if len(self._routes) >= MAX_CACHED_ROUTES:
                self._routes.clear()
            # A routing hint is never changed; it grants nothing by itself (see below).
            self._routes[digest] = entry
        journal = self.journal(entry.slug)
        admitted = journal.access.admit(entry.person_id, entry.person_kind, digest)
        if admitted is None:
            raise Unauthenticated
        _, roles = admitted
        return Actor(entry.slug, entry.person_id, entry.person_kind, roles), journal

    def keyring(self) -> ledger.KeyRing:
        """The trusted public keys (the key ring's index in the key directory)."""
        if self._keyring is None:
            self._keyring = ledger.KeyRing.from_directory(self.settings.key_dir)
        return self._keyring

    # Integrity -------------------------------------------------------------------------
    def verify(self, slug: str, keyring: ledger.KeyRing,
               progress: Callable[[int], None] | None = None) -> ledger.VerifyReport:
        """Re-reads the institution's stored events and ledger, recomputes every hash,
        checks every link and signature; then looks for events outside the ledger."""
        entry = self.backend.directory.institution(slug)
        if entry is None:
            raise NotFound(f"Организация «{slug}» не найдена.")
        chain_id = chain_id_of(entry.institution_id)
        reader = self.backend.chain_reader(slug)
        report = ledger.verify(chain_id, reader.entries(), keyring,
                               locate_digest=reader.locate, progress=progress)
        if not report.ok:
            return report
        stray = reader.first_unledgered()
        if stray is None:
            return report
        notification_id, originator_id, version, before = stray
        return replace(report, ok=False, failure=ledger.Failure(
            position=int(before) + 1, kind=ledger.FailureKind.INSERTED,
            detail=f"event {originator_id} v{version} (row {notification_id}) "
                   "is not in the ledger",
        ))

    def export_chain(self, slug: str, output: Path) -> int:
        """Writes the institution's chain as JSON lines (`python -m ledger verify` reads
        it without the service). Streams; returns the number of entries."""
        entry = self.backend.directory.institution(slug)
        if entry is None:
            raise NotFound(f"Организация «{slug}» не найдена.")
        count = 0
        with output.open("w", encoding="utf-8") as out:
            out.write(ledger.export_header(chain_id_of(entry.institution_id)) + "\n")
            for stored in self.backend.chain_reader(slug).entries():
                out.write(ledger.export_line(stored) + "\n")
                count += 1
        return count

    def institutions(self) -> list[InstitutionEntry]:
        return self.backend.directory.institutions()

    def close(self) -> None:
        for journal in self._journals.values():
            journal.close()
        self.backend.close()

