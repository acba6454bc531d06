"""Opening year-end archive packages (ADR 0014, addendum 2): the packages of one
institution, each verified with keys the caller pins, loaded into a new read-only
deployment whose journals and statements are the live service's as of the packages'
last entry — to browse them through the API years after the service is gone.

Year packages tile the institution's chain (the first from entry 1, each from the day
after the previous year ended), so the packages of every year up to one hold its whole
chain; where two overlap (a package exported after the next year began), the entries
they share must be the same chain (the same entry hash where the later one takes over).
The new deployment is SQLite, beside nothing else, in a directory of its own: the
events and ledger rows exactly as the packages carry them (hashes recomputed), the
Merkle tree rebuilt, the last package's checkpoint, and public keys only — it holds no
private key, so every command is refused (403 `read_only`). Reading needs a token of
this instance, printed once when it is served; it reads all of that one journal."""

from __future__ import annotations

import io
import itertools
import json
import os
import secrets
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import ledger
from application.config import Settings
from application.service import Ejournal, chain_id_of, token_hash
from application.storage import snapshot, tree
from application.storage.chain import ChainWriter
from application.storage.directory import InstitutionEntry
from domain.errors import RuleViolation
from ledger import archive as fmt

DATABASE = "archive.sqlite3"
KEYS = "keys"
OPENED = "opened.json"  # what was loaded: the institution and the packages
READER_PREFIX = "eja_"
Progress = Callable[[str, int, int], None]


class ArchiveNotOpened(RuleViolation):
    """The packages cannot be opened: one does not verify, they are of different
    institutions, or they leave a gap in the chain."""

    code = "archive_not_opened"
    title = "Архив не открыт"


@dataclass(frozen=True)
class _Package:
    path: Path
    root: str  # the directory of the members inside the ZIP
    meta: dict[str, Any]
    first: int
    last: int
    link: dict[str, Any]

    def entries(self) -> Iterator[ledger.StoredEntry]:
        with zipfile.ZipFile(self.path) as z, z.open(self.root + fmt.ENTRIES) as raw:
            _, entries = ledger.read_export(io.TextIOWrapper(raw, encoding="utf-8"))
            yield from entries

    def member(self, name: str) -> bytes:
        with zipfile.ZipFile(self.path) as z:
            return z.read(self.root + name)


def _package(path: Path, keys: ledger.KeyRing | None) -> _Package:
    report = fmt.verify_archive(path, keys)
    if not report.ok:
        raise ArchiveNotOpened(f"Архив {path.name} не прошёл проверку: {report.problem}")
    if keys is None:
        raise ArchiveNotOpened(f"Архив {path.name}: ключ проверки не указан — подлинность "
                               "не установлена (--vkey, --keys или --trust-package-keys).")
    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/", 1)[0] + "/"
        meta = json.loads(z.read(root + fmt.PACKAGE))
        link = json.loads(z.read(root + fmt.LINK))
    return _Package(path, root, meta, int(meta["first_position"]),
                    int(meta["last_position"]), link)


def _refuse_twice(paths: list[Path]) -> None:
    """Each package once: the same file named twice (or by two paths) is refused."""
    seen: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue  # the verifier names a file it cannot read
        first = seen.setdefault((st.st_dev, st.st_ino), path)
        if first is not path:
            raise ArchiveNotOpened(f"Архив {path} указан дважды"
                                   + (f" (это тот же файл, что {first})"
                                      if first != path else "")
                                   + ": каждый архив указывается один раз.")


def _ordered(packages: list[_Package]) -> list[_Package]:
    """The packages in chain order, each taking over where the previous ends: one
    institution, the first from entry 1, no gap."""
    ids = {(p.meta["chain_id"], p.meta["institution"]["id"]) for p in packages}
    if len(ids) != 1:
        raise ArchiveNotOpened("Архивы разных организаций: открывается архив одной.")
    ordered = sorted(packages, key=lambda p: (p.first, p.last))
    for a, b in itertools.pairwise(ordered):
        if (a.first, a.last) == (b.first, b.last) and a.meta == b.meta:
            raise ArchiveNotOpened(f"{a.path.name} и {b.path.name} — один и тот же архив "
                                   f"(записи {a.first}–{a.last}): каждый архив указывается "
                                   "один раз.")
    if ordered[0].first != 1:
        raise ArchiveNotOpened(f"Первый архив ({ordered[0].path.name}) начинается с записи "
                               f"{ordered[0].first}, не с первой: нужны архивы всех "
                               "предыдущих лет.")
    reach = 0
    for package in ordered:
        if package.first > reach + 1:
            raise ArchiveNotOpened(f"Пропуск в цепочке: записей {reach + 1}–"
                                   f"{package.first - 1} нет ни в одном архиве (архив "
                                   "предыдущего года выгружен до его окончания? выгрузите "
                                   "его снова).")
        reach = max(reach, package.last)
    return [p for i, p in enumerate(ordered) if p.last > max(
        (q.last for q in ordered[:i]), default=0)]


