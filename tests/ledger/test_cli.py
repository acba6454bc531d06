"""The export format and the auditor's `python -m ledger verify`, run as a subprocess,
including from a copy of `ledger/` alone."""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ledger

ROOT = Path(__file__).resolve().parents[2]
CHAIN = "ejournal:школа-7"


def write_export(tmp_path: Path, n: int = 4) -> tuple[Path, Path, list[ledger.StoredEntry]]:
    """An export of an n-entry chain and a directory holding only the public key and the
    index of trusted keys."""
    keys = tmp_path / "keys"
    kid = ledger.generate_key(keys)
    signer = ledger.Signer.from_directory(keys)
    contents = [ledger.EventContent(bytes([i]) * 16, i, "domain:Тема", f"{{\"i\":{i}}}".encode())
                for i in range(1, n + 1)]
    new, _ = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), contents, signer)
    entries = [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                                  e.key_id, e.signature, c)
               for e, c in zip(new, contents, strict=True)]
    export = tmp_path / "chain.jsonl"
    lines = [ledger.export_header(CHAIN)] + [ledger.export_line(e) for e in entries]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    public = tmp_path / "public"
    public.mkdir(mode=0o700)
    shutil.copy(keys / f"{kid}.pub", public)
    shutil.copy(keys / "KEYS", public)
    return export, public, entries


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


# Export format ---------------------------------------------------------------------------

def test_an_export_reads_back_to_the_same_entries(tmp_path: Path) -> None:
    export, _, entries = write_export(tmp_path)
    with export.open(encoding="utf-8") as stream:
        chain_id, read = ledger.read_export(stream)
        assert chain_id == CHAIN and list(read) == entries


def test_an_export_line_has_the_documented_fields() -> None:
    entry = ledger.StoredEntry(1, bytes(32), b"\x01" * 32, b"\x02" * 32, "k", b"\x03" * 64,
                               ledger.EventContent(b"\xab" * 16, 7, "t", b"\x00\xff"))
    assert json.loads(ledger.export_line(entry)) == {
        "position": 1, "prev_hash": "00" * 32, "event_digest": "01" * 32,
        "entry_hash": "02" * 32, "key_id": "k", "signature": "03" * 64,
        "event": {"originator_id": "ab" * 16, "originator_version": 7, "topic": "t",
                  "state_b64": "AP8="},
    }


def test_a_gone_event_exports_as_null() -> None:
    entry = ledger.StoredEntry(1, bytes(32), bytes(32), bytes(32), "k", bytes(64), None)
    assert json.loads(ledger.export_line(entry))["event"] is None


def test_the_header_names_the_format_and_the_chain() -> None:
    assert json.loads(ledger.export_header(CHAIN)) == {"format": "ejournal-ledger-export/1",
                                                       "chain_id": CHAIN}


def test_an_export_is_parsed_lazily_line_by_line() -> None:
    header = ledger.export_header(CHAIN)
    _, entries = ledger.read_export(io.StringIO(header + "\n{not json\n"))
    with pytest.raises(ledger.ExportFormatError, match="line 2"):
        next(entries)


GOOD_LINE = {"position": 1, "prev_hash": "", "event_digest": "", "entry_hash": "",
             "key_id": "k", "signature": "", "event": None}


@pytest.mark.parametrize("line", [
    '{"position": "1"}', "[]", json.dumps({**GOOD_LINE, "position": 1.5}),
    json.dumps({**GOOD_LINE, "prev_hash": "zz"}), json.dumps({**GOOD_LINE, "position": True}),
    json.dumps({**GOOD_LINE, "event": {"originator_id": "00", "originator_version": 1,
                                       "topic": "t", "state_b64": "!"}}),
])
def test_a_malformed_entry_line_is_an_export_format_error(line: str) -> None:
    _, entries = ledger.read_export(io.StringIO(ledger.export_header(CHAIN) + "\n" + line))
    with pytest.raises(ledger.ExportFormatError):
        list(entries)


def test_a_well_formed_line_parses() -> None:
    _, entries = ledger.read_export(io.StringIO(ledger.export_header(CHAIN) + "\n"
                                                + json.dumps(GOOD_LINE) + "\n\n"))
    assert [e.position for e in entries] == [1]


def test_a_file_without_the_header_is_an_export_format_error() -> None:
    with pytest.raises(ledger.ExportFormatError):
        ledger.read_export(io.StringIO('{"format": "something-else/1", "chain_id": "c"}\n'))


