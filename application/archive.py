"""Year-end archive packages (issue 10 §4, ADR 0014; the format: ledger/archive.py).

`ArchiveExport.export_year` writes one ZIP per institution and academic year: the year's
statements (PDF/A and CSV) built first, then a checkpoint signed over the log that
includes them, then the year's entries streamed page by page from the store (memory stays
flat), the link to the chain before them, the keys, a signed SHA256SUMS and VERIFY.md.

The year's entries: from the first entry recorded on or after the year's first day (the
journal day of its act, in the institution's zone) to the checkpoint signed at export.
Journal days follow the chain's order (one writer at a time per institution, ADR 0009),
so the first entry is found by binary search over positions in O(log n) reads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import ledger
from application.actors import SYSTEM_ACTOR_ID, Actor
from application.service import CheckpointRefused, Ejournal, chain_id_of
from application.storage import tree
from application.storage.layout import ChainReader
from domain.errors import DomainError, NotFound
from domain.signing import SigningKeys
from domain.values import Role
from ledger import archive as fmt
from projections.statements import snapshot_of_group

PAGE = 5_000  # entries read from the store at once
Render = Callable[[Any, str], tuple[bytes, str]]  # statement, "pdf"|"csv" -> bytes, type
Progress = Callable[[str, int, int], None]  # stage, done, total


class ArchiveRefused(DomainError):
    code = "archive_refused"
    title = "Архив не сформирован"


@dataclass(frozen=True)
class ExportReport:
    path: Path
    first: int
    last: int
    statements: int
    bytes_written: int
    checkpoint: str


@dataclass(frozen=True)
class Span:
    """What a package covers: a year, or one of its periods (an iteration)."""

    year_title: str
    starts: date
    ends: date
    period_key: str  # "year" or the period's number, as the statements take it
    label: str


class _Hashing:
    """A writable member of the ZIP that hashes what passes through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.sha256, self.size = stream, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.sha256.update(data)
        self.size += len(data)


def safe_name(text: str) -> str:
    """A file-name part: letters (Cyrillic too), digits, '-', '_' and '.'; others '_'."""
    return re.sub(r"[^\w.\-]", "_", text, flags=re.UNICODE).strip("._") or "_"


