"""The deployment: many institutions, each its own journal application and chain.
Entry point for the API and the CLI."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from uuid import UUID

import ledger
from application import checkpoints, timestamping
from application.access import PERSON_KINDS
from application.actors import SYSTEM_ACTOR_ID, Actor
from application.config import Settings
from application.integrity import ChainGuard, IntegrityAlarm
from application.journal import Clock, Journal, utc_now
from application.signing import KeyDirectory, SigningKeyUnavailable
from application.storage import tree
from application.storage.chain import ChainWriter
from application.storage.directory import AlreadyRegistered, InstitutionEntry, TokenEntry
from application.storage.layout import Backend, ChainReader, NotOwner, open_backend
from application.store import InstitutionStore
from domain.errors import DomainError, DuplicateEntry, InvalidValue, NotFound
from domain.institution import Institution, check_slug, check_timezone
from domain.values import Role, require_text
from ledger.note import check_key_name

log = logging.getLogger("ejournal.integrity")
TOKEN_PREFIX = "ej_"
MAX_CACHED_ROUTES = 100_000


class Unauthenticated(Exception):
    pass


class CheckpointRefused(Exception):
    """The service will not sign a checkpoint of this log (ADR 0011): the tree is not
    the chain's, or it does not extend the last checkpoint the service signed."""


class NotExtended(Exception):
    """The current log does not extend an auditor's checkpoint: truncated or rewritten."""


PARALLEL_FROM = 20_000  # entries: below, a process pool costs more than it saves


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


@dataclass(frozen=True)
class RotationReport:
    """A key rotation: the new key, the institutions whose chains announced it, the
    private keys destroyed (none unless every institution announced it), and the
    institutions where it failed, with why."""

    successor: str
    announced: list[str]
    destroyed: list[str]
    failed: dict[str, str]
    read_only: list[str] = field(default_factory=list)  # key in force retired before


