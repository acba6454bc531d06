"""Verification by segments (ledger/segments.py): workers that read their own stretches
of a stored chain give exactly the sequential verifiers' verdicts — every signature,
link and key in force (`verify_segments`), every link and the Merkle roots
(`verify_links_segments`) — whatever the segment size and wherever the damage."""

from __future__ import annotations

from dataclasses import replace

import pytest

import ledger
from ledger import FailureKind
from tests.ledger.test_chain import CHAIN, KEYRING, events, stored
from tests.ledger.test_parallel import CHAIN_ENTRIES, N, tampered
from tests.ledger.test_rotation import CHAIN as ROTATING
from tests.ledger.test_rotation import A, B, C, announcing, chain, plain, ring

TAMPERINGS = ["changed state", "bad signature", "unknown key", "missing", "inserted",
              "swapped events", "event gone", "last entry", "stored entry hash",
              "stored prev hash"]


def damaged(kind: str) -> list[ledger.StoredEntry]:
    """`tampered(kind)` as a database can hold it (rows come back by position): two
    events swapped between their ledger rows instead of two rows out of order."""
    if kind != "swapped events":
        return tampered(kind)
    entries = list(CHAIN_ENTRIES)
    entries[60], entries[61] = (replace(entries[60], event=entries[61].event),
                                replace(entries[61], event=entries[60].event))
    return entries


class Rows:
    """A stored chain as a database holds it: rows by position (picklable: the workers
    read their segments from it)."""

    def __init__(self, entries: list[ledger.StoredEntry]) -> None:
        self.entries = sorted(entries, key=lambda e: e.position)

    def __call__(self, first: int, last: int) -> list[ledger.StoredEntry]:
        return [e for e in self.entries if first <= e.position <= last]

    def reread(self, position: int) -> list[ledger.StoredEntry]:
        return [e for e in self.entries if e.position >= position]

    @property
    def size(self) -> int:
        return max((e.position for e in self.entries), default=0)


def by_segments(rows: Rows, keyring: ledger.KeyRing = KEYRING, chain_id: str = CHAIN,
                segment: int = 8) -> ledger.VerifyReport:
    return ledger.verify_segments(chain_id, rows, rows.size, keyring, workers=2,
                                  reread=rows.reread, segment=segment)


def sequential(rows: Rows, keyring: ledger.KeyRing = KEYRING,
               chain_id: str = CHAIN) -> ledger.VerifyReport:
    return ledger.verify(chain_id, iter(rows.entries), keyring)


@pytest.mark.parametrize("segment", [1, 8, 64, 128])
def test_a_whole_chain_verifies_by_segments_as_in_one_pass(segment: int) -> None:
    rows = Rows(CHAIN_ENTRIES)
    report = by_segments(rows, segment=segment)
    assert report.ok and report.count == N
    assert report == sequential(rows)


@pytest.mark.parametrize("kind", TAMPERINGS)
def test_segments_name_what_the_sequential_verifier_names(kind: str) -> None:
    rows = Rows(damaged(kind))
    expected = sequential(rows)
    assert not expected.ok
    assert by_segments(rows) == expected


def test_a_damaged_first_entry_of_a_segment_is_named_as_in_one_pass() -> None:
    entries = list(CHAIN_ENTRIES)
    entries[16] = replace(entries[16], prev_hash=bytes(32))  # position 17 opens a segment
    rows = Rows(entries)
    report = by_segments(rows)
    assert report == sequential(rows)
    assert (report.failure.kind, report.failure.position) == (  # type: ignore[union-attr]
        FailureKind.CHANGED, 17)


class BufferSignatures(Rows):
    """A store that hands the signature at position 6 back as a memoryview."""

    def __call__(self, first: int, last: int) -> list[ledger.StoredEntry]:
        return [replace(e, signature=memoryview(e.signature)) if e.position == 6 else e
                for e in super().__call__(first, last)]

    def reread(self, position: int) -> list[ledger.StoredEntry]:
        return [replace(e, signature=memoryview(e.signature)) if e.position == 6 else e
                for e in super().reread(position)]


def test_a_second_row_at_the_last_position_of_a_segment_is_inserted() -> None:
    rows = Rows([*CHAIN_ENTRIES[:8], CHAIN_ENTRIES[7], *CHAIN_ENTRIES[8:]])
    report = by_segments(rows)
    assert report == sequential(rows)
    assert report.failure is not None and report.failure.kind == FailureKind.INSERTED


def test_a_signature_that_is_not_bytes_fails_as_in_one_pass() -> None:
    rows = BufferSignatures(CHAIN_ENTRIES)
    expected = ledger.verify(CHAIN, iter(rows.reread(1)), KEYRING)
    assert not expected.ok
    assert by_segments(rows) == expected


