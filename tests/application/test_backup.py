"""Backup and restore of one institution (ADR 0012), on real SQLite files and a real
PostgreSQL database: a backup taken while marks are written, restored into a fresh
deployment that verifies and writes on; what a restore refuses, and that a refused
restore leaves nothing live."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import ledger
from application.backup import (
    TRAILER,
    BackupCorrupt,
    BackupRefused,
    InstitutionLive,
    VerificationFailed,
    backup,
    restore,
)
from application.config import Settings
from application.service import Ejournal
from application.storage import snapshot
from application.storage.layout import PostgresBackend, SQLiteBackend, schema_of
from domain.values import MarkValue
from tests.conftest import Clock, School, build_school


@pytest.fixture
def fresh(database_url: str, key_dir: Path, clock: Clock, tmp_path: Path
          ) -> Iterator[Ejournal]:
    """Another deployment on the same backend, with the same key directory: SQLite in
    another directory, PostgreSQL in a database of its own (dropped afterwards)."""
    if database_url.startswith("sqlite"):
        service = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 'fresh' / 'e.sqlite3'}",
                                    key_dir=key_dir), clock, owner=True)
        yield service
        service.close()
        return
    name = "ejtest_restore_" + secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    service = Ejournal(Settings(database_url=url, key_dir=key_dir), clock, owner=True)
    try:
        yield service
    finally:
        service.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def stores(service: Ejournal, slug: str) -> list[str]:
    """Whatever holds the institution's store or a staging copy of it."""
    backend = service.backend
    if isinstance(backend, SQLiteBackend):
        return sorted(p.name for p in backend.path.parent.glob(f"*.{slug}.sqlite3*"))
    assert isinstance(backend, PostgresBackend)
    with psycopg.connect(backend.url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN (%s, %s) ORDER BY 1",
            (schema_of(slug), f"ejrestore_{slug}"))]


def token_hints(service: Ejournal, slug: str) -> int:
    backend = service.backend
    if isinstance(backend, SQLiteBackend):
        with closing(sqlite3.connect(backend.path)) as conn:
            return int(conn.execute("SELECT count(*) FROM access_tokens WHERE slug = ?",
                                    (slug,)).fetchone()[0])
    assert isinstance(backend, PostgresBackend)
    with psycopg.connect(backend.url) as conn:
        return int(conn.execute("SELECT count(*) FROM ejournal.access_tokens WHERE slug = %s",
                                (slug,)).fetchone()[0])


def rewrite(path: Path, edit: Callable[[str, list[Any]], list[Any]], *,
            fix_hash: bool) -> None:
    """Edits the backup's rows (`edit(table, row)`), keeping its format; the trailer's
    SHA-256 is recomputed only with `fix_hash` (as a forger would)."""
    lines = path.read_bytes().splitlines(keepends=True)
    body, trailer = lines[:-1], lines[-1]
    table = None
    for i, line in enumerate(body[1:], 1):
        if line.startswith(b"{"):
            table = json.loads(line).get("table")
        elif table is not None:
            body[i] = json.dumps(edit(table, json.loads(line)), ensure_ascii=False,
                                 separators=(",", ":")).encode() + b"\n"
    data = b"".join(body)
    if fix_hash:
        trailer = TRAILER % hashlib.sha256(data).hexdigest().encode()
    path.write_bytes(data + trailer)


def edit_state(old: bytes, new: bytes) -> Callable[[str, list[Any]], list[Any]]:
    """Replaces `old` by `new` in the first event state that holds it."""
    done = []

    def edit(table: str, row: list[Any]) -> list[Any]:
        if table == "events" and not done:
            state = base64.b64decode(row[4])
            if old in state:
                row[4] = base64.b64encode(state.replace(old, new)).decode()
                done.append(row[0])
        return row
    return edit