class Ejournal:
    def __init__(self, settings: Settings, clock: Clock = utc_now, *,
                 require_signer: bool = True, owner: bool = False) -> None:
        """`require_signer=False`: a read-only deployment (verification, export) that
        needs no private key. `owner=True`: connected as the owner of the schemas
        (settings.owner_url), for set-up — creating institutions, granting the runtime
        role; otherwise as the runtime role, which runs no DDL (ADR 0007)."""
        self.settings = settings
        self.clock = clock
        # Signing keys by id and the ACTIVE one, as of each use (ADR 0016).
        self.keys = KeyDirectory(settings.key_dir) if require_signer else None
        self.owner = owner
        self.backend: Backend = open_backend(
            settings.owner_url if owner else settings.database_url, owner=owner)
        self._journals: dict[str, Journal] = {}
        self._lock = threading.Lock()
        self._routes: dict[str, TokenEntry] = {}
        self._keyring: ledger.KeyRing | None = None
        self._keyring_stamp: tuple[int, int] | None = None
        # An opened archive's reader (ADR 0014): (SHA-256 of its token, the institution);
        # the deployment writes nothing, so the token reads all of that one journal.
        self.archive_reader: tuple[str, str] | None = None

    @property
    def read_only(self) -> bool:
        """A deployment without signing keys (an opened archive, verification): it writes
        nothing — every command would be refused with `read_only`."""
        return self.keys is None

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
                chain_id = chain_id_of(entry.institution_id)
                if self.keys is None:  # read-only (an opened archive): writes refused
                    guard = ChainGuard(slug, chain_id, self.keyring(), None)
                    chain = ChainWriter(chain_id, None, guard)
                else:
                    guard = ChainGuard(slug, chain_id, self.keyring(), self.keys.active,
                                       self.keys.holds)
                    guard.remembered = lambda last, slug=slug: self.against_memory(
                        slug, self.backend.chain_reader(slug), last, self.keyring())
                    chain = ChainWriter(chain_id, self.keys.active(), guard, self.keys)
                journal = Journal(InstitutionStore(self.backend, slug, chain, self.clock))
                self._journals[slug] = journal
            return journal

    # Access tokens ---------------------------------------------------------------------
    def issue_token(self, slug: str, person_id: UUID, kind: str) -> str:
        """A new bearer token for the person, shown once. Its issuance is an event of the
        institution's signed record (only the SHA-256 is stored); the directory keeps a
        routing hint from the hash to the institution, which grants nothing by itself."""
        if kind not in PERSON_KINDS:
            raise InvalidValue("Вид лица: staff, student, guardian или auditor.", field="kind")
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
        if self.archive_reader is not None and secrets.compare_digest(
                digest, self.archive_reader[0]):
            slug = self.archive_reader[1]
            return Actor(slug, SYSTEM_ACTOR_ID, "staff", frozenset({Role.DIRECTOR})), \
                self.journal(slug)
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

    def rotate_signing_key(self, basis: str, institutions: Sequence[str] | None = None,
                           progress: Callable[[str], None] | None = None) -> RotationReport:
        """Rotates the deployment's signing key (ADR 0016): a new key is generated (not
        yet active); each institution's chain (all, or those named) announces it, signed
        by the key in force there; it becomes ACTIVE. Then — only when every
        institution of the deployment announced it — every other private key is
        destroyed, so that it can never sign again. Run again after a failure, it
        finishes the job with a newer key (chains that announced the failed one hand
        over from it). `basis` (the order) goes into every announcement."""
        if self.keys is None:
            raise RuntimeError("this deployment was opened without a signing key")
        basis = require_text(basis, "basis", "Основание смены ключа", max_len=500)
        key_dir = Path(self.settings.key_dir)
        slugs = ([e.slug for e in self.backend.directory.institutions()]
                 if institutions is None else list(institutions))
        successor = ledger.generate_key(key_dir, activate=False)
        public = self.keyring().public_key(successor)
        announced: list[str] = []
        failed: dict[str, str] = {}
        read_only: list[str] = []
        for slug in slugs:
            opened = slug in self._journals
            try:
                signing = self.journal(slug).signing
                if signing.announce(successor, public, basis):
                    announced.append(slug)
                if signing.key_in_force() != successor:
                    failed[slug] = "the new key is not in force after the announcement"
                else:
                    # Remembered beside the keys: a log cut back before the announcement
                    # (and re-signed with a stolen retired key) no longer extends it.
                    self.checkpoint(slug)
            except SigningKeyUnavailable:
                # Its key in force was retired before (e.g. restored from an older copy):
                # nobody can write it, so it holds no key back.
                read_only.append(slug)
            except (DomainError, IntegrityAlarm, CheckpointRefused,
                    tree.TreeIncomplete) as error:
                failed[slug] = str(error)
            finally:
                if not opened:
                    self._release(slug)
            if progress is not None:
                progress(slug)
        if announced or not failed:
            ledger.activate_key(key_dir, successor)  # else no chain knows it: left inactive
        destroyed: list[str] = []
        if institutions is None:
            # An institution created meanwhile took the old key: keep it.
            failed.update({e.slug: "created during the rotation" for e
                           in self.backend.directory.institutions() if e.slug not in slugs})
        if institutions is None and not failed:
            for path in sorted(key_dir.glob("*" + ledger.keys.PRIVATE_SUFFIX)):
                if path.stem != successor and ledger.destroy_private_key(key_dir, path.stem):
                    self.keys.forget(path.stem)
                    destroyed.append(path.stem)
        log.warning("signing key rotated to %s (%s); announced in %s; failed in %s; "
                    "private keys destroyed: %s", successor, basis,
                    ", ".join(announced) or "none", ", ".join(failed) or "none",
                    ", ".join(destroyed) or "none")
        return RotationReport(successor, announced, destroyed, failed, read_only)

    def _release(self, slug: str) -> None:
        """Closes the institution's journal (its connections), if open."""
        with self._lock:
            journal = self._journals.pop(slug, None)
        if journal is not None:
            journal.close()

    def alarmed(self) -> list[str]:
        """The institutions open in this process whose chain guard raised the integrity
        alarm (ADR 0009): they serve nothing until an administrator has looked."""
        with self._lock:
            journals = list(self._journals.values())
        return sorted(j.slug for j in journals
                      if j.store.chain.guard is not None
                      and j.store.chain.guard.failure is not None)  # type: ignore[attr-defined]

    @property
    def signer(self) -> ledger.Signer | None:
        """The active signing key now (None in a read-only deployment)."""
        return self.keys.active() if self.keys is not None else None

    def keyring(self) -> ledger.KeyRing:
        """The trusted public keys (the key ring's index in the key directory), read
        again when KEYS changes (a rotation by another process adds a key)."""
        try:
            stat = os.stat(Path(self.settings.key_dir) / ledger.keys.INDEX)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_ino)
        except OSError:
            stamp = None
        if self._keyring is None or stamp is None or stamp != self._keyring_stamp:
            self._keyring = ledger.KeyRing.from_directory(self.settings.key_dir)
            self._keyring_stamp = stamp
        return self._keyring

    # Integrity -------------------------------------------------------------------------
    def verify(self, slug: str, keyring: ledger.KeyRing,
               progress: Callable[[int], None] | None = None, *,
               workers: int = 1) -> ledger.VerifyReport:
        """Re-reads the institution's stored events and ledger, recomputes every hash,
        checks every link and signature (in `workers` processes if more than one, with
        the same verdicts); then looks for events outside the ledger."""
        entry = self.backend.directory.institution(slug)
        if entry is None:
            raise NotFound(f"Организация «{slug}» не найдена.")
        reader = self.backend.chain_reader(slug)
        report = verify_chain(chain_id_of(entry.institution_id), reader, keyring, progress,
                              workers=workers)
        if report.ok:
            cut = self.against_memory(slug, reader, report.head.position, keyring)
            if cut is not None:
                return replace(report, ok=False, failure=cut)
        return report

    def against_memory(self, slug: str, reader: ChainReader, last: int,
                       keyring: ledger.KeyRing) -> ledger.Failure | None:
        """Whether the stored log (`last` entries, its stored tree) still extends the
        last checkpoint this deployment signed (its memory beside the keys, ADR 0011):
        a Failure if it was cut or rewritten since, None if it extends it — or there is
        no memory, or these keys do not sign it (an auditor's ring)."""
        memory = checkpoints.Memory(self.settings.key_dir, slug)
        try:
            signed = memory.read(keyring)
        except ledger.LedgerError:
            return None
        if signed is None or signed.size == 0:
            return None
        if signed.size > last:
            return ledger.Failure(last + 1, ledger.FailureKind.MISSING,
                                  f"the log ends at {last}, before the checkpoint of size "
                                  f"{signed.size} this deployment signed ({memory.path}): "
                                  "truncated")
        try:
            root = tree.from_store(lambda st: ledger.root_hash_from(signed.size, st),
                                   reader.subtrees)
        except (ledger.LedgerError, tree.TreeIncomplete) as error:
            # The tree was whole when the checkpoint was signed (it is built first).
            return ledger.Failure(signed.size, ledger.FailureKind.MISSING,
                                  f"the stored tree no longer covers the checkpoint of size "
                                  f"{signed.size} this deployment signed: {error}")
        if root != signed.root:
            return ledger.Failure(signed.size, ledger.FailureKind.CHANGED,
                                  f"the log's root at size {signed.size} is not that of the "
                                  f"checkpoint this deployment signed ({memory.path}): "
                                  "history rewritten")
        return None

    def verify_links(self, slug: str, keyring: ledger.KeyRing,
                     progress: Callable[[int], None] | None = None, *, workers: int = 1
                     ) -> tuple[ledger.LinkReport, ledger.Checkpoint | None]:
        """Without per-entry signatures: recomputes every digest, entry hash and link
        against the stored values and the Merkle root, and authenticates the entries up
        to the newest stored checkpoint that a trusted key signs (one signature covers
        them all). Returns the report (a root mismatch is its failure) and that
        checkpoint (None: nothing is authenticated, only linked)."""
        entry = self.backend.directory.institution(slug)
        if entry is None:
            raise NotFound(f"Организация «{slug}» не найдена.")
        chain_id = chain_id_of(entry.institution_id)
        reader = self.backend.chain_reader(slug)
        # The newest row the keys sign with its own size and root; one of a longer log
        # than the ledger's is kept here, so that the root check below names the cut.
        row = checkpoints.latest_stored(slug, reader, 2**63 - 1, keyring)
        checkpoint = None if row is None else ledger.Checkpoint(row[1], row[0], row[2])
        sizes = [checkpoint.size] if checkpoint is not None else []
        size = reader.tree_size()[0]
        if workers > 1 and size >= PARALLEL_FROM:
            report = ledger.verify_links_segments(chain_id, reader.entries_range, size,
                                                  workers=workers, reread=reader.entries_from,
                                                  roots_at=sizes, progress=progress)
        else:
            report = ledger.verify_links(chain_id, reader.entries(), roots_at=sizes,
                                         progress=progress)
        if report.ok and checkpoint is not None and row is not None:
            signers = [k for k in keyring if _signs(keyring, k, row[1], row[3])]
            stale = [k for k in signers if checkpoint.size > report.retired.get(k, 2**63)]
            if stale and len(stale) == len(signers):
                failure = ledger.Failure(
                    checkpoint.size, ledger.FailureKind.WRONG_KEY,
                    f"the newest checkpoint (size {checkpoint.size}) is signed by key "
                    f"{stale[0]}, retired by the announcement at position "
                    f"{report.retired[stale[0]]}: it authenticates nothing (ADR 0016)")
                return replace(report, ok=False, failure=failure), None
        if report.ok and checkpoint is not None:
            root = report.roots.get(checkpoint.size)
            if root != checkpoint.root:
                failure = ledger.Failure(
                    min(checkpoint.size, report.count + 1), ledger.FailureKind.CHANGED,
                    f"the chain's Merkle root at size {checkpoint.size} is not the signed "
                    "checkpoint's: history before it was rewritten or cut")
                report = replace(report, ok=False, failure=failure)
        return report, checkpoint

    # The Merkle tree and checkpoints (ADR 0011) ----------------------------------------
    def log_origin(self, slug: str, origin: str | None = None) -> str:
        """The institution's log name: `origin`, else `<EJOURNAL_LOG_ORIGIN_PREFIX>/<slug>`.
        InvalidValue for an origin that is not a key name (empty, a space, '+', a control
        character), or whose last segment is another registered institution's code: the
        signing key is the deployment's, so a checkpoint of this tree under the other's
        log name would verify with the other's verifier key (and `ledger verify
        --against` takes the institution from that segment)."""
        if origin is None:
            return f"{self.settings.log_origin_prefix.rstrip('/')}/{slug}"
        try:
            check_key_name(origin)
        except ledger.NoteError:
            raise InvalidValue("Имя журнала (--origin): непустое, без пробелов, «+» и "
                               "управляющих символов.", field="origin") from None
        named = origin.rsplit("/", 1)[-1]
        if named != slug and self.backend.directory.institution(named) is not None:
            raise InvalidValue(f"Имя журнала «{origin}» называет журнал организации "
                               f"«{named}»: контрольные точки организации «{slug}» "
                               "подписываются только под её собственным именем.",
                               field="origin")
        return origin

    def verifier_key(self, slug: str, origin: str | None = None) -> str:
        """The verifier key (C2SP vkey) of the institution's checkpoints, signed with the
        active key under the log's name: what auditors keep to check them."""
        if self.signer is None:
            raise RuntimeError("this deployment was opened without a signing key")
        if self.backend.directory.institution(slug) is None:
            raise NotFound(f"Организация «{slug}» не найдена.")
        return self.signer.note_signer(self.log_origin(slug, origin)).verifier().vkey()

    def _tree(self, slug: str) -> tuple[ChainReader, int, bytes]:
        """The reader, size and root of the stored tree: O(log n) reads."""
        reader = self.backend.chain_reader(slug)
        return (reader, *stored_tree(reader, slug))

    def checkpoint(self, slug: str, origin: str | None = None) -> str:
        """The latest checkpoint of the institution's log, as a signed note: a new one if
        the tree grew since the last one the service signed (or the origin differs),
        after checking that it extends that one (CheckpointRefused otherwise); stored
        before it is returned. Builds the tree first for a chain older than it."""
        store = self.journal(slug).store
        guard = store.chain.guard
        size, leaves = self.backend.chain_reader(slug).tree_size()
        if leaves > size:  # junk nodes past the chain: the alarm, not a retry a minute later
            detail = _junk_nodes(self.backend.chain_reader(slug), size)
            if guard is not None:
                guard.alarm(ledger.Failure(size + 1, ledger.FailureKind.INSERTED, detail))
            raise CheckpointRefused(f"{slug}: {detail}")
        store.recorder.ensure_tree()  # type: ignore[attr-defined]
        assert self.signer is not None
        reader, size, root = self._tree(slug)
        # Sign only what the chain guard verified (ADR 0009): IntegrityAlarm otherwise.
        if guard is not None:
            store.institution_ro()  # a unit of work: the guard follows, the cache too
            if guard.head is None or guard.head.position < size:
                raise CheckpointRefused(f"{slug}: the tree runs past the verified chain")
        origin = self.log_origin(slug, origin)
        # The service's own memory of the last checkpoint it signed, beside its keys: no
        # database row can make it sign one that does not extend that.
        memory = checkpoints.Memory(self.settings.key_dir, slug)
        try:
            signed = memory.read(self.keyring())
        except ledger.LedgerError as error:
            raise CheckpointRefused(f"{slug}: {memory.path} does not hold a checkpoint the "
                                    f"service signed: {error}") from None
        if signed is not None and not extends(reader, signed.size, signed.root, size,
                                                    root):
            raise CheckpointRefused(
                f"{slug}: the log (size {size}) does not extend the last checkpoint the "
                f"service signed (size {signed.size}, {memory.path}): refusing to sign")
        # Stored rows count only if the service's keys sign them (forged ones are logged).
        last = checkpoints.latest_stored(slug, reader, size, self.keyring())
        if last is not None:
            last_size, last_origin, last_root, last_note = last
            if not extends(reader, last_size, last_root, size, root):
                raise CheckpointRefused(
                    f"{slug}: the log (size {size}) does not extend the last signed "
                    f"checkpoint (size {last_size}): refusing to sign")
            if last_size == size and last_origin == origin:
                if signed is None or signed.size < size:
                    memory.write(last_note)
                return last_note
        # Signed by the chain's key in force (ADR 0016): after an announcement, by its
        # successor, even before the rotation made it ACTIVE.
        in_force = guard.keys.in_force if guard is not None and guard.keys else None
        signer = (self.keys.signer(in_force) if self.keys is not None and in_force
                  else self.signer)
        assert signer is not None
        note = ledger.sign_checkpoint(ledger.Checkpoint(origin, size, root),
                                      [signer.note_signer(origin)])
        memory.write(note)  # remembered before it is published
        stored = store.recorder.add_checkpoint(  # type: ignore[attr-defined]
            size, origin, root, note)
        if stored == note:
            log.info("%s: the checkpoint of size %s was stored by another process", slug,
                     size)
        elif stored is not None:
            log.critical("INTEGRITY %s: ledger_checkpoints holds another note under (size "
                         "%s, origin %s): not one the service signed; the service's is "
                         "kept in %s", slug, size, origin, memory.path)
        return note

    def latest_checkpoint(self, slug: str) -> tuple[int, str, bytes, str] | None:
        """(size, origin, root, note) of the largest stored checkpoint that the service's
        keys sign, of the current tree (forged rows are passed over and logged)."""
        reader = self.backend.chain_reader(slug)
        return checkpoints.latest_stored(slug, reader, reader.tree_size()[0],
                                         self.keyring())

    def verify_against(self, slug: str, note: str | bytes,
                       verifiers: list[ledger.NoteVerifier]) -> ledger.Checkpoint:
        """The auditor's checkpoint, if a verifier named as its origin signs it and the
        current log extends it (consistency proof from the stored tree). Raises
        ledger.NoteError for a checkpoint that does not verify, NotExtended if the log
        was truncated or rewritten since."""
        checkpoint = ledger.open_checkpoint(note, verifiers)
        try:
            reader, size, root = self._tree(slug)
        except tree.TreeIncomplete as error:
            raise NotExtended(str(error)) from None
        if size < checkpoint.size:
            raise NotExtended(f"{slug}: the log has {size} entries, fewer than the "
                              f"{checkpoint.size} of the checkpoint: it was truncated")
        if not extends(reader, checkpoint.size, checkpoint.root, size, root):
            raise NotExtended(f"{slug}: the log of {size} entries does not extend the "
                              f"checkpoint of size {checkpoint.size}: history was rewritten")
        return checkpoint

    # RFC 3161 timestamps of the checkpoints (ADR 0013) --------------------------------
    def timestamp(self, slug: str) -> timestamping.TimestampOutcome:
        """Asks the timestamp authority (EJOURNAL_TSA_URL) for a token of every checkpoint
        of the institution that has none, oldest first, and stores each (verified against
        EJOURNAL_TSA_ROOTS when set); stops at the first failure, which the outcome
        reports with what is still missing. Never touches a checkpoint: a TSA that is
        down only delays its tokens until the next call (the next checkpoint, the daily
        job, `ejournal ledger timestamp`)."""
        outcome = timestamping.TimestampOutcome()
        pending = self.backend.chain_reader(slug).untimestamped()
        if not pending:
            return outcome
        outcome.missing = [(size, origin) for size, origin, _ in pending]
        url = self.settings.tsa_url
        if not url:
            outcome.error = "no timestamp authority configured (EJOURNAL_TSA_URL)"
            return outcome
        try:
            roots = (timestamping.load_roots(self.settings.tsa_roots)
                     if self.settings.tsa_roots else [])
        except (OSError, ValueError) as error:
            outcome.error = f"EJOURNAL_TSA_ROOTS: {error}"
            return outcome
        recorder = self.journal(slug).store.recorder
        for size, origin, note in pending:
            try:
                token = timestamping.request_token(
                    url, note.encode("utf-8"), timeout=self.settings.tsa_timeout, roots=roots)
            except timestamping.TimestampUnavailable as error:
                outcome.error = str(error)
                break
            recorder.add_timestamp(size, origin, token.digest,  # type: ignore[attr-defined]
                                   token.response, token.gen_time, token.tsa)
            outcome.stamped.append((size, origin, token.gen_time))
            outcome.missing.remove((size, origin))
        return outcome

    def latest_timestamp(self, slug: str) -> tuple[str, bytes | None] | None:
        """The latest checkpoint's note and its newest token (TSA reply, DER), if any;
        None if the institution has no checkpoint yet."""
        last = self.latest_checkpoint(slug)  # a row the service's keys sign
        if last is None:
            return None
        size, origin, _, note = last
        return note, self.backend.chain_reader(slug).checkpoint_timestamp(size, origin)

    def tree_matches_ledger(self, slug: str, chain_id: str) -> ledger.Failure | None:
        """See `tree_matches`."""
        return tree_matches(self.backend.chain_reader(slug), chain_id)

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


