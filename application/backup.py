"""Backup and restore of one institution (ADR 0012; issue 10 §4b, seed 003 §6.3): a
consistent copy of its store taken while the service serves, and its restore into a
store that holds no events — live only once the whole chain, its Merkle tree and its
last checkpoint have verified.

The file, one line each (UTF-8, `\\n`):

    {"format": "ejournal-backup", "version": 1, "institution": {...}, ...}   manifest
    {"table": "events", "columns": [["notification_id", "int"], ...]}        per table
    [1, "6f0c…", 1, "domain.institution:Institution.Registered", "eyJ…"]       its rows
    {"end": "events", "rows": 1}
    …
    {"sha256": "<64 hex digits>"}                                            trailer

Rows are JSON arrays in the table's column order (`application.storage.snapshot.TABLES`):
bytes in base64, UUIDs as text. The trailer is the SHA-256 of every byte before it
(manifest included): a restore checks it before it loads anything, and again over the
bytes it loads."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

import ledger
from application import checkpoints, timestamping
from application.service import (
    Ejournal,
    chain_id_of,
    extends,
    stored_tree,
    verify_chain,
)
from application.storage import snapshot, tree
from application.storage.chain import ChainWriter
from application.storage.directory import InstitutionEntry
from application.storage.layout import ChainReader
from application.storage.tree import TreeIncomplete
from domain.errors import DomainError, NotFound
from domain.institution import Institution, check_slug

FORMAT = "ejournal-backup"
VERSION = 1
TRAILER = b'{"sha256": "%s"}\n'
TRAILER_SIZE = len(TRAILER % (b"0" * 64))
CHUNK = 1 << 20
EVERY = 2000  # rows between progress reports

# (stage, done, total): called now and then during a long operation.
Progress = Callable[[str, int, int], None]


log = logging.getLogger("ejournal.integrity")


class BackupRefused(Exception):
    """A backup file the restore will not load, or a store it will not overwrite; the
    message is for the operator (Russian)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BackupCorrupt(BackupRefused):
    """The file is not what a backup wrote: its SHA-256 or its structure is wrong."""


class InstitutionLive(BackupRefused):
    """The institution exists here with events: a restore never overwrites it."""


class VerificationFailed(BackupRefused):
    """The restored copy does not verify; it was discarded and nothing went live."""


@dataclass(frozen=True)
class Manifest:
    slug: str
    institution_id: UUID
    name: str
    source: str  # sqlite | postgresql
    created_at: str
    head_position: int
    head_hash: str  # hex
    rows: dict[str, int]
    key_ids: list[str]
    sha256: str = ""  # of the file, from its trailer (not in the manifest line)

    def line(self) -> bytes:
        return _json_line({
            "format": FORMAT, "version": VERSION,
            "institution": {"slug": self.slug, "id": str(self.institution_id),
                            "name": self.name},
            "source": self.source, "created_at": self.created_at,
            "head": {"position": self.head_position, "entry_hash": self.head_hash},
            "rows": self.rows, "key_ids": self.key_ids,
        })

    @classmethod
    def parse(cls, line: bytes, sha256: str) -> Manifest:
        try:
            m = json.loads(line)
            if m.get("format") != FORMAT:
                raise BackupCorrupt("Это не файл резервной копии ejournal.")
            if m.get("version") != VERSION:
                raise BackupCorrupt(f"Версия формата копии {m.get('version')} не "
                                    f"поддерживается (поддерживается {VERSION}).")
            inst, head = m["institution"], m["head"]
            return cls(str(inst["slug"]), UUID(inst["id"]), str(inst["name"]),
                       str(m["source"]), str(m["created_at"]), int(head["position"]),
                       str(head["entry_hash"]), {str(k): int(v) for k, v in m["rows"].items()},
                       [str(k) for k in m["key_ids"]], sha256)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise BackupCorrupt("Заголовок копии не читается.") from None


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    report: ledger.VerifyReport
    checkpoint_size: int | None  # the last stored checkpoint the log was proved to extend
    token_hints: int = field(default=0)


