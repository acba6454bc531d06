"""The auditor's routes and families' receipts through the HTTP API: what comes back
verifies with the ledger's own tools, without the service."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import ledger
from domain.values import MarkValue
from tests.api.conftest import Api


def vkey(api: Api) -> ledger.NoteVerifier:
    return ledger.parse_vkey(api.ejournal.verifier_key(api.school.slug))


def test_the_auditor_gets_a_checkpoint_and_proofs_that_verify(api: Api) -> None:
    note = api.call("GET", "/audit/checkpoint", "auditor")
    assert note.status_code == 200 and note.headers["content-type"].startswith("text/plain")
    checkpoint = ledger.open_checkpoint(note.text, [vkey(api)])
    proof = api.call("GET", f"/audit/proofs/inclusion?index=3&size={checkpoint.size}",
                     "auditor").json()
    assert proof["position"] == 4
    assert ledger.verify_inclusion(base64.b64decode(proof["leaf_hash"]), 3, checkpoint.size,
                                   [base64.b64decode(h) for h in proof["proof"]],
                                   checkpoint.root)
    consistency = api.call("GET", f"/audit/proofs/consistency?old_size=2&new_size="
                                  f"{checkpoint.size}", "auditor").json()
    assert ledger.verify_consistency(2, checkpoint.size, base64.b64decode(
        consistency["old_root"]), checkpoint.root,
        [base64.b64decode(h) for h in consistency["proof"]])
    history = api.call("GET", "/audit/checkpoints", "auditor").json()
    assert history[-1]["note"] == note.text


def test_the_entries_stream_verifies_with_python_m_ledger(api: Api, key_dir: Path,
                                                          tmp_path: Path) -> None:
    response = api.call("GET", "/audit/entries?from=1", "auditor")
    assert response.headers["content-type"] == "application/x-ndjson"
    export = tmp_path / "entries.jsonl"
    export.write_bytes(response.content)
    result = subprocess.run([sys.executable, "-m", "ledger", "verify", str(export), "--keys",
                             str(key_dir)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_proof_request_is_a_problem_not_a_crash(api: Api) -> None:
    for path in ("/audit/proofs/inclusion?index=-1", "/audit/proofs/inclusion?index=999999",
                 "/audit/proofs/consistency?old_size=0", "/audit/entries?from=0",
                 "/audit/entries?from=1&to=20000", "/audit/checkpoints?limit=100000"):
        response = api.call("GET", path, "auditor")
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/problem+json"


def test_a_guardian_downloads_a_receipt_that_ejournal_verify_accepts(api: Api,
                                                                     tmp_path: Path) -> None:
    s = api.school
    lesson = s.lesson()
    mark = s.journal.lessons.record_mark(s.teacher, lesson, s.students[0], MarkValue.FIVE)
    response = api.call("GET", f"/lessons/{lesson}/marks/{mark}/receipt", "guardian")
    assert response.status_code == 200, response.text
    key = response.headers["ejournal-verifier-key"]
    assert key == api.ejournal.verifier_key(s.slug)
    path = tmp_path / "receipt.tlog-proof"
    path.write_bytes(response.content)
    script = shutil.which("ejournal-verify", path=str(Path(sys.executable).parent))
    command = ([script] if script else [sys.executable, "-c",
               "import sys; from ledger.__main__ import verify_main; "
               "sys.exit(verify_main())"])
    result = subprocess.run([*command, "receipt", str(path), "--vkey", key],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mark.hex in result.stdout and "MarkRecorded" in result.stdout
