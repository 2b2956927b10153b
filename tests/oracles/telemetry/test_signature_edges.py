"""Signature checks of the verifier on their own: every malformed or foreign signature is refused,
and the direct libsecp256k1 path recovers the same address as coincurve's public API."""

from __future__ import annotations

import os
import time

import coincurve

from chain.eip712 import SECP256K1_HALF_N
from chain.hashing import keccak
from oracles.telemetry import codec
from oracles.telemetry.verifier import Limits, Reason, recover_address, verify_records

DOMAIN = keccak(b"test domain")


def signed(key: bytes, counter: int = 1) -> codec.Reading:
    r = codec.Reading(codec.address_of(key), counter, int(time.time()), b"\x07" * 32, 500, 5000, 1, 2)
    return codec.sign(r, key, DOMAIN)


def with_signature(r: codec.Reading, sig: bytes) -> bytes:
    fields = [getattr(r, f) for f in ("device", "counter", "timestamp", "shipment_id")]
    fields += [r.temperature, r.humidity, r.latitude, r.longitude]
    return codec.RECORD.pack(codec.VERSION, *fields, sig)


def test_recovered_address_matches_coincurve_for_many_keys() -> None:
    for _ in range(50):
        key = os.urandom(32)
        digest = keccak(os.urandom(32))
        sig = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
        expected = keccak(
            coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None).format(False)[1:]
        )[12:]
        assert recover_address(digest, sig) == expected == codec.address_of(key)
        assert recover_address(digest, sig[:64] + bytes([sig[64] + 27])) == expected


def test_every_bad_signature_is_refused() -> None:
    key = os.urandom(32)
    r = signed(key)
    sig = r.signature
    s = int.from_bytes(sig[32:64], "big")
    high_s = sig[:32] + (int(coincurve.utils.GROUP_ORDER_INT) - s).to_bytes(32, "big") + sig[64:]
    if s > SECP256K1_HALF_N:  # codec.sign gives low s; keep the test meaningful either way
        high_s = sig
    bad = {
        "high s": high_s,
        "v 29": sig[:64] + b"\x1d",
        "v 2": sig[:64] + b"\x02",
        "zero r and s": bytes(64) + sig[64:],
        "r = n (overflow)": coincurve.utils.GROUP_ORDER_INT.to_bytes(32, "big") + sig[32:],
        "other key": signed(os.urandom(32)).signature,
        "flipped v": sig[:64] + bytes([55 - sig[64]]),
        "random": os.urandom(64) + sig[64:],
    }
    records = [codec.encode(r)] + [with_signature(r, b) for b in bad.values()]
    got = verify_records(records, DOMAIN, int(time.time()), Limits())
    assert got[0][0] == Reason.ACCEPTED
    assert dict(zip(bad, [c for c, _ in got[1:]], strict=True)) == dict.fromkeys(bad, Reason.BAD_SIGNATURE)
