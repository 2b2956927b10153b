"""A manifest's item list: itemsHash is keccak256(abi.encode(bytes32[] ids)) of the ledger asset IDs,
and an ``items`` list in the JSON form must be the one the hash commits to (no node needed)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from chain.exceptions import InvalidManifest
from chain.manifest import MAX_ITEMS, Manifest, items_hash, items_of

A, B = (
    keccak(text="https://id.gs1.org/01/04012345000016/21/A"),
    keccak(text="https://id.gs1.org/01/04012345000016/21/B"),
)


def doc(items_hash_: bytes, items: Any = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "shipmentId": "0x" + "11" * 32,
        "itemsHash": "0x" + items_hash_.hex(),
        "supplier": "0x" + "22" * 20,
        "buyer": "0x" + "33" * 20,
        "carrier": "0x" + "44" * 20,
        "devices": ["0x" + "55" * 20],
        "token": "0x" + "66" * 20,
        "amount": 1,
        "penalty": 0,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": 2_000_000_000,
        "disputeWindow": 0,
        "nonce": 0,
    }
    if items is not None:
        d["items"] = items
    return d


def test_items_hash_is_the_abi_encoding_of_the_id_array() -> None:
    assert items_hash([A, B]) == keccak(encode(["bytes32[]"], [[A, B]]))
    assert items_hash([A, B]) != items_hash([B, A])  # order is part of what is signed


def test_manifest_json_with_its_items_parses_and_lists_them() -> None:
    d = doc(items_hash([A, B]), ["0x" + A.hex(), "0x" + B.hex()])
    assert Manifest.from_json(d).items_hash == items_hash([A, B])
    assert items_of(d, items_hash([A, B])) == (A, B)
    assert items_of(doc(items_hash([A])), items_hash([A])) is None  # no list: nothing to check


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        (["0x" + B.hex(), "0x" + A.hex()], "does not hash to itemsHash"),
        (["0x" + A.hex(), "0x" + A.hex()], "listed twice"),
        (["0x" + A.hex()[:10]], "64 hex digits"),
        ("0x" + A.hex(), "at most"),
        (["0x" + keccak(text=str(i)).hex() for i in range(MAX_ITEMS + 1)], "at most"),
    ],
    ids=["reordered", "duplicate", "malformed", "not-a-list", "too-many"],
)
def test_manifest_json_with_other_items_than_signed_refused(items: Any, problem: str) -> None:
    with pytest.raises(InvalidManifest, match=problem) as refused:
        Manifest.from_json(doc(items_hash([A, B]), items))
    assert refused.value.field == "items"
