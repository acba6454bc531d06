"""Faster verification (ledger/parallel.py): signatures in worker processes give exactly
the sequential verifier's verdicts; links-only verification recomputes digests, hashes,
links and the Merkle root without a signature, and catches every stored mismatch."""

from __future__ import annotations

from dataclasses import replace

import pytest

import ledger
from ledger import FailureKind
from tests.ledger.test_chain import CHAIN, KEYRING, OTHER, events, stored, with_state

N = 70
CHAIN_ENTRIES = stored(events(N))


def parallel(entries: list[ledger.StoredEntry]) -> ledger.VerifyReport:
    return ledger.verify_parallel(CHAIN, iter(entries), KEYRING, workers=2, batch=8,
                                  reread=lambda p: (e for e in entries if e.position >= p))


def sequential(entries: list[ledger.StoredEntry]) -> ledger.VerifyReport:
    return ledger.verify(CHAIN, iter(entries), KEYRING)


def tampered(kind: str) -> list[ledger.StoredEntry]:
    entries = list(CHAIN_ENTRIES)
    if kind == "changed state":
        entries[40] = with_state(entries[40], b"forged")
    elif kind == "bad signature":
        entries[9] = replace(entries[9], signature=bytes(64))
    elif kind == "unknown key":
        entries[23] = replace(entries[23], key_id=OTHER.key_id,
                              signature=OTHER.sign(entries[23].entry_hash))
    elif kind == "missing":
        del entries[33]
    elif kind == "inserted":
        entries.insert(50, entries[49])
    elif kind == "swapped":
        entries[60], entries[61] = entries[61], entries[60]
    elif kind == "event gone":
        entries[66] = replace(entries[66], event=None)
    elif kind == "last entry":
        entries[-1] = with_state(entries[-1], b"forged")
    elif kind == "stored entry hash":  # the event and signature intact
        entries[45] = replace(entries[45], entry_hash=bytes(32))
    elif kind == "stored prev hash":
        entries[12] = replace(entries[12], prev_hash=b"\x00")
    return entries


def test_parallel_verification_accepts_a_whole_chain() -> None:
    report = parallel(CHAIN_ENTRIES)
    assert report == sequential(CHAIN_ENTRIES)
    assert report.ok and report.count == N


@pytest.mark.parametrize("kind", ["changed state", "bad signature", "unknown key", "missing",
                                  "inserted", "swapped", "event gone", "last entry",
                                  "stored entry hash", "stored prev hash"])
def test_parallel_verification_names_what_the_sequential_verifier_names(kind: str) -> None:
    entries = tampered(kind)
    expected = sequential(entries)
    assert not expected.ok
    assert parallel(entries) == expected


def test_parallel_verification_continues_after_a_verified_head() -> None:
    start = ledger.ChainHead(20, CHAIN_ENTRIES[19].entry_hash)
    rest = CHAIN_ENTRIES[20:]
    report = ledger.verify_parallel(CHAIN, iter(rest), KEYRING, workers=2, batch=8,
                                    reread=lambda p: (e for e in rest if e.position >= p),
                                    start=start)
    assert report.ok and report.count == N - 20 and report.head.position == N


def test_links_only_verification_gives_the_chains_merkle_root() -> None:
    report = ledger.verify_links(CHAIN, iter(CHAIN_ENTRIES), roots_at=[1, 37, N])
    leaves = [ledger.chain_leaf_hash(CHAIN, e.position, e.prev_hash, e.event_digest)
              for e in CHAIN_ENTRIES]
    assert report.ok and report.count == N
    assert report.frontier.root() == ledger.root_hash(leaves)
    assert report.roots == {size: ledger.root_hash(leaves[:size]) for size in (1, 37, N)}
    assert report.head == ledger.ChainHead(N, CHAIN_ENTRIES[-1].entry_hash)


@pytest.mark.parametrize(("kind", "position", "failure_kind"), [
    ("changed state", 41, FailureKind.CHANGED), ("missing", 34, FailureKind.MISSING),
    ("inserted", 51, FailureKind.INSERTED), ("swapped", 61, FailureKind.MISSING),
    ("event gone", 67, FailureKind.MISSING), ("last entry", N, FailureKind.CHANGED)])
def test_links_only_verification_catches_a_stored_mismatch(
        kind: str, position: int, failure_kind: FailureKind) -> None:
    report = ledger.verify_links(CHAIN, iter(tampered(kind)))
    assert not report.ok and report.failure is not None
    assert (report.failure.kind, report.failure.position) == (failure_kind, position)


def test_links_only_verification_catches_a_rehashed_forgery_by_its_root() -> None:
    """A forger who recomputes every hash after the change keeps the links whole: only
    the root against a signed checkpoint (or the signatures) catches it."""
    contents = events(N)
    contents[5] = ledger.EventContent(contents[5].originator_id, 6, "domain:Event6",
                                      b"forged")
    forged = stored(contents, signer=OTHER)
    honest = ledger.verify_links(CHAIN, iter(CHAIN_ENTRIES))
    rehashed = ledger.verify_links(CHAIN, iter(forged))
    assert rehashed.ok  # the links alone hold
    assert rehashed.frontier.root() != honest.frontier.root()


def test_the_fast_digest_is_the_canonical_digest() -> None:
    from ledger.parallel import _digest

    for content in [*events(5), ledger.EventContent(bytes(16), 0, "тема", b""),
                    ledger.EventContent(b"\xff" * 16, 2**63 - 1, "t", b"x" * 70000)]:
        assert _digest(content) == content.digest()
    with pytest.raises(ledger.EncodingError):
        _digest(ledger.EventContent(bytes(15), 1, "t", b""))
