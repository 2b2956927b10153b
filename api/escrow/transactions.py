"""Partner-signed transactions: decoded (:mod:`chain.relay`), checked to be exactly the call a route
relays, and the problems (HTTP) of what fails: a check, a simulation or the node's refusal."""

from __future__ import annotations

from eth_utils import to_checksum_address

from api.deps import Principal
from api.errors import SignatureProblem, TransactionProblem
from chain.relay import (
    BroadcastRefused,
    MalformedTransaction,
    SignedTransaction,
    TransactionSignatureInvalid,
    UnsupportedTransactionType,
    decode_signed,
)

__all__ = [
    "SignedTransaction",
    "TransactionProblem",
    "decode_transaction",
    "refused",
    "require_call",
]


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
