"""A slow reference implementation of ADR 0002 (encoding v1 and the verification
algorithm) and of ADR 0016 (the key in force, announcements), written from the text of
the ADRs with struct, hashlib and json. It shares no code
with `ledger/` and imports nothing from it: tests use it to cross-check the fast code.

Entries here are plain dicts in the export format (hex strings, `state_b64`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TAGS = {
    "event": b"ejournal/ledger/event/v1" + bytes([0]),
    "entry": b"ejournal/ledger/entry/v1" + bytes([0]),
    "genesis": b"ejournal/ledger/genesis/v1" + bytes([0]),
    "signature": b"ejournal/ledger/signature/v1" + bytes([0]),
}


def u32(n: int) -> bytes:
    assert 0 <= n < 2**32
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    assert 0 <= n < 2**64
    return struct.pack(">Q", n)


def lp(b: bytes) -> bytes:
    return u32(len(b)) + b


def sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        for i in range(len(part)):  # deliberately slow: one byte at a time
            h.update(part[i:i + 1])
    return h.digest()


def event_digest(oid: bytes, version: int, topic: str, state: bytes) -> bytes:
    assert len(oid) == 16 and 0 <= version < 2**63
    return sha256(TAGS["event"], oid, u64(version), lp(topic.encode("utf-8")), lp(state))


def genesis(chain_id: str) -> bytes:
    return sha256(TAGS["genesis"], lp(chain_id.encode("utf-8")))


def entry_bytes(chain_id: str, position: int, prev: bytes, digest: bytes) -> bytes:
    assert position >= 1 and len(prev) == 32 and len(digest) == 32
    return TAGS["entry"] + lp(chain_id.encode("utf-8")) + u64(position) + prev + digest


def entry_hash(chain_id: str, position: int, prev: bytes, digest: bytes) -> bytes:
    return sha256(entry_bytes(chain_id, position, prev, digest))


def message(h: bytes) -> bytes:
    return TAGS["signature"] + h


def key_id(raw_public: bytes) -> str:
    return sha256(raw_public)[:16].hex()


def signed(public: dict[str, bytes], kid: str, h: bytes, signature: bytes) -> bool:
    if kid not in public:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public[kid]).verify(signature, message(h))
    except (InvalidSignature, ValueError):
        return False
    return True


ANNOUNCEMENT = "domain.signing:SigningKeys.Rotated"


def announced(state: bytes, signer: str, retired: set[str]) -> tuple[str, bytes] | None:
    """(successor, its raw public key) if `state` is a valid announcement by `signer`."""
    try:
        data = json.loads(state.decode("utf-8"))
        pred, succ, pub = data["predecessor"], data["successor"], data["public_key"]
    except (ValueError, KeyError, TypeError):
        return None
    hexdigits = set("0123456789abcdef")
    if not all(isinstance(x, str) for x in (pred, succ, pub)):
        return None
    if len(pub) != 64 or not set(pub) <= hexdigits or len(pred) != 32 \
            or not set(pred) <= hexdigits:
        return None
    raw = bytes.fromhex(pub)
    if succ != key_id(raw) or pred != signer or succ == pred or succ in retired:
        return None
    return succ, raw


def verify(chain_id: str, entries: list[dict], public: dict[str, bytes],  # type: ignore[type-arg]
           locate: Callable[[bytes], int | None] | None = None
           ) -> tuple[str | None, int | None]:
    """(kind, position) of the first failure, or (None, None) if the chain verifies."""
    public = dict(public)
    p, prev = 1, genesis(chain_id)
    in_force: str | None = None
    retired: set[str] = set()
    for e in entries:
        if e["position"] > p:
            return "missing", p
        if e["position"] < p:
            return "inserted", p
        if e["event"] is None:
            return "missing", p
        if e["key_id"] not in public:
            return "unknown_key", p
        ev = e["event"]
        state = base64.b64decode(ev["state_b64"])
        d = event_digest(bytes.fromhex(ev["originator_id"]), ev["originator_version"],
                         ev["topic"], state)
        h = entry_hash(chain_id, p, prev, d)
        sig = bytes.fromhex(e["signature"])
        if signed(public, e["key_id"], h, sig):
            if e["key_id"] in retired or (in_force is not None and e["key_id"] != in_force):
                return "wrong_key", p
            in_force = e["key_id"]
            if ev["topic"] == ANNOUNCEMENT:
                new = announced(state, e["key_id"], retired)
                if new is None:
                    return "wrong_key", p
                retired.add(in_force)
                in_force, public[new[0]] = new
            # The stored hashes must be the recomputed ones (readers use them).
            if (e["prev_hash"], e["event_digest"], e["entry_hash"]) != (
                    prev.hex(), d.hex(), h.hex()):
                return "changed", p
            p, prev = p + 1, h
            continue
        stored_hash = bytes.fromhex(e["entry_hash"])
        if d != bytes.fromhex(e["event_digest"]):
            q = locate(d) if locate else None
            return ("reordered" if q is not None and q != p else "changed"), p
        if (entry_hash(chain_id, p, bytes.fromhex(e["prev_hash"]), d) == stored_hash
                and signed(public, e["key_id"], stored_hash, sig)):
            return "reordered", p
        if not signed(public, e["key_id"], stored_hash, sig):
            return "bad_signature", p
        return "changed", p
    return None, None
