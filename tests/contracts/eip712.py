"""EIP-712 messages of the Tracechain contracts, and the telemetry Merkle tree, for the tests.

Mirrors what ShipmentEscrow checks on chain (domain "Tracechain" / "1"). The production reading
and batch code lives in oracles/; this copy keeps the contract tests independent of it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
MANIFEST_TYPE = [
    {"name": "shipmentId", "type": "bytes32"},
    {"name": "itemsHash", "type": "bytes32"},
    {"name": "supplier", "type": "address"},
    {"name": "buyer", "type": "address"},
    {"name": "carrier", "type": "address"},
    {"name": "token", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "penalty", "type": "uint256"},
    {"name": "minTemp", "type": "int32"},
    {"name": "maxTemp", "type": "int32"},
    {"name": "deadline", "type": "uint64"},
    {"name": "disputeWindow", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
]
HANDOVER_TYPE = [
    {"name": "shipmentId", "type": "bytes32"},
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "seq", "type": "uint96"},
    {"name": "deadline", "type": "uint64"},
]
READING_TYPE = [
    {"name": "device", "type": "address"},
    {"name": "counter", "type": "uint64"},
    {"name": "timestamp", "type": "uint64"},
    {"name": "shipmentId", "type": "bytes32"},
    {"name": "temperature", "type": "int32"},
    {"name": "humidity", "type": "uint32"},
    {"name": "latitude", "type": "int32"},
    {"name": "longitude", "type": "int32"},
]
READING_TYPEHASH = keccak(
    text="Reading(address device,uint64 counter,uint64 timestamp,bytes32 shipmentId,int32 temperature,"
    "uint32 humidity,int32 latitude,int32 longitude)"
)


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The EIP-712 domain of a Tracechain contract."""
    return {
        "name": "Tracechain",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": str(verifying_contract),
    }


def sign_typed(
    private_key: Any, dom: dict[str, Any], primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> bytes:
    """Signs an EIP-712 message; returns the 65-byte r || s || v signature."""
    full = {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": dom,
        "message": message,
    }
    return bytes(Account.sign_message(encode_typed_data(full_message=full), private_key).signature)


def high_s(signature: bytes) -> bytes:
    """The malleable twin of a signature: s' = n - s with the other recovery id."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


@dataclass(frozen=True)
class Reading:
    """One device reading, field for field as the contract's `Reading` struct."""

    device: str
    counter: int
    timestamp: int
    shipmentId: bytes  # noqa: N815 (EIP-712 field name)
    temperature: int
    humidity: int = 5000
    latitude: int = 52_520_000
    longitude: int = 13_405_000

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)

    def message(self) -> dict[str, Any]:
        return {f["name"]: getattr(self, f["name"]) for f in READING_TYPE}

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "address", "uint64", "uint64", "bytes32", "int32", "uint32", "int32", "int32"],
                [READING_TYPEHASH, *self.as_tuple()],
            )
        )

    def leaf(self) -> bytes:
        """Merkle leaf: keccak256(bytes.concat(structHash)), OpenZeppelin's double-hashed leaf."""
        return keccak(self.struct_hash())

    def sign(self, private_key: Any, chain_id: int, escrow: str) -> bytes:
        return sign_typed(private_key, domain(chain_id, escrow), "Reading", READING_TYPE, self.message())


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


class MerkleTree:
    """A binary Merkle tree with sorted-pair hashing, as OpenZeppelin's MerkleProof verifies.

    An odd node at the end of a layer moves up unchanged.
    """

    def __init__(self, leaves: list[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.layers = [list(leaves)]
        while len(self.layers[-1]) > 1:
            layer = self.layers[-1]
            nxt = [_hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
            if len(layer) % 2:
                nxt.append(layer[-1])
            self.layers.append(nxt)

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    def proof(self, index: int) -> list[bytes]:
        path = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                path.append(layer[sibling])
            index //= 2
        return path


def verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    """Off-chain twin of MerkleProof.verify."""
    node = leaf
    for p in proof:
        node = _hash_pair(node, p)
    return node == root
