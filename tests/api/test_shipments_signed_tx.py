"""Decoding partner-signed transactions and recovering EIP-712 consents exactly as the node and the
contract would (no node needed)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from api.errors import SignatureProblem, TransactionProblem
from api.escrow.signatures import recover_typed
from api.escrow.transactions import decode_transaction
from chain import eip712
from chain.contracts import ShipmentEscrow

TO = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
SID = bytes(range(32))


def signed(account: Any, **fields: Any) -> str:
    data = ShipmentEscrow.calldata("fund", SID)
    tx = {"nonce": 7, "to": TO, "value": 0, "data": data, "gas": 90_000, **fields}
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


@pytest.mark.parametrize(
    ("fields", "kind", "chain_id"),
    [
        ({"chainId": 31337, "maxFeePerGas": 3, "maxPriorityFeePerGas": 1}, 2, 31337),
        ({"chainId": 1337, "gasPrice": 5, "accessList": []}, 1, 1337),
        ({"chainId": 2018, "gasPrice": 5}, 0, 2018),
        ({"gasPrice": 5}, 0, None),  # pre-EIP-155: replayable on any chain
    ],
)
def test_decode_transaction_of_each_type(fields: dict[str, Any], kind: int, chain_id: int | None) -> None:
    account = Account.create()
    tx = decode_transaction(signed(account, **fields), "/transaction")
    assert (tx.type, tx.chain_id, tx.sender, tx.nonce) == (kind, chain_id, account.address, 7)
    assert (tx.to, tx.value, tx.data) == (TO, 0, ShipmentEscrow.calldata("fund", SID))


@pytest.mark.parametrize("raw", ["0x02c0", "0xdeadbeef", "0x03f8", "0x" + "c0"])
def test_decode_transaction_refuses_what_is_not_a_signed_transaction(raw: str) -> None:
    with pytest.raises(TransactionProblem):
        decode_transaction(raw, "/transaction")


def test_recover_typed_refuses_what_ecdsa_recover_refuses() -> None:
    signer = Account.create()
    domain = eip712.domain(31337, TO)
    message = {"shipmentId": SID, "from": TO, "to": signer.address, "seq": 3, "deadline": 10**10}
    good = "0x" + eip712.sign(signer.key, "CustodyHandover", domain, message).hex()
    assert recover_typed("CustodyHandover", domain, message, good, "/s") == signer.address
    s = int(good[66:130], 16)
    flipped = "1b" if good[-2:] == "1c" else "1c"
    high_s = good[:66] + f"{eip712.SECP256K1_N - s:064x}" + flipped
    for bad in (high_s, good[:-2] + "00", good[:-2] + "01"):
        with pytest.raises(SignatureProblem):
            recover_typed("CustodyHandover", domain, message, bad, "/s")
    other = {**message, "seq": 4}  # a consent for another sequence number recovers to someone else
    assert recover_typed("CustodyHandover", domain, other, good, "/s") != signer.address
