"""The canonical encoding: agreement with the reference on random inputs, framing, and
typed precondition errors."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ledger
from ledger import encoding
from tests.ledger import reference

oids = st.binary(min_size=16, max_size=16)
versions = st.integers(min_value=0, max_value=2**63 - 1)
hashes = st.binary(min_size=32, max_size=32)


@given(oids, versions, st.text(max_size=30), st.binary(max_size=200))
def test_event_digest_agrees_with_the_reference(oid: bytes, version: int, topic: str,
                                                state: bytes) -> None:
    assert ledger.event_digest(oid, version, topic, state) == reference.event_digest(
        oid, version, topic, state)


@given(st.text(max_size=30), st.integers(min_value=1, max_value=2**64 - 1), hashes, hashes)
def test_entry_bytes_and_hash_agree_with_the_reference(chain_id: str, position: int,
                                                       prev: bytes, digest: bytes) -> None:
    assert ledger.entry_bytes(chain_id, position, prev, digest) == reference.entry_bytes(
        chain_id, position, prev, digest)
    assert ledger.entry_hash(chain_id, position, prev, digest) == reference.entry_hash(
        chain_id, position, prev, digest)


@given(st.text(max_size=30))
def test_genesis_hash_agrees_with_the_reference(chain_id: str) -> None:
    assert ledger.genesis_hash(chain_id) == reference.genesis(chain_id)


def test_entry_bytes_lay_out_the_fields_in_order() -> None:
    prev, digest = b"\x11" * 32, b"\x22" * 32
    data = ledger.entry_bytes("ab", 258, prev, digest)
    assert data == (ledger.ENTRY_TAG + b"\x00\x00\x00\x02ab"
                    + b"\x00\x00\x00\x00\x00\x00\x01\x02" + prev + digest)


def test_length_prefixes_keep_topic_and_state_apart() -> None:
    oid = bytes(16)
    assert ledger.event_digest(oid, 1, "ab", b"c") != ledger.event_digest(oid, 1, "a", b"bc")


def test_strings_are_hashed_as_given_without_normalisation() -> None:
    composed = "й"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert ledger.genesis_hash(composed) != ledger.genesis_hash(decomposed)


def test_the_chain_id_separates_chains() -> None:
    assert ledger.genesis_hash("ejournal:a") != ledger.genesis_hash("ejournal:b")
    args = (1, bytes(32), bytes(32))
    assert ledger.entry_hash("ejournal:a", *args) != ledger.entry_hash("ejournal:b", *args)


def test_key_id_is_32_lowercase_hex_characters() -> None:
    kid = ledger.key_id(bytes(range(32)))
    assert len(kid) == 32 and kid == kid.lower() and bytes.fromhex(kid)


def test_an_encoding_error_is_a_value_error_and_a_ledger_error() -> None:
    assert issubclass(ledger.EncodingError, ValueError)
    assert issubclass(ledger.EncodingError, ledger.LedgerError)


@pytest.mark.parametrize("oid,version", [
    (bytes(15), 1), (bytes(17), 1), ("0" * 16, 1), (bytes(16), -1), (bytes(16), 2**63),
    (bytes(16), True), (bytes(16), 1.0),
])
def test_event_digest_preconditions_raise_encoding_error(oid: bytes, version: int) -> None:
    with pytest.raises(ledger.EncodingError):
        ledger.event_digest(oid, version, "t", b"")


def test_event_digest_accepts_the_largest_version() -> None:
    assert len(ledger.event_digest(bytes(16), 2**63 - 1, "t", b"")) == 32


def test_a_topic_with_a_lone_surrogate_raises_encoding_error() -> None:
    with pytest.raises(ledger.EncodingError):
        ledger.event_digest(bytes(16), 1, "\ud800", b"")


def test_a_state_that_is_not_bytes_raises_encoding_error() -> None:
    with pytest.raises(ledger.EncodingError):
        ledger.event_digest(bytes(16), 1, "t", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("position,prev,digest", [
    (0, bytes(32), bytes(32)), (2**64, bytes(32), bytes(32)), (1, bytes(31), bytes(32)),
    (1, bytes(32), bytes(33)),
])
def test_entry_bytes_preconditions_raise_encoding_error(position: int, prev: bytes,
                                                        digest: bytes) -> None:
    with pytest.raises(ledger.EncodingError):
        ledger.entry_bytes("c", position, prev, digest)


def test_signing_message_and_key_id_check_their_lengths() -> None:
    with pytest.raises(ledger.EncodingError):
        ledger.signing_message(bytes(31))
    with pytest.raises(ledger.EncodingError):
        ledger.key_id(bytes(33))


@pytest.mark.parametrize("n", [-1, 2**32])
def test_u32_out_of_range_raises_encoding_error(n: int) -> None:
    with pytest.raises(ledger.EncodingError):
        encoding.u32(n)
