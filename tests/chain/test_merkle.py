"""chain.merkle: proofs verify in both layouts, and a stored batch's tree is rebuilt in the layout it
was sealed in (OpenZeppelin's, or the one telemetry batches had before it)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import merkle
from chain.hashing import keccak

leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@given(leaf_lists, st.booleans())
def test_every_proof_verifies(leaves: list[bytes], sort_leaves: bool) -> None:
    tree = merkle.MerkleTree(leaves, sort_leaves=sort_leaves)
    assert all(merkle.verify(tree.proof(i), tree.root, leaf) for i, leaf in enumerate(leaves))
    assert len(tree.tree) == 2 * len(leaves) - 1


@given(leaf_lists, st.randoms())
def test_sorted_root_does_not_depend_on_leaf_order(leaves: list[bytes], rng: random.Random) -> None:
    shuffled = list(leaves)
    rng.shuffle(shuffled)
    assert merkle.MerkleTree(shuffled).root == merkle.MerkleTree(leaves).root


def test_empty_tree_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.MerkleTree([])
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.PromotedOddTree([])


# Roots the pre-OpenZeppelin chain.merkle.MerkleTree gave (leaf i = keccak(keccak(b"reading-%d" % i))).
OLD_ROOTS = {
    5: "5832d06100e05842e71a4ce0db4e38f8db412d86e7057b5f8b3e6eccaaa41704",
    7: "c68c7260ff5f681b8a21d9a698bc9d90484547b4fd759bfcfa305165aea5e8c1",
}


def reading_leaves(n: int) -> list[bytes]:
    return [keccak(keccak(b"reading-%d" % i)) for i in range(n)]


@pytest.mark.parametrize("n", sorted(OLD_ROOTS))
def test_promoted_odd_tree_is_the_old_layout(n: int) -> None:
    leaves = reading_leaves(n)
    old = merkle.PromotedOddTree(leaves)
    assert old.root.hex() == OLD_ROOTS[n]
    assert merkle.MerkleTree(leaves).root != old.root  # what issue 9 fixed: 5 and 7 leaves differed
    assert all(merkle.verify(old.proof(i), old.root, leaf) for i, leaf in enumerate(leaves))


@pytest.mark.parametrize("n", [1, 2, 4, 5, 7, 33])
def test_sealed_tree_rebuilds_the_layout_of_the_root(n: int) -> None:
    leaves = reading_leaves(n)
    new, old = merkle.MerkleTree(leaves), merkle.PromotedOddTree(leaves)
    for root in (new.root, old.root):
        tree = merkle.sealed_tree(leaves, root)
        assert tree.root == root
        assert all(merkle.verify(tree.proof(i), root, leaf) for i, leaf in enumerate(leaves))
    assert isinstance(merkle.sealed_tree(leaves, new.root), merkle.MerkleTree)


def test_sealed_tree_of_changed_leaves_has_another_root() -> None:
    leaves = reading_leaves(5)
    root = merkle.PromotedOddTree(leaves).root
    tree = merkle.sealed_tree([*leaves[:4], keccak(b"tampered")], root)
    assert isinstance(tree, merkle.MerkleTree) and tree.root != root
