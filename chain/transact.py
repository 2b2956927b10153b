"""Send one transaction and wait for it: the one synchronous helper, for deployment and admin
commands (and the demo seed and tests), where an operator waits for each step.

The three ways a transaction reaches the node, each for its own case:

* :class:`chain.sender.TxSender`: every service's own transactions (oracles, the API's relayer),
  through the durable outbox (idempotent intents, nonce management, fee bumping, crash recovery);
* :func:`send_and_wait` (here): one transaction at a time for ``tracechain deploy``/``admin`` and
  similar commands; nothing is retried or recorded;
* :func:`chain.relay.broadcast_signed`: a partner's own signed transaction that the API relays
  unchanged (not ours to sign or replace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain.exceptions import TransactionFailed, decode_revert


@dataclass(frozen=True)
class TxRequest:
    """A transaction to send: target (None to create a contract), calldata, value, gas limit."""

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None


@dataclass(frozen=True)
class MinedTx:
    """A successful transaction's receipt, reduced to what callers use."""

    tx_hash: str
    block_number: int
    block_hash: str
    contract_address: str | None
    gas_used: int
    logs: tuple[Any, ...]


@dataclass(frozen=True)
class FeeSuggestion:
    """EIP-1559 fees that stay valid while the base fee doubles."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def suggested_fees(w3: Web3) -> FeeSuggestion:
    """Twice the latest base fee plus the node's suggested tip, and that tip."""
    base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    tip = int(w3.eth.max_priority_fee)
    return FeeSuggestion(2 * base + tip, tip)


def gas_with_margin(estimate: int) -> int:
    """A gas limit for an estimate: 20% and 10,000 gas more, for state that changes before mining."""
    return estimate * 6 // 5 + 10_000


def send_and_wait(
    w3: Web3, account: LocalAccount, request: TxRequest, *, timeout: float = 120.0, legacy: bool = False
) -> MinedTx:
    """Signs ``request`` with ``account``, sends it and waits for the receipt.

    The call is simulated first: a revert raises its decoded contract error and nothing is sent.

    Raises:
        ContractError: the simulation reverted with a custom error (a leaf of chain.exceptions).
        TransactionFailed: the transaction was mined but reverted.
    """
    tx: dict[str, Any] = {"from": account.address, "data": request.data, "value": request.value}
    if request.to is not None:
        tx["to"] = request.to
    try:
        gas = request.gas or w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        error = decode_revert(exc)
        assert error is not None
        raise error from exc
    tx.update(
        gas=gas_with_margin(gas) if request.gas is None else gas,
        nonce=w3.eth.get_transaction_count(account.address, "pending"),
        chainId=w3.eth.chain_id,
    )
    if legacy:
        tx["gasPrice"] = w3.eth.gas_price
    else:
        fees = suggested_fees(w3)
        tx.update(maxFeePerGas=fees.max_fee_per_gas, maxPriorityFeePerGas=fees.max_priority_fee_per_gas)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
    hex_hash = "0x" + bytes(tx_hash).hex()
    if receipt["status"] != 1:
        raise TransactionFailed(hex_hash, "reverted")
    return MinedTx(
        tx_hash=hex_hash,
        block_number=int(receipt["blockNumber"]),
        block_hash="0x" + bytes(receipt["blockHash"]).hex(),
        contract_address=receipt.get("contractAddress"),
        gas_used=int(receipt["gasUsed"]),
        logs=tuple(receipt["logs"]),
    )
