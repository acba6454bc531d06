"""Appending and verifying chains: every failure kind at the right position, any
flipped byte caught, streaming, published heads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given
from hypothesis import strategies as st

import ledger
from ledger import FailureKind

CHAIN = "ejournal:test-chain"
SIGNER = ledger.Signer(Ed25519PrivateKey.from_private_bytes(bytes(32)))
KEYRING = ledger.KeyRing({SIGNER.key_id: SIGNER.public_key_raw})
OTHER = ledger.Signer(Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))

contents_lists = st.lists(
    st.builds(ledger.EventContent, st.binary(min_size=16, max_size=16),
              st.integers(min_value=0, max_value=2**63 - 1), st.text(min_size=1, max_size=30),
              st.binary(min_size=1, max_size=100)),
    min_size=1, max_size=8,
)
ONE = [ledger.EventContent(bytes(16), 1, "t", b"s")]


def events(n: int) -> list[ledger.EventContent]:
    return [ledger.EventContent(bytes([i]) * 16, i, f"domain:Event{i}", f"state {i}".encode())
            for i in range(1, n + 1)]


def stored(contents: list[ledger.EventContent], chain_id: str = CHAIN,
           signer: ledger.Signer = SIGNER) -> list[ledger.StoredEntry]:
    new, _ = ledger.append(chain_id, ledger.ChainHead.empty(chain_id), contents, signer)
    return [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash, e.key_id,
                               e.signature, c) for e, c in zip(new, contents, strict=True)]


def failure(report: ledger.VerifyReport) -> tuple[FailureKind, int]:
    assert not report.ok and report.failure is not None
    return report.failure.kind, report.failure.position


def with_state(entry: ledger.StoredEntry, state: bytes) -> ledger.StoredEntry:
    assert entry.event is not None
    return replace(entry, event=replace(entry.event, state=state))


# Appending ------------------------------------------------------------------------------

def test_append_links_each_entry_to_the_previous_from_genesis() -> None:
    new, head = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), events(3), SIGNER)
    assert [e.position for e in new] == [1, 2, 3]
    assert new[0].prev_hash == ledger.genesis_hash(CHAIN)
    assert [e.prev_hash for e in new[1:]] == [e.entry_hash for e in new[:2]]
    assert head == ledger.ChainHead(3, new[2].entry_hash)


def test_append_signs_each_entry_hash_with_the_signer() -> None:
    new, _ = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), events(2), SIGNER)
    for e in new:
        assert e.key_id == SIGNER.key_id
        assert KEYRING.verify(e.key_id, e.entry_hash, e.signature)


def test_appending_in_batches_equals_appending_at_once() -> None:
    at_once, head = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), events(5), SIGNER)
    first, middle = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), events(5)[:2], SIGNER)
    rest, end = ledger.append(CHAIN, middle, events(5)[2:], SIGNER)
    assert first + rest == at_once and end == head


def test_appending_nothing_keeps_the_head() -> None:
    head = ledger.ChainHead.empty(CHAIN)
    assert ledger.append(CHAIN, head, [], SIGNER) == ([], head)


def test_the_empty_head_is_position_zero_and_the_genesis_hash() -> None:
    assert ledger.ChainHead.empty(CHAIN) == ledger.ChainHead(0, ledger.genesis_hash(CHAIN))


# Verifying: success ---------------------------------------------------------------------

@given(contents_lists)
def test_any_appended_chain_verifies(contents: list[ledger.EventContent]) -> None:
    entries = stored(contents)
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert report == ledger.VerifyReport(True, len(contents),
                                         ledger.ChainHead(len(contents),
                                                          entries[-1].entry_hash), None)


def test_an_empty_chain_verifies_with_the_genesis_head() -> None:
    assert ledger.verify(CHAIN, [], KEYRING) == ledger.VerifyReport(
        True, 0, ledger.ChainHead.empty(CHAIN), None)


def test_a_chain_signed_by_a_rotated_out_key_still_verifies() -> None:
    announcement = json.dumps({"predecessor": OTHER.key_id, "successor": SIGNER.key_id,
                               "public_key": SIGNER.public_key_raw.hex()}).encode()
    contents = [*events(2), ledger.EventContent(bytes(16), 9, ledger.ANNOUNCEMENT_TOPIC,
                                                announcement), *events(1)]
    old, head = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), contents[:3], OTHER)
    new, _ = ledger.append(CHAIN, head, contents[3:], SIGNER)
    entries = [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                                  e.key_id, e.signature, c)
               for e, c in zip(old + new, contents, strict=True)]
    ring = ledger.KeyRing({SIGNER.key_id: SIGNER.public_key_raw,
                           OTHER.key_id: OTHER.public_key_raw})
    assert ledger.verify(CHAIN, entries, ring).ok
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.UNKNOWN_KEY, 1)


def test_a_key_changed_without_an_announcement_is_the_wrong_key() -> None:
    contents = events(3)
    old, head = ledger.append(CHAIN, ledger.ChainHead.empty(CHAIN), contents[:2], OTHER)
    new, _ = ledger.append(CHAIN, head, contents[2:], SIGNER)
    entries = [ledger.StoredEntry(e.position, e.prev_hash, e.event_digest, e.entry_hash,
                                  e.key_id, e.signature, c)
               for e, c in zip(old + new, contents, strict=True)]
    ring = ledger.KeyRing({SIGNER.key_id: SIGNER.public_key_raw,
                           OTHER.key_id: OTHER.public_key_raw})
    assert failure(ledger.verify(CHAIN, entries, ring)) == (FailureKind.WRONG_KEY, 3)


# Verifying: each failure kind at its position -------------------------------------------

def test_a_changed_state_is_changed_at_its_position() -> None:
    entries = stored(events(4))
    entries[2] = with_state(entries[2], b"forged")
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert failure(report) == (FailureKind.CHANGED, 3)
    assert report.count == 2 and report.head == ledger.ChainHead(2, entries[1].entry_hash)


def test_a_changed_event_detail_names_stored_and_calculated_digests() -> None:
    entries = stored(events(2))
    entries[1] = with_state(entries[1], b"forged")
    detail = ledger.verify(CHAIN, entries, KEYRING).failure.detail  # type: ignore[union-attr]
    assert entries[1].event_digest.hex() in detail
    assert entries[1].event.digest().hex() in detail  # type: ignore[union-attr]


def test_a_gap_in_positions_is_missing_at_the_first_absent_position() -> None:
    entries = stored(events(5))
    del entries[1:3]
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert failure(report) == (FailureKind.MISSING, 2)
    assert "2..3" in report.failure.detail  # type: ignore[union-attr]


def test_a_gone_event_row_is_missing_at_its_position() -> None:
    entries = stored(events(3))
    entries[1] = replace(entries[1], event=None)
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.MISSING, 2)


def test_a_duplicated_position_is_inserted() -> None:
    entries = stored(events(3))
    entries.insert(2, entries[1])
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.INSERTED, 3)


def test_an_out_of_order_position_is_inserted() -> None:
    entries = stored(events(3))
    entries.insert(2, replace(entries[2], position=1))
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.INSERTED, 3)


def test_a_moved_event_is_reordered_when_its_digest_is_located() -> None:
    entries = stored(events(3))
    digests = {e.event_digest: e.position for e in entries}
    entries[1], entries[2] = (replace(entries[1], event=entries[2].event),
                              replace(entries[2], event=entries[1].event))
    report = ledger.verify(CHAIN, entries, KEYRING, locate_digest=digests.get)
    assert failure(report) == (FailureKind.REORDERED, 2)
    assert "position 3" in report.failure.detail  # type: ignore[union-attr]


def test_a_moved_event_without_a_locator_is_changed() -> None:
    entries = stored(events(3))
    entries[1] = replace(entries[1], event=entries[2].event)
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.CHANGED, 2)


def test_an_authentic_entry_from_a_fork_is_reordered_with_both_prev_hashes() -> None:
    main = stored(events(3))
    fork_events = events(3)
    fork_events[1] = replace(fork_events[1], state=b"another past")
    fork = stored(fork_events)
    entries = [*main[:2], fork[2]]
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert failure(report) == (FailureKind.REORDERED, 3)
    assert fork[2].prev_hash.hex() in report.failure.detail  # type: ignore[union-attr]
    assert main[1].entry_hash.hex() in report.failure.detail  # type: ignore[union-attr]


def test_a_broken_signature_is_bad_signature() -> None:
    entries = stored(events(3))
    entries[1] = replace(entries[1], signature=bytes(64))
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.BAD_SIGNATURE, 2)


def test_a_signature_by_another_key_under_our_key_id_is_bad_signature() -> None:
    entries = stored(events(2))
    entries[1] = replace(entries[1], signature=OTHER.sign(entries[1].entry_hash))
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.BAD_SIGNATURE, 2)


def test_an_unknown_key_is_unknown_key() -> None:
    entries = stored(events(2)) + stored(events(3), signer=OTHER)[2:]
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.UNKNOWN_KEY, 3)


def test_an_entry_of_another_chain_is_changed_here() -> None:
    entries = stored(events(1), chain_id="ejournal:another-chain")
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.CHANGED, 1)


def test_a_renumbered_authentic_entry_is_changed() -> None:
    entries = stored(events(3))
    del entries[1]
    entries[1] = replace(entries[1], position=2)
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.CHANGED, 2)


def test_an_unencodable_event_row_is_changed_not_raised() -> None:
    entries = stored(events(2))
    entries[1] = replace(entries[1], event=replace(entries[1].event,  # type: ignore[type-var]
                                                   originator_id=bytes(15)))
    assert failure(ledger.verify(CHAIN, entries, KEYRING)) == (FailureKind.CHANGED, 2)


@pytest.mark.parametrize("field,value", [
    ("prev_hash", b"short"), ("entry_hash", b""), ("event_digest", b"x"),
    ("signature", b"\x01"),
])
def test_malformed_stored_values_are_diagnosed_without_raising(field: str,
                                                               value: bytes) -> None:
    entries = stored(events(2))
    entries[1] = replace(with_state(entries[1], b"forged"), **{field: value})
    kind, position = failure(ledger.verify(CHAIN, entries, KEYRING))
    assert position == 2 and kind in (FailureKind.CHANGED, FailureKind.BAD_SIGNATURE)


@pytest.mark.parametrize("field", ["prev_hash", "event_digest", "entry_hash"])
def test_a_stored_hash_altered_alone_is_a_changed_row(field: str) -> None:
    # The event and its signature are intact, but writers, proofs and links-only
    # verification read the stored hashes: the row is reported, not passed over.
    entries = stored(events(3))
    entries[2] = replace(entries[2], **{field: bytes(32)})
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert failure(report) == (FailureKind.CHANGED, 3)
    assert "ledger row was altered" in report.failure.detail  # type: ignore[union-attr]


# Any flipped byte -----------------------------------------------------------------------

def flip_bytes(data: bytes, offset: int, mask: int) -> bytes:
    raw = bytearray(data)
    raw[offset % len(raw)] ^= mask
    return bytes(raw)


def flip_text(text: str, offset: int, mask: int) -> str:
    """The text with one byte of its UTF-8 changed, the result still valid UTF-8."""
    for m in [mask, *range(1, 256)]:
        try:
            return flip_bytes(text.encode(), offset, m).decode()
        except UnicodeDecodeError:
            continue
    raise AssertionError("no valid one-byte change")  # pragma: no cover


def flip(entry: ledger.StoredEntry, field: str, offset: int, mask: int) -> ledger.StoredEntry:
    event = entry.event
    assert event is not None
    if field == "signature":
        return replace(entry, signature=flip_bytes(entry.signature, offset, mask))
    if field == "version":
        version = flip_bytes(event.originator_version.to_bytes(8, "big"), offset, mask)
        return replace(entry, event=replace(event,
                                            originator_version=int.from_bytes(version, "big")))
    if field == "topic":
        return replace(entry, event=replace(event, topic=flip_text(event.topic, offset, mask)))
    changed = flip_bytes(getattr(event, field), offset, mask)
    return replace(entry, event=replace(event, **{field: changed}))


KIND_OF_FLIP = {"state": FailureKind.CHANGED, "topic": FailureKind.CHANGED,
                "originator_id": FailureKind.CHANGED, "version": FailureKind.CHANGED,
                "signature": FailureKind.BAD_SIGNATURE}


@pytest.mark.parametrize("field", sorted(KIND_OF_FLIP))
@given(contents=contents_lists, index=st.integers(0, 50), offset=st.integers(0, 10**6),
       mask=st.integers(1, 255))
@example(contents=ONE, index=0, offset=0, mask=1)  # first byte of the first entry
@example(contents=events(4), index=-1, offset=-1, mask=0x80)  # last byte of the last entry
def test_a_flipped_byte_is_caught_at_its_entry(field: str, contents: list[ledger.EventContent],
                                               index: int, offset: int, mask: int) -> None:
    entries = stored(contents)
    i = index % len(entries)
    entries[i] = flip(entries[i], field, offset, mask)
    report = ledger.verify(CHAIN, entries, KEYRING)
    assert failure(report) == (KIND_OF_FLIP[field], i + 1)
    assert report.count == i


# Streaming ------------------------------------------------------------------------------

def test_verify_stops_pulling_entries_at_the_first_failure() -> None:
    entries = stored(events(4))
    entries[1] = replace(entries[1], signature=bytes(64))

    def lazily() -> Iterator[ledger.StoredEntry]:
        yield from entries[:2]
        raise AssertionError("pulled past the failure")

    report = ledger.verify(CHAIN, lazily(), KEYRING)
    assert failure(report) == (FailureKind.BAD_SIGNATURE, 2)


def test_verify_consumes_a_generator_once_in_order() -> None:
    entries = stored(events(5))
    pulled: list[int] = []

    def lazily() -> Iterator[ledger.StoredEntry]:
        for e in entries:
            pulled.append(e.position)
            yield e

    assert ledger.verify(CHAIN, lazily(), KEYRING).ok
    assert pulled == [1, 2, 3, 4, 5]


def test_progress_is_reported_every_n_entries() -> None:
    seen: list[int] = []
    ledger.verify(CHAIN, stored(events(7)), KEYRING, progress=seen.append, progress_every=3)
    assert seen == [3, 6]


def test_progress_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ledger.verify(CHAIN, [], KEYRING, progress_every=0)


# Published heads ------------------------------------------------------------------------

def test_a_published_head_catches_a_truncated_tail() -> None:
    entries = stored(events(4))
    published = ledger.verify(CHAIN, entries, KEYRING).head
    assert ledger.verify(CHAIN, entries[:3], KEYRING).ok  # a chain alone cannot tell
    report = ledger.verify(CHAIN, entries[:3], KEYRING, expect_head=published)
    assert failure(report) == (FailureKind.MISSING, 4)
    assert "truncated" in report.failure.detail  # type: ignore[union-attr]


def test_a_published_head_catches_a_re_signed_rewrite() -> None:
    entries = stored(events(4))
    published = ledger.ChainHead(2, entries[1].entry_hash)
    rewritten = events(4)
    rewritten[1] = replace(rewritten[1], state=b"rewritten by an insider with the key")
    forged = stored(rewritten)
    assert ledger.verify(CHAIN, forged, KEYRING).ok  # a chain alone cannot tell
    report = ledger.verify(CHAIN, forged, KEYRING, expect_head=published)
    assert failure(report) == (FailureKind.MISSING, 2)
    assert "rewritten" in report.failure.detail  # type: ignore[union-attr]


def test_a_chain_that_grew_past_the_published_head_verifies() -> None:
    entries = stored(events(5))
    published = ledger.ChainHead(3, entries[2].entry_hash)
    assert ledger.verify(CHAIN, entries, KEYRING, expect_head=published).ok


def test_the_empty_head_is_a_valid_published_head() -> None:
    empty = ledger.ChainHead.empty(CHAIN)
    assert ledger.verify(CHAIN, stored(events(2)), KEYRING, expect_head=empty).ok
    wrong = ledger.ChainHead(0, bytes(32))
    assert failure(ledger.verify(CHAIN, [], KEYRING, expect_head=wrong)) == (
        FailureKind.MISSING, 0)


def test_an_earlier_failure_wins_over_the_published_head() -> None:
    entries = stored(events(4))
    published = ledger.verify(CHAIN, entries, KEYRING).head
    entries[0] = with_state(entries[0], b"forged")
    report = ledger.verify(CHAIN, entries, KEYRING, expect_head=published)
    assert failure(report) == (FailureKind.CHANGED, 1)