class ArchiveExport:
    """Exports year-end archive packages of one deployment (archive staff's tool)."""

    def __init__(self, ejournal: Ejournal, render: Render) -> None:
        self.ejournal, self.render = ejournal, render

    def export_year(self, slug: str, year_title: str, out: Path,
                    progress: Progress | None = None, *,
                    period: int | None = None) -> ExportReport:
        """The package of an academic year — or, with `period`, of one of its periods (an
        iteration of additional education, seed 003 §4: an archive at the end of each):
        the same package, its entries from the period's first day, its statements for
        the period."""
        journal = self.ejournal.journal(slug)
        institution = journal.institution()
        year = next((y for y in institution.years.values() if y.title == year_title), None)
        if year is None:
            raise NotFound(f"Учебный год «{year_title}» не найден.", year=year_title)
        span = Span(year.title, year.starts, year.ends, "year", year.title + " учебный год")
        if period is not None:
            if not 1 <= period <= len(year.periods):
                raise NotFound(f"В {year.title} учебном году нет периода №{period}.",
                               period=period)
            p = year.periods[period - 1]
            span = Span(year.title, p.starts, p.ends, str(period),
                        f"{p.title} ({year.title})")
        if journal.local_date() < span.starts:
            raise ArchiveRefused(f"{span.label} ещё не начался ({span.starts:%d.%m.%Y}).")
        tell = progress or (lambda stage, done, total: None)
        # 1. The statements, from the read models brought up to date.
        statements = list(self._statements(slug, year, span, institution, tell))
        # 2. A checkpoint of the log that includes every journal state they name.
        journal.store.recorder.ensure_tree()  # type: ignore[attr-defined]
        try:
            note = self.ejournal.checkpoint(slug)
        except (CheckpointRefused, tree.TreeIncomplete) as error:
            raise ArchiveRefused(f"Контрольная точка не подписана: {error}") from None
        checkpoint = ledger.Checkpoint.parse(ledger.parse_note(note).text)
        last = checkpoint.size
        reader = self.ejournal.backend.chain_reader(slug)
        if self.ejournal.settings.tsa_url:  # a TSA down costs the package nothing but
            self.ejournal.timestamp(slug)  # its token (ADR 0013)
        token = reader.checkpoint_timestamp(last, checkpoint.origin)
        first = self._first_on_or_after(reader, self._from_day(institution, year, span),
                                        ZoneInfo(institution.timezone), last)
        if first > last:
            raise ArchiveRefused(f"В журнале нет записей с начала: {span.label} "
                                 f"({span.starts:%d.%m.%Y}).")
        chain_id = chain_id_of(institution.id)
        suffix = "" if period is None else f"-{period}"
        root_dir = f"{safe_name(slug)}-{safe_name(year.title)}{suffix}/"
        sums: dict[str, str] = {}
        key_span: dict[str, list[int]] = {}
        signer = self.ejournal.signer
        assert signer is not None
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        try:
            # Personal data (152-FZ): the package is the owner's only, like a backup.
            partial.unlink(missing_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as raw_file, zipfile.ZipFile(
                    raw_file, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
                def put(name: str, data: bytes) -> None:
                    z.writestr(root_dir + name, data)
                    sums[name] = hashlib.sha256(data).hexdigest()

                listed = []
                for i, (name, kind, state, pdf, csv) in enumerate(statements):
                    position, head = state
                    root = self._stored(reader, lambda st, p=position: ledger.root_hash_from(p, st))
                    for suffix, body in (("pdf", pdf), ("csv", csv)):
                        put(f"statements/{name}.{suffix}", body)
                        listed.append({"file": f"statements/{name}.{suffix}", "kind": kind,
                                       "position": position, "head": head,
                                       "root": _b64(root)})
                    tell("statements", i + 1, len(statements))
                # The entries, streamed.
                with z.open(root_dir + fmt.ENTRIES, "w", force_zip64=True) as raw:
                    member = _Hashing(raw)
                    member.write((ledger.export_header(chain_id) + "\n").encode())
                    opening: ledger.StoredEntry | None = None  # VERIFY.md shows it by hand
                    for done, entry in enumerate(self._entries(reader, first, last), 1):
                        opening = opening or entry
                        member.write((ledger.export_line(entry) + "\n").encode())
                        seen = key_span.setdefault(entry.key_id, [entry.position, entry.position])
                        seen[1] = entry.position
                        if done % 1000 == 0 or entry.position == last:
                            tell("entries", done, last - first + 1)
                sums[fmt.ENTRIES] = member.sha256.hexdigest()
                put(fmt.LINK, _dumps(self._link(reader, chain_id, first, last)))
                put(fmt.CHECKPOINT, note.encode("utf-8"))
                if token is not None:
                    put(fmt.TIMESTAMP, token)
                keyring = self.ejournal.keyring()
                rotations = self._rotations(reader, institution.id, last)
                stretches = _stretches(rotations)
                key_ids = sorted(set(key_span) | {signer.key_id} | set(stretches))
                put(fmt.KEYS + "KEYS", "".join(f"{k}\n" for k in key_ids).encode())
                for kid in key_ids:
                    raw_key = keyring.public_key(kid)
                    put(f"{fmt.KEYS}{kid}.pub", (raw_key.hex() + "\n").encode())
                    put(f"{fmt.KEYS}{kid}.pem", ledger.public_key_pem(raw_key))
                put(fmt.ROTATIONS, "".join(
                    json.dumps({"entry": json.loads(ledger.export_line(e)),
                                "inclusion_proof": [_b64(h) for h in proof]},
                               sort_keys=True) + "\n" for e, proof in rotations).encode())
                # Without announcements, the key of the entries signs the whole chain.
                put(fmt.VALIDITY, _dumps(stretches or {
                    kid: {"in_force_from": 1, "in_force_to": None} for kid in key_span}))
                package = {
                    "format": fmt.FORMAT,
                    "institution": {"slug": slug, "name": institution.name,
                                    "id": str(institution.id), "timezone": institution.timezone},
                    "chain_id": chain_id, "origin": checkpoint.origin,
                    "year": {"title": year.title, "starts": year.starts.isoformat(),
                             "ends": year.ends.isoformat()},
                    "period": None if period is None else {
                        "number": period, "title": span.label,
                        "starts": span.starts.isoformat(), "ends": span.ends.isoformat()},
                    "first_position": first, "last_position": last,
                    "exported_at": self.ejournal.clock().astimezone(UTC).isoformat(),
                    "manifest_key_id": signer.key_id, "statements": listed,
                    "verifier_key": signer.note_signer(checkpoint.origin).verifier().vkey(),
                }
                put(fmt.PACKAGE, _dumps(package))
                assert opening is not None  # first <= last
                put(fmt.GUIDE, guide(package, opening, chain_id,
                                    token is not None).encode("utf-8"))
                manifest = fmt.manifest_text(sums)
                z.writestr(root_dir + fmt.MANIFEST, manifest)
                z.writestr(root_dir + fmt.SIGNATURE, signer.sign_manifest(manifest))
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return ExportReport(out, first, last, len(listed), out.stat().st_size, note)

    # The statements --------------------------------------------------------------------
    def _statements(self, slug: str, year: Any, span: Span, institution: Any,
                    tell: Progress
                    ) -> Iterator[tuple[str, str, tuple[int, str], bytes, bytes]]:
        """(file name, kind, (position, head), pdf, csv) of each statement of the span."""
        journal = self.ejournal.journal(slug)
        st = journal.statements
        actor = Actor(slug, SYSTEM_ACTOR_ID, "staff", frozenset({Role.DIRECTOR}))
        journal.read_models.catch_up()
        last_day = min(span.ends, journal.local_date())
        groups = sorted((name, gid) for gid, (name, year_id) in institution.groups.items()
                        if year_id == year.year_id)
        builds: list[tuple[str, str, Callable[[], Any]]] = []
        for name, gid in groups:
            builds.append((f"progress-{safe_name(name)}", "progress",
                           lambda g=gid: st.progress(actor, g, span.period_key)))
            builds.append((f"attendance-{safe_name(name)}", "attendance",
                           lambda g=gid: st.attendance(actor, g, span.starts, last_day)))
        builds.append(("movement", "movement",
                       lambda: st.movement(actor, span.starts, last_day)))
        builds.append(("debts", "debts", lambda: st.debts(actor)))
        snapshot: list[Any] = []  # built once, rendered group by group (bounded memory)

        def snapshot_of(group: str) -> Any:
            if not snapshot:
                snapshot.append(st.year_snapshot(actor, year.year_id))
            return snapshot_of_group(snapshot[0], group)

        for name, _ in groups:
            builds.append((f"year-snapshot-{safe_name(name)}", "year-snapshot",
                           lambda g=name: snapshot_of(g)))
        for i, (name, kind, build) in enumerate(builds):
            statement = build()
            ledger_state = statement.header.ledger
            yield (name, kind, (ledger_state.position, ledger_state.head),
                   self.render(statement, "pdf")[0], self.render(statement, "csv")[0])
            tell("render", i + 1, len(builds))

    # The chain -------------------------------------------------------------------------
    @staticmethod
    def _stored(reader: ChainReader, compute: Callable[[Any], Any]) -> Any:
        try:
            return tree.from_store(compute, reader.subtrees)
        except tree.TreeIncomplete as error:
            raise ArchiveRefused(f"Дерево Меркла неполно: {error}") from None

    @staticmethod
    def _entries(reader: ChainReader, first: int, last: int) -> Iterator[ledger.StoredEntry]:
        for start in range(first, last + 1, PAGE):
            end = min(last, start + PAGE - 1)
            page = reader.entries_between(start, end)
            if len(page) != end - start + 1 or any(e.event is None for e in page):
                raise ArchiveRefused(f"Записи {start}–{end} реестра неполны: проверьте "
                                     "журнал (ejournal ledger verify).")
            yield from page

    @staticmethod
    def _journal_day(entry: ledger.StoredEntry, zone: ZoneInfo) -> date:
        """The journal day an event was recorded on: its act's local date (the
        institution's clock, ADR 0004), else its UTC timestamp in the institution's zone."""
        assert entry.event is not None
        try:
            state = json.loads(entry.event.state)
            act = state.get("act")
            if isinstance(act, dict):
                return date.fromisoformat(act["_data_"]["local_date"]["_data_"])
            return datetime.fromisoformat(state["timestamp"]["_data_"]).astimezone(zone).date()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ArchiveRefused(f"Запись {entry.position}: дата события не читается."
                                 ) from None

    @staticmethod
    def _from_day(institution: Any, year: Any, span: Span) -> date:
        """The first journal day whose entries a package holds. A period's package: the
        period's first day. A year's: the day after the previous year ended — the
        summer's preparation belongs to the year it prepares — or, for the first year,
        the very beginning (date.min): so the year packages of an institution tile its
        chain from entry 1, and `ejournal archive open` can load them all."""
        if span.period_key != "year":
            return span.starts
        before = [y.ends for y in institution.years.values() if y.ends < year.starts]
        return max(before) + timedelta(days=1) if before else date.min

    def _first_on_or_after(self, reader: ChainReader, day: date, zone: ZoneInfo,
                           last: int) -> int:
        """The first position ≤ last recorded on or after the journal day `day` (last + 1
        if none): binary search, O(log n) reads."""
        low, high = 1, last + 1
        while low < high:
            mid = (low + high) // 2
            if self._journal_day(next(self._entries(reader, mid, mid)), zone) >= day:
                high = mid
            else:
                low = mid + 1
        return low

    def _rotations(self, reader: ChainReader, institution_id: UUID, last: int
                   ) -> list[tuple[ledger.StoredEntry, list[bytes]]]:
        """Every key announcement up to `last` (ADR 0016) with its inclusion proof in
        the tree of size `last`: the events of the institution's SigningKeys."""
        keys_id = SigningKeys.create_id(institution_id)
        found = []
        version = 1
        while (entry := reader.entry_of_event(keys_id, version)) is not None:
            version += 1
            if entry.position > last or entry.event is None \
                    or not ledger.is_announcement(entry.event.topic):
                continue
            proof = self._stored(reader, lambda st, p=entry.position:
                                 ledger.inclusion_proof_from(p - 1, last, st))
            found.append((entry, proof))
        return found

    def _link(self, reader: ChainReader, chain_id: str, first: int, last: int
              ) -> dict[str, Any]:
        frontier = self._stored(
            reader, lambda st: ledger.MerkleFrontier.from_subtrees(first - 1, st))
        link: dict[str, Any] = {"frontier": [_b64(h) for h in frontier.hashes],
                                "previous": None}
        if first > 1:
            previous = next(self._entries(reader, first - 1, first - 1))
            proof = self._stored(
                reader, lambda st: ledger.inclusion_proof_from(first - 2, last, st))
            link["previous"] = {
                "position": first - 1, "prev_hash": previous.prev_hash.hex(),
                "event_digest": previous.event_digest.hex(),
                "entry_hash": previous.entry_hash.hex(),
                "inclusion_proof": [_b64(h) for h in proof]}
        return link


def _stretches(rotations: list[tuple[ledger.StoredEntry, list[bytes]]]
               ) -> dict[str, dict[str, int | None]]:
    """Each key's stretch of the chain, as the announcements give it (empty without
    any: the one key signs the whole chain)."""
    stretches: dict[str, dict[str, int | None]] = {}
    for entry, _ in rotations:
        assert entry.event is not None
        announcement = ledger.read_announcement(entry.event.state)
        stretches.setdefault(announcement.predecessor,
                             {"in_force_from": 1, "in_force_to": None})
        stretches[announcement.predecessor]["in_force_to"] = entry.position
        stretches[announcement.successor] = {"in_force_from": entry.position + 1,
                                             "in_force_to": None}
    return stretches


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


def guide(package: dict[str, Any], entry: ledger.StoredEntry, chain_id: str,
          timestamped: bool) -> str:
    """VERIFY.md: how to verify the package, in Russian and English, with the exact
    commands for its first entry by hand (and for the checkpoint's timestamp, if any)."""
    assert entry.event is not None
    stamp_ru = stamp_en = ""
    if timestamped:
        stamp_ru = ("Метка времени контрольной точки (RFC 3161) — корневым сертификатом "
                    "службы меток времени:\n\n    openssl ts -verify -in checkpoint.tsr "
                    "-data checkpoint.txt -CAfile КОРЕНЬ_TSA.pem\n\n")
        stamp_en = ("`openssl ts -verify -in checkpoint.tsr -data checkpoint.txt -CAfile "
                    "TSA_ROOT.pem` for the checkpoint's RFC 3161 timestamp, ")
    key = entry.key_id
    entry_bytes = ledger.entry_bytes(chain_id, entry.position, entry.prev_hash,
                                     entry.event.digest())
    event_bytes = (ledger.EVENT_TAG + entry.event.originator_id
                   + entry.event.originator_version.to_bytes(8, "big")
                   + len(entry.event.topic.encode()).to_bytes(4, "big")
                   + entry.event.topic.encode()
                   + len(entry.event.state).to_bytes(4, "big") + entry.event.state)
    first, last = package["first_position"], package["last_position"]
    name, year = package["institution"]["name"], package["year"]["title"]
    manifest_key = package["manifest_key_id"]
    vkey = package["verifier_key"]
    vkey_key = vkey.split("+", 2)[2]
    return f"""# Архив журнала: {name}, {year} учебный год

Записи реестра {first}–{last} (цепочка `{chain_id}`, журнал `{package['origin']}`),
подписанная контрольная точка размера {last}, ведомости года (PDF/A и CSV), ключи.

## Проверка программой (нужен только Python 3 и пакет `cryptography`)

    ejournal-verify АРХИВ.zip --vkey 'КЛЮЧ_ПРОВЕРКИ_ОРГАНИЗАЦИИ'
    # или из копии каталога ledger/: python -m ledger verify-archive АРХИВ.zip --vkey …

Ключ проверки — тот, что организация опубликовала (`ejournal ledger verifier-key`), не
взятый из архива. Архив подписан ключом

    {vkey}

— сверьте его с опубликованным. Без `--vkey` (или `--keys КАТАЛОГ`) программа проверяет
целостность, но не подлинность, и отвечает NOT AUTHENTICATED (код 1).

Программа проверяет подпись и суммы `SHA256SUMS`, подпись контрольной точки, каждую
запись (хеш события, связь с предыдущей, подпись), корень дерева Меркла против
контрольной точки, связь с цепочкой до архива и состояние журнала каждой ведомости —
ключами, которые вы указали. Код выхода 0 — всё верно, 1 — найдено нарушение (указаны
файл, номер записи и что не так) или ключ не указан (NOT AUTHENTICATED). Строка `OK`
называет, что проверено, по подписанному `package.json`: журнал (log), организацию,
учебный год (и период), записи — сверьте их с тем, что вы ожидали получить; каталог
внутри архива должен им соответствовать.

Смена ключа подписи (ADR 0016): `keys/rotations.jsonl` — каждое объявление нового
ключа в цепочке (запись, подписанная прежним ключом, с доказательством включения), а
`keys/validity.json` — с какой по какую запись действует каждый ключ. Достаточно
указать первый ключ организации: ключ, объявленный доверенным ключом, программа
признаёт; запись, подписанная не действующим на её позиции ключом, — нарушение.

## Проверка вручную (sha256sum, openssl, xxd)

    unzip АРХИВ.zip && cd {package['institution']['slug']}-*/
    # 0. ключ архива — опубликованный ключ организации: результат должен совпасть с
    #    частью опубликованного ключа проверки после последнего «+» ({vkey_key})
    (printf '\\001'; openssl pkey -pubin -in keys/{manifest_key}.pem -outform DER \\
     | tail -c 32) | base64
    #    и журнал архива — журнал этой организации: имя до первого «+» ключа
    #    ({package['origin']})
    head -n 1 checkpoint.txt
    sha256sum -c SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey keys/{manifest_key}.pem -rawin \\
        -in SHA256SUMS -sigfile SHA256SUMS.sig

{stamp_ru}Одна запись — первая, № {entry.position} (строка 2 файла `entries.jsonl`; байты ниже
взяты из неё — сверьте поля; этот файл, VERIFY.md, тоже заверен подписью SHA256SUMS):

    # 1. хеш события: SHA-256 канонических байтов события (ADR 0002)
    echo {event_bytes.hex()} | xxd -r -p | sha256sum
    #    = {entry.event_digest.hex()}  (поле event_digest)
    # 2. хеш записи: SHA-256 канонических байтов записи
    echo {entry_bytes.hex()} | xxd -r -p | sha256sum
    #    = {entry.entry_hash.hex()}  (поле entry_hash)
    # 3. подпись записи ключом {key}
    (printf 'ejournal/ledger/signature/v1\\0'; \\
     echo {entry.entry_hash.hex()} | xxd -r -p) > message.bin
    echo {entry.signature.hex()} | xxd -r -p > signature.bin
    openssl pkeyutl -verify -pubin -inkey keys/{key}.pem -rawin -in message.bin \\
        -sigfile signature.bin

---

# Journal archive: {name}, academic year {year}

Ledger entries {first}–{last} (chain `{chain_id}`, log `{package['origin']}`), the signed
checkpoint of size {last}, the year's statements (PDF/A and CSV), the keys.

## With the bundled verifier (Python 3 and `cryptography` only)

    ejournal-verify ARCHIVE.zip --vkey 'THE_INSTITUTIONS_VERIFIER_KEY'
    # or from a copy of the ledger/ directory: python -m ledger verify-archive … --vkey …

The key is the one the institution published (`ejournal ledger verifier-key`), never one
taken from the package; this package is signed by {vkey}. Without `--vkey` (or `--keys
DIR`) the verifier proves integrity, not authenticity, and answers NOT AUTHENTICATED
(exit 1).

It checks the manifest's signature and sums, the checkpoint's signature, every entry
(event digest, link, signature), the Merkle root against the checkpoint, the link to
the chain before the package, and each statement's journal state, with the keys you
give it. Exit 0: all holds; 1: a problem, named by file, entry and what (or NOT
AUTHENTICATED without a key of yours). The `OK` line names what was verified, from the
signed `package.json`: the log, the institution, the academic year (and period) and the
entries — compare them with what you expected; the directory inside the ZIP must match
them.

Key rotations (ADR 0016): `keys/rotations.jsonl` holds every announcement of a new key in
the chain (an entry signed by the key it replaces, with its inclusion proof), and
`keys/validity.json` each key's stretch of positions. Pinning the institution's first
key is enough: a key announced by a trusted key is trusted; an entry signed by a key not
in force at its position is a problem.

## By hand

The commands above: first pin the package's key — base64 of 0x01 and the key's raw 32
bytes must equal the part of the institution's published verifier key after its last "+"
({vkey_key}), and the first line of checkpoint.txt, the log's name, must be the key's
name before its first "+" — then {stamp_en}`sha256sum -c SHA256SUMS`, the manifest's
signature with `openssl pkeyutl -verify -rawin`, and entry {entry.position}: its event
digest and entry hash recomputed with `sha256sum` from the canonical bytes shown (ADR
0002: tag, 16-byte event id, u64 version, length-prefixed topic and state; tag,
length-prefixed chain id, u64 position, previous entry hash, event digest), and its
signature over `ejournal/ledger/signature/v1\\0 || entry_hash` checked with `openssl`.
"""
