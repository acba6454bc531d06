"""Year-end archive packages (ADR 0014): exported from a live store, verified by the
ledger alone (even from a copy of `ledger/` with nothing but `cryptography`), by hand
with sha256sum and openssl as VERIFY.md says, and every tampering of the catalogue is
caught and named by member and entry."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from api.documents import render
from application.archive import ArchiveExport, ArchiveRefused
from application.config import Settings
from application.service import Ejournal
from domain.errors import NotFound
from domain.values import AttendanceStatus, MarkValue, OrderRef
from ledger import archive as fmt
from tests.conftest import Clock, School, build_school


def marked_year(school: School) -> None:
    j = school.journal
    for number in (1, 2, 3):
        lesson = school.lesson(number=number)
        j.lessons.record_mark(school.teacher, lesson, school.students[0], MarkValue.FOUR)
        j.lessons.record_attendance(school.teacher, lesson, school.students[1],
                                    AttendanceStatus.ABSENT, None)


def export(ejournal: Ejournal, school: School, out: Path, year: str = "2026/2027") -> Path:
    ArchiveExport(ejournal, render).export_year(school.slug, year, out)
    return out


@dataclass
class Exported:
    path: Path
    key_dir: Path
    school: School
    ejournal: Ejournal


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, key_dir: Path) -> Iterator[Exported]:
    """One package of a school's year on SQLite, for the tamper catalogue."""
    directory = tmp_path_factory.mktemp("archive")
    ejournal = Ejournal(Settings(database_url=f"sqlite:///{directory / 'e.sqlite3'}",
                                 key_dir=key_dir), Clock())
    school = build_school(ejournal)
    marked_year(school)
    yield Exported(export(ejournal, school, directory / "year.zip"), key_dir, school, ejournal)
    ejournal.close()


