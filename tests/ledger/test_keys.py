"""Key directory: permissions, key ids, rotation, auditors' public-only copies, the
signer and the key ring."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger

HASH = b"\x01" * 32


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# generate_key ---------------------------------------------------------------------------

def test_generated_key_directory_is_0700_and_private_key_0600(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / f"{kid}.key") == 0o600


def test_keys_stay_private_under_a_permissive_umask(tmp_path: Path,
                                                    permissive_umask: None) -> None:
    kid = ledger.generate_key(tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / f"{kid}.key") == 0o600
    assert mode(tmp_path / "keys" / "ACTIVE") & 0o077 == 0
    assert mode(tmp_path / "keys" / "KEYS") & 0o022 == 0


def test_an_existing_open_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o755)
    os.chmod(tmp_path / "keys", 0o755)
    ledger.generate_key(tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700


def test_the_private_key_is_unencrypted_pkcs8_pem(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    assert (tmp_path / f"{kid}.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_the_public_key_file_is_one_line_of_hex_of_the_raw_key(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    text = (tmp_path / f"{kid}.pub").read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    assert bytes.fromhex(text) == ledger.Signer.from_directory(tmp_path).public_key_raw


def test_active_names_the_new_key_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    assert (tmp_path / "ACTIVE").read_text().strip() == kid
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ACTIVE", "KEYS", f"{kid}.key", f"{kid}.pub"])


def test_key_id_is_the_hex_of_the_first_16_bytes_of_sha256_of_the_public_key(
        tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    signer = ledger.Signer.from_directory(tmp_path)
    assert signer.key_id == kid
    assert kid == hashlib.sha256(signer.public_key_raw).digest()[:16].hex()


def test_rotation_keeps_old_public_keys_so_old_signatures_verify(tmp_path: Path) -> None:
    ledger.generate_key(tmp_path)
    old = ledger.Signer.from_directory(tmp_path)
    signature = old.sign(HASH)
    new_id = ledger.generate_key(tmp_path)
    assert ledger.Signer.from_directory(tmp_path).key_id == new_id != old.key_id
    ring = ledger.KeyRing.from_directory(tmp_path)
    assert old.key_id in ring and new_id in ring and len(ring) == 2
    assert ring.verify(old.key_id, HASH, signature)


def test_the_index_lists_every_key_once_in_the_order_made(tmp_path: Path) -> None:
    kids = [ledger.generate_key(tmp_path) for _ in range(3)]
    assert (tmp_path / "KEYS").read_text() == "".join(f"{k}\n" for k in kids)


def test_a_directory_made_before_the_index_gets_its_key_pairs_indexed(
        tmp_path: Path) -> None:
    first, second = ledger.generate_key(tmp_path), ledger.generate_key(tmp_path)
    (tmp_path / "KEYS").unlink()
    os.utime(tmp_path / f"{second}.key", ns=(1, 1))  # the older private key comes first
    loose = other_public_key(tmp_path)  # a .pub alone is not adopted
    third = ledger.generate_key(tmp_path)
    assert (tmp_path / "KEYS").read_text().split() == [second, first, third]
    assert loose not in ledger.KeyRing.from_directory(tmp_path)


def test_an_open_directory_that_holds_files_is_refused_not_adopted(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "KEYS").write_text("0" * 32 + "\n")
    os.chmod(tmp_path / "keys", 0o777)
    with pytest.raises(ledger.UnsafeKeyPermissions):
        ledger.generate_key(tmp_path / "keys")
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["KEYS"]


def test_an_empty_open_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    os.chmod(tmp_path / "keys", 0o777)
    ledger.generate_key(tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700


@pytest.mark.parametrize("content", ["not a key id\n", "../x\n", "\xff\n"])
def test_generate_key_refuses_a_malformed_index(tmp_path: Path, content: str) -> None:
    ledger.generate_key(tmp_path)
    (tmp_path / "KEYS").write_bytes(content.encode("latin-1"))
    with pytest.raises(ledger.InvalidKeyFile):
        ledger.generate_key(tmp_path)


# Signer.from_directory ------------------------------------------------------------------

@pytest.mark.parametrize("unsafe", [0o720, 0o702, 0o770, 0o777])
def test_a_key_directory_writable_by_group_or_others_is_refused(tmp_path: Path,
                                                                unsafe: int) -> None:
    ledger.generate_key(tmp_path / "keys")
    os.chmod(tmp_path / "keys", unsafe)
    with pytest.raises(ledger.UnsafeKeyPermissions):
        ledger.Signer.from_directory(tmp_path / "keys")
    with pytest.raises(ledger.UnsafeKeyPermissions):
        ledger.KeyRing.from_directory(tmp_path / "keys")


def test_a_key_directory_readable_by_others_is_accepted(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path / "keys")
    os.chmod(tmp_path / "keys", 0o755)
    assert ledger.Signer.from_directory(tmp_path / "keys").key_id == kid
    assert kid in ledger.KeyRing.from_directory(tmp_path / "keys")


@pytest.mark.parametrize("unsafe", [0o640, 0o604, 0o620, 0o610])
def test_a_private_key_open_to_group_or_others_is_refused(tmp_path: Path,
                                                          unsafe: int) -> None:
    kid = ledger.generate_key(tmp_path)
    os.chmod(tmp_path / f"{kid}.key", unsafe)
    with pytest.raises(ledger.UnsafeKeyPermissions):
        ledger.Signer.from_directory(tmp_path)


def test_no_active_key_is_key_not_found(tmp_path: Path) -> None:
    with pytest.raises(ledger.KeyNotFound):
        ledger.Signer.from_directory(tmp_path)


def test_an_active_key_without_its_private_file_is_key_not_found(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    (tmp_path / f"{kid}.key").unlink()
    with pytest.raises(ledger.KeyNotFound):
        ledger.Signer.from_directory(tmp_path)


def test_key_not_found_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        ledger.Signer.from_directory(tmp_path)


def test_an_active_file_naming_a_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ACTIVE").write_text("../elsewhere\n")
    with pytest.raises(ledger.InvalidKeyFile):
        ledger.Signer.from_directory(tmp_path)


def test_a_private_key_under_another_key_id_is_refused(tmp_path: Path) -> None:
    first = ledger.generate_key(tmp_path)
    second = ledger.generate_key(tmp_path)
    os.replace(tmp_path / f"{first}.key", tmp_path / f"{second}.key")
    with pytest.raises(ledger.KeyFileMismatch):
        ledger.Signer.from_directory(tmp_path)


# Signer and KeyRing ---------------------------------------------------------------------

def test_a_signature_covers_the_signature_tag_and_the_entry_hash() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(32))
    signer = ledger.Signer(private)
    private.public_key().verify(signer.sign(HASH), ledger.SIGNATURE_TAG + HASH)


def test_signatures_are_64_bytes_and_deterministic() -> None:
    signer = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    assert len(signer.sign(HASH)) == 64 and signer.sign(HASH) == signer.sign(HASH)


def test_the_signer_repr_shows_no_key_material() -> None:
    signer = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    assert repr(signer) == f"Signer(key_id={signer.key_id!r})"


def other_public_key(directory: Path, seed: bytes = b"\x07" * 32) -> str:
    """Writes, correctly named, the .pub of a key that `directory` never made."""
    raw = ledger.Signer(Ed25519PrivateKey.from_private_bytes(seed)).public_key_raw
    kid = ledger.key_id(raw)
    (directory / f"{kid}.pub").write_text(raw.hex() + "\n")
    return kid


def test_an_auditor_keyring_needs_only_public_keys_and_the_index(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path / "keys")
    signature = ledger.Signer.from_directory(tmp_path / "keys").sign(HASH)
    (tmp_path / "public").mkdir(mode=0o700)
    shutil.copy(tmp_path / "keys" / f"{kid}.pub", tmp_path / "public")
    shutil.copy(tmp_path / "keys" / "KEYS", tmp_path / "public")
    ring = ledger.KeyRing.from_directory(tmp_path / "public")
    assert kid in ring and ring.verify(kid, HASH, signature)
    assert not ring.verify(kid, b"\x02" * 32, signature)


def test_a_public_key_file_under_a_wrong_name_is_refused(tmp_path: Path) -> None:
    first = ledger.generate_key(tmp_path)
    second = ledger.generate_key(tmp_path)
    os.replace(tmp_path / f"{first}.pub", tmp_path / f"{second}.pub")
    (tmp_path / "KEYS").write_text(f"{second}\n")
    with pytest.raises(ledger.KeyFileMismatch):
        ledger.KeyRing.from_directory(tmp_path)


@pytest.mark.parametrize("content", ["not hex\n", "00" * 31 + "\n", "\xff\n"])
def test_a_listed_public_key_file_that_is_malformed_is_refused(tmp_path: Path,
                                                               content: str) -> None:
    kid = ledger.generate_key(tmp_path)
    (tmp_path / f"{kid}.pub").write_bytes(content.encode("latin-1"))
    with pytest.raises(ledger.InvalidKeyFile):
        ledger.KeyRing.from_directory(tmp_path)


def test_a_public_key_file_not_in_the_index_is_not_trusted(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    planted = other_public_key(tmp_path)
    ring = ledger.KeyRing.from_directory(tmp_path)
    assert planted not in ring and kid in ring and len(ring) == 1


def test_an_unlisted_malformed_public_key_file_is_ignored(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    (tmp_path / f"{'0' * 32}.pub").write_text("not hex\n")
    assert list(ledger.KeyRing.from_directory(tmp_path)) == [kid]


def test_a_listed_key_without_its_public_key_file_is_key_not_found(tmp_path: Path) -> None:
    kid = ledger.generate_key(tmp_path)
    (tmp_path / f"{kid}.pub").unlink()
    with pytest.raises(ledger.KeyNotFound, match=kid):
        ledger.KeyRing.from_directory(tmp_path)


def test_a_key_directory_without_an_index_is_refused(tmp_path: Path) -> None:
    ledger.generate_key(tmp_path)
    (tmp_path / "KEYS").unlink()
    with pytest.raises(ledger.KeyNotFound, match="KEYS"):
        ledger.KeyRing.from_directory(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_an_index_that_lists_no_key_is_key_not_found(tmp_path: Path, content: str) -> None:
    ledger.generate_key(tmp_path)
    (tmp_path / "KEYS").write_text(content)
    with pytest.raises(ledger.KeyNotFound):
        ledger.KeyRing.from_directory(tmp_path)


@pytest.mark.parametrize("line", ["../etc/passwd", "0" * 31, "0" * 33, "A" * 32, "# ids"])
def test_an_index_line_that_is_not_a_key_id_is_refused(tmp_path: Path, line: str) -> None:
    kid = ledger.generate_key(tmp_path)
    (tmp_path / "KEYS").write_text(f"{kid}\n{line}\n")
    with pytest.raises(ledger.InvalidKeyFile):
        ledger.KeyRing.from_directory(tmp_path)


@pytest.mark.parametrize("unsafe", [0o664, 0o646, 0o666])
def test_an_index_writable_by_group_or_others_is_refused(tmp_path: Path,
                                                         unsafe: int) -> None:
    ledger.generate_key(tmp_path)
    os.chmod(tmp_path / "KEYS", unsafe)
    with pytest.raises(ledger.UnsafeKeyPermissions):
        ledger.KeyRing.from_directory(tmp_path)


def test_a_missing_key_directory_is_key_not_found(tmp_path: Path) -> None:
    with pytest.raises(ledger.KeyNotFound):
        ledger.KeyRing.from_directory(tmp_path / "absent")


def test_a_keyring_entry_under_a_wrong_id_is_refused() -> None:
    raw = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes(32))).public_key_raw
    with pytest.raises(ledger.KeyFileMismatch):
        ledger.KeyRing({"0" * 32: raw})


@pytest.mark.parametrize("kid,entry_hash,signature", [
    ("unknown", HASH, bytes(64)), (None, HASH, bytes(64)), ("KID", b"short", bytes(64)),
    ("KID", HASH, b""), ("KID", HASH, bytes(63)), ("KID", HASH, b"\xff" * 64),
    ("KID", HASH, "not bytes"),
])
def test_keyring_verify_returns_false_and_never_raises_for_bad_input(
        kid: str, entry_hash: bytes, signature: bytes) -> None:
    signer = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    ring = ledger.KeyRing({signer.key_id: signer.public_key_raw})
    assert ring.verify(signer.key_id if kid == "KID" else kid, entry_hash, signature) is False


def test_generate_key_creates_missing_parent_directories_private(tmp_path: Path) -> None:
    keys = tmp_path / "var" / "deep" / "keys"
    ledger.generate_key(keys)
    for directory in (tmp_path / "var", tmp_path / "var" / "deep", keys):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_key_directory_under_a_parent_others_may_write_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    ledger.generate_key(parent / "keys")
    os.chmod(parent, 0o777)
    with pytest.raises(ledger.UnsafeKeyPermissions, match="above the key directory"):
        ledger.KeyRing.from_directory(parent / "keys")
    os.chmod(parent, 0o1777)  # sticky, as /tmp: nobody may rename another's directory
    assert len(ledger.KeyRing.from_directory(parent / "keys")) == 1
