"""Entry signatures made by libsodium on the write side (ADR 0017) are the very bytes
`ledger.Signer` (OpenSSL through `cryptography`) makes, so the auditor's tools, which
verify with `cryptography` alone, accept them; the key directory signs with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ledger
from application.signing import KeyDirectory, SodiumSigner


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("signing") / "keys"
    ledger.generate_key(directory)
    return directory


@given(entry_hash=st.binary(min_size=32, max_size=32))
def test_libsodium_signs_the_same_bytes_as_the_ledger_signer(key_dir: Path,
                                                             entry_hash: bytes) -> None:
    plain = ledger.Signer.from_directory(key_dir)
    fast = SodiumSigner.from_directory(key_dir)
    assert fast.key_id == plain.key_id
    assert fast.sign(entry_hash) == plain.sign(entry_hash)


def test_a_chain_signed_by_libsodium_verifies_with_the_ledger_alone(key_dir: Path) -> None:
    fast = SodiumSigner.from_directory(key_dir)
    events = [ledger.EventContent(bytes([i]) * 16, 1, "lessons:MarkRecorded", b"{}")
              for i in range(5)]
    entries, _ = ledger.append("chain", ledger.ChainHead.empty("chain"), events, fast)
    ring = ledger.KeyRing.from_directory(key_dir)
    stored = [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                                 e.key_id, e.signature, event)
              for e, event in zip(entries, events, strict=True)]
    report = ledger.verify("chain", stored, ring)
    assert report.ok and report.count == 5


@pytest.mark.parametrize("entry_hash", [b"", bytes(31), bytes(33), "0" * 32])
def test_libsodium_refuses_what_the_ledger_signer_refuses(key_dir: Path,
                                                          entry_hash: object) -> None:
    with pytest.raises(ledger.EncodingError):
        SodiumSigner.from_directory(key_dir).sign(entry_hash)  # type: ignore[arg-type]


def test_the_key_directory_signs_entries_with_libsodium(key_dir: Path) -> None:
    assert isinstance(KeyDirectory(key_dir).active(), SodiumSigner)
