"""Merkle batches of EPCIS event IDs as TraceabilityLedger.anchorBatch and OpenZeppelin's
MerkleProof expect: leaf = keccak256(bytes.concat(keccak256(abi.encode(bytes32 eventIdHash)))),
inner nodes hash their two children in sorted order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak


def leaf(event_id_hash: bytes) -> bytes:
    """The leaf of one 32-byte event ID hash (abi.encode of a bytes32 is the 32 bytes themselves)."""
    if len(event_id_hash) != 32:
        raise ValueError("an event ID hash has 32 bytes")
    return keccak(keccak(event_id_hash))


def _node(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class MerkleBatch:
    """A tree over the given leaves: its root and a proof per leaf (in the input order)."""

    root: bytes
    proofs: list[list[bytes]]


def build(leaves: Sequence[bytes]) -> MerkleBatch:
    """Builds the tree of `leaves` (their order does not change the root: they are sorted first)."""
    if not leaves:
        raise ValueError("a batch needs at least one leaf")
    order = sorted(range(len(leaves)), key=lambda i: leaves[i])
    level = [leaves[i] for i in order]
    position = {idx: pos for pos, idx in enumerate(order)}
    paths: list[list[bytes]] = [[] for _ in leaves]
    where = [position[i] for i in range(len(leaves))]
    while len(level) > 1:
        nxt: list[bytes] = []
        for j in range(0, len(level), 2):
            nxt.append(_node(level[j], level[j + 1]) if j + 1 < len(level) else level[j])
        for i in range(len(leaves)):
            pos = where[i]
            sibling = pos ^ 1
            if sibling < len(level):
                paths[i].append(level[sibling])
            where[i] = pos // 2
        level = nxt
    return MerkleBatch(level[0], paths)


def verify(proof: Sequence[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """OpenZeppelin MerkleProof.verify."""
    node = leaf_hash
    for sibling in proof:
        node = _node(node, sibling)
    return node == root
