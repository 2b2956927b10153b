"""The ledger relay: each ledger action's authority checks on the ledger as it is now, then the
partner's own signed transaction relayed unchanged (:func:`chain.relay.broadcast_signed`).

TraceabilityLedger takes its authority from ``msg.sender`` (the brand owner registers and recalls,
the owner offers, transforms and packs, the one offered accepts), so the partner signs and the API
relays. Before anything is sent the API checks, in this order: the transaction is the signed-in
partner's, for this chain, sends no value and calls the ledger (400/422); it is a call of the
route's function (422); the wrapper's pre-flight checks of that call pass for the partner (the
contract's own errors, decoded: 403 not the brand owner, not the owner, no offer, missing role;
404 unknown asset; 409 state); the calldata is exactly what the wrapper encodes for it (422); a
simulation on the latest state does not revert. A failed check sends nothing. The chain stays the
authority: the checks only make the refusal precise and early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from eth_utils import keccak, to_checksum_address
from fastapi import Depends, Request

from api.deps import Principal, ServicesDep
from api.errors import InvalidRequest, Unavailable, contract_problem
from api.escrow.transactions import (
    TransactionProblem,
    UnsignedTx,
    broadcast,
    decode_transaction,
    require_call,
    simulate,
    unsigned_tx,
)
from api.node import ApiNode, node_answers
from chain.contracts import TraceabilityLedger
from chain.contracts.base import ContractCall
from chain.contracts.ledger import ledger_link
from chain.exceptions import ContractError, LedgerInvalidKey
from chain.relay import TxOutcome
from chain.transact import TxRequest

ZERO32 = bytes(32)

Action = Literal["register", "transform", "aggregate", "disaggregate", "recall", "offer", "accept"]

#: The ledger function each action calls.
FUNCTIONS: dict[str, str] = {
    "register": "registerAsset",
    "transform": "recordTransformation",
    "aggregate": "aggregate",
    "disaggregate": "disaggregate",
    "recall": "recallLot",
    "offer": "offerOwnership",
    "accept": "acceptOwnership",
}


def asset_ref(value: str, pointer: str) -> bytes:
    """The ledger ID of ``value``: a 0x-prefixed bytes32, or any spelling of a GTIN item or lot's or
    an SSCC's Digital Link (or EPC URN).

    Raises:
        InvalidRequest: neither.
    """
    text = value.strip()
    if text.startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    return keccak(text=link_of(text, pointer))


def link_of(value: str, pointer: str) -> str:
    """The constrained canonical Digital Link the ledger registers ``value`` under.

    Raises:
        InvalidRequest: not a GTIN (item or lot) or SSCC identifier.
    """
    try:
        return ledger_link(value)
    except LedgerInvalidKey:
        raise InvalidRequest(
            f"not a GTIN or SSCC Digital Link (or EPC URN): {value[:120]}",
            errors=[{"pointer": pointer, "detail": "a GTIN item or lot, or an SSCC"}],
        ) from None


def transformation_id_of(inputs: Sequence[bytes], outputs: Sequence[str]) -> bytes:
    """The default transformation ID: keccak-256 of the input IDs and the output IDs, in order (the
    same transformation asked twice gets the same ID, which the ledger takes once)."""
    return keccak(b"".join(inputs) + b"".join(keccak(text=o) for o in outputs))


@dataclass(frozen=True)
class LedgerOp:
    """One ledger action with its arguments (as asked for, or as decoded from a signed call).

    ``link`` is the Digital Link registered or recalled; ``asset`` the asset offered, accepted, or
    packed into (the parent); ``items`` the transformation's inputs or the (un)packed children.
    """

    action: Action
    link: str | None = None
    lot: bytes = ZERO32
    asset: bytes | None = None
    items: tuple[bytes, ...] = ()
    outputs: tuple[str, ...] = ()
    transformation_id: bytes | None = None
    reason: str = ""
    to: str | None = None
    assets: tuple[bytes, ...] = field(default=(), compare=False)
    """Filled by :meth:`LedgerRelay.request`: the IDs the action creates or concerns."""


def _missing(action: str, *names: str) -> InvalidRequest:
    return InvalidRequest(
        f"{action} needs {', '.join(names)}",
        errors=[{"pointer": f"/query/{n}", "detail": "missing"} for n in names],
    )


def op_of(
    action: Action,
    *,
    link: str | None = None,
    lot: str | None = None,
    asset: str | None = None,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    parent: str | None = None,
    children: Sequence[str] = (),
    reason: str | None = None,
    to: str | None = None,
    transformation_id: str | None = None,
) -> LedgerOp:
    """The action asked for by query parameters (``GET /ledger/unsigned/{action}``).

    Raises:
        InvalidRequest: a parameter the action needs is missing or is no identifier.
    """
    if action == "register":
        if link is None:
            raise _missing(action, "link")
        lot_id = asset_ref(lot, "/query/lot") if lot else ZERO32
        return LedgerOp(action, link=link_of(link, "/query/link"), lot=lot_id)
    if action == "recall":
        if link is None or not reason:
            raise _missing(action, *(n for n, v in (("link", link), ("reason", reason)) if not v))
        return LedgerOp(action, link=link_of(link, "/query/link"), reason=reason)
    if action == "transform":
        if not inputs or not outputs:
            raise _missing(action, *(n for n, v in (("input", inputs), ("output", outputs)) if not v))
        ins = tuple(asset_ref(v, f"/query/input/{i}") for i, v in enumerate(inputs))
        outs = tuple(link_of(v, f"/query/output/{i}") for i, v in enumerate(outputs))
        tid = (
            asset_ref(transformation_id, "/query/transformation_id")
            if transformation_id
            else transformation_id_of(ins, outs)
        )
        return LedgerOp(action, items=ins, outputs=outs, transformation_id=tid)
    if action in ("aggregate", "disaggregate"):
        if parent is None or not children:
            raise _missing(action, *(n for n, v in (("parent", parent), ("child", children)) if not v))
        kids = tuple(asset_ref(v, f"/query/child/{i}") for i, v in enumerate(children))
        return LedgerOp(action, asset=asset_ref(parent, "/query/parent"), items=kids)
    if asset is None:
        raise _missing(action, "id")
    if action == "offer":
        if to is None:
            raise _missing(action, "to")
        return LedgerOp(action, asset=asset_ref(asset, "/query/id"), to=to_checksum_address(to))
    return LedgerOp(action, asset=asset_ref(asset, "/query/id"))


def op_from_call(action: Action, call: ContractCall) -> LedgerOp:
    """The action a decoded ledger call performs (its function already checked to be the action's)."""
    a = call.args
    if action == "register":
        return LedgerOp(action, link=str(a["link"]), lot=bytes(a["lot"]))
    if action == "recall":
        return LedgerOp(action, link=str(a["link"]), reason=str(a["reason"]))
    if action == "transform":
        return LedgerOp(
            action,
            items=tuple(bytes(i) for i in a["inputs"]),
            outputs=tuple(str(o) for o in a["outputs"]),
            transformation_id=bytes(a["transformationId"]),
        )
    if action in ("aggregate", "disaggregate"):
        return LedgerOp(action, asset=bytes(a["parent"]), items=tuple(bytes(c) for c in a["children"]))
    if action == "offer":
        return LedgerOp(action, asset=bytes(a["id"]), to=to_checksum_address(a["to"]))
    return LedgerOp(action, asset=bytes(a["id"]))


class LedgerRelay:
    """TraceabilityLedger through the API's node: the ledger actions' checks and relays.

    Args:
        node: the process's node connection (connected on first use).
        ledger_address: the TraceabilityLedger.
    """

    def __init__(self, node: ApiNode, ledger_address: str) -> None:
        self.node = node
        self.chain_id = node.chain_id
        self.address = to_checksum_address(ledger_address)
        self._ledger: TraceabilityLedger | None = None

    @property
    def ledger(self) -> TraceabilityLedger:
        """The ledger's wrapper (connects to the node on first use)."""
        if self._ledger is None:
            self._ledger = TraceabilityLedger(self.node.web3(), self.address, check_code=False)
        return self._ledger

    def request(
        self, op: LedgerOp, partner: Principal, pointer: str | None = None
    ) -> tuple[TxRequest, tuple[bytes, ...]]:
        """The partner's call for ``op`` after the wrapper's pre-flight checks on the ledger now, and
        the asset IDs it creates or concerns.

        Raises:
            ApiProblem: a check failed (the contract's error as its problem); nothing is sent.
        """
        me = to_checksum_address(partner.address)
        ledger = self.ledger
        try:
            with node_answers(f"{op.action} checks"):
                if op.action == "register":
                    assert op.link is not None
                    return ledger.register_asset(op.link, op.lot, sender=me), (keccak(text=op.link),)
                if op.action == "recall":
                    assert op.link is not None
                    return ledger.recall_lot(op.link, op.reason, sender=me), (keccak(text=op.link),)
                if op.action == "transform":
                    assert op.transformation_id is not None
                    request = ledger.record_transformation(
                        op.transformation_id, op.items, op.outputs, sender=me
                    )
                    return request, tuple(keccak(text=ledger_link(o)) for o in op.outputs)
                assert op.asset is not None
                if op.action == "aggregate":
                    return ledger.aggregate(op.asset, op.items, sender=me), (op.asset, *op.items)
                if op.action == "disaggregate":
                    return ledger.disaggregate(op.asset, op.items, sender=me), (op.asset, *op.items)
                if op.action == "offer":
                    assert op.to is not None
                    return ledger.offer_ownership(op.asset, op.to, sender=me), (op.asset,)
                return ledger.accept_ownership(op.asset, sender=me), (op.asset,)
        except ContractError as exc:
            raise contract_problem(exc, pointer) from exc

    def unsigned(self, op: LedgerOp, partner: Principal) -> UnsignedTx:
        """The partner's transaction for ``op`` (checked now), with its next nonce, gas and fees."""
        request, _ = self.request(op, partner, "/query")
        return unsigned_tx(self.ledger.w3, self.chain_id, partner.address, request.to, request.data)

    def relay(self, action: Action, partner: Principal, raw_tx: str) -> tuple[LedgerOp, TxOutcome]:
        """Checks the partner's signed ledger call for ``action`` and relays it.

        Raises:
            SignatureProblem: signed by another key than the partner's.
            TransactionProblem: another chain or target, value, not the action's exact call, or the
                node refused it.
            ApiProblem: the ledger's refusal of the call, found by the checks or the simulation.
        """
        pointer = "/transaction"
        tx = decode_transaction(raw_tx, pointer)
        require_call(tx, partner=partner, chain_id=self.chain_id, to=self.address, data=None, pointer=pointer)
        call = TraceabilityLedger.decode_call(tx.data)
        if call is None or call.function != FUNCTIONS[action]:
            raise TransactionProblem(
                f"the transaction must call TraceabilityLedger.{FUNCTIONS[action]} ({action})",
                errors=[
                    {"pointer": pointer, "detail": f"calls {call.function if call else 'no ledger function'}"}
                ],
            )
        op = op_from_call(action, call)
        request, assets = self.request(op, partner, pointer)
        if request.data != tx.data:
            raise TransactionProblem(
                "the transaction's call is not the one this route relays (use the canonical Digital Link)",
                errors=[{"pointer": pointer, "detail": f"expected calldata 0x{request.data.hex()}"}],
            )
        simulate(self.ledger.w3, tx, pointer)
        (outcome,) = broadcast(self.ledger.w3, [tx], pointer)
        return LedgerOp(**{**op.__dict__, "assets": assets}), outcome


def ledger_relay_or_none(services: ServicesDep, request: Request) -> LedgerRelay | None:
    """The app's :class:`LedgerRelay` (built on first use), None when no ledger is configured."""
    s = services.settings
    if not s.ledger_address:
        return None
    found: LedgerRelay | None = getattr(request.app.state, "ledger_relay", None)
    if found is None:
        found = LedgerRelay(services.node, s.ledger_address)
        request.app.state.ledger_relay = found
    return found


def get_ledger_relay(services: ServicesDep, request: Request) -> LedgerRelay:
    """The app's :class:`LedgerRelay` (built on first use).

    Raises:
        Unavailable: no ledger contract configured.
    """
    found = ledger_relay_or_none(services, request)
    if found is None:
        raise Unavailable("no ledger contract configured")
    return found


LedgerRelayDep = Annotated[LedgerRelay, Depends(get_ledger_relay)]
