"""Canonical encoding, version 1 (ADR 0002), byte for byte.

Notation: `u32(n)` and `u64(n)` are 4- and 8-byte big-endian unsigned integers;
`lp(b) = u32(len(b)) || b`; `H` = SHA-256; strings are encoded as UTF-8 exactly as
given (no Unicode normalisation).

    event digest  = H(EVENT_TAG || originator_id[16] || u64(version) || lp(topic) || lp(state))
    genesis hash  = H(GENESIS_TAG || lp(chain_id))
    entry bytes   = ENTRY_TAG || lp(chain_id) || u64(position) || prev_hash[32] || digest[32]
    entry hash    = H(entry bytes)
    signed bytes  = SIGNATURE_TAG || entry_hash[32]            (Ed25519, 64-byte signature)
    key id        = hex(H(raw 32-byte Ed25519 public key)[:16])

Pure functions over bytes; no storage, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import struct

from ledger.errors import EncodingError

# Domain-separation prefixes: ASCII, each ending in one NUL byte. Changing any of them
# is a new encoding version (a new ADR, `v2` tags, new vectors).
EVENT_TAG = b"ejournal/ledger/event/v1\x00"
ENTRY_TAG = b"ejournal/ledger/entry/v1\x00"
GENESIS_TAG = b"ejournal/ledger/genesis/v1\x00"
SIGNATURE_TAG = b"ejournal/ledger/signature/v1\x00"
VERIFIED_TAG = b"ejournal/ledger/verified/v1\x00"

HASH_SIZE = 32  # SHA-256 output, and the size of prev_hash, digests and entry hashes
ORIGINATOR_ID_SIZE = 16  # the bytes of a UUID
PUBLIC_KEY_SIZE = 32  # a raw Ed25519 public key
SIGNATURE_SIZE = 64  # an Ed25519 signature
KEY_ID_BYTES = 16  # a key id is the hex of this many leading bytes of H(public key)
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
MAX_VERSION = 2**63 - 1


def _is_int(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _is_bytes(b: object) -> bool:
    return isinstance(b, bytes | bytearray)


def _utf8(text: str, name: str) -> bytes:
    if not isinstance(text, str):
        raise EncodingError(f"{name} must be a str, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates have no UTF-8 encoding
        raise EncodingError(f"{name} is not encodable as UTF-8: {error}") from None


def _hash32(value: bytes, name: str) -> bytes:
    if not _is_bytes(value) or len(value) != HASH_SIZE:
        raise EncodingError(f"{name} must be {HASH_SIZE} bytes")
    return bytes(value)


def u32(n: int) -> bytes:
    """The 4 bytes of `n` as a big-endian unsigned integer.

    Precondition: 0 <= n < 2**32, else EncodingError."""
    if not _is_int(n) or not 0 <= n <= MAX_U32:
        raise EncodingError(f"u32 out of range: {n!r}")
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    """The 8 bytes of `n` as a big-endian unsigned integer.

    Precondition: 0 <= n < 2**64, else EncodingError."""
    if not _is_int(n) or not 0 <= n <= MAX_U64:
        raise EncodingError(f"u64 out of range: {n!r}")
    return struct.pack(">Q", n)


def lp(data: bytes) -> bytes:
    """Length-prefixed bytes: u32(len(data)) || data.

    Precondition: `data` is bytes (or bytearray) shorter than 2**32 bytes, else
    EncodingError."""
    if not _is_bytes(data):
        raise EncodingError(f"lp() takes bytes, got {type(data).__name__}")
    if len(data) > MAX_U32:
        raise EncodingError("field longer than 2**32 - 1 bytes")
    return u32(len(data)) + bytes(data)


def event_digest(originator_id: bytes, originator_version: int, topic: str,
                 state: bytes) -> bytes:
    """The 32-byte event digest:

        SHA-256(EVENT_TAG || originator_id || u64(originator_version)
                || lp(UTF-8 of topic) || lp(state))

    It hashes the event row exactly as stored: the 16 bytes of the aggregate's UUID, its
    version, the topic and the state bytes written by the event store (never re-encoded).

    Preconditions, else EncodingError: originator_id is exactly 16 bytes;
    0 <= originator_version < 2**63; topic is a str encodable as UTF-8 (no lone
    surrogates); state is bytes (or bytearray) and shorter than 2**32 bytes."""
    if not _is_bytes(originator_id) or len(originator_id) != ORIGINATOR_ID_SIZE:
        size = len(originator_id) if _is_bytes(originator_id) else type(originator_id).__name__
        raise EncodingError(f"originator_id must be {ORIGINATOR_ID_SIZE} bytes, got {size}")
    if not _is_int(originator_version) or not 0 <= originator_version <= MAX_VERSION:
        raise EncodingError(f"originator_version out of range: {originator_version!r}")
    topic_bytes = _utf8(topic, "topic")
    return hashlib.sha256(EVENT_TAG + bytes(originator_id) + u64(originator_version)
                          + lp(topic_bytes) + lp(state)).digest()


def genesis_hash(chain_id: str) -> bytes:
    """The 32-byte genesis hash, the prev_hash of position 1:

        SHA-256(GENESIS_TAG || lp(UTF-8 of chain_id))

    Precondition: chain_id is a str encodable as UTF-8, else EncodingError."""
    return hashlib.sha256(GENESIS_TAG + lp(_utf8(chain_id, "chain_id"))).digest()


def entry_bytes(chain_id: str, position: int, prev_hash: bytes, digest: bytes) -> bytes:
    """The canonical bytes of a chain entry (these are what `entry_hash` hashes):

        ENTRY_TAG || lp(UTF-8 of chain_id) || u64(position) || prev_hash || digest

    Preconditions, else EncodingError: chain_id is a str encodable as UTF-8;
    1 <= position < 2**64; prev_hash and digest are exactly 32 bytes each."""
    if not _is_int(position) or not 1 <= position <= MAX_U64:
        raise EncodingError(f"position out of range: {position!r}")
    prev = _hash32(prev_hash, "prev_hash")
    dig = _hash32(digest, "digest")
    return ENTRY_TAG + lp(_utf8(chain_id, "chain_id")) + u64(position) + prev + dig


def entry_hash(chain_id: str, position: int, prev_hash: bytes, digest: bytes) -> bytes:
    """The 32-byte entry hash: SHA-256(entry_bytes(chain_id, position, prev_hash, digest)).

    Preconditions: as `entry_bytes`, else EncodingError."""
    return hashlib.sha256(entry_bytes(chain_id, position, prev_hash, digest)).digest()


def signing_message(entry_hash: bytes) -> bytes:
    """The exact bytes an Ed25519 entry signature covers: SIGNATURE_TAG || entry_hash.

    Precondition: entry_hash is exactly 32 bytes, else EncodingError."""
    return SIGNATURE_TAG + _hash32(entry_hash, "entry_hash")


def verified_message(chain_id: str, position: int, entry_hash: bytes) -> bytes:
    """The exact bytes a verified-through mark's signature covers — a service's signed
    statement "I verified this chain from genesis through `position`, whose entry hash is
    `entry_hash`", so that a process starting later need not verify that part again:

        VERIFIED_TAG || lp(UTF-8 of chain_id) || u64(position) || entry_hash

    Its own tag keeps it from ever being taken for an entry signature. Preconditions,
    else EncodingError: 1 <= position < 2**64; entry_hash is exactly 32 bytes."""
    if not _is_int(position) or not 1 <= position <= MAX_U64:
        raise EncodingError(f"position out of range: {position!r}")
    return (VERIFIED_TAG + lp(_utf8(chain_id, "chain_id")) + u64(position)
            + _hash32(entry_hash, "entry_hash"))


def key_id(public_key_raw: bytes) -> str:
    """The key id: lowercase hex (32 characters) of the first 16 bytes of
    SHA-256(public_key_raw).

    Precondition: public_key_raw is the raw 32-byte Ed25519 public key, else
    EncodingError."""
    if not _is_bytes(public_key_raw) or len(public_key_raw) != PUBLIC_KEY_SIZE:
        raise EncodingError(f"an Ed25519 public key has {PUBLIC_KEY_SIZE} bytes")
    return hashlib.sha256(bytes(public_key_raw)).digest()[:KEY_ID_BYTES].hex()