def test_a_backup_under_write_load_restores_into_a_fresh_deployment_that_writes_on(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    lesson_id = school.lesson()
    token = ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    written = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def write_marks() -> None:
        nonlocal written
        values = [MarkValue.FIVE, MarkValue.FOUR, MarkValue.THREE]
        try:
            while not stop.is_set():
                school.journal.lessons.record_mark(school.teacher, lesson_id,
                                                   school.students[written % 3],
                                                   values[written % 3])
                written += 1
        except BaseException as error:  # surfaced below
            errors.append(error)

    writes_during_backup = []

    def progress(stage: str, done: int, total: int) -> None:
        # Inside the backup's snapshot: marks must keep committing meanwhile.
        if stage == "events" and done == total:
            before = written
            for _ in range(600):
                if written >= before + 3 or errors:
                    break
                threading.Event().wait(0.05)
            writes_during_backup.append(written - before)

    writer = threading.Thread(target=write_marks)
    writer.start()
    try:
        while written < 3 and not errors:
            threading.Event().wait(0.01)
        out = tmp_path / "school.ejbackup"
        manifest = backup(ejournal, school.slug, out, progress)
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    # Check the writer was not blocked by the backup, and the backup is one snapshot.
    assert writes_during_backup and writes_during_backup[0] >= 3
    live = ejournal.verify(school.slug, ejournal.keyring())
    assert live.ok and live.head.position > manifest.head_position
    assert manifest.rows["events"] == manifest.rows["ledger"] == manifest.head_position
    assert out.stat().st_mode & 0o777 == 0o600

    restored = restore(fresh, out)

    # Check the restored chain is the snapshot's, verified, with the token hints.
    assert restored.report.ok and restored.report.count == manifest.head_position
    assert restored.report.head.entry_hash.hex() == manifest.head_hash
    report = fresh.verify(school.slug, fresh.keyring())
    assert report.ok and report.head == restored.report.head
    actor, journal = fresh.authenticate(token)
    assert actor.person_id == school.teacher.person_id
    # Check the restored institution writes on: the chain continues and verifies.
    journal.lessons.record_mark(actor, lesson_id, school.students[0], MarkValue.TWO)
    after = fresh.verify(school.slug, fresh.keyring())
    assert after.ok and after.head.position > manifest.head_position
    assert fresh.checkpoint(school.slug)  # the tree extends the restored one


def test_a_restore_refuses_to_overwrite_a_live_institution(
        ejournal: Ejournal, school: School, tmp_path: Path) -> None:
    out = tmp_path / "school.ejbackup"
    manifest = backup(ejournal, school.slug, out)
    school.lesson()  # the live institution moved on since
    before = ejournal.verify(school.slug, ejournal.keyring())

    with pytest.raises(InstitutionLive) as refused:
        restore(ejournal, out)

    assert "не перезаписывает" in refused.value.message
    after = ejournal.verify(school.slug, ejournal.keyring())
    assert after.ok and after.head == before.head != manifest.head_position
    assert not [n for n in stores(ejournal, school.slug) if "restore" in n]


def test_a_corrupted_backup_is_refused_before_anything_is_loaded(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    # One bit of one event's state, the file still well-formed: only the hash shows it.
    rewrite(out, edit_state(b"Europe/Moscow", b"Europe/Moscou"), fix_hash=False)

    def no_loading(*_: object) -> None:
        raise AssertionError("loading began")

    monkeypatch.setattr(snapshot, "open_staging", no_loading)
    with pytest.raises(BackupCorrupt) as refused:
        restore(fresh, out)

    assert "SHA-256" in refused.value.message
    assert fresh.institutions() == [] and stores(fresh, school.slug) == []


def test_a_flipped_byte_anywhere_is_refused(ejournal: Ejournal, school: School,
                                           fresh: Ejournal, tmp_path: Path) -> None:
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    data = bytearray(out.read_bytes())
    for at in (10, len(data) // 2, len(data) - 5):  # manifest, a row, the trailer
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        out.write_bytes(flipped)
        with pytest.raises(BackupCorrupt):
            restore(fresh, out)
    assert fresh.institutions() == [] and stores(fresh, school.slug) == []


def test_edited_events_with_the_hash_fixed_up_fail_verification_and_leave_nothing_live(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    ejournal.issue_token(school.slug, school.teacher.person_id, "staff")
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    rewrite(out, edit_state("Ахметов".encode(), "Петров".encode()), fix_hash=True)

    with pytest.raises(VerificationFailed) as refused:
        restore(fresh, out)

    assert "changed" in refused.value.message and "ничего не восстановлено" in (
        refused.value.message)
    # Check nothing is live, and no staging copy is left behind.
    assert fresh.institutions() == [] and stores(fresh, school.slug) == []
    assert token_hints(fresh, school.slug) == 0


def test_a_forged_checkpoint_fails_verification(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    ejournal.checkpoint(school.slug)
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)

    def forge(table: str, row: list[Any]) -> list[Any]:
        if table == "ledger_checkpoints":
            row[2] = base64.b64encode(bytes(32)).decode()  # another root, same note
        return row

    rewrite(out, forge, fix_hash=True)
    with pytest.raises(VerificationFailed, match=r"(?i)контрольная точка|ledger_checkpoints"):
        restore(fresh, out)
    assert fresh.institutions() == [] and stores(fresh, school.slug) == []


def test_a_restore_needs_the_keys_that_signed_the_chain(
        ejournal: Ejournal, school: School, database_url: str, clock: Clock,
        tmp_path: Path) -> None:
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    other_keys = tmp_path / "other-keys"
    ledger.generate_key(other_keys)
    if not database_url.startswith("sqlite"):
        pytest.skip("the key check precedes any storage: one backend suffices")
    other = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 'o' / 'e.sqlite3'}",
                              key_dir=other_keys), clock, owner=True)
    try:
        with pytest.raises(BackupRefused, match="каталогом ключей"):
            restore(other, out)
        assert other.institutions() == []
    finally:
        other.close()


@pytest.mark.postgres
def test_a_sqlite_backup_restores_into_postgresql(
        key_dir: Path, clock: Clock, tmp_path: Path, postgres_url: str) -> None:
    source = Ejournal(Settings(database_url=f"sqlite:///{tmp_path / 's' / 'e.sqlite3'}",
                               key_dir=key_dir), clock, owner=True)
    try:
        school = build_school(source)
        school.lesson()
        source.checkpoint(school.slug)
        out = tmp_path / "school.ejbackup"
        manifest = backup(source, school.slug, out)
    finally:
        source.close()
    # The slug is new to the test database (new_slug): a fresh institution there.
    target = Ejournal(Settings(database_url=postgres_url, key_dir=key_dir), clock, owner=True)
    try:
        restored = restore(target, out)
        assert restored.report.ok and restored.checkpoint_size == manifest.head_position
        assert target.verify(school.slug, target.keyring()).ok
    finally:
        target.close()



def test_a_restore_keeps_the_checkpoints_timestamps(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    from tests.application.test_timestamps import with_tsa
    from tests.local_tsa import start_local_tsa

    tsa = start_local_tsa(tmp_path / "tsa")
    stamped = with_tsa(ejournal, tsa)
    try:
        stamped.checkpoint(school.slug)
        assert stamped.timestamp(school.slug).missing == []
        note, token = stamped.latest_timestamp(school.slug)  # type: ignore[misc]
    finally:
        stamped.close()
        tsa.stop()
    assert token is not None
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    restore(fresh, out)
    assert fresh.latest_timestamp(school.slug) == (note, token)


# Attack round: a tampered backup whose trailer was recomputed (anyone can) -----------------
def forge_file(path: Path, *, add: dict[str, list[list[Any]]] | None = None,
               manifest: Callable[[dict[str, Any]], None] | None = None,
               fix_counts: bool = True) -> None:
    """Appends `add[table]` rows to the table's section (its end line counted again), edits
    the manifest with `manifest`, sets the manifest's row counts to the rows now in the
    file (unless `fix_counts` is False), and recomputes the trailer: a forger's file."""
    lines = path.read_bytes().splitlines(keepends=True)[:-1]
    head = json.loads(lines[0])
    out: list[bytes] = []
    for line in lines[1:]:
        if line.startswith(b"{") and "end" in (marker := json.loads(line)):
            table = marker["end"]
            extra = (add or {}).get(table, [])
            out += [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in extra]
            marker["rows"] += len(extra)
            if fix_counts and table in head["rows"]:
                head["rows"][table] = marker["rows"]
            line = json.dumps(marker).encode() + b"\n"
        out.append(line)
    if manifest is not None:
        manifest(head)
    data = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    data += b"".join(out)
    path.write_bytes(data + TRAILER % hashlib.sha256(data).hexdigest().encode())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refused_and_nothing_live(fresh: Ejournal, slug: str, path: Path,
                             kind: type[BackupRefused] = VerificationFailed) -> str:
    with pytest.raises(kind) as refused:
        restore(fresh, path)
    assert fresh.institutions() == [] and stores(fresh, slug) == []
    assert token_hints(fresh, slug) == 0
    return refused.value.message


def two_checkpoints(ejournal: Ejournal, school: School) -> tuple[str, str]:
    first = ejournal.checkpoint(school.slug)
    school.lesson()
    return first, ejournal.checkpoint(school.slug)


def test_a_planted_merkle_node_past_the_tree_is_refused(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    ejournal.checkpoint(school.slug)
    size = ejournal.backend.chain_reader(school.slug).tree_size()[0]
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    idx = size // 4  # (idx + 1) * 4 > size: no tree of this chain has it
    forge_file(out, add={"merkle_nodes": [[2, idx, b64(bytes(32))]]})

    message = refused_and_nothing_live(fresh, school.slug, out)
    assert "merkle_nodes" in message


def test_an_earlier_checkpoint_with_another_root_is_refused(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    two_checkpoints(ejournal, school)
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    seen: list[int] = []

    def forge(table: str, row: list[Any]) -> list[Any]:
        if table == "ledger_checkpoints" and not seen:  # the earlier one, not the last
            seen.append(row[0])
            row[2] = b64(bytes(32))
        return row

    rewrite(out, forge, fix_hash=True)
    assert seen
    refused_and_nothing_live(fresh, school.slug, out)


def test_a_checkpoint_with_a_junk_signature_is_refused(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    first, _ = two_checkpoints(ejournal, school)
    checkpoint = ledger.Checkpoint.parse(ledger.parse_note(first).text)
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    body = first.split("\n\n")[0] + "\n\n"
    junk = body + f"\u2014 {checkpoint.origin} {b64(bytes(4) + secrets.token_bytes(64))}\n"
    forge_file(out, add={"ledger_checkpoints": [[
        checkpoint.size - 1, checkpoint.origin, b64(checkpoint.root), junk,
        "2026-10-14T09:00:00+00:00"]]})

    refused_and_nothing_live(fresh, school.slug, out)


def test_a_signed_checkpoint_of_another_tree_is_refused(
        ejournal: Ejournal, school: School, fresh: Ejournal, key_dir: Path,
        tmp_path: Path) -> None:
    # A note the service's key did sign, but of a tree this chain does not have (a fork,
    # or a root of another history): the row is the note's, the tree is not.
    first, _ = two_checkpoints(ejournal, school)
    checkpoint = ledger.Checkpoint.parse(ledger.parse_note(first).text)
    other = ledger.Checkpoint(checkpoint.origin, checkpoint.size - 1, bytes(range(32)))
    note = ledger.sign_checkpoint(other, [ledger.Signer.from_directory(key_dir)
                                          .note_signer(checkpoint.origin)])
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    forge_file(out, add={"ledger_checkpoints": [[
        other.size, other.origin, b64(other.root), note, "2026-10-14T09:00:00+00:00"]]})

    message = refused_and_nothing_live(fresh, school.slug, out)
    assert "контрольн" in message and str(other.size) in message


def test_a_fake_timestamp_is_refused(ejournal: Ejournal, school: School, fresh: Ejournal,
                                     tmp_path: Path) -> None:
    note = ejournal.checkpoint(school.slug)
    checkpoint = ledger.Checkpoint.parse(ledger.parse_note(note).text)
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    forge_file(out, add={"checkpoint_timestamps": [[
        checkpoint.size, checkpoint.origin, b64(hashlib.sha256(note.encode()).digest()),
        b64(b"FAKE TSA REPLY"), "1999-01-01T00:00:00+00:00", "CN=Fake TSA",
        "2026-10-14T09:00:00+00:00"]]})

    message = refused_and_nothing_live(fresh, school.slug, out)
    assert "Метка времени" in message and "not a timestamp reply" in message


def test_a_real_token_restamped_or_untrusted_is_refused(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    from tests.application.test_timestamps import with_tsa
    from tests.local_tsa import start_local_tsa

    tsa = start_local_tsa(tmp_path / "tsa")
    stamped = with_tsa(ejournal, tsa)
    try:
        stamped.checkpoint(school.slug)
        assert stamped.timestamp(school.slug).missing == []
    finally:
        stamped.close()
        tsa.stop()
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    good = out.read_bytes()

    def older(table: str, row: list[Any]) -> list[Any]:
        if table == "checkpoint_timestamps":
            row[4] = "1999-01-01T00:00:00+00:00"  # genTime is not the token's
        return row

    rewrite(out, older, fix_hash=True)
    assert "genTime" in refused_and_nothing_live(fresh, school.slug, out)

    # With EJOURNAL_TSA_ROOTS, the token must chain to them: here, to another root.
    out.write_bytes(good)
    settings = fresh.settings.model_copy(update={"tsa_roots": tsa.other_roots})
    strict = Ejournal(settings, fresh.clock, owner=True)
    try:
        refused_and_nothing_live(strict, school.slug, out)
        strict.settings = fresh.settings.model_copy(update={"tsa_roots": tsa.roots})
        assert restore(strict, out).report.ok  # its own TSA's root: restored
    finally:
        strict.close()


def test_the_manifest_row_counts_must_be_the_rows_loaded(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    ejournal.checkpoint(school.slug)
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)

    def more(head: dict[str, Any]) -> None:
        head["rows"]["merkle_nodes"] += 1

    forge_file(out, manifest=more)
    message = refused_and_nothing_live(fresh, school.slug, out, BackupCorrupt)
    assert "merkle_nodes" in message


def test_the_name_is_the_chains_not_the_manifests(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)

    def rename(head: dict[str, Any]) -> None:
        head["institution"]["name"] = "Поддельная школа"

    forge_file(out, manifest=rename)
    message = refused_and_nothing_live(fresh, school.slug, out)
    assert "Поддельная школа" in message


@pytest.mark.parametrize("where", ["row", "section end", "manifest"])
def test_deeply_nested_json_is_refused_not_a_recursion_error(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path,
        where: str) -> None:
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    lines = out.read_bytes().splitlines(keepends=True)[:-1]
    deep = {"row": b"[" * 200_000, "section end": b'{"a":' * 200_000,
            "manifest": b'{"a":' * 200_000}[where] + b"\n"
    at = {"row": 2, "section end": 2, "manifest": 0}[where]
    lines[at] = deep
    data = b"".join(lines)
    out.write_bytes(data + TRAILER % hashlib.sha256(data).hexdigest().encode())

    refused_and_nothing_live(fresh, school.slug, out, BackupCorrupt)


def test_a_duplicated_event_line_is_refused_naming_its_section_and_row(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    """A row line repeated in place, its section's count, the manifest's and the trailer
    fixed up: the staging copy's key refuses it — BackupCorrupt, not the database's
    IntegrityError (a traceback from `ejournal restore`)."""
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    lines = out.read_bytes().splitlines(keepends=True)[:-1]
    head = json.loads(lines[0])
    events = lines.index(next(x for x in lines if x.startswith(b'{"table":"events"')))
    lines.insert(events + 4, lines[events + 3])  # the third event, twice
    end = next(i for i, x in enumerate(lines) if x.startswith(b'{"end":"events"'))
    lines[end] = json.dumps({"end": "events", "rows": end - events - 1},
                            separators=(",", ":")).encode() + b"\n"
    head["rows"]["events"] = end - events - 1
    lines[0] = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    data = b"".join(lines)
    out.write_bytes(data + TRAILER % hashlib.sha256(data).hexdigest().encode())

    message = refused_and_nothing_live(fresh, school.slug, out, BackupCorrupt)
    assert "«events»" in message and "строка 4" in message


def test_a_backup_older_than_a_certified_checkpoint_is_refused_unless_accepted(
        ejournal: Ejournal, school: School, fresh: Ejournal, tmp_path: Path) -> None:
    """Attack round 5: a backup stripped of its checkpoint rows restored silently. The
    deployment remembers what it certified (ADR 0011): an older log is a deliberate
    choice, and the memory is kept aside, not lost."""
    out = tmp_path / "school.ejbackup"
    backup(ejournal, school.slug, out)
    school.lesson()  # entries after the copy...
    ejournal.checkpoint(school.slug)  # ...certified by a checkpoint
    with pytest.raises(BackupRefused, match="--accept-older"):
        restore(fresh, out)
    assert fresh.institutions() == []
    restored = restore(fresh, out, accept_older=True)
    assert restored.report.ok
    memory = fresh.settings.key_dir / "checkpoints"
    assert list(memory.glob(f"{school.slug}.last.superseded-*"))
    assert not (memory / f"{school.slug}.last").exists()
    fresh.checkpoint(school.slug)  # the restored log is certified from here on