@dataclass(frozen=True)
class _Row:
    position: int
    entry: ledger.StoredEntry
    prev_hash: bytes
    digest: bytes
    entry_hash: bytes


def _chain(packages: list[_Package], chain_id: str) -> Iterator[_Row]:
    """Every entry 1..last once, with its hashes recomputed; where a package takes over
    from the previous one, the chain it continues must be the previous one's."""
    head = ledger.ChainHead.empty(chain_id)
    for package in packages:
        previous = package.link.get("previous")
        # The package's own view of the chain before it (verified with it).
        theirs = (ledger.ChainHead(0, ledger.genesis_hash(chain_id)) if previous is None
                  else ledger.ChainHead(int(previous["position"]),
                                        bytes.fromhex(previous["entry_hash"])))
        if theirs.position == head.position and theirs.entry_hash != head.entry_hash:
            raise ArchiveNotOpened(f"{package.path.name} продолжает другую цепочку "
                                   f"(запись {head.position}).")
        for entry in package.entries():
            assert entry.event is not None  # verified
            digest = entry.event.digest()
            own = ledger.entry_hash(chain_id, entry.position, theirs.entry_hash, digest)
            prev, theirs = theirs.entry_hash, ledger.ChainHead(entry.position, own)
            if entry.position < head.position:
                continue
            if entry.position == head.position:
                if own != head.entry_hash:
                    raise ArchiveNotOpened(f"{package.path.name} расходится с предыдущим "
                                           f"архивом в записи {entry.position}.")
                continue
            head = theirs
            yield _Row(entry.position, entry, prev, digest, own)


def open_packages(paths: Sequence[Path], keys: ledger.KeyRing | None, directory: Path,
                  progress: Progress | None = None) -> str:
    """Verifies the packages (with `keys`: pinned; None refuses — authenticity unknown)
    and loads them into a new read-only deployment in `directory` (which must not exist
    or be empty). Returns the institution's code. ArchiveNotOpened if they cannot be
    opened; nothing is left behind then."""
    tell = progress or (lambda stage, done, total: None)
    if not paths:
        raise ArchiveNotOpened("Не указан ни один архив.")
    if directory.exists() and any(directory.iterdir()):
        raise ArchiveNotOpened(f"Каталог {directory} не пуст: архив открывается в новом.")
    _refuse_twice([Path(p) for p in paths])
    packages = []
    for i, path in enumerate(paths, 1):
        packages.append(_package(Path(path), keys))
        tell("verify", i, len(paths))
    ordered = _ordered(packages)
    meta = ordered[-1].meta
    slug, chain_id = meta["institution"]["slug"], meta["chain_id"]
    institution_id = UUID(meta["institution"]["id"])
    if chain_id != chain_id_of(institution_id):
        raise ArchiveNotOpened("Идентификатор цепочки не соответствует организации.")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        _write_keys(directory / KEYS, keys, ordered)  # type: ignore[arg-type]
        settings = _settings(directory)
        loader = Ejournal(settings, owner=True, require_signer=False)
        try:
            staging = snapshot.open_staging(loader.backend, slug, ChainWriter(chain_id, None))
            try:
                staging.load(_tables(ordered, chain_id, tell))
                staging.promote(InstitutionEntry(slug, institution_id,
                                                 meta["institution"]["name"]), [])
            except BaseException:
                staging.discard()
                raise
            journal = loader.journal(slug)
            journal.institution()  # the guard verifies the loaded chain once
            journal.read_models.catch_up()
        finally:
            loader.close()
        (directory / OPENED).write_text(json.dumps({
            "slug": slug, "institution": meta["institution"],
            "packages": [{"file": p.path.name, "first": p.first, "last": p.last}
                         for p in ordered],
            "exported_at": meta["exported_at"],
            "opened_at": datetime.now(UTC).isoformat()}, ensure_ascii=False, indent=1))
    except BaseException:
        for name in (DATABASE, f"{Path(DATABASE).stem}.{slug}.sqlite3", OPENED):
            for side in ("", "-wal", "-shm", "-journal"):
                (directory / (name + side)).unlink(missing_ok=True)
        raise
    return slug


