"""Relaying transactions that someone else signed: decoded with eth-account's typed-transaction
support, broadcast unchanged, and followed to their receipts.

One of the three ways a transaction reaches the node, each for its own case:

* :class:`chain.sender.TxSender`: transactions of our own keys from services (oracles, the API's
  relayer), through the durable outbox;
* :func:`chain.transact.send_and_wait`: one transaction at a time for deployment and admin commands,
  where an operator waits for each step;
* this module: a partner's own signed transaction (the escrow's ``fund``, ``handOver`` and
  ``confirmDelivery`` check ``msg.sender``, and the API never holds a partner's key). It is not
  ours to sign, re-sign or replace, so it has no outbox: it is sent once as it is, and the node's
  answer is read as the sender reads it (:func:`chain.broadcast.sent_before`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction
from eth_account.typed_transactions import TypedTransaction
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from rlp.exceptions import RLPException
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from chain.broadcast import error_message, sent_before
from chain.exceptions import TracechainError, decode_revert
from chain.jsonrpc import JsonRpc

#: Relayed transaction types (EIP-2718): legacy (EIP-155), access list (EIP-2930), dynamic fee (EIP-1559).
RELAYED_TYPES = (0, 1, 2)


class MalformedTransaction(TracechainError):
    """Bytes that are no signed transaction of a relayed type."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"not an RLP-encoded signed transaction: {detail}")


class UnsupportedTransactionType(TracechainError):
    """A transaction type that is not relayed (blob, set-code, or an unknown type byte)."""

    def __init__(self, tx_type: int) -> None:
        self.tx_type = tx_type
        super().__init__(f"transaction type {tx_type} is not relayed")


class TransactionSignatureInvalid(TracechainError):
    """A transaction whose signature recovers to no account."""

    def __init__(self) -> None:
        super().__init__("the transaction's signature does not recover")


class BroadcastRefused(TracechainError):
    """The node refused a relayed transaction it does not know (nothing of it was sent)."""

    def __init__(self, tx_hash: str, message: str) -> None:
        self.tx_hash = tx_hash
        self.message = message
        super().__init__(f"the node refused {tx_hash}: {message}")


@dataclass(frozen=True)
class SignedTransaction:
    """Someone's signed transaction, decoded; ``raw`` is what gets broadcast."""

    raw: bytes
    tx_hash: str
    type: int
    sender: str
    nonce: int
    chain_id: int | None
    """None for a pre-EIP-155 legacy transaction (valid on any chain)."""
    to: str | None
    value: int
    data: bytes


def decode_signed(raw: bytes) -> SignedTransaction:
    """Decodes a signed legacy, EIP-2930 or EIP-1559 transaction and recovers its sender.

    Raises:
        UnsupportedTransactionType: another EIP-2718 type.
        MalformedTransaction: not a signed transaction of its type.
        TransactionSignatureInvalid: the signature does not recover.
    """
    # EIP-2718: a typed transaction starts with its type byte (< 0x7f), a legacy one with an RLP list.
    kind = raw[0] if raw and raw[0] < 0x7F else 0
    if kind not in RELAYED_TYPES:
        raise UnsupportedTransactionType(kind)
    try:
        if kind == 0:
            fields: dict[str, Any] = Transaction.from_bytes(HexBytes(raw)).as_dict()
            v = int(fields["v"])
            chain_id = (v - 35) // 2 if v >= 35 else None
        else:
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id = int(fields["chainId"])
    except (RLPException, ValueError, TypeError, KeyError) as exc:
        raise MalformedTransaction(str(exc)[:200]) from exc
    try:
        sender = str(Account.recover_transaction(raw))
    except (BadSignature, KeyValidationError, ValueError, TypeError, RLPException) as exc:
        raise TransactionSignatureInvalid() from exc
    to = bytes(fields["to"])
    return SignedTransaction(
        raw=bytes(raw),
        tx_hash="0x" + keccak(raw).hex(),
        type=kind,
        sender=sender,
        nonce=int(fields["nonce"]),
        chain_id=chain_id,
        to=to_checksum_address(to) if len(to) == 20 else None,
        value=int(fields["value"]),
        data=bytes(fields["data"]),
    )


TxState = Literal["pending", "mined", "reverted", "refused"]


@dataclass(frozen=True)
class TxOutcome:
    """What the node says of a relayed transaction."""

    tx_hash: str
    state: TxState
    block_number: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class SeenTransaction:
    """A transaction as the node has it (pending or mined): who sent what to whom."""

    tx_hash: str
    sender: str
    to: str | None
    data: bytes


