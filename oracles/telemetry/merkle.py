"""Merkle trees as OpenZeppelin's MerkleProof verifies them: sorted-pair hashing of the leaves.

Leaves are already hashed (a reading's leaf is keccak256(structHash)). Odd nodes are carried up
unpaired, so a tree of any size works and each proof has at most ceil(log2(n)) siblings.
"""

from __future__ import annotations

from oracles.telemetry.codec import keccak


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative `Hashes.commutativeKeccak256`."""
    return keccak(a + b) if a < b else keccak(b + a)


class MerkleTree:
    """A tree over `leaves` (in the given order) with the proof of each leaf.

    Raises:
        ValueError: no leaves.
    """

    def __init__(self, leaves: list[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.levels: list[list[bytes]] = [list(leaves)]
        level = self.levels[0]
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

    def proofs(self) -> list[list[bytes]]:
        return [self.proof(i) for i in range(len(self))]


def verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    """MerkleProof.verify in Python."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def pack_proof(proof: list[bytes]) -> bytes:
    return b"".join(proof)


def unpack_proof(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]
