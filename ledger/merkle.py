"""The Merkle tree over a chain (RFC 9162 §2.1, the same hashing as RFC 6962), ADR 0011.

    leaf hash   = SHA-256(0x00 || leaf bytes)
    node hash   = SHA-256(0x01 || left || right)
    empty tree  = SHA-256("")
    MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

The leaf of chain position p (leaf index p - 1) is the entry's canonical bytes,
`ledger.encoding.entry_bytes(chain_id, p, prev_hash, event_digest)` (`chain_leaf`).

Two ways to compute roots and proofs:

- from a list of leaf hashes (`root_hash`, `inclusion_proof`, `consistency_proof`): O(n),
  for tests, exports and small trees;
- from a `SubtreeHash` callback `subtree(level, index)` returning the hash of the complete
  subtree over leaves [index * 2**level, (index + 1) * 2**level) (`root_hash_from`,
  `inclusion_proof_from`, `consistency_proof_from`): O(log n) callback calls, so a store
  that keeps every complete subtree hash (ADR 0011) serves a proof for a million-entry
  chain without re-reading it. `MerkleFrontier` maintains the right edge incrementally and
  names the subtrees each append completes.

The verifiers (`verify_inclusion`, `verify_consistency`) follow RFC 9162 §2.1.3.2 and
§2.1.4.2 step by step and return False, never raise, on any malformed input.

Pure functions over bytes: standard library only.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger.encoding import ENTRY_TAG, HASH_SIZE, entry_bytes
from ledger.errors import EncodingError, MerkleError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""subtree(level, index) -> the 32-byte hash of the complete subtree over leaves
[index * 2**level, (index + 1) * 2**level); level 0 is the leaf hashes."""


def _is_int(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _is_hash(h: object) -> bool:
    return isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE


def _check_hash(h: object, name: str) -> bytes:
    if not _is_hash(h):
        raise MerkleError(f"{name} must be {HASH_SIZE} bytes")
    return bytes(h)  # type: ignore[arg-type]


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf). Precondition: `leaf` is bytes, else MerkleError."""
    if not isinstance(leaf, bytes | bytearray):
        raise MerkleError(f"a leaf is bytes, got {type(leaf).__name__}")
    return hashlib.sha256(LEAF_PREFIX + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right). Precondition: both are 32 bytes, else MerkleError."""
    return hashlib.sha256(NODE_PREFIX + _check_hash(left, "left") + _check_hash(right, "right")
                          ).digest()


def _node(left: bytes, right: bytes) -> bytes:  # unchecked, for hashes we computed
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def chain_leaf(chain_id: str, position: int, prev_hash: bytes, event_digest: bytes) -> bytes:
    """The Merkle leaf of a chain entry: its canonical bytes (ADR 0002),

        ENTRY_TAG || lp(utf8(chain_id)) || u64(position) || prev_hash || event_digest

    at leaf index position - 1. (Not the entry hash: the leaf hash SHA-256(0x00 || bytes)
    and the entry hash SHA-256(bytes) are two hashes of the same bytes.) Preconditions as
    `entry_bytes` (EncodingError)."""
    return entry_bytes(chain_id, position, prev_hash, event_digest)


def chain_leaf_hash(chain_id: str, position: int, prev_hash: bytes,
                    event_digest: bytes) -> bytes:
    """leaf_hash(chain_leaf(...)): the leaf hash of chain position `position`."""
    return leaf_hash(chain_leaf(chain_id, position, prev_hash, event_digest))


