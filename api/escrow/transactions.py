"""Partner-signed transactions: decoded (:mod:`chain.relay`), checked to be exactly the call a route
relays, and the problems (HTTP) of what fails: a check, a simulation or the node's refusal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from api.deps import Principal
from api.errors import SignatureProblem, TransactionProblem, contract_problem
from api.node import node_answers
from chain import relay
from chain.exceptions import ContractError
from chain.relay import (
    BroadcastRefused,
    MalformedTransaction,
    SignedTransaction,
    TransactionSignatureInvalid,
    TxOutcome,
    UnsupportedTransactionType,
    decode_signed,
)
from chain.transact import gas_with_margin, suggested_fees

RECEIPT_WAIT_S = 2.0
"""How long a relay waits for its transactions' receipts before answering them ``pending``."""

__all__ = [
    "SignedTransaction",
    "TransactionProblem",
    "UnsignedTx",
    "broadcast",
    "decode_transaction",
    "refused",
    "require_call",
    "simulate",
    "unsigned_tx",
]


@dataclass(frozen=True)
class UnsignedTx:
    """A transaction for the caller's wallet to sign as is (``gas`` None: it would revert now)."""

    chain_id: int
    sender: str
    to: str
    data: bytes
    nonce: int
    gas: int | None
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def simulate(w3: Web3, tx: SignedTransaction, pointer: str) -> None:
    """Runs the signed call on the latest state as its sender (with its value); a revert raises the
    contract's error as its problem at ``pointer``."""
    try:
        with node_answers("simulation"):
            w3.eth.call({"from": tx.sender, "to": tx.to, "data": tx.data, "value": tx.value})  # type: ignore[typeddict-item]
    except ContractError as exc:
        raise contract_problem(exc, pointer) from exc


def broadcast(
    w3: Web3, txs: Sequence[SignedTransaction], pointer: str, wait_s: float = RECEIPT_WAIT_S
) -> list[TxOutcome]:
    """Broadcasts checked transactions unchanged and waits ``wait_s`` for their receipts (then
    ``pending``); the node's refusal is a problem at ``pointer`` (``pointer/0`` for a batch)."""
    try:
        with node_answers("broadcast"):
            return relay.broadcast_signed(w3, txs, wait_s=wait_s)
    except BroadcastRefused as exc:
        raise refused(exc, f"{pointer}/0" if len(txs) > 1 else pointer) from exc


def unsigned_tx(w3: Web3, chain_id: int, sender: str, to: str | None, data: bytes) -> UnsignedTx:
    """``sender``'s transaction calling ``to`` with ``data``, for its wallet to sign: its next nonce
    (pending included), a gas estimate with margin (None if it would revert now: the wallet estimates
    it later) and the node's fee suggestions. One function for every route that hands one out."""
    assert to is not None
    me = to_checksum_address(sender)
    with node_answers("nonce and fees"):
        nonce = w3.eth.get_transaction_count(me, "pending")
        fees = suggested_fees(w3)
    gas: int | None
    try:
        gas = gas_with_margin(int(w3.eth.estimate_gas({"from": me, "to": to, "data": data})))
    except (Web3Exception, ValueError, OSError):  # it would revert now: the wallet estimates it later
        gas = None
    return UnsignedTx(chain_id, me, to, data, nonce, gas, fees.max_fee_per_gas, fees.max_priority_fee_per_gas)


def decode_transaction(hex_raw: str, pointer: str) -> SignedTransaction:
    """Decodes a signed legacy (EIP-155), EIP-2930 or EIP-1559 transaction and recovers its sender.

    Raises:
        TransactionProblem: not a signed transaction of those types.
        SignatureProblem: its signature does not recover.
    """
    try:
        return decode_signed(bytes.fromhex(hex_raw.removeprefix("0x")))
    except UnsupportedTransactionType as exc:
        raise TransactionProblem(
            "only signed legacy (EIP-155), EIP-2930 and EIP-1559 transactions are relayed",
            errors=[{"pointer": pointer, "detail": f"type {exc.tx_type}"}],
        ) from exc
    except MalformedTransaction as exc:
        raise TransactionProblem(
            "not an RLP-encoded signed transaction", errors=[{"pointer": pointer, "detail": exc.detail}]
        ) from exc
    except TransactionSignatureInvalid as exc:
        raise SignatureProblem(
            "the transaction's signature does not recover", errors=[{"pointer": pointer, "detail": "invalid"}]
        ) from exc


def require_call(
    tx: SignedTransaction, *, partner: Principal, chain_id: int, to: str, data: bytes | None, pointer: str
) -> None:
    """Checks that ``tx`` is the signed-in partner's own, on this chain, sends no value and calls ``to``
    with exactly ``data`` (``None``: any data, checked by the caller).

    Raises:
        SignatureProblem: signed by another key than the partner's.
        TransactionProblem: another chain, a replayable pre-EIP-155 transaction, value, target or call.
    """
    if tx.sender != to_checksum_address(partner.address):
        raise SignatureProblem(
            f"the transaction must be signed by you ({to_checksum_address(partner.address)})",
            errors=[{"pointer": pointer, "detail": f"signed by {tx.sender}"}],
        )
    if tx.chain_id != chain_id:
        raise TransactionProblem(
            f"the transaction must be bound to chain {chain_id} (EIP-155)",
            errors=[{"pointer": pointer, "detail": f"chain {tx.chain_id}"}],
        )
    if tx.value != 0:
        raise TransactionProblem(
            "the transaction must send no ether", errors=[{"pointer": pointer, "detail": "value"}]
        )
    if tx.to != to_checksum_address(to):
        raise TransactionProblem(
            f"the transaction must call {to_checksum_address(to)}",
            errors=[{"pointer": pointer, "detail": f"calls {tx.to}"}],
        )
    if data is not None and tx.data != data:
        raise TransactionProblem(
            "the transaction's call is not the one this route relays",
            errors=[{"pointer": pointer, "detail": f"expected calldata 0x{data.hex()}"}],
        )


def refused(error: BroadcastRefused, pointer: str) -> TransactionProblem:
    """The problem of a first transaction the node refused (nothing was sent)."""
    return TransactionProblem(
        f"the node refused the transaction: {error.message}",
        errors=[{"pointer": pointer, "detail": error.message}],
    )
