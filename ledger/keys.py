"""Ed25519 keys: generation into a private directory, the signer, the key ring.

Layout of a key directory (mode 0700):

    <key_id>.key   PKCS#8 PEM private key, unencrypted, mode 0600
    <key_id>.pub   lowercase hex of the raw 32-byte public key, one line + newline
    KEYS           the index: ids of the trusted keys, one a line + newline, oldest
                   first, mode 0644
    ACTIVE         the id of the signing key, one line + newline

Trust comes from KEYS, not from the files present: `KeyRing.from_directory` loads exactly
the keys KEYS lists and ignores any other `.pub` (a `.pub` cannot lie about its key, its
name must be the key id of its content). A listed key whose `.pub` is missing or malformed,
a directory without KEYS, and a directory or KEYS writable by group or others
(mode & 0o022) are refused. `Signer.from_directory` refuses such a directory too.

Rotation (ADR 0016): `generate_key(activate=False)` adds a key to KEYS; the service
announces it in every chain, signed by the key in force there; `activate_key` makes it
ACTIVE; `destroy_private_key` deletes the retired private key, which can then never sign
again. Old `.pub` files stay so entries signed before the change still verify. An auditor
needs only the `.pub` files and KEYS.

A key directory made before KEYS existed: `generate_key` (e.g. a key rotation) first lists
in KEYS the key pairs already there (each `<key_id>.key` with its `<key_id>.pub`, oldest
first), then the new key. To keep the keys without rotating, or for a directory of `.pub`
files alone, write the ids of the keys you trust to DIR/KEYS yourself, one a line, e.g.
`for f in DIR/*.pub; do basename "$f" .pub; done > DIR/KEYS` after checking each file.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.encoding import (
    HASH_SIZE,
    PUBLIC_KEY_SIZE,
    key_id,
    signing_message,
    verified_message,
)
from ledger.errors import (
    EncodingError,
    InvalidKeyFile,
    KeyFileMismatch,
    KeyNotFound,
    UnsafeKeyPermissions,
)
from ledger.note import NoteSigner, NoteVerifier

ACTIVE = "ACTIVE"  # file naming the signing key
INDEX = "KEYS"  # file listing the trusted keys
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
DIRECTORY_MODE = 0o700
PRIVATE_KEY_MODE = 0o600
PUBLIC_KEY_MODE = 0o644
_KEY_ID = re.compile(r"[0-9a-f]{32}")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_directory(directory: Path) -> None:
    """KeyNotFound if `directory` is not a directory, UnsafeKeyPermissions if group or
    others may write it (they could add or replace key files)."""
    try:
        mode = os.stat(directory).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise KeyNotFound(f"{directory} is not a directory") from None
    if not stat.S_ISDIR(mode):
        raise KeyNotFound(f"{directory} is not a directory")
    if mode & 0o022:
        raise UnsafeKeyPermissions(
            f"{directory} has mode {mode & 0o777:04o}: a key directory must not be writable "
            "by group or others (chmod 700)")
    _check_ancestors(directory)


def _check_ancestors(directory: Path) -> None:
    """UnsafeKeyPermissions if a directory above `directory` may be written by group or
    others without the sticky bit: they could rename the key directory away and put
    another in its place (as ssh's StrictModes refuses)."""
    for parent in Path(os.path.abspath(directory)).parents:
        mode = os.stat(parent).st_mode
        if mode & 0o022 and not mode & stat.S_ISVTX:
            raise UnsafeKeyPermissions(
                f"{parent}, above the key directory, has mode {mode & 0o7777:04o}: group or "
                "others could replace the key directory (chmod go-w, or the sticky bit)")


def _make_private_directories(directory: Path) -> None:
    """Creates `directory` and any missing directory above it with mode 0700 (existing
    ones are left as they are)."""
    missing = []
    path = Path(os.path.abspath(directory))
    while not path.exists():
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        path.mkdir(mode=DIRECTORY_MODE)
        os.chmod(path, DIRECTORY_MODE)


def _read_index(directory: Path) -> list[str] | None:
    """The key ids that `directory/KEYS` lists, in order, without repeats; None if there
    is no KEYS. UnsafeKeyPermissions if group or others may write KEYS (checked on the
    opened file before its contents are read), InvalidKeyFile if a line is not a key id."""
    path = directory / INDEX
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidKeyFile(f"{path} is not a regular file")
        if mode & 0o022:
            raise UnsafeKeyPermissions(
                f"{path} has mode {mode & 0o777:04o}: it must not be writable by group or "
                "others (chmod 644)")
        data = f.read()
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise InvalidKeyFile(f"{path} does not hold key ids") from None
    ids: list[str] = []
    for number, line in enumerate(lines, 1):
        kid = line.strip()
        if not kid:
            continue
        if not _KEY_ID.fullmatch(kid):
            raise InvalidKeyFile(f"{path}, line {number}: not a key id")
        if kid not in ids:
            ids.append(kid)
    return ids


def _key_pairs(directory: Path) -> list[str]:
    """The ids of the key pairs (`<key_id>.key` and `<key_id>.pub`) in `directory`,
    oldest private key first: what a directory made before KEYS existed trusts."""
    pairs = [(path.stat().st_mtime_ns, path.stem)
             for path in directory.glob(f"*{PRIVATE_SUFFIX}")
             if _KEY_ID.fullmatch(path.stem)
             and (directory / f"{path.stem}{PUBLIC_SUFFIX}").is_file()]
    return [kid for _, kid in sorted(pairs)]


def _write_atomically(directory: Path, name: str, data: bytes, mode: int) -> None:
    """Writes `data` to a temporary file in `directory`, then renames it to `name`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def generate_key(directory: Path, *, activate: bool = True) -> str:
    """Creates a new Ed25519 key in `directory`, adds it to the KEYS index, makes it the
    ACTIVE key (with `activate=False` only if there is no ACTIVE yet: a rotation
    announces the key in every chain first, ADR 0016) and returns its key id (see
    `ledger.encoding.key_id`).

    Creates `directory` (and parents) if needed and sets it to mode 0700; refuses
    (UnsafeKeyPermissions) an existing directory that group or others may write and that
    is not empty, since its files may not be ours. Writes `<key_id>.key` (PKCS#8 PEM,
    unencrypted) through os.open(O_CREAT | O_EXCL | O_WRONLY, 0o600), so the private key
    never exists with wider permissions; then `<key_id>.pub` (hex of the raw public key +
    newline); then replaces KEYS (the ids it listed, or for a directory without KEYS its
    existing key pairs, then the new id), then ACTIVE, each atomically (temporary file +
    os.replace). Older keys are left in place. Raises InvalidKeyFile or
    UnsafeKeyPermissions for a KEYS that KeyRing.from_directory would refuse.
    Precondition: the caller may write `directory`; OSError otherwise."""
    directory = Path(directory)
    _make_private_directories(directory)
    if os.stat(directory).st_mode & 0o022 and any(directory.iterdir()):
        raise UnsafeKeyPermissions(
            f"{directory} is writable by group or others and not empty: check its files, "
            "then chmod 700 it")
    os.chmod(directory, DIRECTORY_MODE)
    trusted = _read_index(directory)
    if trusted is None:
        trusted = _key_pairs(directory)
    private = Ed25519PrivateKey.generate()
    raw = _raw_public(private.public_key())
    kid = key_id(raw)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = directory / f"{kid}{PRIVATE_SUFFIX}"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_KEY_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), PRIVATE_KEY_MODE)  # exactly 0600, whatever the umask
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    _write_atomically(directory, f"{kid}{PUBLIC_SUFFIX}", (raw.hex() + "\n").encode("ascii"),
                      PUBLIC_KEY_MODE)
    _write_atomically(directory, INDEX, "".join(f"{k}\n" for k in [*trusted, kid]).encode(
        "ascii"), PUBLIC_KEY_MODE)
    if activate or not (directory / ACTIVE).exists():
        _write_atomically(directory, ACTIVE, (kid + "\n").encode("ascii"), PRIVATE_KEY_MODE)
    _fsync_directory(directory)
    return kid


def active_key(directory: Path) -> str:
    """The key id that `directory/ACTIVE` names. KeyNotFound if there is no ACTIVE,
    InvalidKeyFile if it does not hold a key id."""
    path = Path(directory) / ACTIVE
    try:
        kid = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyNotFound(f"no active signing key in {directory}") from None
    except UnicodeDecodeError:
        raise InvalidKeyFile(f"{path} does not hold a key id") from None
    if not _KEY_ID.fullmatch(kid):
        raise InvalidKeyFile(f"{path} does not hold a key id")
    return kid


def activate_key(directory: Path, key: str) -> None:
    """Makes `key` (a key pair in `directory`, listed in KEYS) the ACTIVE key,
    atomically. KeyNotFound if it has no private key file or KEYS does not list it."""
    directory = Path(directory)
    _check_directory(directory)
    if not _KEY_ID.fullmatch(key) or not (directory / f"{key}{PRIVATE_SUFFIX}").is_file():
        raise KeyNotFound(f"{directory} holds no private key {key!r}")
    if key not in (_read_index(directory) or []):
        raise KeyNotFound(f"{directory / INDEX} does not list {key}")
    _write_atomically(directory, ACTIVE, (key + "\n").encode("ascii"), PRIVATE_KEY_MODE)
    _fsync_directory(directory)


def destroy_private_key(directory: Path, key: str) -> bool:
    """Deletes the private key file of `key` (its `.pub` and KEYS line stay, so what it
    signed still verifies): a retired key can never sign again. Refuses the ACTIVE key
    (ValueError). True if a file was deleted."""
    directory = Path(directory)
    _check_directory(directory)
    if not _KEY_ID.fullmatch(key):
        raise InvalidKeyFile(f"not a key id: {key!r}")
    with contextlib.suppress(KeyNotFound):
        if active_key(directory) == key:
            raise ValueError(f"{key} is the active key")
    try:
        os.unlink(directory / f"{key}{PRIVATE_SUFFIX}")
    except FileNotFoundError:
        return False
    _fsync_directory(directory)
    return True


class Signer:
    """Signs entry hashes with one Ed25519 private key.

    Attributes: `key_id` (str, see `ledger.encoding.key_id`) and `public_key_raw` (the
    raw 32-byte public key)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        """Precondition: `private_key` is an Ed25519PrivateKey, else TypeError."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("Signer needs an Ed25519PrivateKey")
        self._key = private_key
        self.public_key_raw: bytes = _raw_public(private_key.public_key())
        self.key_id: str = key_id(self.public_key_raw)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, entry_hash: bytes) -> bytes:
        """The 64-byte Ed25519 signature of SIGNATURE_TAG || entry_hash (deterministic,
        RFC 8032). Precondition: entry_hash is 32 bytes, else EncodingError."""
        return self._key.sign(signing_message(entry_hash))

    def sign_verified(self, chain_id: str, position: int, entry_hash: bytes) -> bytes:
        """The signature of a verified-through mark (`verified_message`)."""
        return self._key.sign(verified_message(chain_id, position, entry_hash))

    def sign_manifest(self, manifest: bytes) -> bytes:
        """The plain Ed25519 signature of a SHA256SUMS file (what `openssl pkeyutl
        -verify -rawin` checks). Only such a file is signed this way: lines of 64
        lowercase hex digits, two spaces and a path (ManifestError otherwise), so the
        message can be neither a tagged entry message (NUL) nor a note (its first line is
        a log's name)."""
        from ledger.archive import parse_manifest  # a leaf module: no import cycle

        parse_manifest(manifest)
        return self._key.sign(bytes(manifest))

    def note_signer(self, name: str) -> NoteSigner:
        """A signer of C2SP notes (checkpoints) with this key under the key name `name`
        (ADR 0011: a note text has no control character, an entry signature's message
        has a NUL, so the two never collide). NoteFormatError for an invalid name."""
        return NoteSigner(name, self._key)

    @classmethod
    def from_directory(cls, directory: Path, key: str | None = None) -> Signer:
        """The signer of the key that `directory/ACTIVE` names (or of `key`, a key id,
        whatever ACTIVE says).

        Raises KeyNotFound if `directory` is not a directory, there is no ACTIVE file or
        no `<key_id>.key` for it; UnsafeKeyPermissions if group or others may write
        `directory` (mode & 0o022), or if the private key file's mode has any group or
        other bit (mode & 0o077), checked on the opened file before its contents are read;
        InvalidKeyFile if ACTIVE does not hold a key id or the file is not an Ed25519
        PEM key; KeyFileMismatch if the key's id is not the one ACTIVE names."""
        directory = Path(directory)
        _check_directory(directory)
        kid = key if key is not None else active_key(directory)
        if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
            raise InvalidKeyFile(f"not a key id: {kid!r}")
        path = directory / f"{kid}{PRIVATE_SUFFIX}"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyNotFound(f"the key {kid} has no private key file {path}") from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & 0o077:
                raise UnsafeKeyPermissions(
                    f"{path} has mode {mode & 0o777:04o}: it must not be accessible to "
                    "group or others (chmod 600)")
            pem = f.read()
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidKeyFile(f"{path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKeyFile(f"{path} is not an Ed25519 private key")
        signer = cls(key)
        if signer.key_id != kid:
            raise KeyFileMismatch(f"{path} holds key {signer.key_id}, not {kid}")
        return signer


class KeyRing:
    """Ed25519 public keys by key id: what verification trusts."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        """`keys` maps key id -> raw 32-byte public key. Raises InvalidKeyFile if a key
        is not 32 bytes or not a valid Ed25519 key, KeyFileMismatch if an id is not
        `key_id(raw)`."""
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, raw in keys.items():
            if not isinstance(raw, bytes | bytearray) or len(raw) != PUBLIC_KEY_SIZE:
                raise InvalidKeyFile(f"key {kid}: an Ed25519 public key has 32 bytes")
            if key_id(raw) != kid:
                raise KeyFileMismatch(f"key id {kid} is not the id of its public key "
                                      f"({key_id(raw)})")
            try:
                self._keys[kid] = Ed25519PublicKey.from_public_bytes(bytes(raw))
            except ValueError:
                raise InvalidKeyFile(f"key {kid} is not a valid Ed25519 public key") from None

    @classmethod
    def from_directory(cls, directory: Path) -> KeyRing:
        """The keys that `directory/KEYS` lists, each read from its `<key_id>.pub`
        (private keys are neither needed nor read, so an auditor's directory of `.pub`
        files and KEYS suffices). A `.pub` that KEYS does not list is ignored.

        Each `.pub` holds the hex of a raw 32-byte public key (surrounding whitespace
        ignored). Raises KeyNotFound if `directory` is not a directory, has no KEYS,
        KEYS lists no key, or a listed key has no `.pub`; UnsafeKeyPermissions if group or
        others may write `directory` or KEYS (mode & 0o022); InvalidKeyFile if a line of
        KEYS is not a key id or a listed `.pub` is not such hex; KeyFileMismatch if a
        listed `.pub` holds another key than its name says."""
        directory = Path(directory)
        _check_directory(directory)
        ids = _read_index(directory)
        if ids is None:
            raise KeyNotFound(
                f"{directory} has no {INDEX} index of trusted keys: list the ids of the keys "
                f"you trust in {directory / INDEX}, one a line (see ledger.keys)")
        if not ids:
            raise KeyNotFound(f"{directory / INDEX} lists no key")
        keys: dict[str, bytes] = {}
        for kid in ids:
            path = directory / f"{kid}{PUBLIC_SUFFIX}"
            try:
                raw = bytes.fromhex(path.read_text(encoding="ascii").strip())
            except FileNotFoundError:
                raise KeyNotFound(f"{directory / INDEX} lists {kid}, which has no {path.name}"
                                  ) from None
            except (UnicodeDecodeError, ValueError):
                raise InvalidKeyFile(f"{path} does not hold a hex public key") from None
            if len(raw) != PUBLIC_KEY_SIZE:
                raise InvalidKeyFile(f"{path} does not hold a 32-byte public key")
            if key_id(raw) != kid:
                raise KeyFileMismatch(f"{path.name} holds the public key of {key_id(raw)}")
            keys[kid] = raw
        return cls(keys)

    def including(self, keys: Mapping[str, bytes]) -> KeyRing:
        """A ring of these keys and `keys` (key id -> raw public key; as the
        constructor checks them). This ring is not changed."""
        ring = KeyRing(keys)
        ring._keys = {**ring._keys, **self._keys}
        return ring

    def __contains__(self, key_id: object) -> bool:
        """True iff the ring holds a key with this id."""
        return key_id in self._keys

    def __len__(self) -> int:
        """The number of keys."""
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        """The key ids, sorted."""
        return iter(sorted(self._keys))

    def public_key(self, key_id: str) -> bytes:
        """The raw 32-byte public key with this id (KeyNotFound if the ring has none)."""
        if key_id not in self._keys:
            raise KeyNotFound(f"the key ring holds no key {key_id!r}")
        return _raw_public(self._keys[key_id])

    def verify_manifest(self, key_id: str, manifest: bytes, signature: bytes) -> bool:
        """True iff `signature` is the key's plain Ed25519 signature of `manifest`
        (Signer.sign_manifest). Never raises for untrusted input."""
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(signature, bytes | bytearray):
            return False
        try:
            key.verify(bytes(signature), bytes(manifest))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def note_verifiers(self, name: str) -> list[NoteVerifier]:
        """Every key of the ring as a verifier of notes signed under the key name
        `name` (a log's checkpoints, signed by whichever key was active)."""
        return [NoteVerifier.ed25519(name, _raw_public(self._keys[kid])) for kid in self]

    def verify_verified(self, key_id: str, chain_id: str, position: int, entry_hash: bytes,
                        signature: bytes) -> bool:
        """True iff `signature` is the key's valid signature of the verified-through mark
        (`verified_message`). Never raises for untrusted input."""
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(signature, bytes | bytearray):
            return False
        try:
            key.verify(bytes(signature), verified_message(chain_id, position,
                                                          bytes(entry_hash)))
        except (InvalidSignature, EncodingError, TypeError, ValueError):
            return False
        return True

    def verify(self, key_id: str, entry_hash: bytes, signature: bytes) -> bool:
        """True iff `signature` is a valid Ed25519 signature, by the key with this id, of
        the bytes SIGNATURE_TAG || entry_hash.

        Never raises for untrusted input: an unknown key id, an entry hash that is not
        32 bytes or a malformed signature all give False."""
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(entry_hash, bytes | bytearray):
            return False
        if len(entry_hash) != HASH_SIZE or not isinstance(signature, bytes | bytearray):
            return False
        try:
            key.verify(bytes(signature), signing_message(bytes(entry_hash)))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def public_key_pem(raw: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of a raw Ed25519 public key (what `openssl pkeyutl
    -pubin -inkey` reads). InvalidKeyFile for bytes that are not such a key."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(raw))
    except ValueError:
        raise InvalidKeyFile("not a raw Ed25519 public key") from None
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