# Verification of a stored chain, wherever it is (a live institution, or a restore's
# staging copy before it goes live) ---------------------------------------------------------
def verify_chain(chain_id: str, reader: ChainReader, keyring: ledger.KeyRing,
                 progress: Callable[[int], None] | None = None, *,
                 workers: int = 1) -> ledger.VerifyReport:
    """Re-reads the stored events and ledger of `reader`, recomputes every hash, checks
    every link and signature (in `workers` processes for a long chain, with the same
    verdicts); then looks for events outside the ledger, and checks that the stored
    Merkle tree is the chain's."""
    size = reader.tree_size()[0]
    with ThreadPoolExecutor(1) as beside:
        tree: Future[ledger.Failure | None] | None = None
        if workers > 1 and size >= PARALLEL_FROM:
            # Each worker reads its own segments (the reader is picklable), while this
            # process, otherwise idle, checks the stored tree: ADR 0015 addendum.
            tree = beside.submit(tree_matches, reader, chain_id)
            report = ledger.verify_segments(chain_id, reader.entries_range, size, keyring,
                                            workers=workers, reread=reader.entries_from,
                                            locate_digest=reader.locate, progress=progress)
        else:
            report = ledger.verify(chain_id, reader.entries(),  # type: ignore[arg-type]
                                   keyring, locate_digest=reader.locate, progress=progress)
        if not report.ok:
            return report
        stray = reader.first_unledgered()
        if stray is None:
            failure = (tree.result() if tree is not None else tree_matches(reader, chain_id)
                       ) or checkpoints.forged_rows(reader, chain_id, report.count, keyring)
            if failure is not None:
                return replace(report, ok=False, failure=failure)
            return report
    notification_id, originator_id, version, before = stray
    return replace(report, ok=False, failure=ledger.Failure(
        position=int(before) + 1, kind=ledger.FailureKind.INSERTED,
        detail=f"event {originator_id} v{version} (row {notification_id}) "
               "is not in the ledger",
    ))


