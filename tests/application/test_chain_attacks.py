"""Rows an attacker adds beside the chain (an outside attack round on ADR 0009/0011):
junk Merkle nodes, forged checkpoint rows, forged verified-through marks, a log cut back
with every table. Each raises the alarm or is passed over and reported — never a write
refused forever as a conflict, a published head frozen, or a crash. SQLite and
PostgreSQL (the runtime role's own INSERTs: test_privileges)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import ledger
from application import integrity
from application.config import Settings, get_settings
from application.integrity import IntegrityAlarm
from application.service import CheckpointRefused, Ejournal
from application.storage import tree
from domain.lessons import Lesson
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.application.test_merkle_store import (  # noqa: F401
    add_users,
    cli,
    keep_checkpoint,
    raw_db,
    run,
    service,
)
from tests.conftest import Clock, School

BIGINT_MAX = 2**63 - 1


def last_position(raw: RawDb) -> int:
    return int(raw.run("SELECT max(position) FROM {ledger}", bypass=False)[0][0])


def add_junk_node(raw: RawDb, level: int, idx: int) -> None:
    raw.run("INSERT INTO {merkle} (level, idx, hash) VALUES (?, ?, ?)",
            (level, idx, b"\x5a" * 32), bypass=False)


# 1. A junk node the next appends need -------------------------------------------------
def test_a_junk_node_ahead_of_the_chain_raises_the_alarm_not_a_conflict(
        ejournal: Ejournal, school: School, key_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    lesson = school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    add_junk_node(raw, 0, head + 1)  # leaf index head + 1: position head + 2
    school.journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                       MarkValue.FIVE)  # position head + 1: no clash yet
    with caplog.at_level(logging.CRITICAL, "ejournal.integrity"), \
            pytest.raises(IntegrityAlarm) as alarm:
        school.journal.lessons.record_mark(school.teacher, lesson, school.students[1],
                                           MarkValue.FOUR)
    assert alarm.value.failure.kind is ledger.FailureKind.INSERTED
    assert f"index {head + 1}" in str(alarm.value)
    assert any("merkle_nodes holds a node" in r.message for r in caplog.records)
    assert last_position(raw) == head + 1  # nothing written
    # A new process sees it when it opens: a leaf past the head.
    later = Ejournal(Settings(database_url=ejournal.settings.database_url, key_dir=key_dir),
                     Clock())
    try:
        with pytest.raises(IntegrityAlarm, match="past the chain"):
            later.journal(school.slug).get(Lesson, lesson)
        report = later.verify(school.slug, later.keyring())
        assert not report.ok and report.failure is not None
        assert report.failure.kind is ledger.FailureKind.INSERTED
        assert f"(0, {head + 1})" in report.failure.detail and "did not write" in \
            report.failure.detail
    finally:
        later.close()


# 4. A junk node at the largest bigint -------------------------------------------------
def test_a_junk_node_at_the_largest_index_is_reported_not_a_crash(
        cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    add_users(cli, 2)
    kept, _ = keep_checkpoint(capsys, cli, tmp_path)
    add_junk_node(raw_db(cli), 0, BIGINT_MAX)
    code, out, _ = run(capsys, "ledger", "verify", "--institution", cli)
    assert code == 1 and f"(0, {BIGINT_MAX})" in out and "did not write" in out
    code, out, err = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 1 and out == "" and f"(0, {BIGINT_MAX})" in err
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(kept))
    assert code == 1 and "FAILED" in out and "did not write" in out


def test_the_running_service_alarms_on_junk_nodes_when_it_checkpoints(
        ejournal: Ejournal, school: School) -> None:
    school.lesson()
    add_junk_node(RawDb(ejournal, school.slug), 0, BIGINT_MAX)
    with pytest.raises(IntegrityAlarm, match="did not write"):
        ejournal.checkpoint(school.slug)
    with pytest.raises(IntegrityAlarm):  # and it stays raised: nothing is served
        school.journal.get(Lesson, school.lesson(number=2))


# 2. Forged checkpoint rows ------------------------------------------------------------
def test_forged_checkpoint_rows_neither_freeze_nor_block_signing(
        cli: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    add_users(cli, 1)
    code, old, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    old_checkpoint = ledger.Checkpoint.parse(ledger.parse_note(old).text)
    add_users(cli, 2)
    ejournal = service()
    try:
        raw = RawDb(ejournal, cli)
        size = last_position(raw)
        reader = ejournal.backend.chain_reader(cli)
        root = tree.from_store(lambda st: ledger.root_hash_from(size, st), reader.subtrees)
    finally:
        ejournal.close()
    origin = f"ejournal.example/{cli}"
    # The true size and root, an older genuine note; and a row of a huge size.
    raw.run("INSERT INTO {checkpoints} (size, origin, root, note) VALUES (?, ?, ?, ?)",
            (size, origin, root, old), bypass=False)
    raw.run("INSERT INTO {checkpoints} (size, origin, root, note) VALUES (?, ?, ?, ?)",
            (9 * 10**18, origin, root, old), bypass=False)
    code, vkey, _ = run(capsys, "ledger", "verifier-key", "--institution", cli)
    code, note, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 0
    signed = ledger.open_checkpoint(note, [ledger.parse_vkey(vkey)], origin=origin)
    assert (signed.size, signed.root) == (size, root) and note != old
    assert old_checkpoint.size < size
    code, out, _ = run(capsys, "ledger", "verify", "--institution", cli)
    assert code == 1 and "ledger_checkpoints: 2 rows the service did not sign" in out


# 3. The owner cuts the log back with every table --------------------------------------
def test_no_checkpoint_inconsistent_with_one_signed_before_after_a_cut(
        cli: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    add_users(cli, 2)
    code, first, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    size = ledger.Checkpoint.parse(ledger.parse_note(first).text).size
    ejournal = service()
    try:
        raw = RawDb(ejournal, cli)
    finally:
        ejournal.close()
    cut = size - 2
    raw.run("DELETE FROM {events} WHERE {nid} IN (SELECT notification_id FROM {ledger}"
            " WHERE position > ?)", (cut,))
    raw.run("DELETE FROM {ledger} WHERE position > ?", (cut,))
    raw.run("DELETE FROM {merkle} WHERE (idx + 1) * (1 << level) > ?", (cut,))
    raw.run("DELETE FROM {checkpoints}")
    # Nothing is written on the cut log (it no longer extends the remembered checkpoint),
    # and no checkpoint is signed over it.
    code, _, err = run(capsys, "users", "add", "--institution", cli, "--full-name",
                       "Сотрудник 9", "--role", "teacher")
    assert code != 0 and "truncated" in err
    code, out, err = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 1 and out == "" and "this deployment signed" in err
    assert raw.count("checkpoints") == 0
    remembered = Path(get_settings().key_dir) / "checkpoints" / f"{cli}.last"
    assert remembered.read_text(encoding="utf-8") == first
    assert remembered.stat().st_mode & 0o777 == 0o600
    assert remembered.parent.stat().st_mode & 0o777 == 0o700


def test_the_guard_calls_a_ledger_cut_below_its_head_a_truncation(
        ejournal: Ejournal, school: School) -> None:
    school.lesson()
    raw = RawDb(ejournal, school.slug)
    head = last_position(raw)
    raw.run("DELETE FROM {events} WHERE {nid} IN (SELECT notification_id FROM {ledger}"
            " WHERE position = ?)", (head,))
    raw.run("DELETE FROM {ledger} WHERE position = ?", (head,))
    with pytest.raises(IntegrityAlarm) as alarm:
        school.journal.get(Lesson, school.lesson(number=2))
    assert alarm.value.failure.kind is ledger.FailureKind.MISSING
    assert "truncated" in alarm.value.failure.detail and alarm.value.failure.position == head


# 5. Two workers sign the same checkpoint ----------------------------------------------
def test_storing_the_same_checkpoint_twice_is_idempotent(
        ejournal: Ejournal, school: School, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    note = ejournal.checkpoint(school.slug)
    checkpoint = ledger.Checkpoint.parse(ledger.parse_note(note).text)
    recorder = school.journal.store.recorder
    assert recorder.add_checkpoint(checkpoint.size, checkpoint.origin, checkpoint.root,
                                   note) == note  # no UniqueViolation: already there
    assert RawDb(ejournal, school.slug).count("checkpoints") == 1
    # The loser of the race between two workers (it found no row before it signed).
    monkeypatch.setattr(type(ejournal.backend.chain_reader(school.slug)),
                        "recent_checkpoints", lambda self, limit: [])
    with caplog.at_level(logging.INFO):
        assert ejournal.checkpoint(school.slug) == note
    lines = [r for r in caplog.records if r.levelno >= logging.INFO
             and "checkpoint" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None


# 6. Forged verified-through marks -----------------------------------------------------
def test_forged_marks_above_the_head_do_not_force_a_full_verification(
        database_url: str, key_dir: Path, school: School,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(integrity, "MARK_EVERY", 10)
    for number in range(1, 6):
        school.lesson(number=number)
    raw = RawDb(_shim(school), school.slug)
    total = last_position(raw)
    marked = int(raw.run("SELECT max(position) FROM {ledger}_verified", bypass=False)[0][0])
    for n in range(integrity.MARKS_TRIED + 5):
        raw.run("INSERT INTO {ledger}_verified VALUES (?, ?, ?, ?)",
                (total + 1000 + n, b"\0" * 32, "0" * 32, b"\0" * 64), bypass=False)
    later = Ejournal(Settings(database_url=database_url, key_dir=key_dir), Clock())
    try:
        with caplog.at_level(logging.WARNING, "ejournal.integrity"):
            later.journal(school.slug).get(Lesson, school.lesson(number=7))
        assert later.journal(school.slug).store.chain.guard.checked <= total - marked + 3
        warnings = [r for r in caplog.records if "verified-through" in r.getMessage()]
        assert len(warnings) == 1
        report = later.verify(school.slug, later.keyring())
        assert not report.ok and report.failure is not None
        assert f"ledger_verified: {integrity.MARKS_TRIED + 5} verified-through marks" in \
            report.failure.detail
    finally:
        later.close()


def _shim(school: School) -> Ejournal:
    class Shim:
        backend = school.journal.store.backend
    return Shim()  # type: ignore[return-value]


def test_a_checkpoint_refused_names_the_memory_file(
        ejournal: Ejournal, school: School) -> None:
    """The service's memory must be a note its keys sign."""
    school.lesson()
    ejournal.checkpoint(school.slug)
    memory = ejournal.settings.key_dir / "checkpoints" / f"{school.slug}.last"
    memory.write_text("not a note\n", encoding="utf-8")
    with pytest.raises(CheckpointRefused, match="does not hold a checkpoint"):
        ejournal.checkpoint(school.slug)