def members(path: Path) -> tuple[str, dict[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        root = names[0].split("/", 1)[0] + "/"
        return root, {n[len(root):]: z.read(n) for n in names}


def repack(source: Path, target: Path, edit: Callable[[dict[str, bytes]], None], *,
           manifest: bool = True, key_dir: Path | None = None) -> Path:
    """A copy of the package with `edit` applied to its members; with `manifest`, the
    SHA256SUMS fixed up; with `key_dir`, re-signed with the institution's key too (an
    insider holding the key, who cannot re-sign what auditors already hold)."""
    root, files = members(source)
    edit(files)
    if manifest:
        files[fmt.MANIFEST] = fmt.manifest_text({
            name: hashlib.sha256(body).hexdigest() for name, body in files.items()
            if name not in (fmt.MANIFEST, fmt.SIGNATURE)})
    if key_dir is not None:
        files[fmt.SIGNATURE] = ledger.Signer.from_directory(key_dir).sign_manifest(
            files[fmt.MANIFEST])
    with zipfile.ZipFile(target, "w") as z:
        for name, body in files.items():
            z.writestr(root + name, body)
    return target


def entry_lines(files: dict[str, bytes]) -> tuple[str, list[dict]]:
    header, *lines = files[fmt.ENTRIES].decode().splitlines()
    return header, [json.loads(line) for line in lines]


def put_entries(files: dict[str, bytes], header: str, entries: list[dict]) -> None:
    files[fmt.ENTRIES] = "".join(f"{line}\n" for line in
                                 [header, *(json.dumps(e) for e in entries)]).encode()


def problem(path: Path, keys: ledger.KeyRing | None = None) -> fmt.Problem:
    report = fmt.verify_archive(path, keys)
    assert not report.ok and report.problem is not None
    return report.problem


# The package as exported -----------------------------------------------------------------

def test_an_exported_year_verifies_with_the_ledger_alone(exported: Exported) -> None:
    report = fmt.verify_archive(exported.path, ledger.KeyRing.from_directory(exported.key_dir))
    assert report.ok, report.problem
    assert any(f.startswith("entries: 1..") for f in report.facts)


def test_the_package_holds_the_years_statements_as_pdf_a_and_csv(exported: Exported,
                                                                  tmp_path: Path) -> None:
    _, files = members(exported.path)
    package = json.loads(files[fmt.PACKAGE])
    kinds = {s["kind"] for s in package["statements"]}
    assert kinds == {"progress", "attendance", "movement", "debts", "year-snapshot"}
    assert "statements/year-snapshot-10А.pdf" in files
    for group in ("10А", "10Б"):
        assert f"statements/progress-{group}.pdf" in files
        assert f"statements/attendance-{group}.csv" in files
    pdf = tmp_path / "progress.pdf"
    pdf.write_bytes(files["statements/progress-10А.pdf"])
    plain = tmp_path / "plain.pdf"
    subprocess.run(["qpdf", "--stream-data=uncompress", "--object-streams=disable", str(pdf),
                    str(plain)], check=True)
    assert b'pdfaid:part="3"' in plain.read_bytes()  # PDF/A-3
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    position = next(s["position"] for s in package["statements"]
                    if s["file"] == "statements/progress-10А.pdf")
    assert "10А" in text and f"запись № {position}" in text


def test_every_statement_names_the_checkpointed_journal_state(exported: Exported) -> None:
    _, files = members(exported.path)
    package = json.loads(files[fmt.PACKAGE])
    for item in package["statements"]:
        assert package["first_position"] - 1 <= item["position"] <= package["last_position"]
        if item["file"].endswith(".csv"):
            text = files[item["file"]].decode("utf-8-sig")
            assert f"запись № {item['position']}, хеш {item['head']}" in text


def test_sha256sum_and_openssl_accept_the_package_as_verify_md_says(
        exported: Exported, tmp_path: Path) -> None:
    with zipfile.ZipFile(exported.path) as z:
        z.extractall(tmp_path)
    package_dir = next(tmp_path.iterdir())
    sums = subprocess.run(["sha256sum", "-c", "--strict", fmt.MANIFEST], cwd=package_dir,
                          capture_output=True, text=True, check=False)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    guide = (package_dir / fmt.GUIDE).read_text(encoding="utf-8")
    # Every command of the Russian "by hand" section, as written, in the package directory.
    by_hand = guide.split("## Проверка вручную")[1].split("---")[0]
    commands = "\n".join(line[4:] for line in by_hand.splitlines()
                         if line.startswith("    ") and not line.startswith("    unzip"))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=package_dir,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Signature Verified Successfully") == 2
    # Step 0 pins the package's key to the institution's published verifier key.
    published = exported.ejournal.verifier_key(exported.school.slug)
    assert published.split("+", 2)[2] in result.stdout.splitlines()
    assert published.split("+", 1)[0] in result.stdout.splitlines()  # the log's name
    _, entries = entry_lines(members(exported.path)[1])
    first = entries[0]
    assert f"{first['event_digest']}  -" in result.stdout
    assert f"{first['entry_hash']}  -" in result.stdout


def test_the_verifier_runs_from_a_copy_of_ledger_with_only_cryptography(
        exported: Exported, tmp_path: Path) -> None:
    """`python -m ledger verify-archive` from a copy of the ledger/ directory, with no
    site-packages (-S) but cryptography and what it needs (cffi)."""
    code = tmp_path / "code"
    shutil.copytree(Path(ledger.__file__).parent, code / "ledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    site.mkdir()
    import cffi
    import cryptography

    for module in (cryptography, cffi):
        shutil.copytree(Path(module.__file__).parent, site / module.__name__)
    backend = next(Path(cffi.__file__).parent.parent.glob("_cffi_backend*"))
    shutil.copy(backend, site)
    runner = ("import sys; sys.path[:0] = [sys.argv.pop(1), sys.argv.pop(1)]; "
              "import runpy; runpy.run_module('ledger', run_name='__main__')")
    vkey = exported.ejournal.verifier_key(exported.school.slug)
    result = subprocess.run([sys.executable, "-S", "-E", "-c", runner, str(code), str(site),
                             "verify-archive", str(exported.path), "--vkey", vkey],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith(f"OK {exported.path.name}: ")
    check = subprocess.run([sys.executable, "-S", "-E", "-c",
                            "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
                            "import ledger.__main__; print(sorted(m for m in sys.modules "
                            "if m.split('.')[0] in ('application', 'domain', 'api', "
                            "'projections', 'eventsourcing', 'pydantic')))",
                            str(code), str(site)], capture_output=True, text=True,
                           check=False)
    assert check.stdout.strip() == "[]", check.stdout + check.stderr


def test_the_ok_line_names_the_log_the_year_and_the_entries_verified(
        exported: Exported, capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.__main__ import verify_main

    vkey = exported.ejournal.verifier_key(exported.school.slug)
    assert verify_main([str(exported.path), "--vkey", vkey]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    slug = exported.school.slug
    with zipfile.ZipFile(exported.path) as z:
        package = json.loads(z.read(f"{slug}-2026_2027/{fmt.PACKAGE}"))
    assert last == (f"OK {exported.path.name}: log ejournal.example/{slug} (institution "
                    f"{slug}), academic year 2026/2027, entries "
                    f"{package['first_position']}..{package['last_position']}")


def test_a_package_whose_directory_is_renamed_fails_naming_the_file(
        exported: Exported, tmp_path: Path) -> None:
    """The members' directory is outside the manifest: every member moved from
    `<slug>-2026_2027/` to `other-2026_2027/` must not verify as the school's package."""
    moved = tmp_path / "moved.zip"
    with zipfile.ZipFile(exported.path) as z, zipfile.ZipFile(moved, "w") as out:
        for info in z.infolist():
            out.writestr("other-" + info.filename.split("-", 1)[1], z.read(info))
    report = fmt.verify_archive(moved, ledger.KeyRing.from_directory(exported.key_dir))
    assert not report.ok and report.problem is not None
    assert report.problem.member == "other-2026_2027/"
    assert "moved.zip" in report.problem.what
    assert f"{exported.school.slug}-2026_2027/" in report.problem.what


def test_ejournal_verify_is_the_same_verifier(exported: Exported) -> None:
    from ledger.__main__ import verify_main

    assert verify_main([str(exported.path), "--keys", str(exported.key_dir)]) == 0
    vkey = exported.ejournal.verifier_key(exported.school.slug)
    assert verify_main([str(exported.path), "--vkey", vkey]) == 0


def test_without_a_key_of_the_auditors_a_package_is_not_authenticated(
        exported: Exported, capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.__main__ import verify_main

    assert verify_main([str(exported.path)]) == 1
    out = capsys.readouterr().out
    assert "NOT AUTHENTICATED" in out
    assert exported.ejournal.verifier_key(exported.school.slug) in out  # to compare
    assert verify_main([str(exported.path), "--trust-package-keys"]) == 0


def test_a_package_forged_whole_with_another_key_fails_against_the_published_key(
        exported: Exported, tmp_path: Path) -> None:
    """An outsider re-signs every entry, the checkpoint and the manifest with a key of
    their own and ships it in keys/: intact in itself, refused against the real key."""
    from ledger.__main__ import verify_main

    forger = tmp_path / "forger"
    ledger.generate_key(forger)
    signer = ledger.Signer.from_directory(forger)

    def edit(files: dict[str, bytes]) -> None:
        header, entries = entry_lines(files)
        chain_id = json.loads(header)["chain_id"]
        for e in entries:
            e["key_id"] = signer.key_id
            e["signature"] = signer.sign(bytes.fromhex(e["entry_hash"])).hex()
        put_entries(files, header, entries)
        for name in [n for n in files if n.startswith(fmt.KEYS)]:
            del files[name]
        files[fmt.KEYS + "KEYS"] = f"{signer.key_id}\n".encode()
        files[f"{fmt.KEYS}{signer.key_id}.pub"] = (signer.public_key_raw.hex() + "\n").encode()
        package = json.loads(files[fmt.PACKAGE])
        package["manifest_key_id"] = signer.key_id
        files[fmt.PACKAGE] = json.dumps(package).encode()
        note = ledger.Checkpoint.parse(ledger.parse_note(files[fmt.CHECKPOINT].decode()).text)
        files[fmt.CHECKPOINT] = ledger.sign_checkpoint(
            note, [signer.note_signer(note.origin)]).encode()
        assert chain_id

    forged = repack(exported.path, tmp_path / "forged.zip", edit, key_dir=forger)
    assert fmt.verify_archive(forged).ok  # intact in itself...
    vkey = exported.ejournal.verifier_key(exported.school.slug)
    assert verify_main([str(forged), "--vkey", vkey]) == 1  # ...but not the school's
    assert verify_main([str(forged), "--keys", str(exported.key_dir)]) == 1


def test_a_year_after_the_first_links_to_the_chain_before_it(
        ejournal: Ejournal, school: School, clock: Clock, tmp_path: Path) -> None:
    marked_year(school)
    j = school.journal
    year2 = j.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                       date(2028, 5, 31), [
        {"kind": "semester", "title": "1 семестр", "starts": date(2027, 9, 1),
         "ends": date(2027, 12, 28)}])
    clock.now = datetime(2027, 9, 2, 9, 0, tzinfo=UTC)
    group = j.setup.form_group(school.admin, year2, "11А", None)
    j.roster.transfer(school.admin, school.students[0], group,
                      OrderRef("9-к", date(2027, 9, 1)), date(2027, 9, 2))
    path = export(ejournal, school, tmp_path / "second.zip", "2027/2028")
    report = fmt.verify_archive(path)
    assert report.ok, report.problem
    _, files = members(path)
    package, link = json.loads(files[fmt.PACKAGE]), json.loads(files[fmt.LINK])
    assert package["first_position"] > 1
    assert link["previous"]["position"] == package["first_position"] - 1
    assert len(link["frontier"]) == (package["first_position"] - 1).bit_count()
    # Events recorded before the year's first journal day are not in it; the one before
    # the package was.
    _, entries = entry_lines(files)
    days = [json.loads(base64.b64decode(e["event"]["state_b64"]))["act"]["_data_"]
            ["local_date"]["_data_"] for e in entries]
    assert min(days) >= "2027-09-01"
    previous = ejournal.backend.chain_reader(school.slug).entries_between(
        package["first_position"] - 1, package["first_position"] - 1)[0]
    assert previous.event is not None
    assert json.loads(previous.event.state)["act"]["_data_"]["local_date"]["_data_"] < \
        "2027-09-01"


def test_a_year_without_entries_is_refused(ejournal: Ejournal, school: School,
                                          tmp_path: Path) -> None:
    school.journal.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                            date(2028, 5, 31), [
        {"kind": "semester", "title": "1 семестр", "starts": date(2027, 9, 1),
         "ends": date(2027, 12, 28)}])
    with pytest.raises(ArchiveRefused):
        export(ejournal, school, tmp_path / "empty.zip", "2027/2028")
    assert not (tmp_path / "empty.zip").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_an_unknown_year_is_not_found(ejournal: Ejournal, school: School,
                                      tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        export(ejournal, school, tmp_path / "x.zip", "1999/2000")


# The tamper catalogue, on an exported package ----------------------------------------------

def test_an_edited_statement_is_named_by_its_digest(exported: Exported, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files["statements/progress-10А.pdf"] += b"%"

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, manifest=False))
    assert p.member == "statements/progress-10А.pdf" and "SHA-256" in p.what


def test_an_edited_csv_with_its_manifest_hash_fixed_up_fails_the_signature(
        exported: Exported, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files["statements/progress-10А.csv"] += "Иванова Анна;5\r\n".encode()

    p = problem(repack(exported.path, tmp_path / "t.zip", edit))
    assert p.member == fmt.SIGNATURE


def test_an_edited_manifest_fails_the_signature(exported: Exported, tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files[fmt.MANIFEST] = files[fmt.MANIFEST].replace(b"0", b"1", 1)

    assert problem(repack(exported.path, tmp_path / "t.zip", edit,
                          manifest=False)).member == fmt.SIGNATURE


def test_a_member_the_manifest_does_not_list_is_caught(exported: Exported,
                                                       tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files["statements/extra.csv"] = b"1;2"

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, manifest=False))
    assert p.member == "statements/extra.csv" and "not listed" in p.what


def _tamper_entries(exported: Exported, tmp_path: Path,
                    change: Callable[[list[dict]], list[dict]]) -> fmt.Problem:
    def edit(files: dict[str, bytes]) -> None:
        header, entries = entry_lines(files)
        put_entries(files, header, change(entries))

    return problem(repack(exported.path, tmp_path / "t.zip", edit, key_dir=exported.key_dir))


def _state(entry: dict, old: bytes, new: bytes) -> dict:
    state = base64.b64decode(entry["event"]["state_b64"])
    assert old in state
    entry["event"]["state_b64"] = base64.b64encode(state.replace(old, new)).decode()
    return entry


def _mark_at(entries: list[dict]) -> int:
    return next(i for i, e in enumerate(entries) if e["event"]["topic"].endswith("MarkRecorded"))


def test_a_changed_entry_is_named_by_position(exported: Exported, tmp_path: Path) -> None:
    def change(entries: list[dict]) -> list[dict]:
        _state(entries[_mark_at(entries)], b'"value":"4"', b'"value":"5"')
        return entries

    p = _tamper_entries(exported, tmp_path, change)
    _, entries = entry_lines(members(exported.path)[1])
    assert (p.member, p.position) == (fmt.ENTRIES, entries[_mark_at(entries)]["position"])
    assert p.what.startswith("changed")


def test_a_removed_middle_entry_is_missing(exported: Exported, tmp_path: Path) -> None:
    p = _tamper_entries(exported, tmp_path, lambda e: e[:10] + e[11:])
    assert (p.member, p.position) == (fmt.ENTRIES, 11) and p.what.startswith("missing")


def test_removed_newest_entries_no_longer_reach_the_checkpoint(exported: Exported,
                                                                tmp_path: Path) -> None:
    p = _tamper_entries(exported, tmp_path, lambda e: e[:-3])
    assert p.member == fmt.ENTRIES and "not at" in p.what


def test_reordered_entries_are_caught(exported: Exported, tmp_path: Path) -> None:
    def change(entries: list[dict]) -> list[dict]:
        entries[5], entries[6] = entries[6], entries[5]
        return entries

    p = _tamper_entries(exported, tmp_path, change)
    assert (p.member, p.position) == (fmt.ENTRIES, 6)


def test_swapped_payloads_are_caught(exported: Exported, tmp_path: Path) -> None:
    def change(entries: list[dict]) -> list[dict]:
        entries[7]["event"], entries[8]["event"] = entries[8]["event"], entries[7]["event"]
        return entries

    p = _tamper_entries(exported, tmp_path, change)
    assert (p.member, p.position) == (fmt.ENTRIES, 8)


def test_a_forged_signature_is_caught(exported: Exported, tmp_path: Path) -> None:
    def change(entries: list[dict]) -> list[dict]:
        entries[4]["signature"] = "00" * 64
        return entries

    p = _tamper_entries(exported, tmp_path, change)
    assert (p.position, p.what.split(":")[0]) == (5, "bad_signature")


def test_an_entry_signed_by_an_unknown_key_is_caught(exported: Exported,
                                                     tmp_path: Path) -> None:
    stranger = ledger.Signer(Ed25519PrivateKey.generate())

    def change(entries: list[dict]) -> list[dict]:
        entries[2]["key_id"] = stranger.key_id
        entries[2]["signature"] = stranger.sign(bytes.fromhex(entries[2]["entry_hash"])).hex()
        return entries

    p = _tamper_entries(exported, tmp_path, change)
    assert (p.position, p.what.split(":")[0]) == (3, "unknown_key")


def test_a_checkpoint_for_another_origin_is_refused(exported: Exported, tmp_path: Path) -> None:
    signer = ledger.Signer.from_directory(exported.key_dir)

    def edit(files: dict[str, bytes]) -> None:
        note = ledger.Checkpoint.parse(ledger.parse_note(files[fmt.CHECKPOINT].decode()).text)
        files[fmt.CHECKPOINT] = ledger.sign_checkpoint(
            ledger.Checkpoint("ejournal.example/other", note.size, note.root),
            [signer.note_signer("ejournal.example/other")]).encode()

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, key_dir=exported.key_dir))
    assert p.member == fmt.CHECKPOINT


def test_a_rewritten_link_to_the_chain_before_breaks_the_root(exported: Exported,
                                                               tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        header, entries = entry_lines(files)
        package = json.loads(files[fmt.PACKAGE])
        # Claim the package starts later: drop the first entry into a forged "previous".
        first = entries.pop(0)
        package["first_position"] = 2
        files[fmt.PACKAGE] = json.dumps(package).encode()
        files[fmt.LINK] = json.dumps({"frontier": [base64.b64encode(
            b"\x11" * 32).decode()], "previous": {
                "position": 1, "prev_hash": first["prev_hash"],
                "event_digest": first["event_digest"], "entry_hash": first["entry_hash"],
                "inclusion_proof": []}}).encode()
        put_entries(files, header, entries)

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, key_dir=exported.key_dir))
    assert p.member == fmt.ENTRIES and "Merkle root" in p.what


def test_a_statement_claiming_another_journal_state_is_caught(exported: Exported,
                                                              tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        package = json.loads(files[fmt.PACKAGE])
        package["statements"][0]["position"] -= 1
        files[fmt.PACKAGE] = json.dumps(package).encode()

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, key_dir=exported.key_dir))
    assert p.member.startswith("statements/")


def test_keys_the_auditor_does_not_trust_are_refused(exported: Exported) -> None:
    stranger = ledger.Signer(Ed25519PrivateKey.generate())
    ring = ledger.KeyRing({stranger.key_id: stranger.public_key_raw})
    assert problem(exported.path, ring).member == fmt.SIGNATURE


@pytest.mark.parametrize("garbage", [b"", b"PK\x03\x04 not a zip", b"\x00" * 1000])
def test_a_file_that_is_not_a_package_is_a_problem_not_a_crash(tmp_path: Path,
                                                                garbage: bytes) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(garbage)
    assert problem(path).member == "bad.zip"


def test_a_package_with_unsafe_member_names_is_refused(exported: Exported,
                                                       tmp_path: Path) -> None:
    root, files = members(exported.path)
    target = tmp_path / "evil.zip"
    with zipfile.ZipFile(target, "w") as z:
        for name, body in files.items():
            z.writestr(root + name, body)
        z.writestr(root + "../escape.txt", b"x")
    assert ".." in str(problem(target)) or "safe" in str(problem(target))


def test_the_manifest_format_is_strict() -> None:
    good = fmt.manifest_text({"a/b.csv": "0" * 64})
    assert fmt.parse_manifest(good) == {"a/b.csv": "0" * 64}
    for bad in (b"", b"x  a\n", good + good, good.replace(b"  ", b" *"),
                ("0" * 64 + "  ../a\n").encode(), ("0" * 64 + "  /etc/passwd\n").encode()):
        with pytest.raises(ledger.ManifestError):
            fmt.parse_manifest(bad)


def test_the_manifest_signing_key_signs_only_manifests(key_dir: Path) -> None:
    signer = ledger.Signer.from_directory(key_dir)
    with pytest.raises(ledger.ManifestError):
        signer.sign_manifest(b"ejournal.example/x\n1\n")


def test_the_guide_is_in_russian_and_english(exported: Exported) -> None:
    guide = members(exported.path)[1][fmt.GUIDE].decode()
    assert "Проверка программой" in guide and "With the bundled verifier" in guide
    assert re.search(r"ejournal-verify", guide)


def test_a_package_carries_the_checkpoints_timestamp_that_openssl_verifies(
        ejournal: Ejournal, school: School, tmp_path: Path) -> None:
    from application.timestamping import load_roots, verify_token
    from tests.application.test_timestamps import with_tsa
    from tests.local_tsa import start_local_tsa

    marked_year(school)
    tsa = start_local_tsa(tmp_path / "tsa")
    service = with_tsa(ejournal, tsa)
    try:
        path = export(service, school, tmp_path / "stamped.zip")
    finally:
        service.close()
        tsa.stop()
    assert fmt.verify_archive(path).ok
    _, files = members(path)
    check = verify_token(files[fmt.CHECKPOINT], files[fmt.TIMESTAMP], load_roots(tsa.roots))
    assert check.ok, check.reason
    (tmp_path / "checkpoint.txt").write_bytes(files[fmt.CHECKPOINT])
    (tmp_path / "checkpoint.tsr").write_bytes(files[fmt.TIMESTAMP])
    result = subprocess.run(["openssl", "ts", "-verify", "-in", "checkpoint.tsr", "-data",
                             "checkpoint.txt", "-CAfile", str(tsa.roots)], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def test_an_iteration_of_additional_education_gets_its_own_package(
        ejournal: Ejournal, school: School, clock: Clock, tmp_path: Path) -> None:
    """Seed 003 §4: an archive at the end of each iteration — the same package, from the
    iteration's first day, with the iteration's statements."""
    j = school.journal
    year = j.setup.open_academic_year(school.admin, "2027/2028", date(2027, 9, 1),
                                      date(2028, 5, 31), [
        {"kind": "iteration", "title": "Итерация 1", "starts": date(2027, 9, 1),
         "ends": date(2027, 12, 20)},
        {"kind": "iteration", "title": "Итерация 2", "starts": date(2028, 1, 10),
         "ends": date(2028, 5, 31)}])
    clock.now = datetime(2027, 9, 2, 9, 0, tzinfo=UTC)
    first_group = j.setup.form_group(school.admin, year, "Робототехника, итерация 1", None)
    clock.now = datetime(2028, 1, 11, 9, 0, tzinfo=UTC)
    second = j.setup.form_group(school.admin, year, "Робототехника, итерация 2", None)
    j.roster.transfer(school.admin, school.students[0], second,
                      OrderRef("3-до", date(2027, 12, 25)), date(2028, 1, 10))
    path = tmp_path / "iteration-2.zip"
    ArchiveExport(ejournal, render).export_year(school.slug, "2027/2028", path, period=2)
    report = fmt.verify_archive(path)
    assert report.ok, report.problem
    root, files = members(path)
    package = json.loads(files[fmt.PACKAGE])
    assert root.endswith("-2027_2028-2/")
    assert package["period"]["title"].startswith("Итерация 2")
    _, entries = entry_lines(files)
    days = [json.loads(base64.b64decode(e["event"]["state_b64"]))["act"]["_data_"]
            ["local_date"]["_data_"] for e in entries]
    assert min(days) >= "2028-01-10"  # the first iteration's events are before it
    progress = files["statements/progress-Робототехника__итерация_2.csv"].decode("utf-8-sig")
    assert "Итерация 2" in progress
    assert first_group  # its group is in the year, its own package holds its records


def test_a_period_the_year_does_not_have_is_not_found(ejournal: Ejournal, school: School,
                                                      tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        ArchiveExport(ejournal, render).export_year(school.slug, "2026/2027",
                                                    tmp_path / "x.zip", period=9)


def test_a_directory_entry_escaping_the_package_is_refused(exported: Exported,
                                                          tmp_path: Path) -> None:
    root, files = members(exported.path)
    target = tmp_path / "dirs.zip"
    with zipfile.ZipFile(target, "w") as z:
        for name, body in files.items():
            z.writestr(root + name, body)
        z.writestr(zipfile.ZipInfo(root + "../../../tmp/x/"), b"")
    assert "unsafe" in problem(target).what


def test_a_member_that_inflates_like_a_bomb_is_refused_before_it_is_read(
        exported: Exported, tmp_path: Path) -> None:
    root, files = members(exported.path)
    target = tmp_path / "bomb.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            if name != fmt.ENTRIES:
                z.writestr(root + name, body)
        z.writestr(root + fmt.ENTRIES, bytes(64 << 20))  # 64 MiB of zeros: ~64 KiB
    p = problem(target)
    assert p.member.endswith(fmt.ENTRIES) and "inflates" in p.what


def test_json_nested_too_deeply_is_a_problem_not_a_crash(exported: Exported,
                                                         tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files[fmt.PACKAGE] = b"[" * 200_000

    assert problem(repack(exported.path, tmp_path / "t.zip", edit, manifest=False)).member \
        in (fmt.PACKAGE, "t.zip")


def test_a_key_published_for_another_log_does_not_vouch_for_this_package(
        exported: Exported) -> None:
    """One deployment signs every institution's log with one key: the published key of
    another institution's log names that log, and does not vouch for this package."""
    from ledger.__main__ import verify_main

    key = ledger.Signer.from_directory(exported.key_dir)
    shared = ledger.encode_vkey("ejournal.example/other", key.public_key_raw)
    assert verify_main([str(exported.path), "--vkey", shared]) == 1


def test_an_integer_past_pythons_limit_is_a_format_error(exported: Exported,
                                                          tmp_path: Path) -> None:
    def edit(files: dict[str, bytes]) -> None:
        header, _ = entry_lines(files)
        files[fmt.ENTRIES] = files[fmt.ENTRIES].replace(
            header.encode(), header[:-1].encode() + b', "n": ' + b"1" * 5000 + b"}", 1)

    p = problem(repack(exported.path, tmp_path / "t.zip", edit, key_dir=exported.key_dir))
    assert p.member == fmt.ENTRIES
