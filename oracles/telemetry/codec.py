"""The device reading: its fixed wire encoding and the EIP-712 hashing that ShipmentEscrow checks.

Wire record (150 bytes, big-endian, documented in docs/telemetry.md):

    off  len  field
      0    1  version (1)
      1   20  device address
     21    8  counter       uint64, strictly increasing per device
     29    8  timestamp     uint64, unix seconds
     37   32  shipmentId    bytes32
     69    4  temperature   int32, centi-degrees Celsius
     73    4  humidity      uint32, centi-percent relative humidity
     77    4  latitude      int32, micro-degrees
     81    4  longitude     int32, micro-degrees
     85   65  signature     r (32) | s (32) | v (1, 27 or 28)

The device signs the EIP-712 digest of the `Reading` struct under the domain
{name "Tracechain", version "1", chainId, verifyingContract = ShipmentEscrow}. The Merkle leaf is
keccak256(structHash), the double hash OpenZeppelin's MerkleProof expects.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import coincurve
from eth_utils import to_checksum_address

from chain.eip712 import reading_struct_hash
from chain.hashing import keccak

VERSION = 1
RECORD = struct.Struct(">B20sQQ32siIii65s")
RECORD_SIZE = RECORD.size  # 150
UNSIGNED = struct.Struct(">B20sQQ32siIii")


class CodecError(ValueError):
    """A record that is not a well-formed reading (wrong size or version)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One device reading, as the contract's `Reading` struct plus the device's signature."""

    device: bytes  # 20 bytes
    counter: int
    timestamp: int
    shipment_id: bytes  # 32 bytes
    temperature: int  # centi-°C
    humidity: int  # centi-%
    latitude: int  # micro-degrees
    longitude: int  # micro-degrees
    signature: bytes = b""  # 65 bytes r|s|v

    @property
    def device_hex(self) -> str:
        return "0x" + self.device.hex()

    def as_struct(self) -> tuple[str, int, int, bytes, int, int, int, int]:
        """The reading as the ABI tuple of `IShipmentEscrow.Reading` (for web3 calls)."""
        return (
            to_checksum(self.device),
            self.counter,
            self.timestamp,
            self.shipment_id,
            self.temperature,
            self.humidity,
            self.latitude,
            self.longitude,
        )


struct_hash_fields = reading_struct_hash  # the fields' hashStruct, see chain.eip712


def struct_hash(r: Reading) -> bytes:
    return struct_hash_fields(
        r.device, r.counter, r.timestamp, r.shipment_id, r.temperature, r.humidity, r.latitude, r.longitude
    )


def typed_digest(domain: bytes, struct_h: bytes) -> bytes:
    """The EIP-712 digest the device signs: keccak256(0x1901 | domainSeparator | structHash)."""
    return keccak(b"\x19\x01" + domain + struct_h)


def leaf(struct_h: bytes) -> bytes:
    """Merkle leaf of a reading: keccak256(bytes.concat(structHash))."""
    return keccak(struct_h)


def encode(r: Reading) -> bytes:
    """The 150-byte wire record of a signed reading."""
    if len(r.signature) != 65:
        raise CodecError("reading is not signed")
    return RECORD.pack(
        VERSION,
        r.device,
        r.counter,
        r.timestamp,
        r.shipment_id,
        r.temperature,
        r.humidity,
        r.latitude,
        r.longitude,
        r.signature,
    )


def decode(record: bytes) -> Reading:
    """Parse one wire record.

    Raises:
        CodecError: wrong length or version, or a field out of its type's range.
    """
    if len(record) != RECORD_SIZE:
        raise CodecError(f"record is {len(record)} bytes, expected {RECORD_SIZE}")
    version, device, counter, ts, shipment, temp, hum, lat, lon, sig = RECORD.unpack(record)
    if version != VERSION:
        raise CodecError(f"unknown record version {version}")
    return Reading(device, counter, ts, shipment, temp, hum, lat, lon, sig)


def split(payload: bytes) -> list[bytes]:
    """A payload of concatenated records cut into records (a trailing fragment is one bad record)."""
    return [payload[i : i + RECORD_SIZE] for i in range(0, len(payload), RECORD_SIZE)]


def sign(r: Reading, private_key: bytes, domain: bytes) -> Reading:
    """`r` signed by `private_key` (low-s, v in {27, 28}), as a device would."""
    digest = typed_digest(domain, struct_hash(r))
    sig = coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return Reading(
        r.device,
        r.counter,
        r.timestamp,
        r.shipment_id,
        r.temperature,
        r.humidity,
        r.latitude,
        r.longitude,
        sig[:64] + bytes([sig[64] + 27]),
    )


def address_of(private_key: bytes) -> bytes:
    """The 20-byte Ethereum address of a secp256k1 private key."""
    pub = coincurve.PrivateKey(private_key).public_key.format(compressed=False)
    return keccak(pub[1:])[12:]


def to_checksum(addr: bytes) -> str:
    """EIP-55 checksummed hex of a 20-byte address (eth_utils)."""
    return str(to_checksum_address(addr))
