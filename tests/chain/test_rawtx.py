"""The hand-written signer (chain/rawtx.py) against eth-account, byte for byte."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.keys import dev_account
from chain.rawtx import RawTxSigner

TO = to_checksum_address("0x" + "ab" * 20)
uint = st.integers(min_value=0, max_value=2**256 - 1)
small = st.integers(min_value=0, max_value=2**64 - 1)
calldata = st.binary(min_size=0, max_size=200)


def expected(tx: dict[str, object], key: bytes) -> tuple[bytes, bytes]:
    signed = Account.sign_transaction(tx, key)
    return bytes(signed.raw_transaction), bytes(signed.hash)


@pytest.mark.parametrize("chain_id", [1, 31337, 2**40])
@settings(max_examples=60, deadline=None)
@given(nonce=small, tip=uint, gas=small, value=uint, data=calldata, key_index=st.integers(0, 9))
def test_eip1559_matches_eth_account(
    chain_id: int, nonce: int, tip: int, gas: int, value: int, data: bytes, key_index: int
) -> None:
    key = bytes(dev_account(key_index).key)
    cap = min(tip * 2 + 1, 2**256 - 1)
    ours = RawTxSigner(key, chain_id).eip1559(
        nonce=nonce,
        max_priority_fee_per_gas=tip,
        max_fee_per_gas=cap,
        gas=gas,
        to=bytes.fromhex(TO[2:]),
        value=value,
        data=data,
    )
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": cap,
        "gas": gas,
        "to": TO,
        "value": value,
        "data": data,
        "accessList": [],
    }
    assert (ours.raw, ours.tx_hash) == expected(tx, key)


@pytest.mark.parametrize("chain_id", [1, 31337, 2**40])
@settings(max_examples=60, deadline=None)
@given(nonce=small, price=uint, gas=small, value=uint, data=calldata, key_index=st.integers(0, 9))
def test_legacy_matches_eth_account(
    chain_id: int, nonce: int, price: int, gas: int, value: int, data: bytes, key_index: int
) -> None:
    key = bytes(dev_account(key_index).key)
    ours = RawTxSigner(key, chain_id).legacy(
        nonce=nonce, gas_price=price, gas=gas, to=bytes.fromhex(TO[2:]), value=value, data=data
    )
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "gasPrice": price,
        "gas": gas,
        "to": TO,
        "value": value,
        "data": data,
    }
    assert (ours.raw, ours.tx_hash) == expected(tx, key)


def test_long_calldata_and_zero_fields() -> None:
    """Payloads past the 55-byte short form and past 255 bytes (two-byte lengths), zero nonce/value."""
    key = bytes(dev_account(1).key)
    for size in (0, 1, 55, 56, 255, 256, 70_000):
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        ours = RawTxSigner(key, 31337).eip1559(
            nonce=0, max_priority_fee_per_gas=0, max_fee_per_gas=0, gas=0, to=bytes(20), value=0, data=data
        )
        tx = {
            "type": 2,
            "chainId": 31337,
            "nonce": 0,
            "maxPriorityFeePerGas": 0,
            "maxFeePerGas": 0,
            "gas": 0,
            "to": "0x" + "00" * 20,
            "value": 0,
            "data": data,
            "accessList": [],
        }
        assert (ours.raw, ours.tx_hash) == expected(tx, key), size
