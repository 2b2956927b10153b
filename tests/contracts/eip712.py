"""Device readings as the contract tests build them, and the malleable twin of a signature.

The types, domain and signing come from chain/eip712.py; the contract suite checks them against what
ShipmentEscrow computes on chain.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from chain import eip712
from chain.hashing import keccak


def high_s(signature: bytes) -> bytes:
    """The malleable twin of a signature: s' = n - s with the other recovery id."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


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
        return {f["name"]: getattr(self, f["name"]) for f in eip712.READING_TYPE}

    def struct_hash(self) -> bytes:
        return eip712.struct_hash("Reading", self.message())

    def leaf(self) -> bytes:
        """Merkle leaf: keccak256(bytes.concat(structHash)), OpenZeppelin's double-hashed leaf."""
        return keccak(self.struct_hash())

    def sign(self, private_key: Any, chain_id: int, escrow: str) -> bytes:
        return eip712.sign(private_key, "Reading", eip712.domain(chain_id, escrow), self.message())
