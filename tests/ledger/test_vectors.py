"""Known-answer vectors (ADR 0002, encoding v1): the fast code and the independent
reference implementation both reproduce them, and both diagnose the broken chains as
the vectors say."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from tests.ledger import make_vectors, reference

V = json.loads(Path(__file__).with_name("vectors.json").read_text(encoding="utf-8"))
SIGNER = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(V["seed"])))
KEYRING = ledger.KeyRing({V["key_id"]: bytes.fromhex(V["public_key"])})
PUBLIC = {V["key_id"]: bytes.fromhex(V["public_key"])}
BROKEN = V["broken"]


def contents() -> list[ledger.EventContent]:
    return [ledger.EventContent(bytes.fromhex(e["originator_id"]), e["originator_version"],
                                e["topic"], bytes.fromhex(e["state"])) for e in V["events"]]


def parsed(entries: list[dict]) -> list[ledger.StoredEntry]:  # type: ignore[type-arg]
    lines = [ledger.export_header(V["chain_id"])] + [json.dumps(e) for e in entries]
    _, stored = ledger.read_export(io.StringIO("\n".join(lines) + "\n"))
    return list(stored)


def locator(entries: list[dict]) -> Callable[[bytes], int | None]:  # type: ignore[type-arg]
    return lambda d: next((e["position"] for e in entries if e["event_digest"] == d.hex()),
                          None)


def test_the_tags_are_the_adr_bytes() -> None:
    ours = {"event": ledger.EVENT_TAG, "entry": ledger.ENTRY_TAG,
            "genesis": ledger.GENESIS_TAG, "signature": ledger.SIGNATURE_TAG}
    assert ours == reference.TAGS
    assert ours["event"] == b"ejournal/ledger/event/v1\x00"


def test_the_vectors_cover_an_empty_state_and_non_ascii_strings() -> None:
    assert any(e["state"] == "" for e in V["events"])
    assert not V["chain_id"].isascii()
    assert any(not e["topic"].isascii() for e in V["events"])


def test_key_id_matches_the_vector() -> None:
    assert SIGNER.public_key_raw.hex() == V["public_key"]
    assert SIGNER.key_id == ledger.key_id(SIGNER.public_key_raw) == V["key_id"]
    assert reference.key_id(SIGNER.public_key_raw) == V["key_id"]


def test_genesis_hash_matches_the_vector() -> None:
    assert ledger.genesis_hash(V["chain_id"]).hex() == V["genesis_hash"]
    assert reference.genesis(V["chain_id"]).hex() == V["genesis_hash"]
    assert V["entries"][0]["prev_hash"] == V["genesis_hash"]


def test_event_digests_match_the_vectors() -> None:
    for content, want in zip(contents(), V["entries"], strict=True):
        assert content.digest().hex() == want["event_digest"]
        args = (content.originator_id, content.originator_version, content.topic,
                content.state)
        assert reference.event_digest(*args).hex() == want["event_digest"]


def test_entry_bytes_and_hashes_match_the_vectors() -> None:
    for want in V["entries"]:
        args = (V["chain_id"], want["position"], bytes.fromhex(want["prev_hash"]),
                bytes.fromhex(want["event_digest"]))
        assert ledger.entry_bytes(*args).hex() == want["entry_bytes"]
        assert reference.entry_bytes(*args).hex() == want["entry_bytes"]
        assert ledger.entry_hash(*args).hex() == want["entry_hash"]
        assert reference.entry_hash(*args).hex() == want["entry_hash"]


def test_signing_messages_and_signatures_match_the_vectors() -> None:
    for want in V["entries"]:
        h = bytes.fromhex(want["entry_hash"])
        assert ledger.signing_message(h).hex() == want["signing_message"]
        assert reference.message(h).hex() == want["signing_message"]
        assert SIGNER.sign(h).hex() == want["signature"]  # Ed25519 is deterministic
        assert reference.signed(PUBLIC, V["key_id"], h, bytes.fromhex(want["signature"]))


def test_appending_the_vector_events_gives_the_vector_chain() -> None:
    entries, head = ledger.append(V["chain_id"], ledger.ChainHead.empty(V["chain_id"]),
                                  contents(), SIGNER)
    got = [{"position": e.position, "prev_hash": e.prev_hash.hex(),
            "event_digest": e.event_digest.hex(), "entry_hash": e.entry_hash.hex(),
            "signature": e.signature.hex()} for e in entries]
    want = [{k: e[k] for k in got[0]} for e in V["entries"]]
    assert got == want
    assert (head.position, head.entry_hash.hex()) == (V["head"]["position"],
                                                      V["head"]["entry_hash"])


@pytest.mark.parametrize("case", BROKEN, ids=[c["description"] for c in BROKEN])
def test_verify_reports_the_vector_failure(case: dict) -> None:  # type: ignore[type-arg]
    report = ledger.verify(V["chain_id"], parsed(case["entries"]), KEYRING,
                           locate_digest=locator(case["entries"]))
    assert report.ok is not case["want_error"]
    if case["want_error"]:
        assert report.failure is not None
        assert (report.failure.kind.value, report.failure.position) == (case["kind"],
                                                                        case["position"])
        assert report.count == case["position"] - 1
    else:
        assert report.count == len(case["entries"])
        assert report.head.entry_hash.hex() == case["entries"][-1]["entry_hash"]


@pytest.mark.parametrize("case", BROKEN, ids=[c["description"] for c in BROKEN])
def test_the_reference_verifier_reports_the_vector_failure(case: dict) -> None:  # type: ignore[type-arg]
    got = reference.verify(V["chain_id"], case["entries"], PUBLIC, locator(case["entries"]))
    assert got == (case["kind"], case["position"])


def test_the_broken_vectors_cover_every_failure_kind() -> None:
    assert {c["kind"] for c in BROKEN if c["want_error"]} == {k.value for k in
                                                               ledger.FailureKind}


def test_the_vector_file_is_what_the_generator_writes() -> None:
    text = Path(__file__).with_name("vectors.json").read_text(encoding="utf-8")
    assert make_vectors.render() == text