def stored_tree(reader: ChainReader, name: str) -> tuple[int, bytes]:
    """The size and root of the stored tree: O(log n) reads."""
    size, leaves = reader.tree_size()
    if leaves > size:
        raise tree.TreeIncomplete(f"{name}: {_junk_nodes(reader, size)}")
    if leaves != size:
        raise tree.TreeIncomplete(f"{name}: merkle_nodes holds {leaves} leaves, the "
                                  f"ledger {size} entries")
    return size, tree.from_store(lambda st: ledger.root_hash_from(size, st), reader.subtrees)


def _signs(keyring: ledger.KeyRing, key_id: str, origin: str, note: str) -> bool:
    """Whether the key signs the checkpoint note under its origin."""
    verifier = ledger.NoteVerifier.ed25519(origin, keyring.public_key(key_id))
    try:
        ledger.open_checkpoint(note, [verifier], origin=origin)
    except ledger.LedgerError:
        return False
    return True


def extends(reader: ChainReader, old_size: int, old_root: bytes, size: int,
            root: bytes) -> bool:
    """True iff the stored tree of `size` leaves (root `root`) extends the tree of
    `old_size` leaves with root `old_root`: a consistency proof from O(log n) stored
    subtrees, checked by the ledger's verifier."""
    if old_size == 0:
        return True  # everything extends the empty tree
    if old_size > size:
        return False
    proof = tree.from_store(
        lambda st: ledger.consistency_proof_from(old_size, size, st), reader.subtrees)
    return ledger.verify_consistency(old_size, size, old_root, root, proof)


