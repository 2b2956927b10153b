"""What the API needs of ShipmentEscrow to act for a partner without holding its key.

* **Who sees a shipment.** Its supplier, buyer and carrier, its current custodian, and auditors; to
  anyone else it does not exist (404).
* **EIP-712 signatures** (manifests, custody consents) are recovered here exactly as the contract's
  OpenZeppelin ``ECDSA.recover`` would: 65 bytes, v in {27, 28}, low s.
* **Partner-signed transactions.** ``fund`` and ``confirmDelivery`` must come from the buyer and
  ``handOver`` from the current or the next custodian (``msg.sender`` checks), so the API cannot send
  them from its relayer. The partner signs the transaction with its own wallet; the API decodes it,
  checks that it is exactly the expected call, from the signed-in partner, on this chain, simulates
  it, and only then broadcasts the raw bytes unchanged and reports the receipt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from eth_utils import to_checksum_address
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, Web3Exception

from api.deps import Principal, ServicesDep
from api.errors import ApiProblem, Conflict, Forbidden, NotFound, Unavailable
from chain import eip712
from chain.contracts import Shipment, ShipmentEscrow
from chain.exceptions import (
    ContractError,
    EnforcedPause,
    ERC20InsufficientAllowance,
    ERC20InsufficientBalance,
    ShipmentConsentExpired,
    ShipmentDeadlinePassed,
    ShipmentInvalidSigner,
    ShipmentUnauthorized,
    ShipmentUnexpectedState,
    decode_revert,
)
from chain.hashing import keccak

ZERO = "0x" + "00" * 20
APPROVE = keccak(b"approve(address,uint256)")[:4]
FUND = keccak(b"fund(bytes32)")[:4]
CONFIRM_DELIVERY = keccak(b"confirmDelivery(bytes32)")[:4]
HAND_OVER = keccak(b"handOver(bytes32,address,uint64,bytes)")[:4]
_TX_FIELDS = {0: 9, 1: 11, 2: 12}  # RLP list length of a signed legacy, EIP-2930 and EIP-1559 transaction
_CHAIN_ERRORS = (OSError, Web3Exception, ValueError)
RECEIPT_WAIT_S = 2.0
"""How long a relay waits for its transactions' receipts before answering them ``pending``."""


class SignatureProblem(ApiProblem):
    """A signature that is malformed, or made by someone other than the party it must come from."""

    status = 400
    type = "https://tracechain.example/problems/invalid-signature"
    title = "Invalid signature"


class TransactionProblem(ApiProblem):
    """A signed transaction that is not the call this route relays, or that the node refused."""

    status = 422
    type = "https://tracechain.example/problems/invalid-transaction"
    title = "Transaction not accepted"


# ------------------------------------------------------------------------------------------ visibility


def parties_of(row: Any) -> set[str]:
    """The accounts a shipment concerns: supplier, buyer, carrier and the current custodian."""
    return {to_checksum_address(a) for a in (row.supplier, row.buyer, row.carrier, row.custodian)}


def visible_shipment(session: Session, shipment_id: str, partner: Principal) -> Any:
    """The read-model row of a shipment the partner may see.

    Raises:
        NotFound: no such shipment in the read model, or the partner is neither a party nor an auditor.
    """
    from chain.readmodel import Shipment as ShipmentRow

    row = session.get(ShipmentRow, shipment_id.lower())
    if row is None or (
        to_checksum_address(partner.address) not in parties_of(row) and not partner.is_auditor
    ):
        raise NotFound(f"no shipment {shipment_id}")
    return row


# ------------------------------------------------------------------------------------------ signatures


def recover_typed(
    primary: str, domain: dict[str, Any], message: dict[str, Any], signature: str, pointer: str
) -> str:
    """The signer of an EIP-712 message, as the contract's ``ECDSA.recover`` would find it.

    Raises:
        SignatureProblem: not 65 bytes, v not 27/28, or s in the high half (the contract rejects those).
    """
    sig = bytes.fromhex(signature.removeprefix("0x"))
    if len(sig) != 65 or sig[64] not in (27, 28):
        raise SignatureProblem(
            "a signature is 65 bytes r‖s‖v with v 27 or 28",
            errors=[{"pointer": pointer, "detail": "malformed"}],
        )
    if int.from_bytes(sig[32:64], "big") > eip712.SECP256K1_HALF_N:
        raise SignatureProblem(
            "high-s signatures are not accepted", errors=[{"pointer": pointer, "detail": "high-s"}]
        )
    try:
        return str(Account._recover_hash(eip712.digest(primary, domain, message), signature=sig))
    except (BadSignature, KeyValidationError, ValueError) as exc:
        raise SignatureProblem(
            "the signature does not recover to any account",
            errors=[{"pointer": pointer, "detail": "invalid"}],
        ) from exc


def require_signer(recovered: str, expected: str, who: str, pointer: str) -> None:
    """Raises SignatureProblem unless ``recovered`` is ``expected`` (``who`` names the expected party)."""
    if to_checksum_address(recovered) != to_checksum_address(expected):
        raise SignatureProblem(
            f"the signature was not made by {who} {to_checksum_address(expected)}",
            errors=[{"pointer": pointer, "detail": f"recovers to {recovered}"}],
        )


