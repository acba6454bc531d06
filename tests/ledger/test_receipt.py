"""Receipts (ledger/receipt.py): a tlog proof whose extra data is the entry. It verifies
with the institution's key alone; any change to the entry, the proof, the index or the
checkpoint is caught; malformed receipts are format errors, never crashes."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger

CHAIN = "ejournal:00000000-0000-0000-0000-0000000000aa"
ORIGIN = "ejournal.example/school"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER = ledger.NoteSigner(ORIGIN, KEY)
VERIFIER = SIGNER.verifier()


def entries(count: int) -> list[ledger.ReceiptEntry]:
    out, prev = [], ledger.genesis_hash(CHAIN)
    for position in range(1, count + 1):
        event = ledger.EventContent(bytes([position % 256]) * 16, position, "domain.x:Y",
                                    f'{{"value": "{position % 5 + 1}"}}'.encode())
        out.append(ledger.ReceiptEntry(CHAIN, position, prev, event))
        prev = ledger.entry_hash(CHAIN, position, prev, event.digest())
    return out


def receipt_for(count: int, index: int) -> str:
    chain = entries(count)
    leaves = [e.leaf_hash() for e in chain]
    note = ledger.sign_checkpoint(ledger.Checkpoint(ORIGIN, count, ledger.root_hash(leaves)),
                                  [SIGNER])
    return ledger.make_receipt(chain[index], ledger.inclusion_proof(index, count, leaves), note)


def test_a_receipt_verifies_with_the_institutions_key() -> None:
    opened = ledger.open_receipt(receipt_for(7, 4), [VERIFIER])
    assert opened.entry == entries(7)[4]
    assert (opened.checkpoint.origin, opened.checkpoint.size) == (ORIGIN, 7)


def test_a_receipt_is_a_c2sp_tlog_proof_with_the_entry_as_extra_data() -> None:
    text = receipt_for(5, 2)
    proof = ledger.TlogProof.parse(text)
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert proof.index == 2
    assert ledger.ReceiptEntry.from_extra(proof.extra or b"") == entries(5)[2]


def test_a_receipt_checked_with_another_key_fails() -> None:
    other = ledger.NoteSigner(ORIGIN, Ed25519PrivateKey.generate()).verifier()
    with pytest.raises(ledger.NoteVerificationError):
        ledger.open_receipt(receipt_for(5, 1), [other])


def _with_entry(text: str, entry: ledger.ReceiptEntry) -> str:
    proof = ledger.TlogProof.parse(text)
    return ledger.TlogProof(proof.index, proof.proof, proof.checkpoint, entry.extra()).text()


def test_a_receipt_with_a_changed_mark_fails() -> None:
    text, entry = receipt_for(6, 3), entries(6)[3]
    changed = ledger.EventContent(entry.event.originator_id, entry.event.originator_version,
                                  entry.event.topic, b'{"value": "1"}')  # was "5"
    with pytest.raises(ledger.NoteVerificationError):
        ledger.open_receipt(_with_entry(text, ledger.ReceiptEntry(
            CHAIN, entry.position, entry.prev_hash, changed)), [VERIFIER])


def test_a_receipt_moved_to_another_position_fails() -> None:
    text, entry = receipt_for(6, 3), entries(6)[3]
    moved = ledger.ReceiptEntry(CHAIN, entry.position + 1, entry.prev_hash, entry.event)
    with pytest.raises(ledger.NoteVerificationError):
        ledger.open_receipt(_with_entry(text, moved), [VERIFIER])


def test_a_receipt_without_its_entry_is_malformed() -> None:
    proof = ledger.TlogProof.parse(receipt_for(4, 0))
    bare = ledger.TlogProof(proof.index, proof.proof, proof.checkpoint).text()
    with pytest.raises(ledger.NoteFormatError):
        ledger.open_receipt(bare, [VERIFIER])


@pytest.mark.parametrize("extra", [b"not json", b"[]", b'{"format": "other"}',
                                   b'{"format":"ejournal-receipt/1"}', b"\xff\xfe"])
def test_a_receipt_with_malformed_extra_data_is_a_format_error(extra: bytes) -> None:
    proof = ledger.TlogProof.parse(receipt_for(4, 0))
    text = ledger.TlogProof(proof.index, proof.proof, proof.checkpoint, extra).text()
    with pytest.raises(ledger.NoteFormatError):
        ledger.open_receipt(text, [VERIFIER])


def test_non_canonical_extra_data_is_refused() -> None:
    text = receipt_for(4, 1)
    proof = ledger.TlogProof.parse(text)
    spaced = (proof.extra or b"").replace(b",", b", ", 1)
    with pytest.raises(ledger.NoteFormatError):
        ledger.open_receipt(ledger.TlogProof(proof.index, proof.proof, proof.checkpoint,
                                             spaced).text(), [VERIFIER])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_receipt_made_verifies(size_index: tuple[int, int]) -> None:
    size, index = size_index
    assert ledger.open_receipt(receipt_for(size, index), [VERIFIER]).entry.position == index + 1


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 24).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.data())
def test_any_flipped_character_of_a_receipt_is_caught(size_index: tuple[int, int],
                                                       data: st.DataObject) -> None:
    size, index = size_index
    text = receipt_for(size, index)
    at = data.draw(st.integers(0, len(text) - 1))
    flipped = text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1:]
    try:
        opened = ledger.open_receipt(flipped, [VERIFIER])
    except (ledger.NoteFormatError, ledger.NoteVerificationError):
        return
    # Only a change that decodes to the same bytes survives (base64 padding bits).
    assert opened.entry == entries(size)[index]
    assert base64.b64decode(flipped.split("\n")[1][6:]) == \
        base64.b64decode(text.split("\n")[1][6:])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger", *args], capture_output=True,
                          text=True, check=False)


def test_verify_receipt_on_the_command_line_exits_0_for_a_good_receipt(tmp_path: Path) -> None:
    path = tmp_path / "receipt.tlog-proof"
    path.write_text(receipt_for(9, 8), encoding="utf-8")
    result = _cli("verify-receipt", str(path), "--vkey", VERIFIER.vkey())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK entry 9 of {ORIGIN} (tree size 9")
    assert '"value": "5"' in result.stdout


def test_verify_receipt_on_the_command_line_exits_1_for_a_forged_one(tmp_path: Path) -> None:
    text, entry = receipt_for(9, 2), entries(9)[2]
    forged = ledger.EventContent(entry.event.originator_id, entry.event.originator_version,
                                 entry.event.topic, b'{"value": "5"}')
    path = tmp_path / "receipt.tlog-proof"
    path.write_text(_with_entry(text, ledger.ReceiptEntry(CHAIN, 3, entry.prev_hash, forged)),
                    encoding="utf-8")
    result = _cli("verify-receipt", str(path), "--vkey", VERIFIER.vkey())
    assert result.returncode == 1 and result.stdout.startswith("FAILED")


def _non_canonical() -> bytes:
    proof = ledger.TlogProof.parse(receipt_for(4, 1))
    spaced = (proof.extra or b"").replace(b",", b", ", 1)
    return ledger.TlogProof(proof.index, proof.proof, proof.checkpoint, spaced).text().encode()


@pytest.mark.parametrize("damaged", ["binary", "empty", "truncated", "non-canonical"])
def test_verify_receipt_on_the_command_line_fails_a_damaged_receipt_with_exit_1(
        tmp_path: Path, damaged: str) -> None:
    data = {"binary": lambda: b"\x00" * 100, "empty": lambda: b"",
            "truncated": lambda: receipt_for(9, 2).encode()[:150],
            "non-canonical": _non_canonical}[damaged]()
    path = tmp_path / "receipt.tlog-proof"
    path.write_bytes(data)
    result = _cli("verify-receipt", str(path), "--vkey", VERIFIER.vkey())
    assert (result.returncode, result.stderr) == (1, ""), result.stderr
    assert result.stdout.startswith("FAILED")


def test_verify_receipt_on_the_command_line_exits_2_for_a_missing_file(tmp_path: Path
                                                                        ) -> None:
    result = _cli("verify-receipt", str(tmp_path / "absent"), "--vkey", VERIFIER.vkey())
    assert result.returncode == 2 and "error" in result.stderr and result.stdout == ""


def test_extra_data_nested_too_deeply_is_a_format_error() -> None:
    proof = ledger.TlogProof.parse(receipt_for(4, 0))
    text = ledger.TlogProof(proof.index, proof.proof, proof.checkpoint, b"[" * 200_000).text()
    with pytest.raises(ledger.NoteFormatError):
        ledger.open_receipt(text, [VERIFIER])
