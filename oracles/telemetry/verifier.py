"""Stateless checks of device readings: format, physical ranges, timestamp window and signature.

These run in worker processes (`verify_records` is a plain picklable function); the stateful
checks (registry, counters, shipment) run in the service, see `ingest.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from coincurve.flags import EC_UNCOMPRESSED

from chain.eip712 import SECP256K1_HALF_N
from chain.hashing import keccak
from oracles.telemetry import codec


class Reason(enum.IntEnum):
    """Outcome of one reading; everything but ACCEPTED is a counted rejection."""

    ACCEPTED = 0
    MALFORMED = 1
    BAD_SIGNATURE = 2
    UNKNOWN_DEVICE = 3
    INACTIVE_DEVICE = 4
    REPEATED_COUNTER = 5
    OLD_COUNTER = 6
    TIMESTAMP_OUT_OF_WINDOW = 7
    OUT_OF_RANGE = 8
    UNKNOWN_SHIPMENT = 9
    DUPLICATE = 10  # the very reading already stored: a replay or a broker redelivery
    DEVICE_NOT_ON_SHIPMENT = 11  # the shipment's manifest does not name the device
    OUTSIDE_CUSTODY = 12  # taken before the shipment's pickup or after its delivery

    @property
    def label(self) -> str:
        return self.name.lower()


REJECTIONS = tuple(r for r in Reason if r is not Reason.ACCEPTED)


@dataclass(frozen=True)
class Limits:
    """Physical ranges and the accepted timestamp window (relative to the oracle's clock)."""

    min_temperature: int = -8000  # centi-°C
    max_temperature: int = 8500
    max_humidity: int = 10000  # centi-%
    max_age_s: int = 24 * 3600
    max_skew_s: int = 300


def in_range(counter: int, shipment: bytes, temp: int, hum: int, lat: int, lon: int, limits: Limits) -> bool:
    return (
        limits.min_temperature <= temp <= limits.max_temperature
        and 0 <= hum <= limits.max_humidity
        and -90_000_000 <= lat <= 90_000_000
        and -180_000_000 <= lon <= 180_000_000
        and counter > 0
        and shipment != _ZERO32
    )


_ZERO32 = bytes(32)
# Public key → address, per process: a device signs with one key, so after its first reading the
# address costs a lookup rather than a serialisation and a keccak (cleared when it grows large).
_ADDRESSES: dict[bytes, bytes] = {}
_CTX = GLOBAL_CONTEXT.ctx


def recover_address(digest: bytes, signature: bytes) -> bytes | None:
    """The signer of `digest`, or None for a malformed, high-s or unrecoverable signature.

    Calls libsecp256k1 through coincurve's own CFFI binding (the functions
    `PublicKey.from_signature_and_message` calls) without building its Python objects: this runs
    once per reading, and the wrappers cost ~7% of the verification.
    """
    if len(signature) != 65:
        return None
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1) or int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        return None
    sig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
    if not lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, sig, signature[:64], v):
        return None
    pub = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ecdsa_recover(_CTX, pub, sig, digest):
        return None
    key = bytes(ffi.buffer(pub, 64))  # libsecp256k1's own form of the point: a cache key
    address = _ADDRESSES.get(key)
    if address is None:
        out, out_len = ffi.new("unsigned char [65]"), ffi.new("size_t *", 65)
        lib.secp256k1_ec_pubkey_serialize(_CTX, out, out_len, pub, EC_UNCOMPRESSED)
        if len(_ADDRESSES) > 100_000:
            _ADDRESSES.clear()
        address = _ADDRESSES[key] = keccak(bytes(ffi.buffer(out, 65))[1:])[12:]
    return address


def verify_records(records: list[bytes], domain: bytes, now: int, limits: Limits) -> list[tuple[int, bytes]]:
    """Check each record; returns (Reason, structHash or b"") per record, in order."""
    out: list[tuple[int, bytes]] = []
    unpack, size, version = codec.RECORD.unpack, codec.RECORD_SIZE, codec.VERSION
    oldest, newest = now - limits.max_age_s, now + limits.max_skew_s
    for record in records:
        if len(record) != size:
            out.append((Reason.MALFORMED, b""))
            continue
        ver, device, counter, ts, shipment, temp, hum, lat, lon, sig = unpack(record)
        if ver != version:
            out.append((Reason.MALFORMED, b""))
            continue
        if not in_range(counter, shipment, temp, hum, lat, lon, limits):
            out.append((Reason.OUT_OF_RANGE, b""))
            continue
        if not oldest <= ts <= newest:
            out.append((Reason.TIMESTAMP_OUT_OF_WINDOW, b""))
            continue
        sh = codec.struct_hash_fields(device, counter, ts, shipment, temp, hum, lat, lon)
        if recover_address(codec.typed_digest(domain, sh), sig) != device:
            out.append((Reason.BAD_SIGNATURE, b""))
            continue
        out.append((Reason.ACCEPTED, sh))
    return out