# The command line ------------------------------------------------------------------------

def test_cli_prints_ok_count_and_head_and_exits_0(tmp_path: Path) -> None:
    export, public, entries = write_export(tmp_path)
    result = run("verify", export, "--keys", public)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"OK 4 entries, head 4:{entries[-1].entry_hash.hex()}\n"


def test_cli_reports_a_tampered_export_and_exits_1(tmp_path: Path) -> None:
    export, public, _ = write_export(tmp_path)
    lines = export.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[3])  # position 3
    row["event"]["state_b64"] = "eyJpIjo5fQ=="  # {"i":9}
    lines[3] = json.dumps(row)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("verify", export, "--keys", public)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at position 3: changed: ")


def test_cli_catches_a_truncated_export_with_the_published_head(tmp_path: Path) -> None:
    export, public, entries = write_export(tmp_path)
    lines = export.read_text(encoding="utf-8").splitlines()
    export.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    head = f"4:{entries[-1].entry_hash.hex()}"
    assert run("verify", export, "--keys", public).returncode == 0
    result = run("verify", export, "--keys", public, "--expect-head", head)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at position 4: missing: truncated")


def test_cli_accepts_a_matching_published_head(tmp_path: Path) -> None:
    export, public, entries = write_export(tmp_path)
    head = f"2:{entries[1].entry_hash.hex()}"
    assert run("verify", export, "--keys", public, "--expect-head", head).returncode == 0


@pytest.mark.parametrize("head", ["4", "x:00", "4:abcd", f"-1:{'00' * 32}"])
def test_cli_refuses_a_malformed_published_head_with_exit_2(tmp_path: Path,
                                                            head: str) -> None:
    export, public, _ = write_export(tmp_path)
    result = run("verify", export, "--keys", public, "--expect-head", head)
    assert result.returncode == 2 and result.stdout == ""


def test_cli_fails_a_chain_signed_by_a_key_dropped_into_the_key_directory(
        tmp_path: Path) -> None:
    _, public, _ = write_export(tmp_path)
    forged, _, _ = write_export(tmp_path / "forger")  # another key signs a whole chain
    for pub in (tmp_path / "forger" / "public").glob("*.pub"):
        shutil.copy(pub, public)
    result = run("verify", forged, "--keys", public)
    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith("FAILED at position 1: ")


def test_cli_refuses_a_key_directory_without_an_index_with_exit_2(tmp_path: Path) -> None:
    export, public, _ = write_export(tmp_path)
    (public / "KEYS").unlink()
    result = run("verify", export, "--keys", public)
    assert result.returncode == 2 and "KEYS" in result.stderr


def test_cli_exits_2_on_a_malformed_export(tmp_path: Path) -> None:
    _, public, _ = write_export(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = run("verify", bad, "--keys", public)
    assert result.returncode == 2 and "error:" in result.stderr


def test_cli_exits_2_on_a_missing_file_or_usage_error(tmp_path: Path) -> None:
    _, public, _ = write_export(tmp_path)
    assert run("verify", tmp_path / "absent.jsonl", "--keys", public).returncode == 2
    assert run("verify", tmp_path / "absent.jsonl").returncode == 2
    assert run().returncode == 2


def test_cli_runs_from_a_copy_of_the_ledger_package_alone(tmp_path: Path) -> None:
    export, public, _ = write_export(tmp_path)
    alone = tmp_path / "alone"
    shutil.copytree(ROOT / "ledger", alone / "ledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = run("verify", export, "--keys", public, cwd=alone)
    assert result.returncode == 0 and result.stdout.startswith("OK 4 entries"), result.stderr


def test_the_ledger_imports_only_the_standard_library_and_cryptography() -> None:
    allowed = set(sys.stdlib_module_names) | {"cryptography", "ledger"}
    for path in sorted((ROOT / "ledger").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_an_export_nested_too_deeply_is_a_format_error_not_a_crash(tmp_path: Path) -> None:
    import io

    from ledger.export import read_export

    header = '{"format": "ejournal-ledger-export/1", "chain_id": "c"}\n'
    with pytest.raises(ledger.ExportFormatError):
        list(read_export(io.StringIO(header + "[" * 200_000 + "\n"))[1])
    with pytest.raises(ledger.ExportFormatError):
        read_export(io.StringIO("[" * 200_000 + "\n"))