def _settings(directory: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{directory / DATABASE}",
                    key_dir=directory / KEYS)


def _write_keys(key_dir: Path, keys: ledger.KeyRing, packages: list[_Package]) -> None:
    """The public keys the instance trusts: the pinned ones and those they announced."""
    trusted = {kid: keys.public_key(kid) for kid in keys}
    for package in packages:
        for line in package.member(fmt.ROTATIONS).decode().splitlines() \
                if fmt.ROTATIONS in _names(package) else []:
            entry = ledger.export.entry_from_json(json.loads(line)["entry"])
            assert entry.event is not None
            announcement = ledger.read_announcement(entry.event.state)
            if announcement.predecessor in trusted:
                trusted[announcement.successor] = announcement.public_key
    key_dir.mkdir(mode=0o700, exist_ok=True)
    for kid, raw in trusted.items():
        (key_dir / f"{kid}.pub").write_text(raw.hex() + "\n")
    (key_dir / "KEYS").write_text("".join(f"{kid}\n" for kid in trusted))
    os.chmod(key_dir / "KEYS", 0o644)


def _names(package: _Package) -> set[str]:
    with zipfile.ZipFile(package.path) as z:
        return {n[len(package.root):] for n in z.namelist()}


def _tables(packages: list[_Package], chain_id: str, tell: Progress
            ) -> Iterator[tuple[str, Iterator[tuple[Any, ...]]]]:
    """The store's tables, streamed from the packages (three passes: flat memory)."""
    total = packages[-1].last

    def events() -> Iterator[tuple[Any, ...]]:
        for row in _chain(packages, chain_id):
            event = row.entry.event
            assert event is not None
            if row.position % 10000 == 0 or row.position == total:
                tell("load", row.position, total)
            yield (row.position, UUID(bytes=event.originator_id), event.originator_version,
                   event.topic, event.state)

    def entries() -> Iterator[tuple[Any, ...]]:
        for row in _chain(packages, chain_id):
            yield (row.position, row.position, row.prev_hash, row.digest, row.entry_hash,
                   row.entry.key_id, row.entry.signature)

    def nodes() -> Iterator[tuple[Any, ...]]:
        frontier = ledger.MerkleFrontier()
        for row in _chain(packages, chain_id):
            frontier, created = tree.extend(chain_id, frontier,
                                            [(row.position, row.prev_hash, row.digest)])
            yield from ((s.level, s.index, s.hash) for s in created)

    def checkpoint() -> Iterator[tuple[Any, ...]]:
        last = packages[-1]
        note = last.member(fmt.CHECKPOINT).decode("utf-8")
        parsed = ledger.Checkpoint.parse(ledger.parse_note(note).text)
        yield (parsed.size, parsed.origin, parsed.root, note, last.meta["exported_at"])

    yield "events", events()
    yield "ledger", entries()
    yield "merkle_nodes", nodes()
    yield "ledger_checkpoints", checkpoint()


def opened(directory: Path) -> dict[str, Any]:
    """What was opened in `directory` (the institution, the packages); ArchiveNotOpened if
    no archive was opened there."""
    path = directory / OPENED
    if not path.is_file():
        raise ArchiveNotOpened(f"В каталоге {directory} нет открытого архива (откройте его: "
                               "ejournal archive open АРХИВ… --dir КАТАЛОГ --vkey КЛЮЧ).")
    facts: dict[str, Any] = json.loads(path.read_text())
    return facts


def open_instance(directory: Path) -> tuple[Ejournal, str]:
    """The read-only deployment of an opened archive, and a new reader token for it
    (shown once; it lives as long as this process). Its clock stands at the instant the
    last package was exported: what is "current" is the journal as archived."""
    facts = opened(directory)
    # The journal as it stood when the last package was exported: "today" is that day.
    as_of = datetime.fromisoformat(facts["exported_at"])
    slug = facts["slug"]
    ejournal = Ejournal(_settings(directory), lambda: as_of, require_signer=False)
    token = READER_PREFIX + secrets.token_urlsafe(32)
    ejournal.archive_reader = (token_hash(token), slug)
    return ejournal, token
