"""The Merkle tree as stored (ADR 0011): merkle_nodes holds exactly the complete subtrees
of the chain, written in the ledger rows' transaction; roots and proofs from O(log n)
stored subtrees; signed checkpoints, refused when inconsistent; `ledger verify --against`
catches a log cut back together with its ledger rows and nodes. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import ledger
from api.cli import main
from application.config import get_settings
from application.integrity import IntegrityAlarm
from application.service import Ejournal, chain_id_of
from application.storage import tree
from domain.values import MarkValue
from tests.application.rawdb import RawDb
from tests.application.test_ledger import marked_school
from tests.conftest import School, new_slug


def chain_id(ejournal: Ejournal, slug: str) -> str:
    entry = ejournal.backend.directory.institution(slug)
    assert entry is not None
    return chain_id_of(entry.institution_id)


def leaf_hashes(ejournal: Ejournal, slug: str) -> list[bytes]:
    """Every leaf hash, recomputed from the ledger rows."""
    rows = RawDb(ejournal, slug).run(
        "SELECT position, prev_hash, event_digest FROM {ledger} ORDER BY position",
        bypass=False)
    cid = chain_id(ejournal, slug)
    return [ledger.chain_leaf_hash(cid, int(p), bytes(h), bytes(d)) for p, h, d in rows]


def stored_nodes(ejournal: Ejournal, slug: str) -> dict[tuple[int, int], bytes]:
    rows = RawDb(ejournal, slug).run("SELECT level, idx, hash FROM {merkle}", bypass=False)
    return {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}


def expected_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    frontier, nodes = ledger.MerkleFrontier(), {}
    for h in leaves:
        frontier, created = frontier.extend(h)
        nodes.update({(s.level, s.index): s.hash for s in created})
    return nodes


def test_the_stored_nodes_are_exactly_the_complete_subtrees_of_the_chain(
        ejournal: Ejournal, school: School) -> None:
    marked_school(school)
    leaves = leaf_hashes(ejournal, school.slug)
    assert len(leaves) > 8
    assert stored_nodes(ejournal, school.slug) == expected_nodes(leaves)
    reader = ejournal.backend.chain_reader(school.slug)
    size = len(leaves)
    assert reader.tree_size() == (size, size)
    root = tree.from_store(lambda st: ledger.root_hash_from(size, st), reader.subtrees)
    assert root == ledger.root_hash(leaves)


def test_proofs_from_storage_verify_with_the_ledger_verifiers(
        ejournal: Ejournal, school: School) -> None:
    marked_school(school)
    leaves = leaf_hashes(ejournal, school.slug)
    reader = ejournal.backend.chain_reader(school.slug)
    size = len(leaves)
    root = ledger.root_hash(leaves)
    for index in {0, 1, size // 2, size - 2, size - 1}:
        proof = tree.from_store(lambda st, i=index: ledger.inclusion_proof_from(i, size, st),
                                reader.subtrees)
        assert proof == ledger.inclusion_proof(index, size, leaves)
        assert ledger.verify_inclusion(leaves[index], index, size, proof, root)
    for old in {1, 2, 3, size // 2, size - 1, size}:
        proof = tree.from_store(lambda st, o=old: ledger.consistency_proof_from(o, size, st),
                                reader.subtrees)
        assert ledger.verify_consistency(old, size, ledger.root_hash(leaves[:old]), root,
                                         proof)


def test_a_failed_append_leaves_no_nodes(ejournal: Ejournal, school: School,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    raw = RawDb(ejournal, school.slug)
    before = (raw.count("events"), raw.count("ledger"), raw.count("merkle"))
    real = tree.extend

    def extend_with_a_clash(*args: object, **kwargs: object
                            ) -> tuple[ledger.MerkleFrontier, list[ledger.Subtree]]:
        frontier, created = real(*args, **kwargs)  # type: ignore[arg-type]
        return frontier, [*created, ledger.Subtree(0, 0, bytes(32))]  # (0, 0) exists

    anna = school.students[0]
    lesson = school.lesson()
    before = (raw.count("events"), raw.count("ledger"), raw.count("merkle"))
    monkeypatch.setattr(tree, "extend", extend_with_a_clash)
    # Under the write lock, with the head unchanged, a clash on merkle_nodes is a stored
    # node the chain did not write (here, (0, 0) is not all zeros): the alarm.
    with pytest.raises(IntegrityAlarm, match="merkle_nodes holds a node"):
        school.journal.lessons.record_mark(school.teacher, lesson, anna, MarkValue.FIVE)
    monkeypatch.setattr(tree, "extend", real)
    assert (raw.count("events"), raw.count("ledger"), raw.count("merkle")) == before
    again = Ejournal(ejournal.settings)  # a restarted process
    try:
        again.journal(school.slug).lessons.record_mark(school.teacher, lesson, anna,
                                                       MarkValue.FIVE)
    finally:
        again.close()
    leaves = leaf_hashes(ejournal, school.slug)
    assert stored_nodes(ejournal, school.slug) == expected_nodes(leaves)


def test_a_chain_without_nodes_gets_its_tree_built(ejournal: Ejournal, school: School) -> None:
    marked_school(school)
    lesson = school.lesson(day=date(2026, 10, 15))
    raw = RawDb(ejournal, school.slug)
    raw.run("DELETE FROM {merkle}")  # as if the chain predated the table
    # A new process: its first append reads the head, finds no tree and builds it.
    again = Ejournal(ejournal.settings, owner=False)
    try:
        journal = again.journal(school.slug)
        journal.lessons.record_mark(school.teacher, lesson, school.students[0],
                                    MarkValue.FIVE)
    finally:
        again.close()
    leaves = leaf_hashes(ejournal, school.slug)
    assert stored_nodes(ejournal, school.slug) == expected_nodes(leaves)
    raw.run("DELETE FROM {merkle}")
    # Or the checkpoint command builds it.
    note = ejournal.checkpoint(school.slug)
    assert stored_nodes(ejournal, school.slug) == expected_nodes(leaves)
    assert ledger.Checkpoint.parse(ledger.parse_note(note).text).root == ledger.root_hash(leaves)


# The command line, on both databases -----------------------------------------------------
@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[str]:
    monkeypatch.setenv("EJOURNAL_DATABASE_URL", database_url)
    monkeypatch.setenv("EJOURNAL_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("EJOURNAL_OWNER_DATABASE_URL", raising=False)
    monkeypatch.delenv("EJOURNAL_LOG_ORIGIN_PREFIX", raising=False)
    get_settings.cache_clear()
    slug = new_slug()
    assert main(["init", "--institution", slug, "--name", "Лицей",
                 "--timezone", "Europe/Moscow"]) == 0
    yield slug
    get_settings.cache_clear()


def add_users(slug: str, count: int) -> None:
    for n in range(count):
        assert main(["users", "add", "--institution", slug, "--full-name",
                     f"Сотрудник {n}", "--role", "teacher"]) == 0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def service() -> Ejournal:
    return Ejournal(get_settings(), require_signer=False)


def raw_db(slug: str) -> RawDb:
    """Plain SQL on the institution's rows, as an attacker with database access."""
    ejournal = service()
    try:
        return RawDb(ejournal, slug)
    finally:
        ejournal.close()


