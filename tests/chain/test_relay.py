"""chain.relay: a partner's own signed transaction decoded by eth-account, broadcast unchanged once,
and followed to its receipt; the node's refusals read as the sender reads them."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.contracts import ERC20, Approval, TestToken
from chain.deploy import Deployment
from chain.keys import dev_account
from chain.relay import (
    BroadcastRefused,
    MalformedTransaction,
    UnsupportedTransactionType,
    broadcast_signed,
    decode_signed,
    outcome,
    seen_transaction,
)
from chain.transact import send_and_wait
from tests.chain.support import admin, deployed
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil
BUYER, SPENDER = dev_account(6), dev_account(7)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return deployed(anvil.w3(), tmp_path_factory.mktemp("relay"))


def signed(w3: Web3, account: LocalAccount, to: str, data: bytes, **extra: Any) -> bytes:
    """``account``'s own signed EIP-1559 transaction, as its wallet would make it."""
    base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": to,
        "value": 0,
        "data": data,
        "gas": 100_000,
        "maxFeePerGas": 2 * base + 10**9,
        "maxPriorityFeePerGas": 10**9,
        **extra,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_relayed_approval_is_mined_once_and_reported_again(anvil: AnvilNode, deployment: Deployment) -> None:
    w3 = anvil.w3()
    token = ERC20(w3, deployment.address("TestToken"))
    send_and_wait(w3, admin(), TestToken(w3, token.address).mint(BUYER.address, 1_000))
    assert token.balance_of(BUYER.address) == 1_000 and token.decimals() >= 0
    raw = signed(w3, BUYER, token.address, token.approve(SPENDER.address, 600).data)
    tx = decode_signed(raw)
    assert (tx.sender, tx.to, tx.chain_id, tx.type) == (BUYER.address, token.address, w3.eth.chain_id, 2)
    assert ERC20.decode_approve(tx.data) == Approval(SPENDER.address, 600)

    [first] = broadcast_signed(w3, [tx])
    assert first.state == "mined" and first.tx_hash == tx.tx_hash and first.block_number is not None
    assert token.allowance(BUYER.address, SPENDER.address) == 600
    # Sent again: the node has it ("nonce too low"), so it is reported as it stands, not refused.
    assert broadcast_signed(w3, [tx]) == [first]
    assert outcome(w3, tx.tx_hash) == first
    seen = seen_transaction(w3, tx.tx_hash)
    assert seen is not None and (seen.sender, seen.to, seen.data) == (BUYER.address, token.address, tx.data)


def test_refused_first_transaction_raises_and_a_later_one_is_reported(
    anvil: AnvilNode, deployment: Deployment
) -> None:
    w3 = anvil.w3()
    token = ERC20(w3, deployment.address("TestToken"))
    used = w3.eth.get_transaction_count(BUYER.address)
    assert used > 0  # the previous test's approval
    stale = decode_signed(signed(w3, BUYER, token.address, token.approve(SPENDER.address, 1).data, nonce=0))
    with pytest.raises(BroadcastRefused) as info:
        broadcast_signed(w3, [stale])
    assert info.value.tx_hash == stale.tx_hash and "nonce" in info.value.message.lower()
    fresh = decode_signed(signed(w3, BUYER, token.address, token.approve(SPENDER.address, 2).data))
    outcomes = broadcast_signed(w3, [fresh, stale])
    assert [o.state for o in outcomes] == ["mined", "refused"] and outcomes[1].error
    assert outcome(w3, stale.tx_hash) is None and seen_transaction(w3, stale.tx_hash) is None


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\x03\xf8", UnsupportedTransactionType),
        (b"\x04\xc0", UnsupportedTransactionType),
        (b"\x02\xc0", MalformedTransaction),
        (b"\xc0", MalformedTransaction),
        (b"", MalformedTransaction),
    ],
)
def test_decode_signed_refuses_other_types_and_malformed_bytes(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_signed(raw)
