"""chain.merkle against OpenZeppelin's own `@openzeppelin/merkle-tree` (npm, pinned in package.json):
the same root, the same tree array and every proof byte for byte, for event-ID batches of 1 to 40
leaves and for telemetry batches as the oracle seals them."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chain import eip712, merkle
from oracles.telemetry import batcher, codec

SCRIPT = Path(__file__).with_name("oz_merkle.mjs")
ROOT = Path(__file__).resolve().parents[2]
READING_ENCODING = ["bytes32"] + [f["type"] for f in eip712.READING_TYPE]


def openzeppelin(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the cases through `StandardMerkleTree.of` in node (one process for all of them)."""
    node = shutil.which("node")
    assert node is not None, "node is needed to run @openzeppelin/merkle-tree (make setup installs it)"
    done = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(cases), capture_output=True, text=True, cwd=ROOT, check=True
    )
    return list(json.loads(done.stdout))


def hexes(nodes: list[bytes]) -> list[str]:
    return ["0x" + n.hex() for n in nodes]


def assert_same(ours: merkle.MerkleTree, theirs: dict[str, Any], n: int) -> None:
    assert "0x" + ours.root.hex() == theirs["root"], n
    assert hexes(ours.tree) == theirs["tree"], n
    assert [hexes(ours.proof(i)) for i in range(n)] == theirs["proofs"], n


def claims(rng: random.Random, n: int) -> list[tuple[bytes, str]]:
    """`n` captured events' claims: (event ID, capturer), a few capturers sharing a batch."""
    capturers = ["0x" + rng.randbytes(20).hex() for _ in range(3)]
    return [(rng.randbytes(32), rng.choice(capturers)) for _ in range(n)]


@pytest.mark.parametrize("sort_leaves", [True, False])
def test_event_batches_match_openzeppelin(sort_leaves: bool) -> None:
    """A captured event's leaf commits to (eventId, capturer): StandardMerkleTree with the encoding
    ["bytes32", "address"], which TraceabilityLedger.isInAnchoredBatch rebuilds."""
    rng = random.Random(9)
    batches = [claims(rng, n) for n in range(1, 41)]
    batches.append([batches[2][0], batches[2][1], batches[2][0], batches[2][2], batches[2][0]])  # repeats
    theirs = openzeppelin(
        [
            {
                "encoding": ["bytes32", "address"],
                "values": [["0x" + e.hex(), by] for e, by in batch],
                "sortLeaves": sort_leaves,
            }
            for batch in batches
        ]
    )
    for batch, tree in zip(batches, theirs, strict=True):
        ours = merkle.MerkleTree(
            [merkle.leaf(merkle.encode_claim(e, by)) for e, by in batch], sort_leaves=sort_leaves
        )
        assert_same(ours, tree, len(batch))


def readings(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    """`n` random readings as (device, counter, timestamp, shipment, temperature, humidity, lat, lon)."""
    shipment = rng.randbytes(32)
    devices = [rng.randbytes(20) for _ in range(3)]
    return [
        (
            rng.choice(devices),
            rng.randrange(2**64),
            1_700_000_000 + i,
            shipment,
            rng.randrange(-(2**31), 2**31),
            rng.randrange(2**32),
            rng.randrange(-90_000_000, 90_000_001),
            rng.randrange(-180_000_000, 180_000_001),
        )
        for i in range(n)
    ]


def test_telemetry_batches_match_openzeppelin() -> None:
    """A batch's root is `StandardMerkleTree.of([[READING_TYPEHASH, ...fields]], encoding)`: the
    reading's leaf keccak256(structHash) is OpenZeppelin's double-hashed leaf of those values."""
    rng = random.Random(7)
    batches = [readings(rng, n) for n in (1, 2, 5, 7, 33)]
    theirs = openzeppelin(
        [
            {
                "encoding": READING_ENCODING,
                "values": [
                    [
                        "0x" + eip712.READING_TYPEHASH.hex(),
                        "0x" + r[0].hex(),
                        str(r[1]),
                        str(r[2]),
                        "0x" + r[3].hex(),
                        *(str(x) for x in r[4:]),
                    ]
                    for r in batch
                ],
                "sortLeaves": True,
            }
            for batch in batches
        ]
    )
    for batch, tree in zip(batches, theirs, strict=True):
        hashes = [eip712.reading_struct_hash(*r) for r in batch]
        rows = [(h, r[2], r[4], r[5], r[6], r[7], r[0]) for h, r in zip(hashes, batch, strict=True)]
        sealed = batcher.seal_batch(1, batch[0][3], "telemetry:x:1", rows, False)
        assert "0x" + sealed.batch[0].hex() == tree["root"]
        assert_same(merkle.MerkleTree([codec.leaf(h) for h in hashes]), tree, len(batch))
