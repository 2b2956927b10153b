"""Merkle trees exactly as OpenZeppelin's `StandardMerkleTree` (`@openzeppelin/merkle-tree`) builds them.

Used for TraceabilityLedger's event batches and ShipmentEscrow's telemetry batches; the contracts
verify proofs with OpenZeppelin's `MerkleProof` (sorted-pair hashing). The layout:

- a leaf is double-hashed, keccak256(bytes.concat(keccak256(abi.encode(...)))) (`leaf`; a captured
  event's leaf encodes (eventId, capturer), `encode_claim`; a telemetry
  reading's leaf is keccak256(structHash), its struct hash being keccak256(abi.encode(TYPEHASH, ...)));
- leaves are sorted by hash (StandardMerkleTree's default `sortLeaves: true`);
- the tree is a complete binary tree in one array of 2n-1 nodes: tree[i] = hashPair(tree[2i+1],
  tree[2i+2]), the root at tree[0], the sorted leaves at the end of the array in reverse order;
- a leaf's proof is its sibling, then its parent's sibling, ... up to the root.

So an auditor who runs `StandardMerkleTree.of(values, encoding)` over a batch's values gets the root
and proofs this module gives, byte for byte (tests/chain/test_merkle_openzeppelin.py checks it against
the npm package). No maintained Python library builds this layout, which is why it is hand-written.

Batches sealed before this layout (telemetry, until issue 9) carried an odd node up a level unpaired;
`PromotedOddTree` rebuilds those so that their proofs still lead to the roots posted on chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chain.hashing import keccak


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative `Hashes.commutativeKeccak256`."""
    return keccak(a + b) if a < b else keccak(b + a)


def leaf(encoded: bytes) -> bytes:
    """The double-hashed leaf of an ABI-encoded value: keccak256(bytes.concat(keccak256(encoded))).

    For a single bytes32 (an event ID), `abi.encode` is the 32 bytes themselves.
    """
    return keccak(keccak(encoded))


def encode_claim(event_id: bytes, capturer: str | None) -> bytes:
    """`abi.encode(eventId, capturer)` of a captured event's claim: the bytes32 event ID and the
    capturing partner's address (the zero address for none). TraceabilityLedger.isInAnchoredBatch
    rebuilds the leaf from the same two values.

    Raises:
        ValueError: ``event_id`` is not 32 bytes or ``capturer`` not a 20-byte hex address.
    """
    if len(event_id) != 32:
        raise ValueError("an event ID is 32 bytes")
    account = bytes.fromhex((capturer or "0x" + "00" * 20).removeprefix("0x"))
    if len(account) != 20:
        raise ValueError(f"not an address: {capturer!r}")
    return event_id + bytes(12) + account


class Tree(Protocol):
    """What readers of a stored batch need of its tree, whichever layout it was sealed in."""

    @property
    def root(self) -> bytes: ...

    def __len__(self) -> int: ...

    def proof(self, index: int) -> list[bytes]: ...


class MerkleTree:
    """OpenZeppelin's StandardMerkleTree over `leaves`, with the proof of each leaf.

    Args:
        leaves: the (already hashed) leaves; proofs are indexed in this order.
        sort_leaves: sort the leaves by hash before building, as OpenZeppelin does by default, so
            that the root does not depend on their order. False matches `{sortLeaves: false}`.

    Raises:
        ValueError: no leaves.
    """

    def __init__(self, leaves: Sequence[bytes], *, sort_leaves: bool = True) -> None:
        n = len(leaves)
        if not n:
            raise ValueError("a Merkle tree needs at least one leaf")
        self._leaves = list(leaves)
        self._sorted = sort_leaves
        self._nodes: list[int] | None = None  # tree index of each leaf, worked out on the first proof
        tree: list[bytes] = [b""] * (n - 1)
        tree += sorted(self._leaves, reverse=True) if sort_leaves else self._leaves[::-1]
        h = keccak  # the batcher seals up to ~4k leaves a batch: hash_pair's call cost as much as a hash
        first = (n - 1) // 2  # the first node whose children are both leaves
        if sort_leaves:
            # Leaves sit in descending order, so a leaf pair's smaller hash is always the right one.
            kids = tree[2 * first + 1 :]
            tree[first : n - 1] = [h(b + a) for a, b in zip(kids[::2], kids[1::2], strict=True)]
        else:
            first = n - 1
        for i in range(first - 1, -1, -1):
            a, b = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = h(a + b) if a < b else h(b + a)
        self.tree = tree
        """The nodes in OpenZeppelin's array order (the `tree` of its `dump()`)."""

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self._leaves)

    def _tree_index(self, index: int) -> int:
        if self._nodes is None:
            # OpenZeppelin's stable sort: equal leaves keep their given order.
            n = len(self._leaves)
            order = sorted(range(n), key=self._leaves.__getitem__) if self._sorted else range(n)
            self._nodes = [0] * n
            for k, i in enumerate(order):
                self._nodes[i] = 2 * n - 2 - k
        return self._nodes[index]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` (in the given order) up to the root (OZ `getProof`)."""
        out: list[bytes] = []
        node = self._tree_index(index)
        while node > 0:
            out.append(self.tree[node + 1 if node % 2 else node - 1])
            node = (node - 1) // 2
        return out

    def proofs(self) -> list[list[bytes]]:
        """The proof of every leaf, in the given order."""
        return [self.proof(i) for i in range(len(self))]


class PromotedOddTree:
    """The layout telemetry batches were sealed in before `MerkleTree` followed OpenZeppelin's.

    Leaves in their given order, paired level by level, an odd node at the end of a level carried up
    unpaired. Kept to rebuild the proofs of batches sealed in it: their roots are on chain and
    cannot change. Build new trees with `MerkleTree`.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = list(leaves)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            nxt = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def __len__(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` up to the root."""
        out: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


def sealed_tree(leaves: Sequence[bytes], root: bytes) -> Tree:
    """The tree of a stored batch over its `leaves` (in leaf order), in the layout that gives `root`.

    `MerkleTree` for batches sealed since it follows OpenZeppelin's layout; `PromotedOddTree` for a
    batch sealed before whose root only that layout gives. If neither gives `root` (the stored
    leaves changed), the `MerkleTree`, whose root then differs from the stored one.
    """
    tree = MerkleTree(leaves)
    if tree.root == root:
        return tree
    old = PromotedOddTree(leaves)
    return old if old.root == root else tree


def verify(proof: Sequence[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """`MerkleProof.verify` in Python.

    Pairs are hashed sorted, so a proof needs no left/right flags and holds in either layout: proofs
    stored before the OpenZeppelin layout (the EPCIS anchor batches' `proof` column) still verify
    against the roots they were built for.
    """
    node = leaf_hash
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