# Backup ----------------------------------------------------------------------------------
def backup(ejournal: Ejournal, slug: str, out: Path, progress: Progress | None = None
           ) -> Manifest:
    """Writes a consistent copy of the institution's store to `out` (0600; through
    `out.partial`, renamed when complete), streaming: one snapshot, writers go on."""
    entry = ejournal.backend.directory.institution(slug)
    if entry is None:
        raise NotFound(f"Организация «{slug}» не найдена.")
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # personal data (152-FZ), whatever the umask
    try:
        with (os.fdopen(fd, "wb", buffering=CHUNK) as f,
              snapshot.open_snapshot(ejournal.backend, slug) as snap):
            digest = hashlib.sha256()

            def write(data: bytes) -> None:
                digest.update(data)
                f.write(data)

            head, counts = snap.head(), snap.counts()
            manifest = Manifest(
                slug, entry.institution_id, entry.name, ejournal.backend.kind,
                datetime.now(UTC).isoformat(timespec="seconds"),
                head[0] if head else 0, head[1].hex() if head else "", counts,
                snap.key_ids())
            write(manifest.line())
            for table, columns in snapshot.TABLES.items():
                write(_json_line({"table": table, "columns": columns}))
                total, n = counts.get(table, 0), 0
                for row in snap.rows(table):
                    write(_encode(row, columns))
                    n += 1
                    if progress is not None and n % EVERY == 0:
                        progress(table, n, max(total, n))
                if table in counts and n != total:  # one snapshot: cannot happen
                    raise RuntimeError(f"{table}: {n} rows streamed, {total} counted")
                if progress is not None:
                    progress(table, n, n)
                write(_json_line({"end": table, "rows": n}))
            f.write(TRAILER % digest.hexdigest().encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Manifest(**{**manifest.__dict__, "sha256": digest.hexdigest()})


def _json_line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _encode(row: tuple[Any, ...], columns: list[tuple[str, str]]) -> bytes:
    return _json_line([
        None if v is None else
        base64.b64encode(v).decode() if kind == "bytes" else
        str(v) if kind in ("uuid", "text") else int(v)
        for v, (_, kind) in zip(row, columns, strict=True)])


def _decode(line: bytes, columns: list[tuple[str, str]]) -> tuple[Any, ...]:
    try:
        values = json.loads(line)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError
        row = []
        for v, (_, kind) in zip(values, columns, strict=True):
            if kind == "bytes":
                row.append(base64.b64decode(v, validate=True))
            elif kind == "uuid":
                row.append(UUID(v))
            elif kind == "int":
                if type(v) is not int:
                    raise ValueError
                row.append(v)
            else:
                if not isinstance(v, str):
                    raise ValueError
                row.append(v)
        return tuple(row)
    except (ValueError, TypeError, AttributeError, RecursionError):  # [[[… nested deep
        raise BackupCorrupt("Строка копии не читается.") from None


# Reading a backup file ---------------------------------------------------------------------
def check_file(path: Path, progress: Progress | None = None) -> Manifest:
    """The manifest, once the file's SHA-256 matches its trailer (BackupCorrupt
    otherwise): nothing is loaded before this."""
    size = path.stat().st_size
    if size <= TRAILER_SIZE:
        raise BackupCorrupt("Файл копии пуст или обрезан.")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        first = f.readline()
        digest.update(first)
        done = len(first)
        while done < size - TRAILER_SIZE:
            chunk = f.read(min(CHUNK, size - TRAILER_SIZE - done))
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("sha256", done, size - TRAILER_SIZE)
        trailer = f.read()
    if trailer != TRAILER % digest.hexdigest().encode():
        raise BackupCorrupt("Файл копии повреждён: SHA-256 содержимого не совпадает с "
                            "записанной в копии. Ничего не загружено.")
    return Manifest.parse(first, digest.hexdigest())


def _lines(f: BinaryIO, size: int, digest: Any) -> Iterator[bytes]:
    """The lines before the trailer, each added to `digest`."""
    done = 0
    while done < size - TRAILER_SIZE:
        line = f.readline()
        if not line:
            break
        done += len(line)
        digest.update(line)
        yield line


def _sections(lines: Iterator[bytes]) -> Iterator[tuple[str, Iterator[tuple[Any, ...]]]]:
    """(table, its rows) in the file's order, which must be TABLES'; each rows iterator
    must be consumed before the next section."""
    for table, columns in snapshot.TABLES.items():
        header = _json(next(lines, b"null"))
        if header != {"table": table, "columns": [list(c) for c in columns]}:
            raise BackupCorrupt(f"В копии нет раздела «{table}» на своём месте.")
        yield table, _rows(lines, table, columns)


def _json(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        raise BackupCorrupt("Строка копии не читается.") from None


def _rows(lines: Iterator[bytes], table: str, columns: list[tuple[str, str]]
          ) -> Iterator[tuple[Any, ...]]:
    for count, line in enumerate(lines):
        if line.startswith(b"{"):
            if _json(line) != {"end": table, "rows": count}:
                raise BackupCorrupt(f"Раздел «{table}» копии обрывается.")
            return
        yield _decode(line, columns)
    raise BackupCorrupt(f"Раздел «{table}» копии обрывается.")


# Restore -----------------------------------------------------------------------------------
def restore(ejournal: Ejournal, path: Path, progress: Progress | None = None, *,
            accept_older: bool = False) -> Restored:
    """Loads the backup into this deployment, where the institution must hold no events
    (absent, or registered without events): into a staging copy first, which goes live —
    its store, directory entry and token hints at once — only after every hash, link
    and signature of its chain, its Merkle tree and its last checkpoint have verified.
    On any failure the staging copy is removed and nothing is live. PostgreSQL: the
    deployment must be opened as the owner of the schemas.

    The deployment remembers the last checkpoint it signed of the institution (beside its
    keys, ADR 0011): a backup whose log does not extend it — older than entries already
    certified — is refused unless `accept_older` (a deliberate return to an older copy,
    losing the entries after it: the memory is kept aside as `<slug>.last.superseded-…`
    and logged CRITICAL)."""
    manifest = check_file(path, progress)
    slug, institution_id = manifest.slug, manifest.institution_id
    try:
        check_slug(slug)
    except DomainError:
        raise BackupCorrupt(f"Недопустимый код организации в копии: «{slug}».") from None
    if Institution.create_id(slug) != institution_id:
        raise BackupCorrupt("Идентификатор организации в копии не соответствует её коду.")
    keyring = ejournal.keyring()
    missing = sorted(set(manifest.key_ids) - set(keyring))
    if missing:
        raise BackupRefused(
            f"В каталоге ключей {ejournal.settings.key_dir} нет открытых ключей "
            f"{', '.join(missing)}, которыми подписана цепочка: восстановите с каталогом "
            "ключей исходного развёртывания.")
    try:
        roots = (timestamping.load_roots(ejournal.settings.tsa_roots)
                 if ejournal.settings.tsa_roots else [])
    except (OSError, ValueError) as error:
        raise BackupRefused(f"EJOURNAL_TSA_ROOTS не читается ({error}): метки времени "
                            "копии не с чем проверить.") from None
    backend = ejournal.backend
    present = backend.directory.institution(slug)
    if present is not None and present.institution_id != institution_id:
        raise InstitutionLive(f"Организация «{slug}» здесь зарегистрирована с другим "
                              "идентификатором: восстановление отклонено.")
    _refuse_live(slug, snapshot.events_stored(backend, slug))

    chain_id = chain_id_of(institution_id)
    staging = snapshot.open_staging(backend, slug,
                                    ChainWriter(chain_id, None))  # type: ignore[arg-type]
    try:
        hints: list[snapshot.TokenHint] = []
        loaded = _Loaded(manifest, chain_id, keyring, roots)
        digest = hashlib.sha256()
        size = path.stat().st_size
        with path.open("rb") as f:
            lines = _lines(f, size, digest)
            next(lines)  # the manifest, checked above
            try:
                staging.load(_store_rows(_sections(lines), loaded, hints, progress))
            except snapshot.RowRejected as rejected:  # a row twice, a key used twice
                row = "" if rejected.row is None else f", строка {rejected.row}"
                raise BackupCorrupt(
                    f"Раздел «{rejected.table}» копии{row}: строка противоречит другой "
                    f"строке раздела (повтор ключа: {rejected.detail}). Ничего не "
                    "восстановлено.") from None
            if next(lines, None) is not None:
                raise BackupCorrupt("После последнего раздела копии есть лишние строки.")
        if digest.hexdigest() != manifest.sha256:
            raise BackupCorrupt("Файл копии изменился во время восстановления.")
        report, checkpoint_size = _verify(staging.reader(), chain_id, manifest, keyring,
                                          loaded.checkpoint_roots, progress)
        _check_name(manifest, loaded.registered)  # the chain's events, verified by now
        _check_memory(ejournal, slug, staging.reader(), accept_older)
        staging.promote(InstitutionEntry(slug, institution_id, manifest.name), hints)
    except snapshot.StillLive:
        staging.discard()
        _refuse_live(slug, 1)
        raise
    except BaseException:
        staging.discard()
        raise
    return Restored(manifest, report, checkpoint_size, len(hints))


def _check_memory(ejournal: Ejournal, slug: str, reader: ChainReader,
                  accept_older: bool) -> None:
    """The restored log extends the last checkpoint this deployment signed of the
    institution, or `accept_older` says the loss is deliberate (then the memory is set
    aside, so that the service signs checkpoints of the restored log)."""
    memory = checkpoints.Memory(ejournal.settings.key_dir, slug)
    try:
        signed = memory.read(ejournal.keyring())
    except ledger.LedgerError as error:
        raise VerificationFailed(f"{memory.path} не содержит контрольной точки, подписанной "
                                 f"этим развёртыванием: {error}. Восстановление отклонено."
                                 ) from None
    if signed is None:
        return
    try:
        size, root = stored_tree(reader, slug)
    except TreeIncomplete as error:
        raise VerificationFailed(f"дерево Меркла неполно: {error}") from None
    if extends(reader, signed.size, signed.root, size, root):
        return
    if not accept_older:
        raise BackupRefused(
            f"Копия ({size} записей) не продолжает последнюю контрольную точку, которую это "
            f"развёртывание подписало ({signed.size} записей, {memory.path}): записи после "
            "копии уже заверены и будут потеряны. Если это осознанный возврат к старой "
            "копии, повторите с --accept-older.")
    aside = memory.supersede()
    log.critical("INTEGRITY %s: restored a log of %s entries older than the checkpoint of "
                 "size %s the service signed; its memory is kept as %s", slug, size,
                 signed.size, aside)


def _refuse_live(slug: str, events: int) -> None:
    if events:
        raise InstitutionLive(
            f"Организация «{slug}» уже ведёт журнал в этом развёртывании (событий: "
            f"{events}): восстановление не перезаписывает действующую организацию. "
            "Восстановите копию в развёртывание, где этой организации нет или в ней нет "
            "событий.")


@dataclass
class _Loaded:
    """What the restore learns of the rows as they stream past, for checks that need
    more than one table: small (one entry per checkpoint size, one note per checkpoint)."""

    manifest: Manifest
    chain_id: str
    keyring: ledger.KeyRing
    roots: list[Any]  # EJOURNAL_TSA_ROOTS: x509 certificates, or none
    counts: dict[str, int] = field(default_factory=dict)
    checkpoint_roots: dict[int, bytes] = field(default_factory=dict)  # size: root
    notes: dict[tuple[int, str], bytes] = field(default_factory=dict)  # (size, origin): note
    registered: bytes | None = None  # the institution's Registered event's state


REGISTERED_TOPIC = "domain.institution:Institution.Registered"


def _store_rows(sections: Iterator[tuple[str, Iterator[tuple[Any, ...]]]], loaded: _Loaded,
                hints: list[snapshot.TokenHint], progress: Progress | None
                ) -> Iterator[tuple[str, Iterable[tuple[Any, ...]]]]:
    """The store's tables for the staging copy; token hints are collected in `hints`
    (one per token: small). Verified-through marks precede the ledger in the file: each
    must be signed by a trusted key and name the entry hash the ledger holds there.
    Every checkpoint row must be a note a trusted key signs under its origin, of the
    row's size and root (whether the tree has that root is checked once it is loaded);
    every token row a TSA's reply for its checkpoint's note (ADR 0012, addendum). The
    rows of each table must be as many as the manifest says."""
    manifest, keyring, chain_id = loaded.manifest, loaded.keyring, loaded.chain_id
    total, done = sum(manifest.rows.values()), 0
    marks: dict[int, bytes] = {}
    institution_id = manifest.institution_id

    def counted(table: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        nonlocal done
        n = 0
        for row in rows:
            n += 1
            done += 1
            if progress is not None and done % EVERY == 0:
                progress("load", done, max(total, done))
            yield row
        loaded.counts[table] = n

    def check_events(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            if row[1] == institution_id and row[2] == 1 and row[3] == REGISTERED_TOPIC:
                loaded.registered = row[4]
            yield row

    def check_marks(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for position, entry_hash, key_id, signature in rows:
            if not keyring.verify_verified(key_id, chain_id, position, entry_hash, signature):
                raise VerificationFailed(f"Отметка проверки на позиции {position} не "
                                         "подписана доверенным ключом. Ничего не восстановлено.")
            marks[position] = entry_hash
            yield position, entry_hash, key_id, signature

    def check_ledger(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            expected = marks.pop(row[0], None)
            if expected is not None and expected != row[4]:
                raise VerificationFailed(f"Запись цепочки на позиции {row[0]} не та, что "
                                         "отмечена проверенной. Ничего не восстановлено.")
            yield row
        if marks:
            raise VerificationFailed(f"Отметка проверки на позиции {min(marks)} — за концом "
                                     "цепочки. Ничего не восстановлено.")

    def check_checkpoints(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            size, origin, root, note = row[:4]
            try:
                checkpoint = ledger.open_checkpoint(note, keyring.note_verifiers(origin),
                                                    origin=origin)
                fault = None if (checkpoint.size, checkpoint.root) == (size, root) else (
                    f"её подпись — о размере {checkpoint.size}, корне "
                    f"{checkpoint.root.hex()}, а не о записанных")
            except ledger.LedgerError as error:
                fault = f"её подпись не проверяется ключами каталога: {error}"
            if fault is None and loaded.checkpoint_roots.setdefault(size, root) != root:
                fault = "другая контрольная точка того же размера — с другим корнем"
            if fault is not None:
                raise VerificationFailed(f"Контрольная точка размера {size} ({origin}) "
                                         f"не принята: {fault}. Ничего не восстановлено.")
            loaded.notes[(size, origin)] = note.encode("utf-8")
            yield row

    def check_timestamps(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            size, origin, digest, response, gen_time, tsa = row[:6]
            note = loaded.notes.get((size, origin))
            if note is None:
                fault = "такой контрольной точки в копии нет"
            elif digest != hashlib.sha256(note).digest():
                fault = "её хеш — не SHA-256 записи контрольной точки"
            else:
                try:
                    stamped = snapshot.instant(gen_time)
                except ValueError:
                    fault = f"время {gen_time!r} не читается"
                else:
                    fault = timestamping.check_stored(note, response, stamped, tsa,
                                                      loaded.roots)
            if fault is not None:
                raise VerificationFailed(
                    f"Метка времени контрольной точки размера {size} ({origin}, genTime "
                    f"{gen_time}, {tsa}) не принята: {fault}. Ничего не восстановлено.")
            yield row

    checks = {"events": check_events, "ledger_verified": check_marks,
              "ledger": check_ledger, "ledger_checkpoints": check_checkpoints,
              "checkpoint_timestamps": check_timestamps}
    for table, rows in sections:
        if table == "token_hints":
            hints.extend(rows)  # type: ignore[arg-type]
            continue
        check = checks.get(table)
        yield table, counted(table, check(rows) if check is not None else rows)
    if progress is not None:
        progress("load", done, max(total, done))
    if loaded.counts != manifest.rows:  # every store table, as many rows as it says
        wrong = sorted(set(loaded.counts) | set(manifest.rows))
        named = ", ".join(f"{t}: {manifest.rows.get(t, 'нет')} в заголовке, "
                          f"{loaded.counts.get(t, 'нет')} в файле" for t in wrong
                          if manifest.rows.get(t) != loaded.counts.get(t))
        raise BackupCorrupt(f"Число строк в заголовке копии не совпадает с загруженным "
                            f"({named}). Ничего не восстановлено.")


def _check_name(manifest: Manifest, registered: bytes | None) -> None:
    """The manifest's name of the institution must be the one its chain registered (the
    directory shows it; the manifest alone is not signed)."""
    try:
        name = None if registered is None else json.loads(registered).get("name")
    except (ValueError, AttributeError, RecursionError):
        name = None
    if name is None:
        raise VerificationFailed("В цепочке копии нет регистрации организации (событие "
                                 "Institution.Registered): её наименование не подтверждено. "
                                 "Ничего не восстановлено.")
    if name != manifest.name:
        raise VerificationFailed(f"Наименование в заголовке копии «{manifest.name}» не то, "
                                 f"под которым организация зарегистрирована в цепочке "
                                 f"(«{name}»). Ничего не восстановлено.")


def _verify(reader: ChainReader, chain_id: str, manifest: Manifest, keyring: ledger.KeyRing,
            checkpoint_roots: dict[int, bytes], progress: Progress | None
            ) -> tuple[ledger.VerifyReport, int | None]:
    """The staging copy's chain (every hash, link, signature; no event outside it; the
    stored tree is the chain's), its head the manifest's, the root of the stored tree at
    the size of every checkpoint row is that row's (`checkpoint_roots`: size → root), and
    the stored tree extends the last stored checkpoint, whose signature verifies."""
    def failed(detail: str) -> VerificationFailed:
        return VerificationFailed(f"Восстановленная копия не прошла проверку: {detail}. "
                                  "Копия удалена, ничего не восстановлено.")

    total = manifest.head_position
    report = verify_chain(chain_id, reader, keyring,
                          None if progress is None else lambda p: progress("verify", p, total))
    if not report.ok:
        f = report.failure
        assert f is not None
        raise failed(f"позиция {f.position}: {f.kind.value}: {f.detail}")
    if progress is not None:
        progress("verify", report.count, max(total, report.count))
    if (report.head.position != manifest.head_position
            or (total and report.head.entry_hash.hex() != manifest.head_hash)):
        raise failed(f"голова цепочки {report.head.position} не та, что в заголовке копии "
                     f"({manifest.head_position})")
    last = reader.latest_checkpoint()
    size, leaves = reader.tree_size()
    if leaves == 0 and size > 0 and last is None and not checkpoint_roots:
        return report, None  # a chain older than merkle_nodes: built at its first append
    try:
        size, root = stored_tree(reader, manifest.slug)
        for at, checkpoint_root in sorted(checkpoint_roots.items()):
            if at > size or tree.from_store(lambda st, at=at: ledger.root_hash_from(at, st),
                                            reader.subtrees) != checkpoint_root:
                raise failed(f"контрольная точка размера {at} — не этого журнала: корень "
                             f"его дерева при этом размере другой (или журнал короче)")
    except TreeIncomplete as error:
        raise failed(f"дерево Меркла неполно: {error}") from None
    if last is None:
        return report, None
    checkpoint_size, origin, checkpoint_root, note = last
    try:
        checkpoint = ledger.open_checkpoint(note, keyring.note_verifiers(origin))
    except ledger.NoteError as error:
        raise failed(f"последняя контрольная точка не подписана доверенным ключом: "
                     f"{error}") from None
    if (checkpoint.origin, checkpoint.size, checkpoint.root) != (
            origin, checkpoint_size, checkpoint_root):
        raise failed("последняя контрольная точка не совпадает со своей записью")
    if not extends(reader, checkpoint_size, checkpoint_root, size, root):
        raise failed(f"журнал ({size} записей) не продолжает последнюю контрольную точку "
                     f"({checkpoint_size})")
    return report, checkpoint_size
