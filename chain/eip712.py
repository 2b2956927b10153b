"""EIP-712 messages of the Tracechain contracts: the types, the domain, struct hashes and signing.

Every contract that checks a signature (ShipmentEscrow: `Manifest`, `CustodyHandover`, `Reading`) uses
the domain {name "Tracechain", version "1", chainId, verifyingContract}. Hashing and signing go
through eth-account's `encode_typed_data`, except `reading_struct_hash`, which the telemetry oracle
runs on every reading and which is encoded by hand for speed (its docstring has the figures).
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from chain.hashing import keccak

DOMAIN_NAME = "Tracechain"
DOMAIN_VERSION = "1"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2
"""The largest `s` a signature may carry (EIP-2: the low-s half; OpenZeppelin's ECDSA rejects the rest)."""

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
    {"name": "devices", "type": "address[]"},
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
TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": DOMAIN_TYPE,
    "Manifest": MANIFEST_TYPE,
    "CustodyHandover": HANDOVER_TYPE,
    "Reading": READING_TYPE,
}
"""The struct types by name (fields of atomic types, and `Manifest.devices`, an `address[]`)."""


def type_string(primary: str) -> str:
    """The EIP-712 `encodeType` of `primary`, e.g. ``CustodyHandover(bytes32 shipmentId,...)``."""
    fields = ",".join(f"{f['type']} {f['name']}" for f in TYPES[primary])
    return f"{primary}({fields})"


def typehash(primary: str) -> bytes:
    """keccak256 of `type_string(primary)` (the contract's `<PRIMARY>_TYPEHASH`)."""
    return keccak(type_string(primary).encode())


READING_TYPEHASH = typehash("Reading")
_PAD12 = bytes(12)


def reading_struct_hash(
    device: bytes,
    counter: int,
    timestamp: int,
    shipment_id: bytes,
    temperature: int,
    humidity: int,
    latitude: int,
    longitude: int,
) -> bytes:
    """hashStruct of a `Reading` from its fields: keccak256(abi.encode(READING_TYPEHASH, ...)).

    Equals `struct_hash("Reading", ...)` (tests/api/test_shipments_telemetry.py checks it), encoded by
    hand: the telemetry oracle hashes every reading it receives, and per reading this takes 28 µs
    against 380 µs with eth_abi's encoder and 1,700 µs with eth-account's `encode_typed_data`
    (timeit, eth-account 0.13.7), more than the signature check itself.
    """
    return keccak(
        READING_TYPEHASH
        + _PAD12
        + device
        + counter.to_bytes(32, "big")
        + timestamp.to_bytes(32, "big")
        + shipment_id
        + temperature.to_bytes(32, "big", signed=True)
        + humidity.to_bytes(32, "big")
        + latitude.to_bytes(32, "big", signed=True)
        + longitude.to_bytes(32, "big", signed=True)
    )


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The EIP-712 domain of the Tracechain contract at `verifying_contract` on `chain_id`."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(verifying_contract),
    }


def domain_separator(chain_id: int, verifying_contract: str | bytes) -> bytes:
    """The domain's `hashStruct` (the contract's `_domainSeparatorV4()`), by eth-account: the header
    of a typed-data message in this domain (callers compute it once per contract)."""
    contract = verifying_contract if isinstance(verifying_contract, str) else "0x" + verifying_contract.hex()
    signable = encode_typed_data(
        domain_data=domain(chain_id, contract), message_types={"Empty": []}, message_data={}
    )
    return bytes(signable.header)


def as_tuple(primary: str, message: dict[str, Any]) -> tuple[Any, ...]:
    """The message's values in field order: the ABI tuple of the Solidity struct."""
    return tuple(message[f["name"]] for f in TYPES[primary])


def struct_hash(primary: str, message: dict[str, Any]) -> bytes:
    """EIP-712 `hashStruct(message)`, by eth-account (the body of its typed-data message; the
    domain does not enter it)."""
    types = {primary: TYPES[primary]}
    signable = encode_typed_data(domain_data={}, message_types=types, message_data=message)
    return bytes(signable.body)


def typed_data(primary: str, dom: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The full typed-data document (as `eth_signTypedData_v4` takes it)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: TYPES[primary]},
        "primaryType": primary,
        "domain": dom,
        "message": message,
    }


def digest(primary: str, dom: dict[str, Any], message: dict[str, Any]) -> bytes:
    """The digest a signer signs: keccak256(0x1901 | domainSeparator | hashStruct(message))."""
    signable = encode_typed_data(full_message=typed_data(primary, dom, message))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign(private_key: Any, primary: str, dom: dict[str, Any], message: dict[str, Any]) -> bytes:
    """The 65-byte r | s | v (low s, v in {27, 28}) signature of `message` by `private_key`."""
    signable = encode_typed_data(full_message=typed_data(primary, dom, message))
    return bytes(Account.sign_message(signable, private_key).signature)