# ------------------------------------------------------------------------------ signed transactions


@dataclass(frozen=True)
class SignedTransaction:
    """A partner-signed transaction, decoded (the raw bytes are what gets broadcast)."""

    raw: bytes
    tx_hash: str
    type: int
    sender: str
    nonce: int
    chain_id: int | None
    to: str | None
    value: int
    data: bytes


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def decode_transaction(hex_raw: str, pointer: str) -> SignedTransaction:
    """Decodes a signed legacy (EIP-155), EIP-2930 or EIP-1559 transaction and recovers its sender.

    Raises:
        TransactionProblem: not a signed transaction of those types.
        SignatureProblem: its signature does not recover.
    """
    raw = bytes.fromhex(hex_raw.removeprefix("0x"))
    kind = raw[0] if raw and raw[0] < 0x7F else 0
    try:
        fields = rlp.decode(raw if kind == 0 else raw[1:])
    except rlp.exceptions.RLPException as exc:
        raise TransactionProblem(
            "not an RLP-encoded signed transaction", errors=[{"pointer": pointer, "detail": str(exc)[:200]}]
        ) from exc
    if kind not in _TX_FIELDS or not isinstance(fields, list) or len(fields) != _TX_FIELDS[kind]:
        raise TransactionProblem(
            "only signed legacy (EIP-155), EIP-2930 and EIP-1559 transactions are relayed",
            errors=[{"pointer": pointer, "detail": f"type {kind}"}],
        )
    if kind == 0:
        nonce, to, value, data, v = fields[0], fields[3], fields[4], fields[5], _int(fields[6])
        chain_id = (v - 35) // 2 if v >= 35 else None
    else:
        chain_id = _int(fields[0])
        nonce, to, value, data = (fields[1], *fields[4:7]) if kind == 1 else (fields[1], *fields[5:8])
    try:
        sender = str(Account.recover_transaction(raw))
    except (BadSignature, KeyValidationError, ValueError, TypeError, rlp.exceptions.RLPException) as exc:
        raise SignatureProblem(
            "the transaction's signature does not recover", errors=[{"pointer": pointer, "detail": "invalid"}]
        ) from exc
    return SignedTransaction(
        raw=raw,
        tx_hash="0x" + keccak(raw).hex(),
        type=kind,
        sender=sender,
        nonce=_int(nonce),
        chain_id=chain_id,
        to=to_checksum_address(to) if len(to) == 20 else None,
        value=_int(value),
        data=bytes(data),
    )


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


def fund_data(shipment_id: bytes) -> bytes:
    return FUND + shipment_id


def confirm_delivery_data(shipment_id: bytes) -> bytes:
    return CONFIRM_DELIVERY + shipment_id


def hand_over_data(shipment_id: bytes, to: str, deadline: int, consent: bytes) -> bytes:
    return HAND_OVER + abi_encode(
        ["bytes32", "address", "uint64", "bytes"], [shipment_id, to_checksum_address(to), deadline, consent]
    )


def approve_data(spender: str, amount: int) -> bytes:
    return APPROVE + abi_encode(["address", "uint256"], [to_checksum_address(spender), amount])


def decode_approve(data: bytes) -> tuple[str, int] | None:
    """(spender, amount) of ERC-20 ``approve`` calldata, None for any other call."""
    if len(data) != 68 or data[:4] != APPROVE:
        return None
    spender, amount = abi_decode(["address", "uint256"], data[4:])
    return to_checksum_address(spender), int(amount)


def problem_for(error: ContractError, pointer: str) -> ApiProblem:
    """The HTTP problem of a contract error a simulation ran into."""
    detail = [{"pointer": pointer, "detail": str(error)}]
    if isinstance(error, ShipmentInvalidSigner):
        return SignatureProblem(f"the contract rejects the signature: {error}", errors=detail)
    if isinstance(error, ShipmentUnauthorized):
        return Forbidden(f"the contract refuses the sender: {error}", errors=detail)
    if isinstance(
        error,
        ShipmentUnexpectedState
        | ShipmentDeadlinePassed
        | ShipmentConsentExpired
        | EnforcedPause
        | ERC20InsufficientAllowance
        | ERC20InsufficientBalance,
    ):
        return Conflict(f"the transaction would revert: {error}", errors=detail)
    return TransactionProblem(f"the transaction would revert: {error}", errors=detail)


# ---------------------------------------------------------------------------------------------- chain


TxState = Literal["pending", "mined", "reverted", "refused"]


@dataclass(frozen=True)
class TxOutcome:
    """What the node says of a broadcast transaction."""

    tx_hash: str
    state: TxState
    block_number: int | None = None
    error: str | None = None


