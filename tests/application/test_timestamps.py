"""RFC 3161 timestamps of signed checkpoints (ADR 0013), against a local TSA of our own
(tests/local_tsa.py: `openssl ts -reply` behind 127.0.0.1), never a network one: each
checkpoint gets a token that verifies against the TSA's root and no other, for its own
note's bytes and no other; a TSA that is down costs no checkpoint, and the token comes
later; tokens are insert-only. SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

import ledger
from api.app import DailyCheckpoints, Projections
from application.config import Settings
from application.service import Ejournal
from application.storage.layout import PostgresBackend, SQLiteBackend, schema_of
from application.timestamping import (
    TimestampUnavailable,
    load_roots,
    request_token,
    verify_token,
)
from tests.application.test_merkle_store import add_users, cli, run  # noqa: F401 - fixture
from tests.application.test_privileges import Deployment, deployment, runtime  # noqa: F401
from tests.conftest import Clock, new_slug
from tests.local_tsa import LocalTsa, start_local_tsa


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    server = start_local_tsa(tmp_path / "tsa")
    yield server
    server.stop()


def with_tsa(ejournal: Ejournal, tsa: LocalTsa, url: str | None = None) -> Ejournal:
    """The same deployment, as a runtime process configured with the TSA."""
    settings = ejournal.settings.model_copy(update={
        "tsa_url": url or tsa.url, "tsa_roots": tsa.roots, "tsa_timeout": 5.0})
    return Ejournal(settings, ejournal.clock)


def institution(ejournal: Ejournal, staff: int = 2) -> str:
    slug = new_slug()
    ejournal.create_institution(slug, "Лицей", "Europe/Moscow")
    for n in range(staff):
        ejournal.journal(slug).access.hire_staff(None, f"Сотрудник {n}", ["teacher"])
    return slug


def closed_port_url() -> str:
    import socket

    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"


def test_a_checkpoint_gets_a_token_that_verifies_against_the_tsa_root_only(
        ejournal: Ejournal, tsa: LocalTsa) -> None:
    slug = institution(ejournal)
    service = with_tsa(ejournal, tsa)
    try:
        note = service.checkpoint(slug)
        outcome = service.timestamp(slug)
        size = ledger.Checkpoint.parse(ledger.parse_note(note).text).size
        assert outcome.missing == [] and outcome.error is None
        assert [(s, o) for s, o, _ in outcome.stamped] == [(size, f"ejournal.example/{slug}")]
        latest = service.latest_timestamp(slug)
        assert latest is not None and latest[0] == note and latest[1] is not None
        token = latest[1]
        assert service.timestamp(slug).stamped == []  # nothing left to stamp
    finally:
        service.close()
    roots = load_roots(tsa.roots)
    check = verify_token(note.encode(), token, roots)
    assert check.ok, check.reason
    assert check.gen_time is not None
    assert abs(check.gen_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert "ejournal test TSA" in check.tsa and str(check).startswith("OK genTime ")
    # Another root does not vouch for this TSA.
    other = verify_token(note.encode(), token, load_roots(tsa.other_roots))
    assert not other.ok and "trusted root" in other.reason
    # Not for another note: one more byte, or the next checkpoint.
    wrong = verify_token(note.encode() + b"\n", token, roots)
    assert not wrong.ok and "other bytes" in wrong.reason
    # A damaged token, or no token at all, is a verdict, not a crash.
    damaged = bytearray(token)
    damaged[-10] ^= 1
    assert not verify_token(note.encode(), bytes(damaged), roots).ok
    assert not verify_token(note.encode(), b"not DER", roots).ok
    assert not verify_token(note.encode(), token, []).ok


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
def test_an_auditor_checks_the_token_with_openssl_alone(
        ejournal: Ejournal, tsa: LocalTsa, tmp_path: Path) -> None:
    slug = institution(ejournal)
    service = with_tsa(ejournal, tsa)
    try:
        note = service.checkpoint(slug)
        service.timestamp(slug)
        latest = service.latest_timestamp(slug)
    finally:
        service.close()
    assert latest is not None and latest[1] is not None
    (tmp_path / "note").write_bytes(note.encode())
    (tmp_path / "token.tsr").write_bytes(latest[1])
    done = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "note"),
                           "-in", str(tmp_path / "token.tsr"), "-CAfile", str(tsa.roots)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr


def test_a_tsa_that_is_down_costs_no_checkpoint_and_the_token_comes_later(
        ejournal: Ejournal, tsa: LocalTsa) -> None:
    slug = institution(ejournal)
    origin = f"ejournal.example/{slug}"
    service = with_tsa(ejournal, tsa)
    unreachable = with_tsa(ejournal, tsa, closed_port_url())
    try:
        first = service.checkpoint(slug)
        assert service.timestamp(slug).stamped
        add_users_to(service, slug)
        tsa.up = False  # HTTP 503
        second = service.checkpoint(slug)
        size = ledger.Checkpoint.parse(ledger.parse_note(second).text).size
        outcome = service.timestamp(slug)
        assert outcome.stamped == [] and outcome.missing == [(size, origin)]
        assert outcome.error is not None and "503" in outcome.error
        # The checkpoint is signed and stored all the same.
        reader = service.backend.chain_reader(slug)
        assert reader.latest_checkpoint() is not None
        assert reader.latest_checkpoint()[3] == second  # type: ignore[index]
        assert service.latest_timestamp(slug) == (second, None)
        # Nobody listening: the same, with the reason.
        outcome = unreachable.timestamp(slug)
        assert outcome.missing == [(size, origin)] and "refused" in str(outcome.error)
        tsa.up = True
        outcome = service.timestamp(slug)
        assert [(s, o) for s, o, _ in outcome.stamped] == [(size, origin)]
        assert outcome.missing == []
        latest = service.latest_timestamp(slug)
        assert latest is not None and latest[1] is not None
        assert verify_token(second.encode(), latest[1], load_roots(tsa.roots)).ok
        assert not verify_token(first.encode(), latest[1], load_roots(tsa.roots)).ok
    finally:
        unreachable.close()
        service.close()


def add_users_to(ejournal: Ejournal, slug: str) -> None:
    ejournal.journal(slug).access.hire_staff(None, "Ещё сотрудник", ["teacher"])


def test_a_reply_that_does_not_answer_the_request_is_not_stored(tsa: LocalTsa) -> None:
    with pytest.raises(TimestampUnavailable, match="not an http"):
        request_token("file:///etc/passwd", b"note", timeout=1)
    # A token from a TSA the configured roots do not trust is refused before it is kept.
    with pytest.raises(TimestampUnavailable, match="does not verify"):
        request_token(tsa.url, b"note\n", timeout=5, roots=load_roots(tsa.other_roots))
    token = request_token(tsa.url, b"note\n", timeout=5, roots=load_roots(tsa.roots))
    assert verify_token(b"note\n", token.response, load_roots(tsa.roots)).ok


def test_without_a_tsa_the_checkpoints_are_reported_unstamped(ejournal: Ejournal) -> None:
    slug = institution(ejournal)
    service = Ejournal(ejournal.settings, ejournal.clock)
    try:
        service.checkpoint(slug)
        outcome = service.timestamp(slug)
    finally:
        service.close()
    assert len(outcome.missing) == 1 and "EJOURNAL_TSA_URL" in str(outcome.error)


def test_tokens_are_append_only(ejournal: Ejournal, tsa: LocalTsa) -> None:
    slug = institution(ejournal)
    service = with_tsa(ejournal, tsa)
    try:
        service.checkpoint(slug)
        assert service.timestamp(slug).stamped
    finally:
        service.close()
    backend = ejournal.backend
    for statement in ("UPDATE {t} SET tsa = 'x'", "DELETE FROM {t}"):
        if isinstance(backend, SQLiteBackend):
            with closing(sqlite3.connect(backend.institution_file(slug))) as conn, \
                    pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement.format(t="checkpoint_timestamps"))
        else:
            assert isinstance(backend, PostgresBackend)
            with psycopg.connect(backend.url) as conn, pytest.raises(
                    errors.RaiseException, match="append-only"):
                conn.execute(statement.format(
                    t=f'"{schema_of(slug)}".checkpoint_timestamps'))


def test_the_daily_job_timestamps_and_retries_while_the_tsa_is_down(
        ejournal: Ejournal, tsa: LocalTsa) -> None:
    slug = institution(ejournal)
    service = with_tsa(ejournal, tsa)
    runners = Projections(True)
    runners.ensure(service.journal(slug))
    tsa.up = False
    job = DailyCheckpoints(service, runners, every=0.01, stamp_retry=0.2)
    job.start()
    try:
        reader = service.backend.chain_reader(slug)
        deadline = time.monotonic() + 10
        while (reader.latest_checkpoint() is None or slug not in job.stamp_at) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.latest_checkpoint() is not None  # signed although the TSA is down
        assert len(reader.untimestamped()) == 1
        tsa.up = True
        while reader.untimestamped() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.untimestamped() == [] and slug not in job.stamp_at
    finally:
        job.stop()
        runners.stop()
        job.join(5)
        service.close()


# The command line, on both databases -----------------------------------------------------
@pytest.fixture
def cli_tsa(cli: str, tsa: LocalTsa, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    from application.config import get_settings

    monkeypatch.setenv("EJOURNAL_TSA_URL", tsa.url)
    monkeypatch.setenv("EJOURNAL_TSA_ROOTS", str(tsa.roots))
    get_settings.cache_clear()
    return cli


def test_the_cli_timestamps_checkpoints_and_verifies_tokens(
        cli_tsa: str, tsa: LocalTsa, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    slug = cli_tsa
    add_users(slug, 2)
    code, note, err = run(capsys, "ledger", "checkpoint", "--institution", slug)
    assert code == 0 and note.startswith(f"ejournal.example/{slug}\n")
    assert "Метка времени" in err and "genTime" in err
    (tmp_path / "note").write_bytes(note.encode())
    token = tmp_path / "token.tsr"
    code, out, _ = run(capsys, "ledger", "timestamp", "--institution", slug,
                       "--out", str(token))
    assert code == 0 and token.stat().st_size > 0
    args = ["ledger", "verify-timestamp", "--checkpoint", str(tmp_path / "note"),
            "--token", str(token)]
    code, out, _ = run(capsys, *args, "--roots", str(tsa.roots))
    assert code == 0 and out.startswith("OK genTime ")
    code, out, _ = run(capsys, *args, "--roots", str(tsa.other_roots))
    assert code == 1 and out.startswith("FAILED: ")
    (tmp_path / "other").write_bytes(note.encode().replace(b"\n", b"\n\n", 1))
    code, out, _ = run(capsys, "ledger", "verify-timestamp", "--checkpoint",
                       str(tmp_path / "other"), "--token", str(token), "--roots",
                       str(tsa.roots))
    assert code == 1 and "other bytes" in out
    code, _, err = run(capsys, *args, "--roots", str(tmp_path / "missing.pem"))
    assert code == 2


def test_the_cli_checkpoint_stands_when_the_tsa_is_down(
        cli_tsa: str, tsa: LocalTsa, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    slug = cli_tsa
    add_users(slug, 1)
    tsa.up = False
    code, note, err = run(capsys, "ledger", "checkpoint", "--institution", slug)
    assert code == 0 and note.startswith(f"ejournal.example/{slug}\n")  # stdout: the note
    assert "Метки времени нет у 1" in err and "503" in err
    assert "ejournal ledger timestamp" in err
    # The same note again: stored, not signed anew.
    assert run(capsys, "ledger", "checkpoint", "--institution", slug)[1] == note
    code, _, err = run(capsys, "ledger", "timestamp", "--institution", slug, "--out",
                       str(tmp_path / "t.tsr"))
    assert code == 1 and not (tmp_path / "t.tsr").exists()
    tsa.up = True
    code, out, _ = run(capsys, "ledger", "timestamp", "--institution", slug, "--out",
                       str(tmp_path / "t.tsr"))
    assert code == 0 and "genTime" in out
    assert verify_token(note.encode(), (tmp_path / "t.tsr").read_bytes(),
                        load_roots(tsa.roots)).ok


# Least privilege (ADR 0007) -----------------------------------------------------------------
@pytest.mark.postgres
def test_the_runtime_role_stamps_but_cannot_change_or_remove_tokens(
        deployment: Deployment, tsa: LocalTsa, clock: Clock) -> None:  # noqa: F811
    slug = deployment.school.slug
    service = runtime(deployment, clock)
    service.settings = service.settings.model_copy(update={
        "tsa_url": tsa.url, "tsa_roots": tsa.roots})
    try:
        service.checkpoint(slug)
        assert service.timestamp(slug).stamped  # SELECT, INSERT: granted
    finally:
        service.close()
    table = f'"{schema_of(slug)}".checkpoint_timestamps'
    for statement in (f"UPDATE {table} SET tsa = 'x'", f"DELETE FROM {table}",
                      f"TRUNCATE {table}", f"ALTER TABLE {table} DISABLE TRIGGER ALL",
                      f"DROP TABLE {table}"):
        with psycopg.connect(deployment.runtime_url) as conn, pytest.raises(
                errors.InsufficientPrivilege):
            conn.execute(statement)
    with psycopg.connect(deployment.runtime_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


def test_settings_read_the_tsa_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EJOURNAL_TSA_URL", "http://tsa.example/")
    monkeypatch.setenv("EJOURNAL_TSA_ROOTS", "/etc/ejournal/tsa-roots.pem")
    settings = Settings()
    assert settings.tsa_url == "http://tsa.example/"
    assert settings.tsa_roots == Path("/etc/ejournal/tsa-roots.pem")
    assert Settings(_env_file=None).tsa_timeout == 10.0


def test_a_tsa_url_urllib_cannot_parse_is_unavailable_not_a_crash() -> None:
    from application.timestamping import TimestampUnavailable, request_token

    with pytest.raises(TimestampUnavailable):
        request_token("http://[::1", b"note", timeout=1.0)
