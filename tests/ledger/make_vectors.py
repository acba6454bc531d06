"""Generates tests/ledger/vectors.json, the known answers of ADR 0002 (encoding v1).

    .venv/bin/python -m tests.ledger.make_vectors          # rewrite vectors.json
    .venv/bin/python -m tests.ledger.make_vectors --check  # exit 1 if it would change

Run it only when ADR 0002 changes (a new encoding version, new tags): the checked-in file
is the known answer, and `test_vectors.py` checks both the fast code (`ledger`) and the
independent `reference.py` against it. Everything is deterministic: fixed events, and
Ed25519 keys from fixed 32-byte seeds (RFC 8032 signatures are deterministic).

Broken cases hold complete stored entries (the export format of `ledger.export`) plus
the failure a verifier must report. Their expected kinds and positions are written here
by hand from ADR 0002, not computed by `ledger.verify`. A verifier's `locate_digest`
for these cases returns the position of the stored entry (of the same case) whose
`event_digest` equals the calculated digest, or null.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger

PATH = Path(__file__).with_name("vectors.json")
SEED = bytes(range(32))  # 00 01 .. 1f: the signing key of every vector
OTHER_SEED = b"\xff" * 32  # a key the key ring does not hold
CHAIN_ID = "ejournal:гимназия-139"  # non-ASCII chain id
EVENTS = [
    {"originator_id": "00112233445566778899aabbccddeeff", "originator_version": 1,
     "topic": "domain.lessons:Lesson.Conducted", "state": ""},  # empty state
    {"originator_id": "00112233445566778899aabbccddeeff", "originator_version": 2,
     "topic": "domain.lessons:Lesson.MarkRecorded",
     "state": '{"value":"5","тема":"Логарифмы"}'.encode().hex()},
    {"originator_id": "ffeeddccbbaa99887766554433221100", "originator_version": 9,
     "topic": "Тема/тест", "state": "00ff00ff"},  # non-ASCII topic, binary state
]


def _contents() -> list[ledger.EventContent]:
    return [ledger.EventContent(bytes.fromhex(e["originator_id"]), e["originator_version"],
                                e["topic"], bytes.fromhex(e["state"])) for e in EVENTS]


def _stored(signer: ledger.Signer) -> list[ledger.StoredEntry]:
    entries, _ = ledger.append(CHAIN_ID, ledger.ChainHead.empty(CHAIN_ID), _contents(), signer)
    return [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                               e.key_id, e.signature, c)
            for e, c in zip(entries, _contents(), strict=True)]


def _broken(signer: ledger.Signer) -> list[dict]:  # type: ignore[type-arg]
    other = ledger.Signer(Ed25519PrivateKey.from_private_bytes(OTHER_SEED))
    cases: list[dict] = []  # type: ignore[type-arg]

    def case(description: str, entries: list[ledger.StoredEntry], kind: str | None,
             position: int | None) -> None:
        cases.append({
            "description": description, "want_error": kind is not None,
            "kind": kind, "position": position,
            "entries": [json.loads(ledger.export_line(e)) for e in entries],
        })

    s = _stored(signer)
    case("untouched chain", s, None, None)

    e = _stored(signer)
    state = bytearray(e[1].event.state)
    state[0] ^= 0x01
    e[1] = replace(e[1], event=replace(e[1].event, state=bytes(state)))
    case("first byte of entry 2's state changed", e, "changed", 2)

    e = _stored(signer)
    e[1], e[2] = replace(e[1], event=s[2].event), replace(e[2], event=s[1].event)
    case("event rows of entries 2 and 3 swapped under intact ledger rows", e, "reordered", 2)

    e = _stored(signer)
    e[1], e[2] = replace(s[2], position=2), replace(s[1], position=3)
    case("whole entries 2 and 3 swapped and renumbered (the signed entry hash of "
         "position 3 does not recompute at position 2)", e, "changed", 2)

    e = _stored(signer)
    e[0] = replace(e[0], signature=e[0].signature[:63])
    case("entry 1's signature truncated to 63 bytes", e, "bad_signature", 1)

    e = _stored(signer)
    e[2] = replace(e[2], key_id=other.key_id, signature=other.sign(e[2].entry_hash))
    case("entry 3 signed by a key the key ring does not hold", e, "unknown_key", 3)

    e = _stored(signer)
    wrong = bytes(32)
    h = ledger.entry_hash(CHAIN_ID, 3, wrong, e[2].event_digest)
    e[2] = replace(e[2], prev_hash=wrong, entry_hash=h, signature=signer.sign(h))
    case("entry 3 linked to a wrong prev hash and re-signed by the real key (a splice)",
         e, "reordered", 3)

    e = _stored(signer)
    e[2] = replace(e[2], prev_hash=bytes(32))
    case("only entry 3's stored prev hash overwritten (event and signature intact): the "
         "stored hashes must be the recomputed ones", e, "changed", 3)

    e = _stored(signer)
    e[1] = replace(e[1], entry_hash=bytes(32))
    case("only entry 2's stored entry hash overwritten (event and signature intact)", e,
         "changed", 2)

    e = _stored(signer)
    del e[1]
    case("middle entry (ledger row and event) deleted", e, "missing", 2)

    e = _stored(signer)
    e[1] = replace(e[1], event=None)
    case("event row of entry 2 deleted, its ledger row kept", e, "missing", 2)

    e = _stored(signer)
    e.insert(2, e[1])
    case("entry 2 duplicated", e, "inserted", 3)

    # ADR 0016: the key in force; entry 2 announces `other` as the successor.
    case("entry 2 announces a successor key the key ring does not hold; entry 3 is "
         "signed by it: trusted through the announcement", _rotated(signer, other, other),
         None, None)
    case("entry 3 signed by the key that entry 2 retired", _rotated(signer, other, signer),
         "wrong_key", 3)
    third = ledger.Signer(Ed25519PrivateKey.from_private_bytes(b"\x33" * 32))
    case("entry 2 announces a successor, entry 3 is signed by yet another key (not in "
         "the ring either)", _rotated(signer, other, third), "unknown_key", 3)
    case("entry 2's announcement names another predecessor than the key signing it",
         _rotated(signer, other, other, predecessor=other.key_id), "wrong_key", 2)
    case("entry 2 has the announcement topic but its successor is not the id of its "
         "public key", _rotated(signer, other, other, successor_id=signer.key_id[::-1]),
         "wrong_key", 2)
    return cases


ANNOUNCEMENT = {"originator_id": "0f0e0d0c0b0a09080706050403020100",
                "originator_version": 2, "topic": ledger.ANNOUNCEMENT_TOPIC}


def _rotated(signer: ledger.Signer, successor: ledger.Signer, third: ledger.Signer,
             predecessor: str | None = None, successor_id: str | None = None
             ) -> list[ledger.StoredEntry]:
    """Entry 1 by `signer`; entry 2 announces `successor` (JSON state), signed by
    `signer`; entry 3 signed by `third`."""
    state = json.dumps({"predecessor": predecessor or signer.key_id,
                        "successor": successor_id or successor.key_id,
                        "public_key": successor.public_key_raw.hex(),
                        "basis": "Приказ № 1"}, ensure_ascii=False).encode()
    contents = _contents()
    contents[1] = ledger.EventContent(bytes.fromhex(ANNOUNCEMENT["originator_id"]),
                                      ANNOUNCEMENT["originator_version"],
                                      ANNOUNCEMENT["topic"], state)
    head = ledger.ChainHead.empty(CHAIN_ID)
    first, head = ledger.append(CHAIN_ID, head, contents[:2], signer)
    last, _ = ledger.append(CHAIN_ID, head, contents[2:], third)
    return [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                               e.key_id, e.signature, c)
            for e, c in zip(first + last, contents, strict=True)]


def build() -> dict:  # type: ignore[type-arg]
    """The vector file's content."""
    signer = ledger.Signer(Ed25519PrivateKey.from_private_bytes(SEED))
    entries, head = ledger.append(CHAIN_ID, ledger.ChainHead.empty(CHAIN_ID), _contents(),
                                  signer)
    return {
        "description": "ADR 0002 encoding v1 known answers; Ed25519 signing key from the "
                       "32-byte seed 00..1f; hex is lowercase; strings are UTF-8",
        "seed": SEED.hex(), "chain_id": CHAIN_ID, "key_id": signer.key_id,
        "public_key": signer.public_key_raw.hex(),
        "genesis_hash": ledger.genesis_hash(CHAIN_ID).hex(),
        "events": EVENTS,
        "entries": [{"position": e.position, "prev_hash": e.prev_hash.hex(),
                     "event_digest": e.event_digest.hex(),
                     "entry_bytes": ledger.entry_bytes(CHAIN_ID, e.position, e.prev_hash,
                                                       e.event_digest).hex(),
                     "entry_hash": e.entry_hash.hex(),
                     "signing_message": ledger.signing_message(e.entry_hash).hex(),
                     "signature": e.signature.hex()} for e in entries],
        "head": {"position": head.position, "entry_hash": head.entry_hash.hex()},
        "broken": _broken(signer),
    }


def render() -> str:
    """vectors.json as text."""
    return json.dumps(build(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        same = PATH.read_text(encoding="utf-8") == text
        print("vectors.json is up to date" if same else "vectors.json would change")
        raise SystemExit(0 if same else 1)
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