def keep_checkpoint(capsys: pytest.CaptureFixture[str], slug: str, tmp_path: Path
                    ) -> tuple[Path, str]:
    """Signs a checkpoint and keeps it in a file, as an auditor would: (file, note)."""
    code, note, _ = run(capsys, "ledger", "checkpoint", "--institution", slug)
    assert code == 0
    kept = tmp_path / "checkpoint.txt"
    kept.write_text(note, encoding="utf-8")
    return kept, note


def test_checkpoint_prints_a_signed_note_that_the_published_key_verifies(
        cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 3)
    code, vkey, _ = run(capsys, "ledger", "verifier-key", "--institution", cli)
    assert code == 0 and vkey.startswith(f"ejournal.example/{cli}+")
    code, note, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 0
    checkpoint = ledger.open_checkpoint(note, [ledger.parse_vkey(vkey)],
                                        origin=f"ejournal.example/{cli}")
    ejournal = service()
    try:
        leaves = leaf_hashes(ejournal, cli)
        assert (checkpoint.size, checkpoint.root) == (len(leaves), ledger.root_hash(leaves))
        raw = RawDb(ejournal, cli)
    finally:
        ejournal.close()
    # Not grown: the same note again, nothing new stored.
    assert run(capsys, "ledger", "checkpoint", "--institution", cli)[1] == note
    assert raw.count("checkpoints") == 1
    add_users(cli, 1)
    code, later, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    grown = ledger.open_checkpoint(later, [ledger.parse_vkey(vkey)])
    assert code == 0 and grown.size > checkpoint.size and raw.count("checkpoints") == 2
    # Another origin: its own key name.
    code, other, _ = run(capsys, "ledger", "checkpoint", "--institution", cli,
                         "--origin", "journal.school.example/x")
    assert code == 0 and other.startswith("journal.school.example/x\n")