def tree_matches(reader: ChainReader, chain_id: str) -> ledger.Failure | None:
    """Recomputes every node of the Merkle tree from the ledger rows (streaming, flat
    memory) and compares it with the stored one — proofs and receipts are served from
    them: None if all agree, or the tree is not built yet; else the first node absent
    or changed, named, and nodes past the chain as inserted."""
    size, leaves = reader.tree_size()
    if reader.nodes_beyond(size, 1):
        return ledger.Failure(size + 1, ledger.FailureKind.INSERTED,
                              _junk_nodes(reader, size))
    if leaves == 0 and size > 0:
        return None  # a chain older than merkle_nodes, not appended to since
    rows = ((e.position, e.prev_hash, e.event_digest)
            for e in reader.entries())  # type: ignore[attr-defined]
    return tree.first_difference(chain_id, rows, reader.subtrees)
def _junk_nodes(reader: ChainReader, size: int) -> str:
    """Names the merkle_nodes rows that no tree of the chain's `size` entries has."""
    junk = reader.nodes_beyond(size, 4)
    named = ", ".join(f"({level}, {idx}) = {h.hex()}" for level, idx, h in junk)
    return (f"merkle_nodes holds nodes the chain did not write, past its {size} entries "
            f"(level, index): {named or 'none found'}; remove them")