class EscrowChain:
    """ShipmentEscrow and its token through one node: reads, simulations, broadcasts, receipts.

    Node failures raise :class:`api.errors.Unavailable` (503); nothing here writes to the database.
    """

    def __init__(self, w3: Web3, escrow_address: str, chain_id: int) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.escrow = ShipmentEscrow(w3, escrow_address, check_code=False)
        self.address = self.escrow.address

    def _node(self, what: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except ContractError:
            raise
        except ContractLogicError as exc:
            error = decode_revert(exc)
            assert error is not None
            raise error from exc
        except _CHAIN_ERRORS as exc:
            raise Unavailable(f"the chain node did not answer ({what})") from exc

    def shipment(self, shipment_id: bytes) -> Shipment:
        return self._node("shipment", self.escrow.shipment, shipment_id)  # type: ignore[no-any-return]

    def block_time(self) -> int:
        return int(self._node("block", self.w3.eth.get_block, "latest")["timestamp"])

    def erc20(self, token: str, fn: str, *args: str) -> int:
        """``balanceOf(owner)`` or ``allowance(owner, spender)`` of an ERC-20."""
        selector = keccak(f"{fn}({','.join('address' for _ in args)})".encode())[:4]
        data = selector + abi_encode(["address"] * len(args), [to_checksum_address(a) for a in args])
        result = self._node(fn, self.w3.eth.call, {"to": to_checksum_address(token), "data": data})
        return int.from_bytes(bytes(result)[:32], "big")

    def simulate(self, tx: SignedTransaction) -> None:
        """Runs the call on the latest state as its sender.

        Raises:
            ContractError: it would revert (the decoded custom error).
        """
        self._node(
            "simulation",
            self.w3.eth.call,
            {"from": tx.sender, "to": tx.to, "data": tx.data, "value": tx.value},
        )

    def broadcast(self, txs: Sequence[SignedTransaction], pointer: str) -> list[TxOutcome]:
        """Sends the raw transactions in order and reports each one's receipt, if any yet.

        Raises:
            TransactionProblem: the node refused the first one (nothing was sent).
        """
        out: list[TxOutcome] = []
        for i, tx in enumerate(txs):
            response = self._node(
                "broadcast", self.w3.provider.make_request, "eth_sendRawTransaction", ["0x" + tx.raw.hex()]
            )
            error = response.get("error")
            if error is not None:
                message = str(error.get("message", error) if isinstance(error, dict) else error)[:300]
                known = self.outcome(tx.tx_hash)
                if known is not None:  # sent before ("already known", "nonce too low"): report it
                    out.append(known)
                    continue
                if i == 0:
                    raise TransactionProblem(
                        f"the node refused the transaction: {message}",
                        errors=[
                            {"pointer": f"{pointer}/{i}" if len(txs) > 1 else pointer, "detail": message}
                        ],
                    )
                out.append(TxOutcome(tx.tx_hash, "refused", error=message))
                continue
            out.append(TxOutcome(tx.tx_hash, "pending"))
        return self._settle(out)

    def _settle(self, outcomes: list[TxOutcome]) -> list[TxOutcome]:
        """The outcomes again once mined, waiting up to RECEIPT_WAIT_S (a node may mine a moment
        after it accepts a transaction); whatever is still pending then is reported pending."""
        deadline = time.monotonic() + RECEIPT_WAIT_S
        while True:
            outcomes = [(self.outcome(o.tx_hash) or o) if o.state == "pending" else o for o in outcomes]
            if all(o.state != "pending" for o in outcomes) or time.monotonic() >= deadline:
                return outcomes
            time.sleep(0.05)

    def outcome(self, tx_hash: str) -> TxOutcome | None:
        """The transaction's state: mined or reverted (with its block), pending, or None if unknown."""
        receipt = self._node("receipt", self.w3.provider.make_request, "eth_getTransactionReceipt", [tx_hash])
        result = receipt.get("result")
        if result:
            state: TxState = "mined" if int(result["status"], 16) == 1 else "reverted"
            return TxOutcome(tx_hash, state, int(result["blockNumber"], 16))
        known = self._node(
            "transaction", self.w3.provider.make_request, "eth_getTransactionByHash", [tx_hash]
        )
        return TxOutcome(tx_hash, "pending") if known.get("result") else None

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """The node's raw view of a transaction (``from``, ``to``, ``input``), or None."""
        found = self._node(
            "transaction", self.w3.provider.make_request, "eth_getTransactionByHash", [tx_hash]
        )
        result = found.get("result")
        return dict(result) if result else None


def get_escrow_chain(services: ServicesDep, request: Request) -> EscrowChain | None:
    """The app's :class:`EscrowChain` (built on first use), None when no escrow is configured."""
    s = services.settings
    if not s.escrow_address:
        return None
    chain: EscrowChain | None = getattr(request.app.state, "escrow_chain", None)
    if chain is None:
        w3 = Web3(HTTPProvider(s.rpc_url, request_kwargs={"timeout": 10}))
        chain = EscrowChain(w3, s.escrow_address, s.chain_id)
        request.app.state.escrow_chain = chain
    return chain


EscrowChainDep = Annotated[EscrowChain | None, Depends(get_escrow_chain)]


def require_chain(chain: EscrowChain | None) -> EscrowChain:
    """Raises Unavailable (503) when no escrow contract is configured."""
    if chain is None:
        raise Unavailable("no escrow contract configured")
    return chain