def outcome(w3: Web3, tx_hash: str) -> TxOutcome | None:
    """The transaction's state: mined or reverted (with its block, and for a revert the decoded
    custom error), pending, or None if the node knows no such transaction."""
    receipt, known = JsonRpc(w3).batch(
        [("eth_getTransactionReceipt", [tx_hash]), ("eth_getTransactionByHash", [tx_hash])]
    )
    result, tx = receipt.get("result"), known.get("result")
    if result:
        block = int(result["blockNumber"], 16)
        if int(result["status"], 16) == 1:
            return TxOutcome(tx_hash, "mined", block)
        reason = revert_reason(w3, tx, block) if tx else "reverted (the transaction is not available)"
        return TxOutcome(tx_hash, "reverted", block, reason)
    return TxOutcome(tx_hash, "pending") if tx else None


def revert_reason(w3: Web3, tx: dict[str, Any], block_number: int) -> str:
    """The decoded custom error (``chain.exceptions``) of a transaction that reverted in
    ``block_number``: its call replayed as its sender on the state before that block, then on the
    state after it (a revert that depended on an earlier transaction of the same block)."""
    call: Any = {
        "from": to_checksum_address(tx["from"]),
        "to": to_checksum_address(tx["to"]) if tx.get("to") else None,
        "data": tx.get("input") or "0x",
        "value": int(tx.get("value") or "0x0", 16),
    }
    for block in (max(block_number - 1, 0), block_number):
        try:
            w3.eth.call(call, block)
        except ContractLogicError as exc:
            return str(decode_revert(exc))
        except (Web3Exception, ValueError) as exc:  # a node answer without revert data
            error = decode_revert(exc)
            if error is not None:
                return str(error)
    return "reverted (the reason could not be reproduced)"


def seen_transaction(w3: Web3, tx_hash: str) -> SeenTransaction | None:
    """The node's view of a transaction, None if it knows none of that hash."""
    found = JsonRpc(w3).batch([("eth_getTransactionByHash", [tx_hash])])[0].get("result")
    if not found:
        return None
    return SeenTransaction(
        tx_hash=tx_hash,
        sender=to_checksum_address(found["from"]),
        to=to_checksum_address(found["to"]) if found.get("to") else None,
        data=bytes(HexBytes(found.get("input") or "0x")),
    )


def broadcast_signed(w3: Web3, txs: Sequence[SignedTransaction], *, wait_s: float = 2.0) -> list[TxOutcome]:
    """Sends the raw transactions one after the other, unchanged, then waits up to ``wait_s`` for
    their receipts (a node may mine a moment after it accepts); what is not mined by then is
    reported ``pending``. A transaction the node already has ("already known", "nonce too low"
    for one mined) is reported as it stands; a later one the node refuses is reported ``refused``.

    Raises:
        BroadcastRefused: the node refused the first transaction (nothing was sent).
    """
    rpc = JsonRpc(w3)
    out: list[TxOutcome] = []
    for i, tx in enumerate(txs):
        message = error_message(rpc.batch([("eth_sendRawTransaction", ["0x" + tx.raw.hex()])])[0])
        if message is None:
            out.append(TxOutcome(tx.tx_hash, "pending"))
            continue
        known = outcome(w3, tx.tx_hash) if sent_before(message) else None
        if known is not None:
            out.append(known)
        elif i == 0:
            raise BroadcastRefused(tx.tx_hash, message[:300])
        else:
            out.append(TxOutcome(tx.tx_hash, "refused", error=message[:300]))
    return _mined(w3, out, time.monotonic() + wait_s)


def _mined(w3: Web3, outcomes: list[TxOutcome], deadline: float) -> list[TxOutcome]:
    """``outcomes`` with the pending ones' receipts where they arrive before ``deadline``."""
    settled: list[TxOutcome] = []
    for o in outcomes:
        if o.state == "pending":
            try:
                receipt = w3.eth.wait_for_transaction_receipt(
                    HexBytes(o.tx_hash), timeout=max(deadline - time.monotonic(), 0.01), poll_latency=0.05
                )
            except TimeExhausted:
                pass
            else:
                if receipt["status"] == 1:
                    o = TxOutcome(o.tx_hash, "mined", int(receipt["blockNumber"]))
                else:
                    o = outcome(w3, o.tx_hash) or TxOutcome(
                        o.tx_hash, "reverted", int(receipt["blockNumber"])
                    )
        settled.append(o)
    return settled
