"""The `ejournal` command line, end to end on a real SQLite file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from api.cli import main
from application.config import get_settings
from application.service import Ejournal, Unauthenticated
from tests.application.rawdb import RawDb


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EJOURNAL_DATABASE_URL", f"sqlite:///{tmp_path / 'e.sqlite3'}")
    monkeypatch.setenv("EJOURNAL_KEY_DIR", str(tmp_path / "keys"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_init_creates_a_private_key_directory(env: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    assert main(["init", "--institution", "lyceum", "--name", "Лицей № 1",
                 "--timezone", "Asia/Tomsk"]) == 0
    keys = env / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    private = next(keys.glob("*.key"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "Лицей № 1" in capsys.readouterr().out


def test_users_add_prints_a_token_once_and_stores_only_its_hash(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    assert main(["users", "add", "--institution", "lyceum", "--full-name",
                 "Борпер Татьяна Семёновна", "--role", "director"]) == 0
    token = capsys.readouterr().out.split("token: ")[1].split()[0]
    directory = (env / "e.sqlite3").read_bytes()
    assert token.startswith("ej_") and token.encode() not in directory


def test_users_revoke_ends_every_token_of_the_person(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    main(["users", "add", "--institution", "lyceum", "--full-name", "Борпер Т. С.",
          "--role", "teacher"])
    out = capsys.readouterr().out
    person_id, token = out.split("person_id: ")[1].split()[0], out.split("token: ")[1].split()[0]
    main(["users", "add", "--institution", "lyceum", "--person-id", person_id])
    second = capsys.readouterr().out.split("token: ")[1].split()[0]
    assert main(["users", "revoke", "--institution", "lyceum", "--person-id", person_id,
                 "--reason", "Приказ об увольнении № 12-к"]) == 0
    assert "Отозвано токенов: 2" in capsys.readouterr().out
    service = Ejournal(get_settings())
    try:
        for revoked in (token, second):
            with pytest.raises(Unauthenticated):
                service.authenticate(revoked)
    finally:
        service.close()


def test_ledger_verify_says_ok_then_names_the_tampered_position(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    main(["users", "add", "--institution", "lyceum", "--full-name", "Иванов И. И.",
          "--role", "admin"])
    capsys.readouterr()
    assert main(["ledger", "verify"]) == 0
    assert "lyceum: OK 4 entries" in capsys.readouterr().out

    from application.config import Settings
    from application.service import Ejournal

    ejournal = Ejournal(Settings(), require_signer=False)
    raw = RawDb(ejournal, "lyceum")
    raw.run("UPDATE {events} SET state = replace(state, 'Иванов', 'Петров')")
    ejournal.close()
    assert main(["ledger", "verify", "--institution", "lyceum"]) == 1
    assert "FAILED at position 2: changed" in capsys.readouterr().out


def test_an_auditor_verifies_an_export_with_public_keys_only(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    main(["users", "add", "--institution", "lyceum", "--full-name", "Иванов И. И.",
          "--role", "admin"])
    export = env / "lyceum.jsonl"
    assert main(["ledger", "export", "--institution", "lyceum", "--output", str(export)]) == 0
    public = env / "public"
    public.mkdir(mode=0o700)
    for pub in [*(env / "keys").glob("*.pub"), env / "keys" / "KEYS"]:
        (public / pub.name).write_bytes(pub.read_bytes())
    result = subprocess.run([sys.executable, "-m", "ledger", "verify", str(export), "--keys",
                             str(public)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK 4 entries, head 4:")


def test_demo_prints_the_ids_the_readme_examples_need(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    tokens = dict(line.split() for line in out.split("(Authorization: Bearer …):\n")[1]
                  .split("Идентификаторы")[0].strip().splitlines())
    ids = dict(line.split() for line in out.split("teacher ведёт её):\n")[1].strip()
               .splitlines())
    assert set(ids) == {"group_id", "discipline_id", "assignment_id", "student_id",
                        "lesson_id"}
    service = Ejournal(get_settings())
    try:
        actor, journal = service.authenticate(tokens["teacher"])
        page = journal.reads.journal_sources(actor, UUID(ids["group_id"]),
                                             UUID(ids["discipline_id"]), 1)
        assert UUID(ids["lesson_id"]) in {lesson.id for lesson in page.lessons}
        assert UUID(ids["student_id"]) in page.group.members
    finally:
        service.close()


def test_ledger_verify_with_an_unsafe_key_directory_says_so_and_exits_2(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    os.chmod(env / "keys", 0o777)
    assert main(["ledger", "verify"]) == 2
    assert "Ключи не приняты" in capsys.readouterr().err


def test_users_add_appoints_an_auditor_whose_token_reads_only_the_record(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    assert main(["users", "add", "--institution", "lyceum", "--full-name", "Орлова Вера",
                 "--role", "auditor", "--basis", "Приказ учредителя № 12"]) == 0
    token = capsys.readouterr().out.split("token: ")[1].split()[0]
    ejournal = Ejournal(get_settings())
    try:
        actor, _ = ejournal.authenticate(token)
        assert (actor.kind, {r.value for r in actor.roles}) == ("auditor", {"auditor"})
        assert not actor.is_staff and not actor.reads_everything()
    finally:
        ejournal.close()


def test_an_auditor_is_appointed_with_a_basis_and_no_staff_role(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    assert main(["users", "add", "--institution", "lyceum", "--full-name", "Орлова Вера",
                 "--role", "auditor"]) == 2
    assert main(["users", "add", "--institution", "lyceum", "--full-name", "Орлова Вера",
                 "--role", "auditor", "--role", "director", "--basis", "Приказ"]) == 2


def test_archive_export_writes_a_package_that_archive_verify_accepts(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["demo"]) == 0
    capsys.readouterr()
    out = env / "archive" / "demo-2026.zip"
    year = Ejournal(get_settings())
    try:
        title = next(iter(year.journal("demo").institution().years.values())).title
    finally:
        year.close()
    assert main(["archive", "export", "--institution", "demo", "--year", title,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "ejournal.example/demo" in printed
    assert main(["archive", "verify", str(out), "--keys", str(env / "keys")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        f"OK {out.name}: log ejournal.example/demo (institution demo), academic year "
        f"{title}, entries 1..")
    out.write_bytes(out.read_bytes()[:-100])  # cut short
    assert main(["archive", "verify", str(out)]) == 1


def test_archive_open_loads_the_demo_year_read_only_with_a_pinned_key(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0 and main(["demo"]) == 0
    year = Ejournal(get_settings())
    try:
        title = next(iter(year.journal("demo").institution().years.values())).title
    finally:
        year.close()
    package = env / "demo.zip"
    assert main(["archive", "export", "--institution", "demo", "--year", title,
                 "--out", str(package)]) == 0
    capsys.readouterr()
    # No key of the auditor's: refused before anything is loaded.
    assert "ключ проверки" in refused(capsys, "archive", "open", str(package), "--dir",
                                      str(env / "opened"), "--no-serve")
    assert main(["archive", "open", str(package), "--dir", str(env / "opened"),
                 "--keys", str(env / "keys"), "--no-serve"]) == 0
    assert "открыт" in capsys.readouterr().out
    assert (env / "opened" / "opened.json").is_file()


# Bad input is a clear Russian message and exit code 2, never a traceback ---------------
def lyceum(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--institution", "lyceum", "--name", "Лицей",
                 "--timezone", "Europe/Moscow"]) == 0
    assert main(["institutions", "add", "gymnasium", "--name", "Гимназия",
                 "--timezone", "Europe/Moscow"]) == 0
    capsys.readouterr()


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Runs the command, which must exit 2 printing nothing on stdout; its stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), (argv, code, out, err)
    assert "Traceback" not in err and err.strip(), err
    return err


def test_an_origin_that_is_not_a_key_name_is_refused(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum(capsys)
    for command in ("verifier-key", "checkpoint"):
        for origin in ("a+b", "a b", ""):
            err = refused(capsys, "ledger", command, "--institution", "lyceum",
                          "--origin", origin)
            assert "Имя журнала" in err


def test_an_origin_naming_another_institutions_log_is_refused(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The key is the deployment's: a checkpoint of this institution's tree under the
    other's log name would verify with the other's published verifier key."""
    lyceum(capsys)
    for origin in ("ejournal.example/gymnasium", "elsewhere.example/gymnasium", "gymnasium"):
        for command in ("checkpoint", "verifier-key"):
            err = refused(capsys, "ledger", command, "--institution", "lyceum",
                          "--origin", origin)
            assert "gymnasium" in err
    assert main(["ledger", "checkpoint", "--institution", "lyceum",
                 "--origin", "journal.lyceum.example/lyceum"]) == 0
    assert capsys.readouterr().out.startswith("journal.lyceum.example/lyceum\n")


