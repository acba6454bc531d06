"""C2SP signed notes, checkpoints and tlog proofs, Ed25519 only (ADR 0011).

Pinned to c2sp.org/signed-note@v1.0.0 and c2sp.org/tlog-checkpoint@v1.0.0 (C2SP commit
99fd482db06deca04d3fc80446a030ff9a947e97), and to c2sp.org/tlog-proof@v1 as written at
C2SP commit ab17a74116563005f908b9167e6421cc929a5c2b (not yet tagged).

    note       = text (ends in "\\n") || "\\n" || signature lines
    signature  = "— " name " " base64(key ID[4] || Ed25519 signature over the text) "\\n"
    key ID     = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]
    vkey       = name "+" hex(key ID) "+" base64(0x01 || public key)
    checkpoint = origin "\\n" decimal size "\\n" base64 root "\\n" [extension lines "\\n"]

Our policy on top of the specs: a checkpoint is accepted only if a key *named as its
origin* signs it (tlog-checkpoint: the log's key name SHOULD match the origin), so a
witness's key can never stand in for the log's; a note with more than `MAX_SIGNATURES`
signature lines is refused (signed-note: accept at least 16); a known key whose signature
does not verify rejects the whole note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.encoding import HASH_SIZE, PUBLIC_KEY_SIZE
from ledger.errors import NoteFormatError, NoteVerificationError
from ledger.merkle import verify_inclusion

SIGNATURE_TYPE_ED25519 = 0x01
KEY_ID_SIZE = 4
MAX_SIGNATURES = 16
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_TREE_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_ID = re.compile(r"[0-9a-f]{8}")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded, strict alphabet."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteFormatError(f"{what} is not base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_no_controls(text: str, what: str, *, newlines: bool) -> None:
    for ch in text:
        if ch < " " and not (newlines and ch == "\n"):
            raise NoteFormatError(f"{what} contains the control character {ch!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteFormatError(f"{what} is not encodable as UTF-8") from None


def check_key_name(name: str) -> str:
    """`name` if it is a valid key name: a non-empty str without Unicode spaces, plus
    signs or control characters; NoteFormatError otherwise."""
    if not isinstance(name, str) or not name:
        raise NoteFormatError("a key name is a non-empty str")
    _check_no_controls(name, "the key name", newlines=False)
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteFormatError(f"the key name {name!r} contains a space or '+'")
    return name


def note_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 note key:
    SHA-256(UTF-8 name || 0x0A || 0x01 || 32-byte public key)[:4]."""
    check_key_name(name)
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_SIZE:
        raise NoteFormatError(f"an Ed25519 public key has {PUBLIC_KEY_SIZE} bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_ED25519])
                          + bytes(public_key)).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class NoteVerifier:
    """A verifier key: name, 4-byte key ID and raw 32-byte Ed25519 public key. Build it
    with `parse_vkey` or `NoteVerifier.ed25519(name, public_key)`."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if note_key_id(self.name, self.public_key) != self.key_id:
            raise NoteFormatError(f"the key ID of {self.name!r} is not the ID of its key")
        try:
            Ed25519PublicKey.from_public_bytes(bytes(self.public_key))
        except ValueError:
            raise NoteFormatError("not a valid Ed25519 public key") from None

    @classmethod
    def ed25519(cls, name: str, public_key: bytes) -> NoteVerifier:
        """The verifier of Ed25519 key `public_key` (32 bytes) named `name`."""
        return cls(name, note_key_id(name, public_key), bytes(public_key))

    def vkey(self) -> str:
        """`<name>+<hex key ID>+<base64(0x01 || public key)>`."""
        return (f"{self.name}+{self.key_id.hex()}+"
                f"{_b64(bytes([SIGNATURE_TYPE_ED25519]) + self.public_key)}")

    def verifies(self, text: bytes, signature: bytes) -> bool:
        """True iff `signature` (64 bytes) is this key's Ed25519 signature of `text`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def parse_vkey(vkey: str) -> NoteVerifier:
    """The NoteVerifier of a verifier key string `<name>+<hex ID>+<base64(0x01 || key)>`,
    split with split("+", 2) (base64 may contain "+"). NoteFormatError if a part is
    malformed, the type is not Ed25519 (0x01), or the ID is not the key's ID."""
    if not isinstance(vkey, str):
        raise NoteFormatError("a verifier key is a str")
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteFormatError("a verifier key has three parts separated by '+'")
    name, hex_id, key = parts
    check_key_name(name)
    if not _HEX_ID.fullmatch(hex_id):
        raise NoteFormatError("the key ID of a verifier key is 8 lowercase hex digits")
    raw = _b64decode(key, "the verifier key's public key")
    if len(raw) != 1 + PUBLIC_KEY_SIZE or raw[0] != SIGNATURE_TYPE_ED25519:
        raise NoteFormatError("not an Ed25519 verifier key (type 0x01 and 32 bytes)")
    return NoteVerifier(name, bytes.fromhex(hex_id), raw[1:])


