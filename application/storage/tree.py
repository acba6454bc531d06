"""The Merkle tree over an institution's chain, as stored (ADR 0011): every complete
subtree hash in `merkle_nodes (level, idx, hash)`, inserted with the ledger rows that
create it. What the SQLite and PostgreSQL adapters share: the subtrees an append creates,
the frontier at a head, the one-off build for chains older than the table, and roots and
proofs from O(log n) stored subtrees, read in one batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import ledger

Key = tuple[int, int]  # (level, index)
# A ledger row as the tree needs it: position, prev_hash, event_digest.
LeafRow = tuple[int, bytes, bytes]
BUILD_PAGE = 5000
T = TypeVar("T")


class TreeIncomplete(Exception):
    """merkle_nodes lacks a subtree the chain's length needs (the chain predates the
    table, or nodes were removed): build it (`ensure_tree`) or report tampering."""


def leaves(last_leaf: int | None) -> int:
    """The leaves of merkle_nodes from its largest level-0 index (None: no leaf), + 1 in
    Python: a junk node at the largest bigint would overflow in SQL."""
    return 0 if last_leaf is None else int(last_leaf) + 1


def frontier_keys(size: int) -> list[Key]:
    """The (level, index) of the complete subtrees of the binary decomposition of `size`
    leaves, largest first: the frontier at `size` (popcount(size) keys)."""
    return [(level, (size >> level) - 1) for level in reversed(range(size.bit_length()))
            if (size >> level) & 1]


def frontier_from(size: int, found: Mapping[Key, bytes]) -> ledger.MerkleFrontier | None:
    """The frontier at `size` from stored hashes; None if one is missing."""
    keys = frontier_keys(size)
    if not all(k in found for k in keys):
        return None
    return ledger.MerkleFrontier(size, tuple(bytes(found[k]) for k in keys))


def extend(chain_id: str, frontier: ledger.MerkleFrontier, rows: Iterable[LeafRow]
           ) -> tuple[ledger.MerkleFrontier, list[ledger.Subtree]]:
    """The frontier after appending the entries `rows` (in position order, the first at
    frontier.size + 1), and every complete subtree they create (what the store adds).
    TreeIncomplete if a row is not at the next position."""
    leaves = []
    for expected, (position, prev_hash, digest) in enumerate(rows, frontier.size + 1):
        if int(position) != expected:
            raise TreeIncomplete(f"ledger position {position} does not follow the tree of "
                                 f"size {expected - 1}")
        leaves.append(ledger.chain_leaf_hash(chain_id, expected, bytes(prev_hash),
                                             bytes(digest)))
    return frontier.extend_many(leaves)


def columns(subtrees: Sequence[ledger.Subtree]) -> tuple[list[int], list[int], list[bytes]]:
    """levels, indexes, hashes: the arrays of one unnest INSERT."""
    return ([s.level for s in subtrees], [s.index for s in subtrees],
            [s.hash for s in subtrees])


def build(chain_id: str, leaves: int, lookup: Callable[[list[Key]], Mapping[Key, bytes]],
          rows_after: Callable[[int, int], Sequence[LeafRow]],
          insert: Callable[[list[ledger.Subtree]], None]) -> ledger.MerkleFrontier:
    """Completes merkle_nodes for the whole ledger, streaming (flat memory): from the
    `leaves` leaves it holds (nodes exist for a prefix: they are written with the ledger
    rows), reads the ledger after that in pages and inserts the subtrees they create.
    Runs in the caller's transaction, under the institution's write lock."""
    frontier = frontier_from(leaves, lookup(frontier_keys(leaves)))
    if frontier is None:
        raise TreeIncomplete(f"merkle_nodes lacks the frontier of its {leaves} leaves")
    while True:
        rows = rows_after(frontier.size, BUILD_PAGE)
        if not rows:
            return frontier
        frontier, created = extend(chain_id, frontier, rows)
        insert(created)


def first_difference(chain_id: str, rows: Iterable[LeafRow],
                     lookup: Callable[[list[Key]], Mapping[Key, bytes]],
                     page: int = BUILD_PAGE) -> ledger.Failure | None:
    """Every complete subtree of the chain whose ledger rows are `rows` (in position
    order from 1), recomputed and compared with the stored merkle_nodes, `page` rows at
    a time (one batched read per page, flat memory): the first node that is absent
    (MISSING) or holds another hash (CHANGED), at the last position it covers; None if
    every node is the chain's. Proofs and receipts are served from these nodes."""
    frontier = ledger.MerkleFrontier()

    def check(batch: list[LeafRow]) -> ledger.Failure | None:
        nonlocal frontier
        frontier, created = extend(chain_id, frontier, batch)
        found = lookup([(s.level, s.index) for s in created])
        for node in created:
            stored = found.get((node.level, node.index))
            if stored is not None and bytes(stored) == node.hash:
                continue
            position = (node.index + 1) << node.level
            name = f"merkle_nodes (level {node.level}, index {node.index})"
            if stored is None:
                return ledger.Failure(position, ledger.FailureKind.MISSING,
                                      f"{name} is absent: the chain's is {node.hash.hex()}")
            return ledger.Failure(position, ledger.FailureKind.CHANGED,
                                  f"{name} holds {bytes(stored).hex()}, the chain's is "
                                  f"{node.hash.hex()}")
        return None

    batch: list[LeafRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= page:
            failure = check(batch)
            if failure is not None:
                return failure
            batch = []
    return check(batch) if batch else None


def from_store(compute: Callable[[Callable[[int, int], bytes]], T],
               fetch: Callable[[list[Key]], Mapping[Key, Any]]) -> T:
    """`compute(subtree)` — a `ledger.*_from` function with its sizes bound — with every
    subtree hash it needs read in one batch: the keys depend only on the sizes, so a first
    pass with placeholder hashes names them. TreeIncomplete if one is not stored."""
    keys: list[Key] = []

    def record(level: int, index: int) -> bytes:
        keys.append((level, index))
        return bytes(32)

    compute(record)
    found = fetch(sorted(set(keys))) if keys else {}

    def subtree(level: int, index: int) -> bytes:
        h = found.get((level, index))
        if h is None:
            raise TreeIncomplete(f"merkle_nodes has no subtree ({level}, {index})")
        return bytes(h)

    return compute(subtree)