def test_a_row_below_position_one_is_inserted_as_in_one_pass() -> None:
    rows = Rows([replace(CHAIN_ENTRIES[4], position=0), *CHAIN_ENTRIES])
    report = by_segments(rows)
    assert report == sequential(rows)
    assert report.failure is not None and report.failure.kind == FailureKind.INSERTED


def test_a_stretch_of_another_chain_does_not_join_the_chain_before_it() -> None:
    """Positions 17.. taken from another chain signed by the same key are linked and
    signed inside themselves, segment by segment; only the join to the head before
    them catches it."""
    contents = events(N)
    contents[0] = ledger.EventContent(contents[0].originator_id, 1, "domain:Event1", b"other")
    other = stored(contents)  # every entry hash differs from position 1 on
    rows = Rows(CHAIN_ENTRIES[:16] + other[16:])
    report = by_segments(rows)
    assert report == sequential(rows)
    assert report.failure is not None and report.failure.position == 17


@pytest.mark.parametrize("last", [B, A])
def test_a_key_announced_in_an_earlier_segment_signs_the_later_ones(
        last: ledger.Signer) -> None:
    """B is announced at position 6; segments of 4 leave for the workers before the
    announcement is joined, knowing only A: they are checked again with B."""
    steps = [(A, plain(n)) for n in range(1, 6)] + [(A, announcing(A, B))]
    steps += [(B, plain(n)) for n in range(6, 20)] + [(last, plain(20))]
    rows = Rows(chain(*steps))
    report = by_segments(rows, ring(A), ROTATING, segment=4)
    assert report == sequential(rows, ring(A), ROTATING)
    assert report.ok is (last is B)
    if report.ok:
        assert report.keys.in_force == B.key_id and A.key_id in report.keys.retired


@pytest.mark.parametrize("case", ["retired signs", "announced by a key not in force",
                                  "retired announced again"])
def test_the_key_in_force_is_kept_across_segments_as_in_one_pass(case: str) -> None:
    steps = [(A, plain(1)), (A, plain(2)), (A, plain(3)), (A, announcing(A, B))]
    if case == "retired signs":
        steps += [(B, plain(4)), (B, plain(5)), (A, plain(6))]
    elif case == "announced by a key not in force":
        steps += [(B, plain(4)), (A, announcing(A, C, 98)), (C, plain(6))]
    else:
        steps += [(B, plain(4)), (B, announcing(B, C, 98)), (C, announcing(C, A, 97)),
                  (A, plain(7))]
    rows = Rows(chain(*steps))
    expected = sequential(rows, ring(A), ROTATING)
    assert not expected.ok and expected.failure is not None
    assert expected.failure.kind == FailureKind.WRONG_KEY
    assert by_segments(rows, ring(A), ROTATING, segment=2) == expected


def test_a_segment_size_that_is_not_a_power_of_two_is_refused() -> None:
    rows = Rows(CHAIN_ENTRIES)
    with pytest.raises(ValueError, match="power of two"):
        by_segments(rows, segment=6)
    with pytest.raises(ValueError, match="power of two"):
        ledger.verify_links_segments(CHAIN, rows, rows.size, workers=2, reread=rows.reread,
                                     segment=12)


def links(rows: Rows, roots_at: tuple[int, ...] = (), segment: int = 8) -> ledger.LinkReport:
    return ledger.verify_links_segments(CHAIN, rows, rows.size, workers=2,
                                        reread=rows.reread, roots_at=roots_at,
                                        segment=segment)


@pytest.mark.parametrize("segment", [1, 8, 16, 128])
def test_links_by_segments_give_the_roots_of_one_pass(segment: int) -> None:
    rows = Rows(CHAIN_ENTRIES)
    sizes = (1, 8, 16, 37, 64, N)
    report = links(rows, sizes, segment)
    leaves = [ledger.chain_leaf_hash(CHAIN, e.position, e.prev_hash, e.event_digest)
              for e in CHAIN_ENTRIES]
    assert report == ledger.verify_links(CHAIN, iter(rows.entries), roots_at=sizes)
    assert report.ok and report.frontier.root() == ledger.root_hash(leaves)
    assert report.roots == {size: ledger.root_hash(leaves[:size]) for size in sizes}


@pytest.mark.parametrize("kind", TAMPERINGS)
def test_links_by_segments_name_what_one_pass_names(kind: str) -> None:
    rows = Rows(damaged(kind))
    expected = ledger.verify_links(CHAIN, iter(rows.entries), roots_at=(N,))
    assert links(rows, (N,)) == expected


def test_links_by_segments_carry_the_retired_keys() -> None:
    steps = [(A, plain(n)) for n in range(1, 11)] + [(A, announcing(A, B))]
    steps += [(B, plain(n)) for n in range(11, 15)]
    rows = Rows(chain(*steps))
    report = ledger.verify_links_segments(ROTATING, rows, rows.size, workers=2,
                                          reread=rows.reread, segment=4)
    assert report.ok and report.retired == {A.key_id: 11}
    assert report == ledger.verify_links(ROTATING, iter(rows.entries))
