"""The `ejournal` command line."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit
from uuid import UUID

from pydantic import ValidationError

import ledger
from application.config import Settings, get_settings
from application.integrity import IntegrityAlarm
from application.service import CheckpointRefused, Ejournal, NotExtended, ensure_key
from application.storage.layout import PostgresBackend, ensure_database
from application.storage.tree import TreeIncomplete
from application.timestamping import TimestampOutcome, load_roots, verify_token
from domain.errors import DomainError, InvalidValue


def _open(settings: Settings, *, owner: bool = False) -> Ejournal:
    """`owner`: set-up commands, connected as the owner of the schemas."""
    ensure_key(settings.key_dir)
    return Ejournal(settings, owner=owner)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    key_id = ensure_key(settings.key_dir)
    if ensure_database(settings.owner_url):
        print(f"Создана база данных {_safe(settings.owner_url)}")
    ejournal = Ejournal(settings, owner=True)
    try:
        print(f"База данных: {ejournal.backend.kind} ({_safe(settings.owner_url)})")
        print(f"Ключ подписи: {key_id} (каталог {settings.key_dir})")
        role = args.runtime_role or settings.runtime_role()
        if role and isinstance(ejournal.backend, PostgresBackend):
            ejournal.backend.add_runtime_role(role, args.runtime_password)
            print(f"Роль сервиса: {role} (только чтение и добавление записей)")
        if args.institution:
            ejournal.create_institution(args.institution, args.name, args.timezone)
            print(f"Организация «{args.name}» создана: код {args.institution}")
    finally:
        ejournal.close()
    return 0


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        report = ejournal.rotate_signing_key(args.basis)
    finally:
        ejournal.close()
    print(f"Новый активный ключ: {report.successor}.")
    print("Смена ключа объявлена в журналах: " + (", ".join(report.announced) or "нет"))
    print("Закрытые ключи уничтожены (больше не подписывают): "
          + (", ".join(report.destroyed) or "нет"))
    print("Открытые ключи сохранены: прежние записи проверяются по-прежнему.")
    if report.read_only:
        print("Только для чтения (действующий в них ключ выведен из действия раньше, "
              "например после восстановления старой копии): " + ", ".join(report.read_only))
    for slug, why in report.failed.items():
        print(f"Не объявлена в журнале «{slug}»: {why}", file=sys.stderr)
    if report.failed:
        print("Прежние закрытые ключи сохранены: повторите смену ключа, когда журналы "
              "будут исправны.", file=sys.stderr)
        return 1
    return 0


def cmd_institutions_add(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings, owner=True)
    try:
        ejournal.create_institution(args.slug, args.name, args.timezone)
        print(f"Организация «{args.name}» создана: код {args.slug}")
    finally:
        ejournal.close()
    return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        if args.person_id:
            person_id, kind = _uuid(args.person_id, "--person-id"), args.kind
        else:
            if not args.full_name or not args.role:
                print("Укажите --person-id или --full-name и --role.", file=sys.stderr)
                return 2
            access = ejournal.journal(args.institution).access
            if "auditor" in args.role:
                if len(args.role) > 1 or not args.basis:
                    print("Проверяющий назначается отдельно от ролей сотрудников, с "
                          "основанием: --role auditor --full-name … --basis «приказ …».",
                          file=sys.stderr)
                    return 2
                person_id, kind = access.appoint_auditor(None, args.full_name,
                                                         args.basis), "auditor"
            else:
                person_id, kind = access.hire_staff(None, args.full_name, args.role), "staff"
        token = ejournal.issue_token(args.institution, person_id, kind)
        print(f"person_id: {person_id}")
        print(f"token: {token}")
        print("Токен показан один раз: сохраните его.", file=sys.stderr)
    finally:
        ejournal.close()
    return 0


def cmd_users_revoke(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        count = ejournal.revoke_tokens(args.institution, _uuid(args.person_id, "--person-id"),
                                       args.reason)
        print(f"Отозвано токенов: {count}")
    finally:
        ejournal.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from api.demo import load_demo

    slug = args.slug or ("college" if args.size == "year" else "demo")
    clock = None
    if args.size == "year":
        from api.demo_year import SimulatedClock, load_year

        clock = SimulatedClock()
    ensure_key(settings.key_dir)
    ejournal = Ejournal(settings, clock=clock, owner=True) if clock else _open(settings,
                                                                                owner=True)
    try:
        if ejournal.backend.directory.institution(slug):
            print(f"Демо-организация «{slug}» уже загружена (токены были показаны при "
                  f"загрузке). Новый токен: ejournal users add --institution {slug} …")
            return 0
        started = time.monotonic()
        if clock is not None:
            print(f"Загрузка учебного года колледжа «{slug}» (seed {args.seed})…", flush=True)
            loaded, counts = load_year(ejournal, clock, slug, args.seed)
            print("Загружено: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                  + f" за {time.monotonic() - started:.0f} с")
        else:
            print("Загрузка демо-организации…", flush=True)
            loaded = load_demo(ejournal, slug, args.seed)
        print("Токены демо-пользователей (Authorization: Bearer …):")
        for role, token in loaded.tokens.items():
            print(f"  {role:9} {token}")
        print("Идентификаторы для примеров (группа, математика; teacher ведёт её):")
        for name, value in loaded.ids.items():
            print(f"  {name:13} {value}")
    finally:
        ejournal.close()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    if args.workers > 1:
        # Each worker process opens its own deployment from the environment (ADR 0005:
        # several processes may serve one database).
        ensure_key(settings.key_dir)
        uvicorn.run("api.app:from_environment", factory=True, host=args.host,
                    port=args.port, workers=args.workers, log_level="warning")
        return 0
    ejournal = _open(settings)
    try:
        uvicorn.run(create_app(ejournal, projections=True), host=args.host, port=args.port)
    finally:
        ejournal.close()
    return 0


MAX_VERIFY_WORKERS = 64  # more processes than this only add start-up and memory


def cmd_ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.workers <= MAX_VERIFY_WORKERS:
        print(f"Ошибка: --workers: ожидается число процессов от 1 до {MAX_VERIFY_WORKERS}, "
              f"а не {args.workers}.", file=sys.stderr)
        return 2
    keys = Path(args.keys) if args.keys else settings.key_dir
    try:
        keyring = ledger.KeyRing.from_directory(keys)
    except ledger.LedgerError as error:
        print(f"Ключи не приняты: {error}", file=sys.stderr)
        return 2
    against = None
    if args.against:
        path = Path(args.against)
        try:
            raw = path.read_bytes()
        except OSError as error:
            print(f"Контрольная точка не принята: не удалось прочитать «{path}»: "
                  f"{_os_reason(error)}.", file=sys.stderr)
            return 2
        if not raw.strip():
            print(f"Контрольная точка не принята: файл «{path}» пуст — это не контрольная "
                  "точка.", file=sys.stderr)
            return 2
        try:
            note = raw.decode("utf-8")
            origin = ledger.Checkpoint.parse(ledger.parse_note(note).text).origin
        except (UnicodeDecodeError, ledger.NoteError) as error:
            detail = "не текст UTF-8" if isinstance(error, UnicodeDecodeError) else error
            print(f"Контрольная точка не принята: «{path}» — не контрольная точка "
                  f"(подписанная заметка C2SP, как печатает ejournal ledger checkpoint): "
                  f"{detail}.", file=sys.stderr)
            return 2
        try:
            verifiers = (_verifier_keys(args.verifier_key) if args.verifier_key
                         else keyring.note_verifiers(origin))
        except (InvalidValue, ledger.NoteError) as error:
            print(f"Ключ проверки не принят: {getattr(error, 'message', error)}",
                  file=sys.stderr)
            return 2
        against = (note, verifiers)
        if not args.institution:  # the log's name ends in the institution's code
            args.institution = origin.rsplit("/", 1)[-1]
    # Verification needs no private key: an auditor passes --keys with public keys only.
    ejournal = Ejournal(settings, require_signer=False)
    failed = False
    try:
        slugs = [args.institution] if args.institution else [
            i.slug for i in ejournal.institutions()]
        if not slugs:
            print("Нет ни одной организации.")
        for slug in slugs:
            started = time.monotonic()

            def progress(n: int, slug: str = slug) -> None:
                print(f"  {slug}: проверено {n} записей…", file=sys.stderr, flush=True)

            if args.links_only:
                links, checkpoint = ejournal.verify_links(slug, keyring, progress=progress,
                                                          workers=args.workers)
                seconds = time.monotonic() - started
                if not links.ok:
                    failed = True
                    f = links.failure
                    assert f is not None
                    print(f"{slug}: FAILED at position {f.position}: {f.kind.value}: "
                          f"{f.detail}")
                    continue
                signed = (f"entries 1..{checkpoint.size} authenticated by the checkpoint "
                          f"signed for {checkpoint.origin}" if checkpoint else
                          "no signed checkpoint: nothing authenticated (exit 1; sign one "
                          "with `ejournal ledger checkpoint`, or verify every signature)")
                failed = failed or checkpoint is None
                rest = links.count - (checkpoint.size if checkpoint else 0)
                print(f"{slug}: LINKS OK {links.count} entries, head {links.head.position}:"
                      f"{links.head.entry_hash.hex()} ({seconds:.1f} s); {signed}"
                      + (f"; the last {rest} linked only" if rest else ""))
                continue
            report = ejournal.verify(slug, keyring, progress=progress, workers=args.workers)
            seconds = time.monotonic() - started
            if report.ok:
                print(f"{slug}: OK {report.count} entries, head "
                      f"{report.head.position}:{report.head.entry_hash.hex()} ({seconds:.1f} s)")
            else:
                failed = True
                f = report.failure
                assert f is not None
                print(f"{slug}: FAILED at position {f.position}: {f.kind.value}: {f.detail}")
        if against is not None:
            failed = not _verify_against(ejournal, slugs[0], *against,
                                         log_failed=failed) or failed
    finally:
        ejournal.close()
    return 1 if failed else 0


def _verifier_keys(values: Sequence[str]) -> list[ledger.NoteVerifier]:
    """Each --verifier-key: the key's text (`<name>+<id>+<key>`), or the path of a file
    holding it (one key a line, as `ejournal ledger verifier-key` prints it)."""
    found = []
    for value in values:
        try:
            found.append(ledger.parse_vkey(value.strip()))
            continue
        except ledger.NoteError:
            path = Path(value)
        if not path.is_file():
            raise InvalidValue(f"«{value}» — ни ключ проверки (<имя журнала>+<id>+<ключ>, как "
                               "печатает ejournal ledger verifier-key), ни файл с ним.")
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            reason = _os_reason(error) if isinstance(error, OSError) else "не текст UTF-8"
            raise InvalidValue(f"не удалось прочитать «{path}»: {reason}.") from None
        if not lines:
            raise InvalidValue(f"файл «{path}» пуст: в нём нет ключа проверки.")
        try:
            found.extend(ledger.parse_vkey(line) for line in lines)
        except ledger.NoteError as error:
            raise InvalidValue(f"файл «{path}» — не ключ проверки: {error}.") from None
    return found


def _verify_against(ejournal: Ejournal, slug: str, note: str,
                    verifiers: list[ledger.NoteVerifier], *, log_failed: bool = False) -> bool:
    """The current log extends the auditor's checkpoint (consistency proof, ADR 0011).
    With `log_failed` (the log's own verification failed above), a stored tree that
    extends it is said to be only that: nothing is OK."""
    try:
        checkpoint = ejournal.verify_against(slug, note, verifiers)
    except ledger.NoteError as error:
        print(f"{slug}: checkpoint REJECTED: {error}")
        return False
    except NotExtended as error:
        print(f"FAILED: {error}")
        return False
    if log_failed:
        print(f"{slug}: NOT VERIFIED against the checkpoint {checkpoint.origin} of size "
              f"{checkpoint.size}: the stored Merkle tree extends it, but the log itself "
              "failed verification (above)")
        return False
    print(f"{slug}: OK the log extends the checkpoint {checkpoint.origin} of size "
          f"{checkpoint.size}")
    return True


def cmd_ledger_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        note = ejournal.checkpoint(args.institution, args.origin)
        if settings.tsa_url:  # ADR 0013: a token, or a warning; the checkpoint stands
            try:
                _report_timestamps(ejournal.timestamp(args.institution), sys.stderr)
            except Exception as error:  # e.g. the store: still no reason to hide the note
                print(f"Метка времени не получена: {error!r}", file=sys.stderr)
    except (CheckpointRefused, TreeIncomplete, IntegrityAlarm) as error:
        print(f"Контрольная точка не подписана: {error}", file=sys.stderr)
        return 1
    finally:
        ejournal.close()
    sys.stdout.write(note)  # the signed note exactly
    return 0


def _report_timestamps(outcome: TimestampOutcome, out: TextIO) -> None:
    for size, origin, gen_time in outcome.stamped:
        print(f"Метка времени: {origin} size {size}, genTime {gen_time.isoformat()}",
              file=out)
    if outcome.missing:
        print(f"Метки времени нет у {len(outcome.missing)} контрольных точек (последняя: "
              f"{outcome.missing[-1][1]} size {outcome.missing[-1][0]}): {outcome.error}. "
              "Повторить: ejournal ledger timestamp --institution …", file=sys.stderr)


def cmd_ledger_timestamp(args: argparse.Namespace, settings: Settings) -> int:
    """Tokens for the checkpoints that have none (ADR 0013); --out: the latest one's."""
    ejournal = _open(settings)
    try:
        if ejournal.backend.directory.institution(args.institution) is None:
            print(f"Организация «{args.institution}» не найдена.", file=sys.stderr)
            return 2
        outcome = ejournal.timestamp(args.institution)
        latest = ejournal.latest_timestamp(args.institution)
    finally:
        ejournal.close()
    _report_timestamps(outcome, sys.stdout)
    if latest is None:
        print("Контрольных точек ещё нет: ejournal ledger checkpoint --institution …",
              file=sys.stderr)
        return 1
    if args.out:
        if latest[1] is None:
            print("У последней контрольной точки нет метки времени.", file=sys.stderr)
            return 1
        Path(args.out).write_bytes(latest[1])
        print(f"{args.out}: метка времени последней контрольной точки ({len(latest[1])} "
              "байт, DER TimeStampResp)")
    return 1 if outcome.missing else 0


def _read_capped(path: Path, limit: int = 1 << 20) -> bytes:
    """A file of at most `limit` bytes (a note, a token): ValueError beyond."""
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: longer than {limit} bytes")
    return data


def cmd_ledger_verify_timestamp(args: argparse.Namespace, settings: Settings) -> int:
    """A token against the checkpoint note's bytes and the trusted TSA roots."""
    try:
        note, token = (_read_capped(Path(args.checkpoint)), _read_capped(Path(args.token)))
        roots = load_roots(Path(args.roots))
    except (OSError, ValueError) as error:
        print(f"Не прочитано: {error}", file=sys.stderr)
        return 2
    check = verify_token(note, token, roots)
    print(check)
    return 0 if check.ok else 1


def cmd_ledger_verifier_key(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        print(ejournal.verifier_key(args.institution, args.origin))
    finally:
        ejournal.close()
    return 0


def cmd_ledger_export(args: argparse.Namespace, settings: Settings) -> int:
    output = Path(args.output)
    if (problem := _unwritable(output)) is not None:
        print(problem, file=sys.stderr)
        return 2
    ejournal = Ejournal(settings, require_signer=False)
    try:
        count = ejournal.export_chain(args.institution, output)
        print(f"Выгружено {count} записей в {args.output}")
    except OSError as error:
        print(f"Не удалось записать «{output}»: {_os_reason(error)}.", file=sys.stderr)
        return 2
    finally:
        ejournal.close()
    return 0


def _unwritable(path: Path) -> str | None:
    """Why `path` cannot be written (checked before any work), or None."""
    if path.is_dir():
        reason = "это каталог, укажите файл"
    elif not path.parent.is_dir():
        reason = f"нет каталога «{path.parent}»"
    elif not os.access(path.parent, os.W_OK) or (path.exists()
                                                 and not os.access(path, os.W_OK)):
        reason = "нет права записи"
    else:
        return None
    return f"Не удалось записать «{path}»: {reason}."


OS_REASONS = {errno.ENOENT: "нет такого файла или каталога", errno.EACCES: "нет доступа",
              errno.EPERM: "нет доступа", errno.EISDIR: "это каталог",
              errno.ENOTDIR: "часть пути — не каталог", errno.ENOSPC: "нет места на диске",
              errno.EROFS: "файловая система только для чтения",
              errno.EEXIST: "файл уже существует"}


def _os_reason(error: OSError) -> str:
    return OS_REASONS.get(error.errno or 0, error.strerror or str(error))


def _uuid(value: str, option: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidValue(f"{option}: ожидается идентификатор (UUID), а не «{value}».",
                           field=option) from None


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{option}: ожидается дата ГГГГ-ММ-ДД, а не «{value}».",
                           field=option) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ejournal", description="Электронный журнал")
    sub = p.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="создать таблицы и ключ подписи")
    init.add_argument("--institution", help="код новой организации (латиницей)")
    init.add_argument("--name", default="Образовательная организация")
    init.add_argument("--timezone", default="Europe/Moscow")
    init.add_argument("--runtime-role",
                      help="PostgreSQL: роль, от имени которой работает сервис (создаётся, "
                           "получает только SELECT и INSERT); по умолчанию — пользователь "
                           "из EJOURNAL_DATABASE_URL, если он не владелец")
    init.add_argument("--runtime-password", help="пароль этой роли (если нужен)")
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="запустить HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="процессов-обработчиков (PostgreSQL; SQLite — один)")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="загрузить демо-организацию и выдать токены")
    demo.add_argument("--slug", help="код организации (по умолчанию demo или college)")
    demo.add_argument("--size", choices=["small", "year"], default="small",
                      help="small — два класса и семестр; year — колледж: 30 групп по 25 "
                           "обучающихся, весь учебный год (сотни тысяч событий)")
    demo.add_argument("--seed", type=int, default=139, help="одни и те же данные при одном seed")
    demo.set_defaults(func=cmd_demo)

    inst = sub.add_parser("institutions", help="организации").add_subparsers(
        dest="sub", required=True)
    add_inst = inst.add_parser("add", help="создать организацию")
    add_inst.add_argument("slug")
    add_inst.add_argument("--name", required=True)
    add_inst.add_argument("--timezone", required=True)
    add_inst.set_defaults(func=cmd_institutions_add)

    users = sub.add_parser("users", help="пользователи").add_subparsers(dest="sub",
                                                                        required=True)
    add_user = users.add_parser("add", help="выдать токен (новому сотруднику или лицу)")
    add_user.add_argument("--institution", required=True)
    add_user.add_argument("--person-id")
    add_user.add_argument("--kind", choices=["staff", "student", "guardian", "auditor"],
                          default="staff")
    add_user.add_argument("--full-name")
    add_user.add_argument("--role", action="append",
                          choices=["admin", "director", "deputy", "teacher", "auditor"],
                          help="auditor — проверяющий архива (только чтение реестра и "
                               "доказательств), с --basis")
    add_user.add_argument("--basis", help="основание назначения проверяющего (приказ, письмо)")
    add_user.set_defaults(func=cmd_users_add)
    revoke = users.add_parser("revoke", help="отозвать все токены лица (увольнение, утеря)")
    revoke.add_argument("--institution", required=True)
    revoke.add_argument("--person-id", required=True)
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(func=cmd_users_revoke)

    proj = sub.add_parser("projections", help="модели чтения").add_subparsers(
        dest="sub", required=True)
    for name, func, text in [("status", cmd_projections_status, "позиция против журнала"),
                             ("rebuild", cmd_projections_rebuild, "пересобрать с нуля"),
                             ("run", cmd_projections_run, "отдельный процесс проекций")]:
        command = proj.add_parser(name, help=text)
        command.add_argument("--institution")
        command.set_defaults(func=func)
    st = sub.add_parser("statements", help="сводные ведомости: json, csv, pdf")
    st.add_argument("name", choices=["progress", "attendance", "movement", "group-results",
                                     "curator-preliminary", "attendance-by-month", "debts",
                                     "control", "forecast", "year-snapshot"])
    st.add_argument("--institution", required=True)
    st.add_argument("--group", help="наименование группы")
    st.add_argument("--period", help="номер периода или year (progress, group-results; "
                                     "номер: curator-preliminary, forecast)")
    st.add_argument("--from", dest="date_from", help="ГГГГ-ММ-ДД")
    st.add_argument("--to", dest="date_to", help="ГГГГ-ММ-ДД")
    st.add_argument("--format", choices=["json", "csv", "pdf"], default="pdf")
    st.add_argument("--out", required=True)
    st.set_defaults(func=cmd_statements)

    led = sub.add_parser("ledger", help="журнал целостности").add_subparsers(dest="sub",
                                                                             required=True)
    verify = led.add_parser("verify", help="проверить цепочки всех (или одной) организаций")
    verify.add_argument("--institution")
    verify.add_argument("--keys", help="каталог открытых ключей (по умолчанию ключи сервиса)")
    verify.add_argument("--against", metavar="CHECKPOINT_FILE",
                        help="подписанная контрольная точка, сохранённая аудитором: "
                             "доказать, что текущий журнал её продолжает")
    verify.add_argument("--verifier-key", action="append", metavar="KEY",
                        help="ключ проверки контрольной точки (ejournal ledger verifier-key); "
                             "по умолчанию ключи из --keys под именем журнала")
    verify.add_argument("--workers", type=int,
                        default=min(os.cpu_count() or 1, MAX_VERIFY_WORKERS),
                        help="процессов проверки (каждый читает и проверяет свои отрезки "
                             "журнала), от 1 до "
                             f"{MAX_VERIFY_WORKERS} (по умолчанию — ядер)")
    verify.add_argument("--links-only", action="store_true",
                        help="без подписи каждой записи: хеши, связи и корень дерева против "
                             "последней подписанной контрольной точки (быстро)")
    verify.set_defaults(func=cmd_ledger_verify)
    checkpoint = led.add_parser("checkpoint", help="подписать (если дерево выросло) и "
                                                   "напечатать последнюю контрольную точку")
    checkpoint.add_argument("--institution", required=True)
    checkpoint.add_argument("--origin", help="имя журнала (по умолчанию "
                                             "EJOURNAL_LOG_ORIGIN_PREFIX/код организации)")
    checkpoint.set_defaults(func=cmd_ledger_checkpoint)
    stamp = led.add_parser("timestamp", help="получить у TSA (EJOURNAL_TSA_URL) метки "
                                             "времени контрольных точек, у которых их нет")
    stamp.add_argument("--institution", required=True)
    stamp.add_argument("--out", help="записать метку последней контрольной точки (DER)")
    stamp.set_defaults(func=cmd_ledger_timestamp)
    vstamp = led.add_parser("verify-timestamp", help="проверить метку времени (RFC 3161) "
                                                     "контрольной точки")
    vstamp.add_argument("--checkpoint", required=True, metavar="NOTE",
                        help="подписанная контрольная точка, байт в байт")
    vstamp.add_argument("--token", required=True, metavar="DER", help="ответ TSA (.tsr)")
    vstamp.add_argument("--roots", required=True, metavar="PEM",
                        help="доверенные корневые сертификаты TSA")
    vstamp.set_defaults(func=cmd_ledger_verify_timestamp)
    vkey = led.add_parser("verifier-key", help="напечатать ключ проверки контрольных точек")
    vkey.add_argument("--institution", required=True)
    vkey.add_argument("--origin", help="имя журнала, как у checkpoint")
    vkey.set_defaults(func=cmd_ledger_verifier_key)
    export = led.add_parser("export", help="выгрузить цепочку для независимой проверки")
    export.add_argument("--institution", required=True)
    export.add_argument("--output", required=True)
    export.set_defaults(func=cmd_ledger_export)
    rotate = led.add_parser("rotate-key", help="сменить ключ подписи: новый ключ объявляется "
                                               "в журнале каждой организации прежним, "
                                               "прежний закрытый ключ уничтожается")
    rotate.add_argument("--basis", required=True,
                        help="основание смены (приказ), записывается в журнал")
    rotate.set_defaults(func=cmd_rotate_key)

    arch = sub.add_parser("archive", help="архив учебного года").add_subparsers(
        dest="sub", required=True)
    arch_export = arch.add_parser("export", help="выгрузить архив учебного года (ZIP): "
                                                 "записи, ведомости PDF/A и CSV, ключи")
    arch_export.add_argument("--institution", required=True)
    arch_export.add_argument("--year", required=True, help="учебный год, например 2026/2027")
    arch_export.add_argument("--out", required=True, help="файл архива (.zip)")
    arch_export.add_argument("--period", type=int, help="номер периода (итерации доп. "
                                                          "образования): архив одного периода")
    arch_export.set_defaults(func=cmd_archive_export)
    arch_verify = arch.add_parser("verify", help="проверить архив (как ejournal-verify)")
    arch_verify.add_argument("file")
    arch_verify.add_argument("--keys", help="каталог доверенных открытых ключей "
                                            "(по умолчанию EJOURNAL_KEY_DIR)")
    arch_verify.add_argument("--vkey", action="append",
                             help="опубликованный ключ проверки организации")
    arch_verify.set_defaults(func=cmd_archive_verify)
    arch_open = arch.add_parser(
        "open", help="открыть архивы организации (все годы с первого) только для "
                     "чтения и просматривать через API")
    arch_open.add_argument("files", nargs="*", metavar="FILE",
                           help="архивы учебных лет, с первого (.zip)")
    arch_open.add_argument("--dir", required=True,
                           help="каталог экземпляра (новый; если архив в нём уже открыт, "
                                "файлы не нужны)")
    arch_open.add_argument("--keys", help="каталог доверенных открытых ключей")
    arch_open.add_argument("--vkey", action="append",
                           help="опубликованный ключ проверки организации")
    arch_open.add_argument("--host", default="127.0.0.1")
    arch_open.add_argument("--port", type=int, default=8001)
    arch_open.add_argument("--no-serve", action="store_true",
                           help="только загрузить, не запускать API")
    arch_open.set_defaults(func=cmd_archive_open)
    add_backup_commands(sub)
    return p


def cmd_archive_export(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from api.documents import render
    from application.archive import ArchiveExport

    out = Path(args.out)
    if out.is_dir():
        print(f"Ошибка: «{out}» — каталог; укажите файл архива.", file=sys.stderr)
        return 2
    ejournal = _open(settings)
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
            tasks: dict[str, object] = {}
            names = {"render": "Ведомости", "statements": "Запись ведомостей",
                     "entries": "Записи реестра"}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(names.get(stage, stage), total=total)
                bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

            report = ArchiveExport(ejournal, render).export_year(
                args.institution, args.year, Path(args.out), progress, period=args.period)
        print(f"{report.path}: записи {report.first}–{report.last}, ведомостей "
              f"{report.statements}, {report.bytes_written} байт")
        print(report.checkpoint, end="")
    finally:
        ejournal.close()
    return 0


def cmd_archive_open(args: argparse.Namespace, settings: Settings) -> int:
    """Loads the packages into a new read-only instance (if given) and serves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from application.archive_open import open_instance, open_packages, opened

    directory = Path(args.dir)
    if not args.files:
        opened(directory)  # ArchiveNotOpened (exit 2) if nothing was opened there
    else:
        if args.vkey:
            keys = ledger.archive.keyring_of(_verifier_keys(args.vkey))
        elif args.keys:
            try:
                keys = ledger.KeyRing.from_directory(Path(args.keys))
            except ledger.LedgerError as error:
                print(f"Ключи не приняты: {error}", file=sys.stderr)
                return 2
        else:
            print("Укажите ключ проверки организации: --vkey КЛЮЧ или --keys КАТАЛОГ "
                  "(ключ не берётся из архива).", file=sys.stderr)
            return 2
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
            tasks: dict[str, object] = {}
            names = {"verify": "Проверка архивов", "load": "Загрузка записей"}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(names.get(stage, stage), total=total)
                bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

            slug = open_packages([Path(f) for f in args.files], keys, directory, progress)
        print(f"Архив организации «{slug}» открыт в {directory} (только для чтения).")
    if args.no_serve:
        return 0
    import uvicorn

    from api.app import create_app

    ejournal, token = open_instance(directory)
    try:
        print(f"Токен чтения этого экземпляра (действует, пока он запущен): {token}")
        print(f"API: http://{args.host}:{args.port}/api/v1 (запись отклоняется: 403)")
        uvicorn.run(create_app(ejournal), host=args.host, port=args.port)
    finally:
        ejournal.close()
    return 0


def cmd_archive_verify(args: argparse.Namespace, settings: Settings) -> int:
    """With the deployment's own trusted keys unless --keys or --vkey names others."""
    from ledger.__main__ import main as ledger_main

    pins = ([f"--vkey={v}" for v in args.vkey] if args.vkey else
            ["--keys", args.keys or str(settings.key_dir)])
    return ledger_main(["verify-archive", args.file, *pins])


def _slugs(ejournal: Ejournal, slug: str | None) -> list[str]:
    return [slug] if slug else [i.slug for i in ejournal.institutions()]


def cmd_projections_status(args: argparse.Namespace, settings: Settings) -> int:
    ejournal = _open(settings)
    try:
        for slug in _slugs(ejournal, args.institution):
            status = ejournal.journal(slug).read_models.status()
            state = f"ошибка: {status.error}" if status.error else (
                "в актуальном состоянии" if status.position >= status.head else
                f"отстаёт на {status.head - status.position} событий")
            print(f"{slug}: позиция {status.position} из {status.head} — {state}")
    finally:
        ejournal.close()
    return 0


def cmd_projections_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    ejournal = Ejournal(settings, owner=True)  # drops and renames tables: the owner's
    try:
        for slug in _slugs(ejournal, args.institution):
            journal = ejournal.journal(slug)
            total = journal.store.recorder.max_notification_id() or 0
            started = time.monotonic()
            with Progress(*Progress.get_default_columns()[:1], BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn()) as progress:
                task = progress.add_task(f"{slug}: пересборка", total=total)
                count = journal.read_models.rebuild(
                    lambda n, task=task: progress.advance(task, n))
            if isinstance(ejournal.backend, PostgresBackend):
                ejournal.backend.grant_institution(slug)
            seconds = time.monotonic() - started
            print(f"{slug}: {count} событий за {seconds:.1f} с "
                  f"({count / seconds if seconds else 0:.0f} событий/с)")
    finally:
        ejournal.close()
    return 0


def cmd_projections_run(args: argparse.Namespace, settings: Settings) -> int:
    from application.readmodels import ProjectionRunner

    ejournal = _open(settings)
    runners = [ProjectionRunner(ejournal.journal(slug).read_models)
               for slug in _slugs(ejournal, args.institution)]
    for runner in runners:
        runner.start()
    print(f"Проекции: {len(runners)} организаций; Ctrl+C — остановить.", flush=True)
    try:
        while any(r.is_alive() for r in runners):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for runner in runners:
            runner.stop()
        ejournal.close()
    stopped = [r.models.store.slug for r in runners if r.models.error]
    return 1 if stopped else 0


def cmd_statements(args: argparse.Namespace, settings: Settings) -> int:
    from api.documents import render
    from application.actors import Actor
    from domain.values import Role

    out = Path(args.out)
    if (problem := _unwritable(out)) is not None:
        print(problem, file=sys.stderr)
        return 2
    first, last = _date(args.date_from, "--from"), _date(args.date_to, "--to")
    ejournal = _open(settings)
    try:
        journal = ejournal.journal(args.institution)
        # The command line acts for the administration (the archive staff's tool).
        actor = Actor(args.institution, UUID(int=0), "staff", frozenset({Role.DIRECTOR}))
        models = journal.read_models
        models.catch_up()
        group_id = None
        if args.group:
            found = models.query("SELECT group_id FROM {groups} WHERE name = ?", [args.group])
            if not found:
                print(f"Группа «{args.group}» не найдена.", file=sys.stderr)
                return 2
            group_id = UUID(found[0]["group_id"])
        st = journal.statements
        if args.name in ("progress", "attendance", "group-results", "curator-preliminary",
                         "attendance-by-month", "forecast") and group_id is None:
            print("Укажите --group.", file=sys.stderr)
            return 2
        if args.name in ("attendance", "movement", "attendance-by-month", "control") and (
                first is None or last is None):
            print("Укажите --from и --to.", file=sys.stderr)
            return 2
        if args.name in ("curator-preliminary", "forecast") and not args.period:
            print("Укажите --period (номер периода).", file=sys.stderr)
            return 2
        build = {
            "progress": lambda: st.progress(actor, group_id, args.period or "year"),
            "attendance": lambda: st.attendance(actor, group_id, first, last),
            "movement": lambda: st.movement(actor, first, last),
            "group-results": lambda: st.group_results(actor, group_id, args.period or "year"),
            "curator-preliminary": lambda: st.curator_preliminary(actor, group_id,
                                                                  args.period),
            "attendance-by-month": lambda: st.attendance_by_month(actor, group_id, first,
                                                                  last),
            "debts": lambda: st.debts(actor, group_id),
            "control": lambda: st.control(actor, first, last),
            "forecast": lambda: st.forecast(actor, args.period, group_id),
            "year-snapshot": lambda: st.year_snapshot(actor),
        }
        statement = build[args.name]()
        body, _ = render(statement, args.format)
        try:
            out.write_bytes(body)
        except OSError as error:
            print(f"Не удалось записать «{out}»: {_os_reason(error)}.", file=sys.stderr)
            return 2
        print(f"{args.out}: {len(body)} байт, состояние журнала № "
              f"{statement.header.ledger.position}")
    finally:
        ejournal.close()
    return 0


# Backup and restore (ADR 0012) -------------------------------------------------------------
STAGES = {"sha256": "проверка SHA-256", "load": "загрузка", "verify": "проверка цепочки",
          "events": "события", "ledger_verified": "отметки проверки", "ledger": "цепочка",
          "merkle_nodes": "дерево Меркла", "ledger_checkpoints": "контрольные точки",
          "token_hints": "токены"}


def _progress_bars():  # type: ignore[no-untyped-def]
    """A rich progress display (stderr) and a callback (stage, done, total) for it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bars = Progress(*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True))
    tasks: dict[str, object] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(STAGES.get(stage, stage), total=total)
        bars.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

    return bars, report


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from application.backup import backup

    # Reads only (SELECT): the runtime role suffices; no private key is needed.
    ejournal = Ejournal(settings, require_signer=False)
    bars, report = _progress_bars()
    try:
        with bars:
            manifest = backup(ejournal, args.institution, Path(args.out), report)
    finally:
        ejournal.close()
    print(f"{args.out}: организация {manifest.slug}, событий {manifest.rows['events']}, "
          f"голова {manifest.head_position}:{manifest.head_hash}, SHA-256 {manifest.sha256}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from application.backup import BackupRefused, restore

    # Into a deployment `ejournal init` prepared (its database, runtime role, directory):
    # a restore does not create the database — it would have no runtime role to grant.
    unreachable = _database_unreachable(settings.owner_url)
    if unreachable is not None:
        print(f"Восстановление отклонено: {unreachable}", file=sys.stderr)
        return 2
    # Creates the institution's tables: the owner of the schemas on PostgreSQL.
    ejournal = Ejournal(settings, owner=True, require_signer=False)
    bars, report = _progress_bars()
    try:
        with bars:
            restored = restore(ejournal, Path(args.file), report,
                               accept_older=args.accept_older)
    except BackupRefused as refused:
        print(f"Восстановление отклонено: {refused.message}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:  # bad input, as any file that cannot be read
        print(f"Восстановление отклонено: нет файла {error.filename}", file=sys.stderr)
        return 2
    except psycopg.errors.InsufficientPrivilege as error:
        print(f"Восстановление отклонено: нужна роль владельца схем "
              f"(EJOURNAL_OWNER_DATABASE_URL): {error}", file=sys.stderr)
        return 1
    finally:
        ejournal.close()
    m, r = restored.manifest, restored.report
    checkpoint = (f"; продолжает контрольную точку размера {restored.checkpoint_size}"
                  if restored.checkpoint_size else "")
    print(f"Восстановлена организация {m.slug} («{m.name}»): OK {r.count} entries, head "
          f"{r.head.position}:{r.head.entry_hash.hex()}{checkpoint}")
    in_force = r.keys.in_force if r.keys is not None else None
    if in_force is not None and not (settings.key_dir / f"{in_force}.key").exists():
        print(f"Внимание: в восстановленном журнале действует ключ подписи {in_force}, "
              "закрытого ключа которого здесь нет (выведен из действия после копии): журнал "
              "доступен для чтения и проверки, запись в него невозможна (ADR 0016).",
              file=sys.stderr)
    return 0


def _database_unreachable(url: str) -> str | None:
    """Why the PostgreSQL database of `url` cannot be reached (in Russian), at once (5 s)
    rather than after the pool's wait; None if it can be, or for SQLite."""
    import psycopg

    if not url.startswith(("postgresql://", "postgres://")):
        return None
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        name = unquote(urlsplit(url).path.lstrip("/")) or "postgres"
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        return (f"база данных «{name}» недоступна ({_safe(url)}: {reason}). Восстановление "
                "идёт в развёртывание, подготовленное командой `ejournal init` (она "
                "создаёт базу данных и роль сервиса): выполните её, затем повторите.")
    return None


def add_backup_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("backup", help="резервная копия одной организации (сервер работает)")
    b.add_argument("--institution", required=True)
    b.add_argument("--out", required=True, metavar="FILE")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="восстановить организацию из копии в пустое "
                                       "развёртывание (с проверкой цепочки)")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--accept-older", action="store_true",
                   help="осознанно восстановить копию старше последней контрольной точки, "
                        "подписанной развёртыванием (записи после копии будут потеряны)")
    r.set_defaults(func=cmd_restore)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        fields = ", ".join(f"EJOURNAL_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                           for e in error.errors())
        print(f"Ошибка в настройках: {fields}.", file=sys.stderr)
        return 2
    try:
        return args.func(args, settings)
    except DomainError as error:
        print(f"Ошибка: {error.message}", file=sys.stderr)
        return 2
    except (ledger.KeyNotFound, ledger.UnsafeKeyPermissions, ledger.InvalidKeyFile) as error:
        print(f"Ключи подписи не приняты (каталог {settings.key_dir}): {error}",
              file=sys.stderr)
        return 2
    except OSError as error:  # a path of the command or the settings: not a bug of ours
        where = f" «{error.filename}»" if error.filename else ""
        print(f"Ошибка: не удалось открыть или записать{where}: {_os_reason(error)}.",
              file=sys.stderr)
        return 2
    except IntegrityAlarm as alarm:
        print(f"ТРЕВОГА ЦЕЛОСТНОСТИ: {alarm}. Работа с организацией приостановлена: "
              "ejournal ledger verify назовёт позицию (README, «Integrity alarm»).",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