def test_checkpoints_under_two_origins_of_one_tree_size_are_both_kept(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was an IntegrityError (UNIQUE size, origin) signing the default origin again after
    another one at the same size."""
    lyceum(capsys)
    notes = []
    for origin in ([], ["--origin", "journal.lyceum.example/lyceum"], [], ["--origin",
                   "journal.lyceum.example/lyceum"]):
        assert main(["ledger", "checkpoint", "--institution", "lyceum", *origin]) == 0
        notes.append(capsys.readouterr().out)
    assert notes[0] == notes[2] and notes[1] == notes[3] and notes[0] != notes[1]


def test_an_unknown_institution_is_named(env: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    lyceum(capsys)
    for argv in (["ledger", "verifier-key", "--institution", "nope"],
                 ["ledger", "checkpoint", "--institution", "nope"],
                 ["ledger", "export", "--institution", "nope", "--output",
                  str(env / "x.jsonl")],
                 ["statements", "movement", "--institution", "nope", "--from", "2026-09-01",
                  "--to", "2026-10-01", "--out", str(env / "x.json")]):
        assert "Организация «nope» не найдена." in refused(capsys, *argv)


def test_an_unwritable_output_is_named_and_nothing_is_built(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum(capsys)
    missing = env / "missing" / "x.json"
    for out in (missing, env):  # a directory that does not exist; a directory
        err = refused(capsys, "statements", "movement", "--institution", "lyceum",
                      "--from", "2026-09-01", "--to", "2026-10-01", "--format", "json",
                      "--out", str(out))
        assert str(out) in err
        err = refused(capsys, "ledger", "export", "--institution", "lyceum",
                      "--output", str(out))
        assert str(out) in err
    assert not missing.parent.exists()


def test_a_bad_person_id_or_date_is_a_clear_error(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum(capsys)
    assert "--person-id" in refused(capsys, "users", "add", "--institution", "lyceum",
                                    "--person-id", "xyz", "--kind", "student")
    assert "--person-id" in refused(capsys, "users", "revoke", "--institution", "lyceum",
                                    "--person-id", "xyz", "--reason", "Утеря")
    for first, last in (("2026-13-01", "2026-10-01"), ("2026-09-01", "10.10.2026")):
        assert "ГГГГ-ММ-ДД" in refused(capsys, "statements", "movement", "--institution",
                                       "lyceum", "--from", first, "--to", last,
                                       "--out", str(env / "x.json"))


def test_an_unusable_key_directory_is_a_clear_error(
        env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    lyceum(capsys)
    os.chmod(env / "keys", 0o777)
    try:
        assert "chmod 700" in refused(capsys, "ledger", "verifier-key", "--institution",
                                      "lyceum")
    finally:
        os.chmod(env / "keys", 0o700)
    (env / "file").write_text("")
    monkeypatch.setenv("EJOURNAL_KEY_DIR", str(env / "file" / "keys"))
    get_settings.cache_clear()
    for argv in (["ledger", "checkpoint", "--institution", "lyceum"],
                 ["ledger", "rotate-key", "--basis", "Приказ № 1"]):
        assert str(env / "file") in refused(capsys, *argv)


def test_verify_against_an_empty_file_or_not_a_checkpoint_says_so(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum(capsys)
    empty = env / "empty.txt"
    empty.write_text("")
    assert "пуст" in refused(capsys, "ledger", "verify", "--against", str(empty))
    assert "пуст" in refused(capsys, "ledger", "verify", "--against", "/dev/null")
    text = env / "text.txt"
    text.write_text("hello\n")
    assert "не контрольная точка" in refused(capsys, "ledger", "verify", "--against",
                                             str(text))
    binary = env / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "не контрольная точка" in refused(capsys, "ledger", "verify", "--against",
                                             str(binary))
    assert str(env / "nothing") in refused(capsys, "ledger", "verify", "--against",
                                           str(env / "nothing"))


def test_a_verifier_key_is_taken_as_text_or_from_a_file(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lyceum(capsys)
    assert main(["ledger", "verifier-key", "--institution", "lyceum"]) == 0
    vkey = capsys.readouterr().out
    assert main(["ledger", "checkpoint", "--institution", "lyceum"]) == 0
    kept = env / "checkpoint.txt"
    kept.write_text(capsys.readouterr().out, encoding="utf-8")
    key_file = env / "vkey.txt"
    key_file.write_text(vkey, encoding="utf-8")
    for key in (vkey.strip(), str(key_file)):
        assert main(["ledger", "verify", "--against", str(kept), "--verifier-key", key]) == 0
        assert "OK the log extends the checkpoint" in capsys.readouterr().out
    err = refused(capsys, "ledger", "verify", "--against", str(kept), "--verifier-key",
                  "nonsense")
    assert "nonsense" in err and "ни ключ" in err
    bad = env / "bad.txt"
    bad.write_text("nonsense\n")
    assert str(bad) in refused(capsys, "ledger", "verify", "--against", str(kept),
                               "--verifier-key", str(bad))


def test_an_archive_is_written_for_its_owner_only(env: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0 and main(["demo"]) == 0
    year = Ejournal(get_settings())
    try:
        title = next(iter(year.journal("demo").institution().years.values())).title
    finally:
        year.close()
    out = env / "demo.zip"
    assert main(["archive", "export", "--institution", "demo", "--year", title,
                 "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # An output that is a directory is refused before anything is built.
    capsys.readouterr()
    assert main(["archive", "export", "--institution", "demo", "--year", title,
                 "--out", str(env)]) == 2
    assert "каталог" in capsys.readouterr().err


def test_links_only_verification_without_a_signed_checkpoint_exits_1(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", "--institution", "lyceum", "--name", "Лицей", "--timezone", "Europe/Moscow"])
    assert main(["ledger", "verify", "--institution", "lyceum", "--links-only"]) == 1
    assert "nothing authenticated" in capsys.readouterr().out
    assert main(["ledger", "checkpoint", "--institution", "lyceum"]) == 0
    assert main(["ledger", "verify", "--institution", "lyceum", "--links-only"]) == 0


def test_timestamping_an_unknown_institution_is_a_clear_error(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init"])
    assert main(["ledger", "timestamp", "--institution", "nope"]) == 2
    assert "не найдена" in capsys.readouterr().err


def test_a_malformed_setting_is_a_clear_error(env: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EJOURNAL_TSA_TIMEOUT", "abc")
    get_settings.cache_clear()
    assert main(["ledger", "verify"]) == 2
    assert "EJOURNAL_TSA_TIMEOUT" in capsys.readouterr().err


def test_archive_open_of_a_directory_without_an_opened_archive_is_refused(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "нет открытого архива" in refused(capsys, "archive", "open", "--dir",
                                             str(env / "nonexistent"), "--no-serve")


@pytest.mark.parametrize("workers", ["0", "-3", "100000"])
def test_ledger_verify_refuses_a_number_of_workers_out_of_range(
        env: Path, capsys: pytest.CaptureFixture[str], workers: str) -> None:
    main(["init"])
    capsys.readouterr()
    assert "--workers" in refused(capsys, "ledger", "verify", f"--workers={workers}")
