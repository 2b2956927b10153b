"""Merkle trees as OpenZeppelin's `MerkleProof` verifies them: sorted-pair hashing, double-hashed leaves.

Used for TraceabilityLedger's event batches and ShipmentEscrow's telemetry batches. An odd node at the
end of a level is carried up unpaired, so a tree of any size works and each proof has at most
ceil(log2(n)) siblings.

No maintained Python library builds trees in OpenZeppelin's StandardMerkleTree conventions (the
`@openzeppelin/merkle-tree` package is JavaScript only), which is why this one is hand-written.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.hashing import keccak


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative `Hashes.commutativeKeccak256`."""
    return keccak(a + b) if a < b else keccak(b + a)


def leaf(encoded: bytes) -> bytes:
    """The double-hashed leaf of an ABI-encoded value: keccak256(bytes.concat(keccak256(encoded))).

    For a single bytes32 (an event ID), `abi.encode` is the 32 bytes themselves.
    """
    return keccak(keccak(encoded))


class MerkleTree:
    """A tree over `leaves` with the proof of each leaf.

    Args:
        leaves: the (already hashed) leaves; proofs are indexed in this order.
        sort_leaves: build the tree over the leaves in sorted order, so that the root does not
            depend on their order (proofs stay indexed by the given order).

    Raises:
        ValueError: no leaves.
    """

    def __init__(self, leaves: Sequence[bytes], *, sort_leaves: bool = False) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        if sort_leaves:
            order = sorted(range(len(leaves)), key=lambda i: leaves[i])
            self._position = [0] * len(leaves)
            for pos, idx in enumerate(order):
                self._position[idx] = pos
            level = [leaves[i] for i in order]
        else:
            self._position = list(range(len(leaves)))
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
        """Sibling hashes from leaf `index` (in the given order) up to the root."""
        out: list[bytes] = []
        index = self._position[index]
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out

    def proofs(self) -> list[list[bytes]]:
        """The proof of every leaf, in the given order."""
        return [self.proof(i) for i in range(len(self))]


def verify(proof: Sequence[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """`MerkleProof.verify` in Python."""
    node = leaf_hash
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def pack_proof(proof: Sequence[bytes]) -> bytes:
    """A proof as one blob of concatenated 32-byte siblings (how the telemetry store keeps it)."""
    return b"".join(proof)


def unpack_proof(blob: bytes) -> list[bytes]:
    """The inverse of `pack_proof`."""
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]