def test_an_inconsistent_previous_checkpoint_is_refused(
        cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 2)
    ejournal = service()
    try:
        raw = RawDb(ejournal, cli)
        size = raw.count("ledger")
    finally:
        ejournal.close()
    # A checkpoint the service's key signed (of another tree of size - 1): a row only
    # counts if its note is one the service signed (ADR 0011, addendum).
    origin = f"ejournal.example/{cli}"
    signer = ledger.Signer.from_directory(get_settings().key_dir).note_signer(origin)
    note = ledger.sign_checkpoint(ledger.Checkpoint(origin, size - 1, bytes(range(32))),
                                  [signer])
    raw.run("INSERT INTO {checkpoints} (size, origin, root, note) VALUES (?, ?, ?, ?)",
            (size - 1, origin, bytes(range(32)), note), bypass=False)
    code, out, err = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 1 and out == "" and "does not extend" in err
    assert raw.count("checkpoints") == 1


def test_verify_against_catches_a_log_cut_back_with_its_ledger_rows_and_nodes(
        cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 2)
    kept, first = keep_checkpoint(capsys, cli, tmp_path)
    size = ledger.Checkpoint.parse(ledger.parse_note(first).text).size
    add_users(cli, 2)
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(kept))
    assert code == 0 and f"extends the checkpoint ejournal.example/{cli} of size {size}" in out
    code, vkey, _ = run(capsys, "ledger", "verifier-key", "--institution", cli)
    assert run(capsys, "ledger", "verify", "--against", str(kept),
               "--verifier-key", vkey.strip())[0] == 0

    # Delete the newest events together with their ledger rows and Merkle nodes.
    raw = raw_db(cli)
    cut = size - 2
    raw.run("DELETE FROM {events} WHERE {nid} IN (SELECT notification_id FROM {ledger}"
            " WHERE position > ?)", (cut,))
    raw.run("DELETE FROM {ledger} WHERE position > ?", (cut,))
    raw.run("DELETE FROM {merkle} WHERE (idx + 1) * (1 << level) > ?", (cut,))
    code, out, _ = run(capsys, "ledger", "verify", "--institution", cli)
    # The chain itself looks whole; the stored checkpoint the service signed does not.
    assert code == 1 and "truncated" in out and "ledger_checkpoints" in out
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(kept))
    assert code == 1 and "truncated" in out

    # The service refuses to write on it: the log no longer extends the checkpoint it
    # remembers signing (beside its keys).
    assert main(["users", "add", "--institution", cli, "--full-name", "Сотрудник 9",
                 "--role", "teacher"]) != 0
    assert "truncated" in capsys.readouterr().err
    # New entries on the cut log (its memory gone too): as long as before, but not its
    # extension.
    memory = tmp_path / "keys" / "checkpoints" / f"{cli}.last"
    memory.unlink()
    add_users(cli, 3)
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(kept))
    assert code == 1 and "rewritten" in out


def test_verify_against_rejects_a_checkpoint_the_key_does_not_sign(
        cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 1)
    _, note, _ = run(capsys, "ledger", "checkpoint", "--institution", cli)
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # the size, under the log's own signature
    forged = "\n".join(lines)
    path = tmp_path / "forged.txt"
    path.write_text(forged, encoding="utf-8")
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(path))
    assert code == 1 and "REJECTED" in out


