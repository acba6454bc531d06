"""Key rotation announced in the chain (ADR 0016): the key in force, trust passed by
announcement, retired keys never sign again — in `verify` and in `verify_parallel`."""

from __future__ import annotations

import contextlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

import ledger
from ledger import FailureKind

CHAIN = "ejournal:rotation"
A, B, C = (ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))
           for n in (1, 2, 3))


def ring(*signers: ledger.Signer) -> ledger.KeyRing:
    return ledger.KeyRing({s.key_id: s.public_key_raw for s in signers})


def plain(n: int) -> ledger.EventContent:
    return ledger.EventContent(bytes([n % 256]) * 16, n, "domain:Thing.Happened",
                               f"state {n}".encode())


def announcing(old: ledger.Signer, new: ledger.Signer, n: int = 99) -> ledger.EventContent:
    state = json.dumps({"predecessor": old.key_id, "successor": new.key_id,
                        "public_key": new.public_key_raw.hex(), "basis": "Приказ № 7"},
                       ensure_ascii=False).encode()
    return ledger.EventContent(bytes(15) + bytes([n % 256]), n, ledger.ANNOUNCEMENT_TOPIC,
                               state)


def chain(*steps: tuple[ledger.Signer, ledger.EventContent]) -> list[ledger.StoredEntry]:
    head, out = ledger.ChainHead.empty(CHAIN), []
    for signer, content in steps:
        (entry,), head = ledger.append(CHAIN, head, [content], signer)
        out.append(ledger.StoredEntry(entry.position, entry.prev_hash, entry.event_digest,
                                      entry.entry_hash, entry.key_id, entry.signature,
                                      content))
    return out


def failure(report: ledger.VerifyReport) -> tuple[FailureKind, int]:
    assert not report.ok and report.failure is not None
    return report.failure.kind, report.failure.position


def test_an_announced_key_signs_from_the_next_entry_on() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)), (B, plain(3)))
    report = ledger.verify(CHAIN, entries, ring(A, B))
    assert report.ok and report.keys is not None
    assert (report.keys.in_force, report.keys.since, report.keys.retired) == (
        B.key_id, 3, {A.key_id: 2})


def test_a_key_announced_by_the_pinned_key_is_trusted_without_being_in_the_ring() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)))
    assert ledger.verify(CHAIN, entries, ring(A)).ok


def test_the_retired_key_cannot_sign_after_the_announcement() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)), (A, plain(3)))
    report = ledger.verify(CHAIN, entries, ring(A, B))
    assert failure(report) == (FailureKind.WRONG_KEY, 4)
    assert "retired by the announcement at position 2" in report.failure.detail  # type: ignore[union-attr]


def test_the_old_key_cannot_sign_the_entry_right_after_its_announcement() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (A, plain(2)))
    assert failure(ledger.verify(CHAIN, entries, ring(A, B))) == (FailureKind.WRONG_KEY, 3)


def test_a_retired_key_cannot_be_announced_again() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, announcing(B, A, 98)),
                    (A, plain(2)))
    report = ledger.verify(CHAIN, entries, ring(A, B))
    assert failure(report) == (FailureKind.WRONG_KEY, 3)
    assert "never signs again" in report.failure.detail  # type: ignore[union-attr]


def test_an_announcement_signed_by_a_key_not_in_force_is_the_wrong_key() -> None:
    entries = chain((A, plain(1)), (B, announcing(B, C)))
    assert failure(ledger.verify(CHAIN, entries, ring(A, B))) == (FailureKind.WRONG_KEY, 2)


def test_an_announcement_naming_another_predecessor_is_the_wrong_key() -> None:
    entries = chain((A, plain(1)), (A, announcing(B, C)))
    assert failure(ledger.verify(CHAIN, entries, ring(A, B))) == (FailureKind.WRONG_KEY, 2)


def test_a_chain_of_rotations_verifies_and_each_key_signs_only_its_stretch() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)),
                    (B, announcing(B, C, 98)), (C, plain(3)))
    assert ledger.verify(CHAIN, entries, ring(A)).ok
    tampered = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)),
                     (B, announcing(B, C, 98)), (B, plain(3)))
    assert failure(ledger.verify(CHAIN, tampered, ring(A, B, C))) == (FailureKind.WRONG_KEY, 5)


def test_verification_continued_from_a_head_keeps_the_schedule() -> None:
    entries = chain((A, plain(1)), (A, announcing(A, B)), (B, plain(2)), (A, plain(3)))
    first = ledger.verify(CHAIN, entries[:3], ring(A, B))
    rest = ledger.verify(CHAIN, entries[3:], ring(A, B), start=first.head, keys=first.keys)
    assert failure(rest) == (FailureKind.WRONG_KEY, 4)


def test_without_a_schedule_a_continued_verification_fixes_the_key_of_its_first_entry() -> None:
    entries = chain((A, plain(1)), (A, plain(2)), (A, plain(3)))
    first = ledger.verify(CHAIN, entries[:1], ring(A))
    assert ledger.verify(CHAIN, entries[1:], ring(A), start=first.head).ok


@pytest.mark.parametrize("last", [B, A])
def test_parallel_verification_gives_the_same_verdict_as_sequential(last: ledger.Signer) -> None:
    steps = [(A, plain(n)) for n in range(1, 6)] + [(A, announcing(A, B))]
    steps += [(B, plain(n)) for n in range(6, 12)] + [(last, plain(12))]
    entries = chain(*steps)
    sequential = ledger.verify(CHAIN, entries, ring(A))
    parallel = ledger.verify_parallel(CHAIN, entries, ring(A), workers=2, batch=3,
                                      reread=lambda p: entries[p - 1:])
    assert (parallel.ok, parallel.failure, parallel.head) == (
        sequential.ok, sequential.failure, sequential.head)
    assert parallel.ok is (last is B)


@given(st.binary(max_size=300))
def test_any_state_is_an_announcement_or_an_announcement_error(state: bytes) -> None:
    with contextlib.suppress(ledger.AnnouncementError):
        ledger.read_announcement(state)


@given(st.dictionaries(st.sampled_from(["predecessor", "successor", "public_key", "x"]),
                       st.one_of(st.text(max_size=70), st.integers(), st.none(),
                                 st.just(A.key_id), st.just(B.public_key_raw.hex()))))
def test_a_malformed_announcement_never_passes_for_a_valid_one(data: dict) -> None:  # type: ignore[type-arg]
    state = json.dumps(data).encode()
    valid = (data.get("predecessor") == A.key_id and data.get("successor") == B.key_id
             and data.get("public_key") == B.public_key_raw.hex())
    try:
        announcement = ledger.read_announcement(state)
    except ledger.AnnouncementError:
        assert not valid
    else:
        assert valid and announcement.public_key == B.public_key_raw


def test_the_announcement_of_a_key_by_itself_is_refused() -> None:
    state = json.dumps({"predecessor": A.key_id, "successor": A.key_id,
                        "public_key": A.public_key_raw.hex()}).encode()
    with pytest.raises(ledger.AnnouncementError):
        ledger.read_announcement(state)


def test_an_announcement_repeating_a_name_is_refused() -> None:
    state = (f'{{"predecessor": "{A.key_id}", "successor": "{B.key_id}", '
             f'"public_key": "{A.public_key_raw.hex()}", '
             f'"public_key": "{B.public_key_raw.hex()}"}}')
    with pytest.raises(ledger.AnnouncementError):
        ledger.read_announcement(state.encode())
