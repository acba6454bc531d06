"""`ejournal backup` and `ejournal restore` end to end: through `main` on SQLite, through
the installed console script, and on PostgreSQL with the runtime role for the backup
and the owner for the restore."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from api.cli import main
from application.config import get_settings


def use(monkeypatch: pytest.MonkeyPatch, url: str, owner: str | None = None) -> None:
    monkeypatch.setenv("EJOURNAL_DATABASE_URL", url)
    if owner:
        monkeypatch.setenv("EJOURNAL_OWNER_DATABASE_URL", owner)
    else:
        monkeypatch.delenv("EJOURNAL_OWNER_DATABASE_URL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("EJOURNAL_KEY_DIR", str(tmp_path / "keys"))
    use(monkeypatch, f"sqlite:///{tmp_path / 'a' / 'e.sqlite3'}")
    yield tmp_path
    get_settings.cache_clear()


def lyceum_with_a_director(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--institution", "lyceum", "--name", "Лицей № 1",
                 "--timezone", "Europe/Moscow"]) == 0
    assert main(["users", "add", "--institution", "lyceum", "--full-name",
                 "Борпер Татьяна Семёновна", "--role", "director"]) == 0
    assert main(["ledger", "checkpoint", "--institution", "lyceum"]) == 0
    capsys.readouterr()


def test_backup_then_restore_into_a_fresh_deployment_then_refuse_a_second_restore(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    lyceum_with_a_director(capsys)
    out = env / "lyceum.ejbackup"
    assert main(["backup", "--institution", "lyceum", "--out", str(out)]) == 0
    assert "организация lyceum, событий 4" in capsys.readouterr().out

    use(monkeypatch, f"sqlite:///{env / 'b' / 'e.sqlite3'}")
    assert main(["restore", str(out)]) == 0
    assert "OK 4 entries" in capsys.readouterr().out
    assert main(["ledger", "verify", "--institution", "lyceum"]) == 0
    assert "lyceum: OK 4 entries" in capsys.readouterr().out
    # The restored institution serves: a new token, a new ledgered event.
    assert main(["users", "add", "--institution", "lyceum", "--full-name",
                 "Ахметов Руслан Ильдарович", "--role", "admin"]) == 0
    assert main(["ledger", "verify", "--institution", "lyceum"]) == 0
    assert "lyceum: OK 7 entries" in capsys.readouterr().out

    assert main(["restore", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Восстановление отклонено" in err and "не перезаписывает" in err


def test_restore_refuses_a_corrupted_file_and_loads_nothing(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    lyceum_with_a_director(capsys)
    out = env / "lyceum.ejbackup"
    main(["backup", "--institution", "lyceum", "--out", str(out)])
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x20
    out.write_bytes(data)

    use(monkeypatch, f"sqlite:///{env / 'b' / 'e.sqlite3'}")
    assert main(["restore", str(out)]) == 1
    assert "повреждён" in capsys.readouterr().err
    assert sorted(p.name for p in (env / "b").iterdir()) == ["e.sqlite3"]


def test_the_console_script_refuses_to_overwrite_a_live_institution(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum_with_a_director(capsys)
    out = env / "lyceum.ejbackup"
    main(["backup", "--institution", "lyceum", "--out", str(out)])
    script = Path(sys.executable).parent / "ejournal"
    result = subprocess.run([str(script), "restore", str(out)], capture_output=True,
                            text=True, env=dict(os.environ))
    assert result.returncode == 1
    assert "Организация «lyceum» уже ведёт журнал" in result.stderr


@pytest.mark.postgres
def test_postgres_backup_as_the_runtime_role_and_restore_as_the_owner(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        postgres_url: str) -> None:
    tag = secrets.token_hex(4)
    role, source, target = f"ej_rt_{tag}", f"ejtest_src_{tag}", f"ejtest_dst_{tag}"
    parts = urlsplit(postgres_url)

    def url(database: str, user: str | None = None) -> str:
        netloc = f"{user}@{parts.hostname}:{parts.port or 5432}" if user else parts.netloc
        return urlunsplit(parts._replace(path=f"/{database}", netloc=netloc))

    try:
        use(monkeypatch, url(source, role), owner=url(source))
        lyceum_with_a_director(capsys)  # init creates the database and the runtime role
        out = env / "lyceum.ejbackup"
        # SELECT is all the backup needs: the runtime role's URL.
        monkeypatch.delenv("EJOURNAL_OWNER_DATABASE_URL")
        get_settings.cache_clear()
        assert main(["backup", "--institution", "lyceum", "--out", str(out)]) == 0

        use(monkeypatch, url(target, role), owner=url(target))
        assert main(["init"]) == 0
        assert main(["restore", str(out)]) == 0
        assert "OK 4 entries" in capsys.readouterr().out
        # The runtime role was granted the restored tables: it writes on.
        assert main(["users", "add", "--institution", "lyceum", "--full-name",
                     "Ахметов Руслан Ильдарович", "--role", "admin"]) == 0
        assert main(["ledger", "verify", "--institution", "lyceum"]) == 0
        assert "lyceum: OK 7 entries" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for database in (source, target):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
def test_restore_into_a_postgres_database_that_does_not_exist_says_so_at_once(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        postgres_url: str) -> None:
    lyceum_with_a_director(capsys)
    out = env / "lyceum.ejbackup"
    assert main(["backup", "--institution", "lyceum", "--out", str(out)]) == 0
    missing = f"ejtest_absent_{secrets.token_hex(4)}"
    use(monkeypatch, urlunsplit(urlsplit(postgres_url)._replace(path=f"/{missing}")))
    capsys.readouterr()

    started = time.monotonic()
    assert main(["restore", str(out)]) == 2
    assert time.monotonic() - started < 10  # not the pool's 30 s wait
    captured = capsys.readouterr()
    assert f"база данных «{missing}» недоступна" in captured.err
    assert "ejournal init" in captured.err and "Traceback" not in captured.err
    with psycopg.connect(postgres_url) as conn:  # nothing was created
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (missing,)).fetchone() is None


def test_restore_refuses_deeply_nested_json_with_a_message(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    import hashlib

    from application.backup import TRAILER

    lyceum_with_a_director(capsys)
    out = env / "lyceum.ejbackup"
    main(["backup", "--institution", "lyceum", "--out", str(out)])
    lines = out.read_bytes().splitlines(keepends=True)[:-1]
    lines[2] = b"[" * 200_000 + b"\n"  # the first event's row
    data = b"".join(lines)
    out.write_bytes(data + TRAILER % hashlib.sha256(data).hexdigest().encode())

    use(monkeypatch, f"sqlite:///{env / 'b' / 'e.sqlite3'}")
    assert main(["restore", str(out)]) == 1
    err = capsys.readouterr().err
    assert "не читается" in err and "RecursionError" not in err
    assert sorted(p.name for p in (env / "b").iterdir()) == ["e.sqlite3"]


def test_restore_of_a_missing_file_is_bad_input_exit_2(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["restore", str(env / "absent.ejbackup")]) == 2
    err = capsys.readouterr().err
    assert "нет файла" in err and "Traceback" not in err