def test_no_checkpoint_is_signed_over_a_history_that_does_not_verify(
        cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 2)
    ejournal = service()
    try:
        raw = RawDb(ejournal, cli)
    finally:
        ejournal.close()
    raw.run("UPDATE {events} SET topic = topic || 'x' WHERE {nid} = (SELECT max({nid})"
            " FROM {events})")
    code, out, err = run(capsys, "ledger", "checkpoint", "--institution", cli)
    assert code == 1 and out == "" and "не подписана" in err
    assert raw.count("checkpoints") == 0


def forge_a_mark(ejournal: Ejournal, school: School) -> None:
    raw = RawDb(ejournal, school.slug)
    _, nid = raw.position_of("MarkRecorded", 1)
    state = bytes(raw.run("SELECT state FROM {events} WHERE {nid} = ?", (nid,))[0][0])
    forged = state.replace(b'"value":"4"', b'"value":"5"')
    assert forged != state
    raw.run("UPDATE {events} SET state = ? WHERE {nid} = ?", (forged, nid))


def test_links_only_verification_authenticates_through_the_signed_checkpoint(
        ejournal: Ejournal, school: School) -> None:
    marked = marked_school(school)
    ejournal.checkpoint(marked.slug)
    keyring = ledger.KeyRing.from_directory(ejournal.settings.key_dir)
    report, checkpoint = ejournal.verify_links(marked.slug, keyring)
    assert report.ok and checkpoint is not None and checkpoint.size == report.count


def test_links_only_verification_catches_an_edit_it_cannot_rehash(
        ejournal: Ejournal, school: School) -> None:
    marked = marked_school(school)
    ejournal.checkpoint(marked.slug)
    forge_a_mark(ejournal, marked)
    keyring = ledger.KeyRing.from_directory(ejournal.settings.key_dir)
    report, _ = ejournal.verify_links(marked.slug, keyring)
    assert not report.ok and report.failure is not None
    assert report.failure.kind == ledger.FailureKind.CHANGED


def by_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification in worker processes from the first entry on, in segments of 4 (the
    workers read their segments from the store themselves)."""
    import application.service
    import ledger.segments

    monkeypatch.setattr(application.service, "PARALLEL_FROM", 1)
    monkeypatch.setattr(ledger.segments, "SEGMENT", 4)


def test_verification_in_worker_processes_finds_what_one_process_finds(
        ejournal: Ejournal, school: School, monkeypatch: pytest.MonkeyPatch) -> None:
    marked = marked_school(school)
    keyring = ledger.KeyRing.from_directory(ejournal.settings.key_dir)
    whole = ejournal.verify(marked.slug, keyring)
    by_segments(monkeypatch)
    assert whole.ok and ejournal.verify(marked.slug, keyring, workers=2) == whole
    forge_a_mark(ejournal, marked)
    monkeypatch.undo()
    failed = ejournal.verify(marked.slug, keyring)
    assert not failed.ok
    by_segments(monkeypatch)
    assert ejournal.verify(marked.slug, keyring, workers=2) == failed


def test_links_only_in_worker_processes_finds_what_one_process_finds(
        ejournal: Ejournal, school: School, monkeypatch: pytest.MonkeyPatch) -> None:
    marked = marked_school(school)
    ejournal.checkpoint(marked.slug)
    keyring = ledger.KeyRing.from_directory(ejournal.settings.key_dir)
    whole = ejournal.verify_links(marked.slug, keyring)
    by_segments(monkeypatch)
    assert whole[0].ok and ejournal.verify_links(marked.slug, keyring, workers=2) == whole
    forge_a_mark(ejournal, marked)
    monkeypatch.undo()
    failed = ejournal.verify_links(marked.slug, keyring)
    assert not failed[0].ok
    by_segments(monkeypatch)
    assert ejournal.verify_links(marked.slug, keyring, workers=2) == failed


def test_verify_against_says_nothing_is_ok_when_the_log_itself_fails(
        cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_users(cli, 2)
    kept, _ = keep_checkpoint(capsys, cli, tmp_path)
    raw_db(cli).run("UPDATE {events} SET state = ? WHERE {nid} = (SELECT notification_id FROM"
            " {ledger} WHERE position = 3)", (b"{}",))
    code, out, _ = run(capsys, "ledger", "verify", "--against", str(kept))
    assert code == 1 and "FAILED at position 3" in out
    assert "OK" not in out and "NOT VERIFIED against the checkpoint" in out