def encode_vkey(name: str, public_key: bytes) -> str:
    """The verifier key string of the Ed25519 key `public_key` named `name`."""
    return NoteVerifier.ed25519(name, public_key).vkey()


class NoteSigner:
    """Signs note texts with one Ed25519 private key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """NoteFormatError for an invalid name; TypeError if the key is not Ed25519."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("NoteSigner needs an Ed25519PrivateKey")
        self._key = private_key
        self.name = check_key_name(name)
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = note_key_id(name, self.public_key)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()!r})"

    def verifier(self) -> NoteVerifier:
        """The matching verifier (publish `.verifier().vkey()`)."""
        return NoteVerifier(self.name, self.key_id, self.public_key)

    def signature_line(self, text: str) -> str:
        """`— <name> base64(key ID || signature of the UTF-8 text)` followed by newline."""
        check_note_text(text)
        sig = self._key.sign(text.encode("utf-8"))
        return f"{SIGNATURE_PREFIX}{self.name} {_b64(self.key_id + sig)}\n"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed (not yet verified) signed note: its text and signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


def check_note_text(text: str) -> str:
    """`text` if it is a valid note text: a str encodable as UTF-8, ending in a newline,
    without control characters other than newline; NoteFormatError otherwise."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteFormatError("a note text is a str ending in a newline")
    _check_no_controls(text, "the note text", newlines=True)
    return text


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: `text`, a blank line, one signature line per signer (at least one,
    at most MAX_SIGNATURES). NoteFormatError for an invalid text."""
    check_note_text(text)
    if not 1 <= len(signers) <= MAX_SIGNATURES:
        raise NoteFormatError(f"a note needs 1 to {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def parse_note(note: str | bytes, *, max_signatures: int = MAX_SIGNATURES) -> Note:
    """The text and signature lines of a signed note (format only, nothing verified).

    The text is everything up to and including the newline before the last blank line.
    NoteFormatError if the note is not valid UTF-8, has a control character other than
    newline, does not end in a newline, has no or more than `max_signatures` signature
    lines, or a line after the blank line is not `— <key name> <base64 of >= 5 bytes>`."""
    if isinstance(note, bytes | bytearray):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise NoteFormatError("a note is UTF-8") from None
    if not isinstance(note, str):
        raise NoteFormatError("a note is a str or UTF-8 bytes")
    _check_no_controls(note, "the note", newlines=True)
    if not note.endswith("\n"):
        raise NoteFormatError("a note ends in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("a note has a blank line before its signatures")
    text, lines = note[:split + 1], note[split + 2:-1].split("\n")
    if lines == [""]:
        raise NoteFormatError("a note has at least one signature")
    if len(lines) > max_signatures:
        raise NoteFormatError(f"more than {max_signatures} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteFormatError(f"not a signature line: {line!r}")
        name, sep, b64 = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not sep:
            raise NoteFormatError(f"not a signature line: {line!r}")
        check_key_name(name)
        raw = _b64decode(b64, f"the signature of {name!r}")
        if len(raw) < KEY_ID_SIZE + 1:
            raise NoteFormatError(f"the signature of {name!r} is too short")
        signatures.append(NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return Note(text, tuple(signatures))


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier], *,
              max_signatures: int = MAX_SIGNATURES) -> tuple[str, list[NoteVerifier]]:
    """The text of `note` and the known keys whose signatures verified, in note order.

    Signatures by unknown (name, key ID) pairs are ignored (even if the name or the ID
    alone matches a known key). Raises NoteFormatError for a malformed note (see
    `parse_note`), NoteVerificationError if a known key's signature fails or if no known
    key signs the note."""
    parsed = parse_note(note, max_signatures=max_signatures)
    known = {(v.name, v.key_id): v for v in verifiers}
    text = parsed.text.encode("utf-8")
    verified: list[NoteVerifier] = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verifies(text, sig.signature):
            raise NoteVerificationError(f"the signature of {sig.name} does not verify")
        if verifier not in verified:
            verified.append(verifier)
    if not verified:
        raise NoteVerificationError("no known key signs the note")
    return parsed.text, verified


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: origin, tree size, 32-byte root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, line in [("the origin", self.origin), *(("an extension line", e)
                                                          for e in self.extensions)]:
            if not isinstance(line, str) or not line:
                raise NoteFormatError(f"{what} is a non-empty str")
            _check_no_controls(line, what, newlines=False)
        if (not isinstance(self.size, int) or isinstance(self.size, bool)
                or not 0 <= self.size <= MAX_TREE_SIZE):
            raise NoteFormatError(f"tree size out of range: {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise NoteFormatError(f"the root hash is {HASH_SIZE} bytes")

    def body(self) -> str:
        """The note text: origin, decimal size, base64 root, extension lines, each ending
        in a newline."""
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), _b64(self.root),
                                                *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint of a note text. NoteFormatError unless it is at least three
        non-empty lines ending in a newline: an origin, a decimal size without leading
        zeros (< 2**64), the canonical base64 of 32 bytes, then non-empty extension lines;
        no control character but newline."""
        check_note_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not all(lines):
            raise NoteFormatError("a checkpoint has at least three non-empty lines")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
            raise NoteFormatError(f"not a tree size: {size!r}")
        raw = _b64decode(root, "the root hash")
        if len(raw) != HASH_SIZE or _b64(raw) != root:
            raise NoteFormatError("the root hash is not the base64 of 32 bytes")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """The signed checkpoint note. NoteFormatError unless one signer is named as the
    checkpoint's origin (the log's own key, first by convention)."""
    if not any(s.name == checkpoint.origin for s in signers):
        raise NoteFormatError(f"no signer is named as the origin {checkpoint.origin!r}")
    return sign_note(checkpoint.body(), signers)


def open_checkpoint(note: str | bytes, verifiers: Iterable[NoteVerifier], *,
                    origin: str | None = None,
                    max_signatures: int = MAX_SIGNATURES) -> Checkpoint:
    """The checkpoint of a signed note that a known key named as its origin signs (and
    whose origin is `origin`, if given). Raises NoteFormatError for a malformed note or
    body, NoteVerificationError otherwise (see `open_note`)."""
    text, verified = open_note(note, verifiers, max_signatures=max_signatures)
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteVerificationError(f"the checkpoint's origin is {checkpoint.origin!r}, "
                                    f"not {origin!r}")
    if not any(v.name == checkpoint.origin for v in verified):
        raise NoteVerificationError(f"no known key named {checkpoint.origin!r} signs the "
                                    "checkpoint")
    return checkpoint


@dataclass(frozen=True)
class TlogProof:
    """A `c2sp.org/tlog-proof@v1` proof: leaf index, inclusion proof hashes, the signed
    checkpoint note verbatim, and optional extra data (not authenticated by itself)."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if (not isinstance(self.index, int) or isinstance(self.index, bool)
                or not 0 <= self.index <= MAX_TREE_SIZE):
            raise NoteFormatError(f"leaf index out of range: {self.index!r}")
        if not all(isinstance(p, bytes) and len(p) == HASH_SIZE for p in self.proof):
            raise NoteFormatError(f"a proof hash is {HASH_SIZE} bytes")
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise NoteFormatError("extra is bytes")
        parse_note(self.checkpoint)

    def text(self) -> str:
        """The proof text: header, optional `extra`, `index`, the hashes, a blank line,
        the checkpoint note."""
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {_b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(_b64(p) for p in self.proof)
        return "".join(f"{line}\n" for line in lines) + "\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str | bytes) -> TlogProof:
        """The proof of a `c2sp.org/tlog-proof@v1` text. NoteFormatError unless: the
        first line is the header; then optionally `extra <base64>`; `index <decimal
        without leading zeros>`; one base64 32-byte hash per line; a blank line; a
        well-formed signed note."""
        if isinstance(text, bytes | bytearray):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                raise NoteFormatError("a tlog proof is UTF-8") from None
        if not isinstance(text, str):
            raise NoteFormatError("a tlog proof is a str or UTF-8 bytes")
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise NoteFormatError("a tlog proof has a blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise NoteFormatError(f"a tlog proof starts with {TLOG_PROOF_HEADER!r}")
        lines = lines[1:]
        extra = None
        if lines and lines[0].startswith("extra "):
            extra = _b64decode(lines.pop(0)[len("extra "):], "extra")
        if not lines or not lines[0].startswith("index "):
            raise NoteFormatError("a tlog proof has an 'index N' line")
        index = lines.pop(0)[len("index "):]
        if not _DECIMAL.fullmatch(index) or int(index) > MAX_TREE_SIZE:
            raise NoteFormatError(f"not a leaf index: {index!r}")
        proof = []
        for line in lines:
            raw = _b64decode(line, "a proof hash")
            if len(raw) != HASH_SIZE or _b64(raw) != line:
                raise NoteFormatError("a proof line is the base64 of 32 bytes")
            proof.append(raw)
        return cls(int(index), tuple(proof), checkpoint, extra)


def open_tlog_proof(proof: str | bytes | TlogProof, leaf_hash: bytes,
                    verifiers: Iterable[NoteVerifier], *,
                    origin: str | None = None) -> tuple[TlogProof, Checkpoint]:
    """The proof and its checkpoint, if the checkpoint is signed by a known key named as
    its origin (and its origin is `origin`, if given) and the inclusion proof puts
    `leaf_hash` at the proof's index in that checkpoint's tree. NoteFormatError for a
    malformed proof, NoteVerificationError otherwise."""
    parsed = proof if isinstance(proof, TlogProof) else TlogProof.parse(proof)
    checkpoint = open_checkpoint(parsed.checkpoint, verifiers, origin=origin)
    if not verify_inclusion(leaf_hash, parsed.index, checkpoint.size, list(parsed.proof),
                            checkpoint.root):
        raise NoteVerificationError(f"the inclusion proof does not put the leaf at index "
                                    f"{parsed.index} of the tree of size {checkpoint.size}")
    return parsed, checkpoint
