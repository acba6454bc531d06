"""The Merkle tree (ADR 0011): published vectors, a slow reference written from RFC 9162
§2.1 in this file, and hypothesis.

Vectors: tests/ledger/merkle_vectors.json holds, unchanged, transparency-dev/merkle's
testonly/constants.go and testdata/inclusion, testdata/consistency probes (Apache-2.0) at
commit 417fb0c314750d94e53942e9f92e79b6d35915db.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from ledger import merkle

V = json.loads(Path(__file__).with_name("merkle_vectors.json").read_text(encoding="utf-8"))
C = V["testonly_constants"]
LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in C["leaf_inputs"]]


def b64(s: str) -> bytes:
    return base64.b64decode(s)


# The slow reference, written from RFC 9162 §2.1 (recursive, as the RFC states it) -------

def ref_leaf(d: bytes) -> bytes:
    return hashlib.sha256(bytes([0]) + d).digest()


def ref_mth(d: list[bytes]) -> bytes:  # d: leaf hashes
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(bytes([1]) + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_path_shape(m: int, n: int) -> list[bool]:
    """For each proof element, leaf first: True if the sibling is on the left."""
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    return [*ref_path_shape(m, k), False] if m < k else [*ref_path_shape(m - k, n - k), True]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def leaves(n: int) -> list[bytes]:
    return [ref_leaf(i.to_bytes(4, "big")) for i in range(n)]


# Published vectors ------------------------------------------------------------------------

def test_the_vectors_name_their_source_commit() -> None:
    assert V["commit"] == "417fb0c314750d94e53942e9f92e79b6d35915db"
    assert len(V["inclusion"]) > 50 and len(V["consistency"]) > 50


def test_empty_root_and_leaf_and_node_hashes_match_testonly_constants() -> None:
    assert merkle.EMPTY_ROOT.hex() == C["empty_root_hash"]
    assert [h.hex() for h in LEAVES] == C["node_hashes"][0]
    for level, row in enumerate(C["node_hashes"][1:], start=1):
        for index, want in enumerate(row):
            pair = [bytes.fromhex(h) for h in C["node_hashes"][level - 1][2 * index:2 * index + 2]]
            assert merkle.node_hash(*pair).hex() == want


def test_roots_of_every_prefix_match_testonly_root_hashes() -> None:
    for size, want in enumerate(C["root_hashes"]):
        assert merkle.root_hash(LEAVES[:size]).hex() == want
        assert ref_mth(LEAVES[:size]).hex() == want


def test_the_frontier_matches_testonly_compact_trees() -> None:
    frontier = merkle.MerkleFrontier()
    nh = C["node_hashes"]
    for size in range(1, 9):
        frontier, created = frontier.extend(LEAVES[size - 1])
        want = [nh[level][index] for level in range(3, -1, -1) if size >> level & 1
                for index in [(size >> level) - 1]]
        assert [h.hex() for h in frontier.hashes] == want
        assert frontier.root().hex() == C["root_hashes"][size]
        for s in created:
            assert s.hash.hex() == nh[s.level][s.index]


@pytest.mark.parametrize("probe", V["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe: dict) -> None:  # type: ignore[type-arg]
    proof = [b64(p) for p in probe["proof"] or []]
    ok = merkle.verify_inclusion(b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"],
                                 proof, b64(probe["root"]))
    assert ok is (not probe["wantErr"])
    if ok and probe["treeSize"] <= 8 and b64(probe["root"]) == merkle.root_hash(
            LEAVES[:probe["treeSize"]]):
        assert merkle.inclusion_proof(probe["leafIdx"], probe["treeSize"], LEAVES) == proof


NOT_32_BYTES = {"testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def test_the_only_happy_probe_with_short_hashes_is_the_known_one() -> None:
    short = {p["file"] for p in V["consistency"] + V["inclusion"] if not p["wantErr"] and any(
        len(b64(p[k])) != 32 for k in ("root1", "root2", "root", "leafHash") if k in p)}
    assert short == NOT_32_BYTES


@pytest.mark.parametrize("probe", V["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe: dict) -> None:  # type: ignore[type-arg]
    proof = [b64(p) for p in probe["proof"] or []]
    ok = merkle.verify_consistency(probe["size1"], probe["size2"], b64(probe["root1"]),
                                   b64(probe["root2"]), proof)
    if probe["file"] in NOT_32_BYTES:  # Go accepts equal sizes with equal 12-byte "roots";
        assert not probe["wantErr"] and ok is False  # our contract: not 32 bytes -> False
        return
    assert ok is (not probe["wantErr"])
    if ok and probe["size2"] <= 8 and b64(probe["root2"]) == merkle.root_hash(
            LEAVES[:probe["size2"]]):
        assert merkle.consistency_proof(probe["size1"], probe["size2"], LEAVES) == proof


# Against the reference --------------------------------------------------------------------

def test_every_proof_up_to_size_40_equals_the_reference_and_verifies() -> None:
    d = leaves(40)
    for n in range(1, 41):
        root = ref_mth(d[:n])
        assert merkle.root_hash(d[:n]) == root
        for m in range(n):
            proof = merkle.inclusion_proof(m, n, d)
            assert proof == ref_path(m, d[:n])
            assert merkle.verify_inclusion(d[m], m, n, proof, root)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, d)
            assert proof == (ref_proof(m, d[:n]) if m < n else [])
            assert merkle.verify_consistency(m, n, ref_mth(d[:m]), root, proof)


def test_proof_builders_refuse_out_of_range_arguments() -> None:
    d = leaves(4)
    for args in [(4, 4), (-1, 4), (0, 5), (0, 0)]:
        with pytest.raises(ledger.MerkleError):
            merkle.inclusion_proof(args[0], args[1], d)
    for args in [(0, 4), (3, 2), (1, 5), (-1, 2)]:
        with pytest.raises(ledger.MerkleError):
            merkle.consistency_proof(args[0], args[1], d)
    with pytest.raises(ledger.MerkleError):
        merkle.root_hash([b"short"])
    with pytest.raises(ledger.MerkleError):
        merkle.node_hash(bytes(32), bytes(31))



def test_a_frontier_of_the_wrong_length_says_how_many_it_holds_and_should_hold() -> None:
    with pytest.raises(ledger.MerkleError, match="size 3 holds 1 hashes; it should hold 2"):
        merkle.MerkleFrontier(3, (bytes(32),))

# Incremental: a store of complete subtrees, and O(log n) lookups ---------------------------

def test_proofs_from_a_store_of_subtrees_equal_proofs_from_the_leaves() -> None:
    d = leaves(300)
    store: dict[tuple[int, int], bytes] = {}
    frontier = merkle.MerkleFrontier()
    for h in d:
        frontier, created = frontier.extend(h)
        for s in created:
            assert (s.level, s.index) not in store
            store[(s.level, s.index)] = s.hash
    assert len(store) == 2 * 300 - (300).bit_count()  # every complete subtree, once

    def lookup(level: int, index: int) -> bytes:
        return store[(level, index)]

    for n in [1, 2, 3, 7, 8, 100, 255, 256, 257, 300]:
        assert merkle.root_hash_from(n, lookup) == ref_mth(d[:n])
        assert merkle.MerkleFrontier.from_subtrees(n, lookup).root() == ref_mth(d[:n])
        for m in {0, n // 2, n - 1}:
            assert merkle.inclusion_proof_from(m, n, lookup) == merkle.inclusion_proof(m, n, d)
        for m in {1, n // 2 or 1, n - 1 or 1, n}:
            assert merkle.consistency_proof_from(m, n, lookup) == merkle.consistency_proof(
                m, n, d)
    assert frontier == merkle.MerkleFrontier.from_subtrees(300, lookup)


def test_a_million_entry_tree_needs_o_log_n_lookups() -> None:
    calls: list[tuple[int, int]] = []

    def lookup(level: int, index: int) -> bytes:
        assert (index + 1) << level <= 1_000_000  # only complete subtrees are asked for
        calls.append((level, index))
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    n = 1_000_000
    for build in [lambda: merkle.root_hash_from(n, lookup),
                  lambda: merkle.inclusion_proof_from(123_456, n, lookup),
                  lambda: merkle.inclusion_proof_from(n - 1, n, lookup),
                  lambda: merkle.consistency_proof_from(654_321, n, lookup),
                  lambda: merkle.consistency_proof_from(1, n, lookup)]:
        calls.clear()
        build()
        assert len(calls) <= 2 * n.bit_length()  # 40


@given(start=st.integers(min_value=0, max_value=40), count=st.integers(min_value=0,
                                                                      max_value=40))
def test_extending_by_many_leaves_equals_extending_leaf_by_leaf(start: int,
                                                                count: int) -> None:
    d = leaves(start + count)
    frontier = merkle.MerkleFrontier()
    for h in d[:start]:
        frontier = frontier.append(h)
    one_by_one, created = frontier, []
    for h in d[start:]:
        one_by_one, new = one_by_one.extend(h)
        created += new
    assert frontier.extend_many(d[start:]) == (one_by_one, created)
    assert one_by_one.root() == ref_mth(d)


@pytest.mark.parametrize("bad", [bytes(31), bytes(33), "0" * 32, None])
def test_extending_by_many_leaves_refuses_a_malformed_hash(bad: object) -> None:
    with pytest.raises(ledger.MerkleError):
        merkle.MerkleFrontier().extend_many([bytes(32), bad])  # type: ignore[list-item]


def test_a_frontier_rejects_a_wrong_number_of_hashes() -> None:
    with pytest.raises(ledger.MerkleError):
        merkle.MerkleFrontier(3, (bytes(32),))


# Hypothesis: proofs verify, and any damage fails -------------------------------------------

sizes = st.integers(min_value=1, max_value=70)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data())
def test_inclusion_proofs_verify_and_damage_fails(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    root = merkle.root_hash(d)
    m = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(m, n, d)
    assert merkle.verify_inclusion(d[m], m, n, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = [*proof]
        bad[i] = bad[i][:bit // 8] + bytes([bad[i][bit // 8] ^ (1 << bit % 8)]) + bad[i][
            bit // 8 + 1:]
        assert not merkle.verify_inclusion(d[m], m, n, bad, root)
        assert not merkle.verify_inclusion(d[m], m, n, proof[:-1], root)
        assert not merkle.verify_inclusion(d[m], m, n, proof[:i] + proof[i + 1:], root)
    assert not merkle.verify_inclusion(d[m], m, n, [*proof, root], root)
    assert not merkle.verify_inclusion(d[m], m, n, proof, bytes(32))
    assert not merkle.verify_inclusion(d[m][:31], m, n, proof, root)
    wrong = data.draw(st.integers(0, n).filter(lambda x: x != m))
    assert not merkle.verify_inclusion(d[m], wrong, n, proof, root)
    # A wrong size: the RFC algorithm binds the size only through the path's shape (a
    # checkpoint signs the size with the root). It must fail whenever the shape differs.
    other = data.draw(st.integers(1, n + 70).filter(lambda x: x != n))
    accepted = merkle.verify_inclusion(d[m], m, other, proof, root)
    if m >= other or ref_path_shape(m, other) != ref_path_shape(m, n):
        assert not accepted


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 70), data=st.data())
def test_consistency_proofs_verify_and_damage_fails(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    m = data.draw(st.integers(1, n - 1))
    old, new = merkle.root_hash(d[:m]), merkle.root_hash(d)
    proof = merkle.consistency_proof(m, n, d)
    assert merkle.verify_consistency(m, n, old, new, proof)
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = [*proof]
    bad[i] = bad[i][:bit // 8] + bytes([bad[i][bit // 8] ^ (1 << bit % 8)]) + bad[i][bit // 8 + 1:]
    assert not merkle.verify_consistency(m, n, old, new, bad)
    assert not merkle.verify_consistency(m, n, old, new, proof[:-1])
    assert not merkle.verify_consistency(m, n, old, new, [*proof, new])
    assert not merkle.verify_consistency(m, n, new, old, proof)
    assert not merkle.verify_consistency(0, n, old, new, proof)
    assert not merkle.verify_consistency(n, m, old, new, proof)
    assert not merkle.verify_consistency(m, n, old[:31], new, proof)
    for m2, n2 in [(m, n + 1), (m + 1, n), (m, n - 1), (m - 1, n)]:
        if 0 < m2 < n2 and len(ref_proof(m2, leaves(n2))) != len(proof):
            assert not merkle.verify_consistency(m2, n2, old, new, proof)


@pytest.mark.parametrize("args", [
    (bytes(32), 0, 1, [], bytes(31)), (bytes(32), 0, 1, None, bytes(32)),
    (bytes(32), 0, 1, [b"x"], bytes(32)), (bytes(32), -1, 1, [], bytes(32)),
    (bytes(32), 1, 1, [], bytes(32)), (bytes(32), True, 2, [bytes(32)], bytes(32)),
    ("00" * 32, 0, 1, [], "00" * 32), (bytes(32), 0, 0, [], bytes(32)),
])
def test_verify_inclusion_returns_false_on_malformed_input(args: tuple) -> None:  # type: ignore[type-arg]
    assert merkle.verify_inclusion(*args) is False


@pytest.mark.parametrize("args", [
    (0, 0, bytes(32), bytes(32), []), (1, 1, bytes(32), bytes(32), [bytes(32)]),
    (1, 1, bytes(32), bytes(1) * 31 + b"\x01", []), (2, 1, bytes(32), bytes(32), []),
    (1, 2, bytes(32), bytes(32), []), (1, 2, bytes(32), bytes(32), [b"short"]),
    (1, 2, bytes(32), bytes(32), "not a list"), (1, 2, None, bytes(32), [bytes(32)]),
])
def test_verify_consistency_returns_false_on_malformed_input(args: tuple) -> None:  # type: ignore[type-arg]
    assert merkle.verify_consistency(*args) is False


def test_equal_sizes_with_equal_roots_and_no_proof_are_consistent() -> None:
    assert merkle.verify_consistency(3, 3, bytes(32), bytes(32), []) is True


# The leaf of a chain entry -----------------------------------------------------------------

def test_the_leaf_is_the_entry_bytes_and_the_leaf_hash_is_not_the_entry_hash() -> None:
    chain, prev, digest = "ejournal:школа", ledger.genesis_hash("ejournal:школа"), bytes(32)
    leaf = merkle.chain_leaf(chain, 1, prev, digest)
    assert leaf == ledger.entry_bytes(chain, 1, prev, digest)
    assert merkle.chain_leaf_hash(chain, 1, prev, digest) == ref_leaf(leaf)
    assert merkle.chain_leaf_hash(chain, 1, prev, digest) != ledger.entry_hash(chain, 1, prev,
                                                                               digest)
    assert merkle.parse_chain_leaf(leaf) == (chain, 1, prev, digest)
    for bad in [leaf[:-1], leaf + b"\x00", b"x" + leaf[1:], leaf[:25] + b"\xff" + leaf[26:]]:
        with pytest.raises(ledger.EncodingError):
            merkle.parse_chain_leaf(bad)
