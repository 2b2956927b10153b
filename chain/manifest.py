"""Shipment manifests and their EIP-712 signature (what a supplier signs, offline, with its key).

The JSON form uses the Solidity field names (``shipmentId``, ``itemsHash``, ``supplier``, ...);
bytes32 fields are 0x-hex, integers are JSON numbers or decimal strings, ``devices`` is a list of
addresses (1 to ``MAX_DEVICES``, distinct): the tracking devices whose readings count as evidence.

``itemsHash`` commits to what is sold: the ledger asset IDs of the shipment's items (each the
keccak-256 of its constrained canonical GS1 Digital Link, :func:`chain.gs1.asset_id`), hashed by
:func:`items_hash` as ``keccak256(abi.encode(bytes32[] ids))``. When the shipment settles, anyone
(the keeper, in practice) passes those items to the buyer with ``TraceabilityLedger.settleOwnership``.
The JSON form may carry the list itself as ``items`` (0x-hex IDs, outside the signed struct);
:func:`items_of` checks it against ``itemsHash``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address

from chain.eip712 import MANIFEST_TYPE, digest, domain, sign
from chain.exceptions import InvalidAddress, InvalidManifest, SignerNotSupplier

MAX_DEVICES = 16
"""ShipmentEscrow.MAX_DEVICES: most devices a manifest may name."""
MAX_ITEMS = 128
"""TraceabilityLedger.MAX_SETTLEMENT_ITEMS: most items whose ownership a settlement moves."""


def items_hash(ids: Sequence[bytes]) -> bytes:
    """The manifest's ``itemsHash`` of the ledger asset IDs ``ids`` (order matters):
    ``keccak256(abi.encode(bytes32[] ids))``, as ``TraceabilityLedger.settleOwnership`` checks it."""
    return keccak(abi_encode(["bytes32[]"], [list(ids)]))


def items_of(doc: dict[str, Any], expected_hash: bytes) -> tuple[bytes, ...] | None:
    """The ``items`` list of a manifest's JSON form (None when absent), checked against its hash.

    Raises:
        InvalidManifest: ``items`` is not a list of at most ``MAX_ITEMS`` distinct 0x-hex IDs, or
            does not hash to ``expected_hash``.
    """
    raw = doc.get("items")
    if raw is None:
        return None
    try:
        if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
            raise ValueError(f"expected a list of at most {MAX_ITEMS} ledger asset IDs")
        ids = tuple(_bytes32(i) for i in raw)
    except ValueError as exc:
        raise InvalidManifest("items", str(exc)) from exc
    if len(set(ids)) != len(ids):
        raise InvalidManifest("items", "an item is listed twice")
    if items_hash(ids) != expected_hash:
        raise InvalidManifest("items", "does not hash to itemsHash (keccak256(abi.encode(bytes32[] ids)))")
    return ids


@dataclass(frozen=True)
class Manifest:
    """IShipmentEscrow.Manifest."""

    shipment_id: bytes
    items_hash: bytes
    supplier: str
    buyer: str
    carrier: str
    devices: tuple[str, ...]
    token: str
    amount: int
    penalty: int
    min_temp: int
    max_temp: int
    deadline: int
    dispute_window: int
    nonce: int

    def as_tuple(self) -> tuple[Any, ...]:
        """The contract's struct tuple (``devices`` as a list, as the ABI codec takes arrays)."""
        values = (getattr(self, f.name) for f in fields(self))
        return tuple(list(v) if isinstance(v, tuple) else v for v in values)

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (Solidity field names)."""
        return {spec["name"]: value for spec, value in zip(MANIFEST_TYPE, self.as_tuple(), strict=True)}

    def to_json(self) -> dict[str, Any]:
        """The JSON form (Solidity field names, bytes32 as 0x-hex, integers as JSON numbers): what
        ``tracechain sign manifest`` prints and ``POST /shipments`` takes."""
        return {
            name: "0x" + value.hex()
            if isinstance(value, bytes)
            else list(value)
            if isinstance(value, tuple)
            else value
            for name, value in self.message().items()
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Manifest:
        """Parses the JSON form.

        Raises:
            InvalidManifest: a field is missing or malformed.
        """
        values: list[Any] = []
        for spec in MANIFEST_TYPE:
            name, typ = spec["name"], spec["type"]
            if name not in doc:
                raise InvalidManifest(name, "missing")
            raw = doc[name]
            try:
                if typ == "bytes32":
                    value: Any = _bytes32(raw)
                elif typ == "address[]":
                    value = _devices(raw)
                elif typ == "address":
                    if not isinstance(raw, str) or not is_address(raw):
                        raise InvalidAddress(str(raw))
                    value = to_checksum_address(raw)
                else:
                    value = int(raw)
                    bits = int(typ.removeprefix("u").removeprefix("int"))
                    lo, hi = (
                        (0, 2**bits - 1) if typ.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
                    )
                    if not lo <= value <= hi:
                        raise ValueError(f"out of range for {typ}")
            except (ValueError, TypeError, InvalidAddress) as exc:
                raise InvalidManifest(name, str(exc)) from exc
            values.append(value)
        items_of(doc, values[1])  # an ``items`` list, if given, must be what itemsHash commits to
        return cls(*values)


def _devices(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_DEVICES:
        raise ValueError(f"expected a list of 1 to {MAX_DEVICES} device addresses")
    if not all(isinstance(d, str) and is_address(d) for d in raw):
        raise InvalidAddress(str(next(d for d in raw if not (isinstance(d, str) and is_address(d)))))
    devices = tuple(to_checksum_address(d) for d in raw)
    if len(set(devices)) != len(devices) or any(int(d, 16) == 0 for d in devices):
        raise ValueError("devices must be distinct non-zero addresses")
    return devices


def _bytes32(raw: Any) -> bytes:
    if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) != 66:
        raise ValueError("expected 0x followed by 64 hex digits")
    return bytes.fromhex(raw[2:])


def manifest_digest(manifest: Manifest, chain_id: int, escrow: str) -> bytes:
    """The EIP-712 digest of ``manifest`` (equals the contract's ``manifestDigest``)."""
    return digest("Manifest", domain(chain_id, escrow), manifest.message())


def sign_manifest(account: LocalAccount, manifest: Manifest, chain_id: int, escrow: str) -> bytes:
    """The supplier's 65-byte EIP-712 signature (low s) of ``manifest``; no node needed.

    Raises:
        SignerNotSupplier: ``account`` is not ``manifest.supplier``.
    """
    if to_checksum_address(account.address) != manifest.supplier:
        raise SignerNotSupplier(account.address, manifest.supplier)
    return sign(account.key, "Manifest", domain(chain_id, escrow), manifest.message())