def parse_chain_leaf(leaf: bytes) -> tuple[str, int, bytes, bytes]:
    """(chain_id, position, prev_hash, event_digest) of a chain leaf, the inverse of
    `chain_leaf`. EncodingError unless `leaf` is exactly such canonical bytes (the tag,
    a length-prefixed UTF-8 chain id, a position >= 1, two 32-byte hashes, nothing more)."""
    if not isinstance(leaf, bytes | bytearray) or not bytes(leaf).startswith(ENTRY_TAG):
        raise EncodingError("not the canonical bytes of a chain entry")
    leaf = bytes(leaf)
    at = len(ENTRY_TAG)
    if len(leaf) < at + 4:
        raise EncodingError("not the canonical bytes of a chain entry")
    (length,) = struct.unpack_from(">I", leaf, at)
    at += 4
    if len(leaf) != at + length + 8 + 2 * HASH_SIZE:
        raise EncodingError("not the canonical bytes of a chain entry (length)")
    try:
        chain_id = leaf[at:at + length].decode("utf-8")
    except UnicodeDecodeError:
        raise EncodingError("the chain id of an entry is not UTF-8") from None
    at += length
    (position,) = struct.unpack_from(">Q", leaf, at)
    at += 8
    prev_hash, digest = leaf[at:at + HASH_SIZE], leaf[at + HASH_SIZE:]
    if entry_bytes(chain_id, position, prev_hash, digest) != leaf:  # position 0 raises
        raise EncodingError("not the canonical bytes of a chain entry")
    return chain_id, position, prev_hash, digest


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _decompose(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (level, index), left to right, largest first, that make up
    the leaves [start, end), where start is a multiple of the smallest power of two >=
    end - start (true of every range the RFC's recursion visits)."""
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def _range_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) from complete subtree hashes: the decomposition folded from the
    right (the RFC puts the largest power of two on the left at every split)."""
    parts = [_lookup(subtree, level, index) for level, index in _decompose(start, end)]
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = _node(left, h)
    return h


def _lookup(subtree: SubtreeHash, level: int, index: int) -> bytes:
    h = subtree(level, index)
    if not _is_hash(h):
        raise MerkleError(f"the subtree hash at level {level}, index {index} is not "
                          f"{HASH_SIZE} bytes")
    return bytes(h)


def _check_size(size: object, name: str = "size") -> int:
    if not _is_int(size) or size < 0:  # type: ignore[operator]
        raise MerkleError(f"{name} must be an int >= 0, got {size!r}")
    return size  # type: ignore[return-value]


def root_hash_from(size: int, subtree: SubtreeHash) -> bytes:
    """MTH of the first `size` leaves, from at most popcount(size) subtree lookups.
    EMPTY_ROOT for size 0. MerkleError if size is not an int >= 0 or a lookup is not 32
    bytes."""
    if _check_size(size) == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, subtree)


def inclusion_proof_from(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, from O(log size) subtree lookups: the
    sibling hashes from the leaf up to the root's child. MerkleError unless
    0 <= index < size."""
    _check_size(size)
    if not _is_int(index) or not 0 <= index < size:
        raise MerkleError(f"leaf index {index!r} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # walk down; siblings are collected root first
        k = _split(end - start)
        if index < start + k:
            path.append(_range_hash(start + k, end, subtree))
            end = start + k
        else:
            path.append(_range_hash(start, start + k, subtree))
            start += k
    path.reverse()
    return path


def consistency_proof_from(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1, from O(log new_size) subtree
    lookups; [] when old_size == new_size. MerkleError unless 0 < old_size <= new_size."""
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    if not 0 < old_size <= new_size:
        raise MerkleError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        return []
    proof: list[bytes] = []
    m, start, end, whole = old_size, 0, new_size, True
    # SUBPROOF(m, D[start:end], whole), unrolled; the appended hashes are collected in
    # reverse order (the RFC appends the sibling after the recursive part).
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(_range_hash(start, end, subtree))
            break
        k = _split(n)
        if m <= k:
            proof.append(_range_hash(start + k, end, subtree))
            end = start + k
        else:
            proof.append(_range_hash(start, start + k, subtree))
            m -= k
            start += k
            whole = False
    proof.reverse()
    return proof


def _list_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    hashes = [_check_hash(h, "a leaf hash") for h in leaf_hashes]

    def subtree(level: int, index: int) -> bytes:
        level_hashes = hashes[index << level:(index + 1) << level]
        while len(level_hashes) > 1:
            level_hashes = [_node(level_hashes[i], level_hashes[i + 1])
                            for i in range(0, len(level_hashes), 2)]
        return level_hashes[0]

    return subtree


def _check_leaves(size: int, leaf_hashes: Sequence[bytes]) -> None:
    if _check_size(size) > len(leaf_hashes):
        raise MerkleError(f"size {size} is larger than the {len(leaf_hashes)} leaf hashes")


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of all of `leaf_hashes` (each 32 bytes, else MerkleError); EMPTY_ROOT if none."""
    frontier = MerkleFrontier()
    for h in leaf_hashes:
        frontier = frontier.append(h)
    return frontier.root()


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[0:size]) over the first `size` of `leaf_hashes`. MerkleError unless
    0 <= index < size <= len(leaf_hashes) and every leaf hash is 32 bytes."""
    _check_leaves(size, leaf_hashes)
    return inclusion_proof_from(index, size, _list_subtree(leaf_hashes[:size]))


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) over the first `new_size` of `leaf_hashes`.
    MerkleError unless 0 < old_size <= new_size <= len(leaf_hashes) and every leaf hash
    is 32 bytes."""
    _check_leaves(new_size, leaf_hashes)
    return consistency_proof_from(old_size, new_size, _list_subtree(leaf_hashes[:new_size]))


def _proof_ok(proof: object) -> bool:
    return isinstance(proof, list | tuple) and all(_is_hash(p) for p in proof)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """True iff `proof` proves that `leaf_hash` is leaf `index` of the tree of `size` leaves
    whose root is `root` (RFC 9162 §2.1.3.2). False, never an exception, for any malformed
    input: a hash that is not 32 bytes, index >= size, a proof of the wrong length."""
    if not (_is_hash(leaf_hash) and _is_hash(root) and _proof_ok(proof)
            and _is_int(index) and _is_int(size) and 0 <= index < size):
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(bytes(p), r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, bytes(p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes(root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True iff `proof` proves that the tree of `new_size` leaves with root `new_root`
    extends the tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2). Equal
    sizes need equal roots and an empty proof. False, never an exception, for any malformed
    input: a hash that is not 32 bytes, old_size = 0, old_size > new_size, a proof of the
    wrong length."""
    if not (_is_hash(old_root) and _is_hash(new_root) and _proof_ok(proof)
            and _is_int(old_size) and _is_int(new_size) and 0 < old_size <= new_size):
        return False
    old_root, new_root = bytes(old_root), bytes(new_root)
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if len(proof) == 0:  # step 1
        return False
    path = [bytes(p) for p in proof]
    if old_size & (old_size - 1) == 0:  # step 2: an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


@dataclass(frozen=True)
class Subtree:
    """A complete subtree: its level (0 = a leaf), its index within the level, its hash.
    It covers leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int
    hash: bytes


@dataclass(frozen=True)
class MerkleFrontier:
    """The right edge of a tree of `size` leaves: the hashes of the complete subtrees of
    its binary decomposition, largest (leftmost) first — popcount(size) hashes, O(log n).
    Enough to append and to compute the root without the leaves."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_size(self.size)
        if not isinstance(self.hashes, tuple) or len(self.hashes) != self.size.bit_count():
            held = len(self.hashes) if isinstance(self.hashes, tuple) else "no tuple of"
            raise MerkleError(f"a frontier of size {self.size} holds {held} hashes; it "
                              f"should hold {self.size.bit_count()} (one per set bit of "
                              "the size)")
        for h in self.hashes:
            _check_hash(h, "a frontier hash")

    def subtrees(self) -> list[Subtree]:
        """The frontier's hashes as Subtree(level, index, hash), largest first."""
        return [Subtree(level, index, h)
                for (level, index), h in zip(_decompose(0, self.size), self.hashes,
                                             strict=True)]

    @classmethod
    def from_subtrees(cls, size: int, subtree: SubtreeHash) -> MerkleFrontier:
        """The frontier of the first `size` leaves, from popcount(size) lookups."""
        _check_size(size)
        return cls(size, tuple(_lookup(subtree, level, index)
                               for level, index in _decompose(0, size)))

    def extend(self, leaf_hash: bytes) -> tuple[MerkleFrontier, list[Subtree]]:
        """The frontier after appending `leaf_hash` (32 bytes, else MerkleError), and the
        complete subtrees this append creates, leaf first: (0, size), then one per level
        that the new leaf completes. These are exactly what the store must add (ADR 0011)."""
        h = _check_hash(leaf_hash, "leaf_hash")
        index = self.size
        created = [Subtree(0, index, h)]
        stack = list(self.hashes)
        level = 0
        while (index >> level) & 1:  # the subtree of this level to our left is complete
            h = _node(stack.pop(), h)
            level += 1
            created.append(Subtree(level, index >> level, h))
        stack.append(h)
        return MerkleFrontier(self.size + 1, tuple(stack)), created

    def extend_many(self, leaf_hashes: Iterable[bytes]
                    ) -> tuple[MerkleFrontier, list[Subtree]]:
        """The frontier after appending `leaf_hashes` in order, and every complete
        subtree they create, in creation order: exactly what `extend` returns leaf by
        leaf, folded (one frontier built, not one per leaf). MerkleError (appending
        nothing) unless every leaf hash is 32 bytes."""
        hashes = [_check_hash(h, "leaf_hash") for h in leaf_hashes]
        stack = list(self.hashes)
        created: list[Subtree] = []
        index = self.size
        for h in hashes:
            created.append(Subtree(0, index, h))
            level = 0
            while (index >> level) & 1:
                h = _node(stack.pop(), h)
                level += 1
                created.append(Subtree(level, index >> level, h))
            stack.append(h)
            index += 1
        _check_size(index)
        return MerkleFrontier(index, tuple(stack)), created

    def append(self, leaf_hash: bytes) -> MerkleFrontier:
        """The frontier after appending `leaf_hash` (32 bytes, else MerkleError)."""
        return self.extend(leaf_hash)[0]

    def root(self) -> bytes:
        """MTH of the tree: the hashes folded from the right; EMPTY_ROOT if empty."""
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = _node(left, h)
        return h
