"""Typed wrapper of ShipmentEscrow: shipments, escrow, telemetry batches, pull payments."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain.contracts.base import RegistryGatedWrapper, checksum
from chain.eip712 import MANIFEST_TYPE
from chain.exceptions import (
    EnforcedPause,
    EscrowNothingToWithdraw,
    ExpectedPause,
    ShipmentBatchAfterDelivery,
    ShipmentExists,
    ShipmentInvalidBatch,
    ShipmentInvalidDisputeEvidence,
    ShipmentInvalidDisputeReason,
    ShipmentTokenNotApproved,
    ShipmentTooMuchEvidence,
    ShipmentUnexpectedState,
)
from chain.manifest import Manifest
from chain.roles import DEFAULT_ADMIN_ROLE, ORACLE_ROLE
from chain.transact import TxRequest


class ShipmentState(enum.IntEnum):
    """IShipmentEscrow.State."""

    NONE = 0
    CREATED = 1
    FUNDED = 2
    IN_TRANSIT = 3
    DELIVERED = 4
    RELEASED = 5
    REFUNDED = 6
    CANCELLED = 7
    DISPUTED = 8
    RESOLVED = 9


#: ShipmentEscrow.ARBITRATION_PERIOD: arbiters decide within it; from disputedAt + this, anyone may
#: settle the dispute by the fallback rule (docs/disputes.md). tests/chain/contracts checks it.
ARBITRATION_PERIOD = 14 * 24 * 3600
#: ShipmentEscrow's bounds on a dispute's reason and evidence references (bytes of UTF-8).
MAX_DISPUTE_REASON = 1024
MAX_DISPUTE_EVIDENCE = 16
MAX_DISPUTE_EVIDENCE_LENGTH = 512


#: States in which a shipment takes telemetry batches (Delivered: only a batch begun before delivery).
TELEMETRY_STATES = (ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, ShipmentState.DELIVERED)


def state_bits(*states: ShipmentState) -> bytes:
    """The ``expectedStates`` bitmap of ShipmentUnexpectedState for ``states``."""
    return sum(1 << s for s in states).to_bytes(32, "big")


@dataclass(frozen=True)
class Shipment:
    """A shipment as stored on chain."""

    id: bytes
    supplier: str
    deadline: int
    state: ShipmentState
    buyer: str
    dispute_window: int
    disputed_at: int  # 0: never disputed
    carrier: str
    delivered_at: int
    custodian: str
    custody_seq: int
    picked_up_at: int  # the first hand-over; custody (breach evidence) runs from here to delivered_at
    token: str
    min_temp: int
    max_temp: int
    amount: int
    penalty: int
    penalties: int
    items_hash: bytes


@dataclass(frozen=True)
class Custody:
    """What decides whether a shipment's reading is evidence: the shipment's devices and its
    custody window, from pickup to delivery (0: not yet)."""

    shipment_id: bytes
    exists: bool
    devices: frozenset[str]
    picked_up_at: int
    delivered_at: int
    min_temp: int
    max_temp: int

    def covers(self, timestamp: int) -> bool:
        """Whether a reading taken at ``timestamp`` falls in custody as known now (an open end:
        not delivered yet)."""
        delivered = self.delivered_at
        return 0 < self.picked_up_at <= timestamp and (delivered == 0 or timestamp <= delivered)


@dataclass(frozen=True)
class TelemetryBatch:
    """A telemetry batch: Merkle root of ``count`` readings in a time window and temperature range."""

    root: bytes
    count: int
    window_start: int
    window_end: int
    min_temp: int
    max_temp: int

    def as_tuple(self) -> tuple[bytes, int, int, int, int, int]:
        return (self.root, self.count, self.window_start, self.window_end, self.min_temp, self.max_temp)


@dataclass(frozen=True)
class Reading:
    """A device's reading as IShipmentEscrow.Reading: what a breach proof shows the contract."""

    device: str
    counter: int
    timestamp: int
    shipment_id: bytes
    temperature: int  # centi-°C
    humidity: int  # centi-%
    latitude: int  # micro-degrees
    longitude: int  # micro-degrees

    def as_tuple(self) -> tuple[str, int, int, bytes, int, int, int, int]:
        return (
            self.device,
            self.counter,
            self.timestamp,
            self.shipment_id,
            self.temperature,
            self.humidity,
            self.latitude,
            self.longitude,
        )


def check_dispute_terms(shipment_id: bytes, reason: str, evidence: Sequence[str]) -> None:
    """The contract's bounds on a dispute's reason and evidence, checked before anything is sent.

    Raises:
        ShipmentInvalidDisputeReason: the reason is empty or longer than MAX_DISPUTE_REASON bytes.
        ShipmentTooMuchEvidence: more than MAX_DISPUTE_EVIDENCE references.
        ShipmentInvalidDisputeEvidence: a reference is empty or longer than MAX_DISPUTE_EVIDENCE_LENGTH.
    """
    length = len(reason.encode())
    if not 0 < length <= MAX_DISPUTE_REASON:
        raise ShipmentInvalidDisputeReason(shipment_id=shipment_id, length=length)
    if len(evidence) > MAX_DISPUTE_EVIDENCE:
        raise ShipmentTooMuchEvidence(shipment_id=shipment_id, count=len(evidence))
    for i, ref in enumerate(evidence):
        length = len(ref.encode())
        if not 0 < length <= MAX_DISPUTE_EVIDENCE_LENGTH:
            raise ShipmentInvalidDisputeEvidence(shipment_id=shipment_id, index=i, length=length)


class ShipmentEscrow(RegistryGatedWrapper):
    """ShipmentEscrow at a validated address; writes return :class:`TxRequest` after pre-flight checks."""

    NAME = "ShipmentEscrow"

    def shipment(self, shipment_id: bytes) -> Shipment:
        return self._shipment(shipment_id, self._struct("shipment", shipment_id))

    def shipments(self, shipment_ids: Sequence[bytes]) -> list[Shipment]:
        """Each shipment as stored, all in one batched JSON-RPC request (the keeper reads every open
        shipment each pass).

        Raises:
            NodeRequestRefused: the node refused one of the calls.
        """
        if not shipment_ids:
            return []
        names = [c["name"] for c in self._function("shipment").output_abi[0]["components"]]
        results = self.call_many([("shipment", (sid,)) for sid in shipment_ids])
        return [
            self._shipment(sid, dict(zip(names, r, strict=True)))
            for sid, r in zip(shipment_ids, results, strict=True)
        ]

    @staticmethod
    def _shipment(shipment_id: bytes, f: dict[str, Any]) -> Shipment:
        return Shipment(
            id=shipment_id,
            supplier=checksum(f["supplier"]),
            deadline=int(f["deadline"]),
            state=ShipmentState(f["state"]),
            buyer=checksum(f["buyer"]),
            dispute_window=int(f["disputeWindow"]),
            disputed_at=int(f["disputedAt"]),
            carrier=checksum(f["carrier"]),
            delivered_at=int(f["deliveredAt"]),
            custodian=checksum(f["custodian"]),
            custody_seq=int(f["custodySeq"]),
            picked_up_at=int(f["pickedUpAt"]),
            token=checksum(f["token"]),
            min_temp=int(f["minTemp"]),
            max_temp=int(f["maxTemp"]),
            amount=int(f["amount"]),
            penalty=int(f["penalty"]),
            penalties=int(f["penalties"]),
            items_hash=bytes(f["itemsHash"]),
        )

    def shipment_devices(self, shipment_id: bytes) -> list[str]:
        """The devices the shipment's manifest names."""
        return [checksum(d) for d in self._call("shipmentDevices", shipment_id)]

    def breach_episodes(self, shipment_id: bytes) -> list[int]:
        """Start times of the breach episodes charged so far."""
        return [int(t) for t in self._call("breachEpisodes", shipment_id)]

    def custodies(self, shipment_ids: Sequence[bytes]) -> list[Custody]:
        """Each shipment's :class:`Custody`, all in one batched JSON-RPC request (the telemetry
        oracle checks the readings of many shipments at once).

        Raises:
            NodeRequestRefused: the node refused one of the calls.
        """
        reads = [(fn, (sid,)) for sid in shipment_ids for fn in ("shipment", "shipmentDevices")]
        results = self.call_many(reads)
        names = [c["name"] for c in self._function("shipment").output_abi[0]["components"]]
        out = []
        for i, sid in enumerate(shipment_ids):
            f = dict(zip(names, results[2 * i], strict=True))
            out.append(
                Custody(
                    shipment_id=sid,
                    exists=int(f["state"]) != ShipmentState.NONE,
                    devices=frozenset(checksum(d) for d in results[2 * i + 1]),
                    picked_up_at=int(f["pickedUpAt"]),
                    delivered_at=int(f["deliveredAt"]),
                    min_temp=int(f["minTemp"]),
                    max_temp=int(f["maxTemp"]),
                )
            )
        return out

    def paused(self, block: int | None = None) -> bool:
        """Whether the escrow is paused, at `block` (the latest block if None)."""
        return bool(self.contract.functions.paused().call(block_identifier=block))

    def set_paused(self, paused: bool, *, sender: str) -> TxRequest:
        """Pauses the escrow (``pause``: no new shipment, funding, hand-over, telemetry, breach proof,
        delivery, release or refund; withdrawals stay open) or unpauses it (``unpause``).

        Raises:
            EnforcedPause: pausing a paused escrow.
            ExpectedPause: unpausing an escrow that is not paused.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        if paused and self.paused():
            raise EnforcedPause()
        if not paused and not self.paused():
            raise ExpectedPause()
        self._require_role(DEFAULT_ADMIN_ROLE, sender)
        return self._request("pause" if paused else "unpause")

    def owed(self, account: str, token: str) -> int:
        return int(self._call("owed", checksum(account), checksum(token)))

    def is_token_approved(self, token: str) -> bool:
        """Whether the consortium approved ``token`` for settlement."""
        return bool(self._call("isTokenApproved", checksum(token)))

    def set_token_approved(self, token: str, approved: bool, *, sender: str) -> TxRequest:
        """Approves ``token`` for new shipments and their funding, or withdraws the approval.

        Raises:
            ShipmentTokenNotApproved: the zero address.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        token = checksum(token)
        if int(token, 16) == 0:
            raise ShipmentTokenNotApproved(token=token)
        self._require_role(DEFAULT_ADMIN_ROLE, sender)
        return self._request("setTokenApproved", token, approved)

    def nonce_of(self, supplier: str) -> int:
        """The supplier's next manifest nonce."""
        return int(self._call("nonces", checksum(supplier)))

    def manifest_digest(self, manifest: Manifest) -> bytes:
        """The EIP-712 digest the contract expects the supplier to have signed."""
        return bytes(self._call("manifestDigest", manifest.as_tuple()))

    def create_shipment(self, manifest: Manifest, signature: bytes) -> TxRequest:
        """Creates a shipment from a supplier-signed manifest (anyone may relay it).

        Raises:
            ShipmentExists: a shipment with this ID exists.
            ShipmentTokenNotApproved: the consortium has not approved the manifest's token.
        """
        if self.shipment(manifest.shipment_id).state != ShipmentState.NONE:
            raise ShipmentExists(shipment_id=manifest.shipment_id)
        if int(manifest.token, 16) != 0 and not self.is_token_approved(manifest.token):
            raise ShipmentTokenNotApproved(token=checksum(manifest.token))
        return self._request("createShipment", manifest.as_tuple(), signature)

    def fund(self, shipment_id: bytes) -> TxRequest:
        """Funds the escrow with the shipment's amount (sent by the buyer, after its token approval)."""
        return self._request("fund", shipment_id)

    def hand_over(self, shipment_id: bytes, to: str, consent_deadline: int, consent: bytes) -> TxRequest:
        """Hands custody to ``to``, sent by the current or the next custodian with the other party's
        EIP-712 ``CustodyHandover`` consent (valid until ``consent_deadline``)."""
        return self._request("handOver", shipment_id, checksum(to), consent_deadline, consent)

    def confirm_delivery(self, shipment_id: bytes) -> TxRequest:
        """Confirms delivery (sent by the buyer, or an oracle attesting arrival)."""
        return self._request("confirmDelivery", shipment_id)

    def release(self, shipment_id: bytes) -> TxRequest:
        return self._request("release", shipment_id)

    def refund(self, shipment_id: bytes) -> TxRequest:
        return self._request("refund", shipment_id)

    def dispute(self, shipment_id: bytes, reason: str, evidence: Sequence[str]) -> TxRequest:
        """Disputes a delivered shipment within its window (sent by the buyer), with a reason and
        evidence references (URIs, content hashes) for the arbiter.

        Raises:
            ShipmentInvalidDisputeReason: the reason is empty or longer than MAX_DISPUTE_REASON bytes.
            ShipmentTooMuchEvidence: more than MAX_DISPUTE_EVIDENCE references.
            ShipmentInvalidDisputeEvidence: a reference is empty or too long.
        """
        check_dispute_terms(shipment_id, reason, evidence)
        return self._request("dispute", shipment_id, reason, list(evidence))

    def resolve_dispute(self, shipment_id: bytes, to_buyer: int) -> TxRequest:
        """Splits a disputed shipment's escrow: ``to_buyer`` to the buyer, the rest to the supplier
        (sent by an arbiter that is no party of the shipment)."""
        return self._request("resolveDispute", shipment_id, to_buyer)

    def settle_dispute(self, shipment_id: bytes) -> TxRequest:
        """Settles a dispute no arbiter resolved within ARBITRATION_PERIOD by the fallback rule
        (anyone may send it)."""
        return self._request("settleDispute", shipment_id)

    def post_telemetry(self, shipment_id: bytes, batch: TelemetryBatch, *, sender: str) -> TxRequest:
        """Posts a telemetry batch of a shipment under way (the contract's checks, in its order).

        Raises:
            EnforcedPause: the escrow is paused.
            AccessControlUnauthorizedAccount: ``sender`` lacks ORACLE_ROLE.
            ShipmentUnexpectedState: unknown shipment, or not Funded, InTransit or Delivered.
            ShipmentBatchAfterDelivery: delivered before the batch's window began.
            ShipmentInvalidBatch: zero root or count, or an inverted window or range.
        """
        if self.paused():
            raise EnforcedPause()
        self._require_role(ORACLE_ROLE, sender)
        s = self.shipment(shipment_id)
        if s.state not in TELEMETRY_STATES:
            raise ShipmentUnexpectedState(
                shipment_id=shipment_id, current=int(s.state), expected_states=state_bits(*TELEMETRY_STATES)
            )
        if s.state == ShipmentState.DELIVERED and batch.window_start > s.delivered_at:
            raise ShipmentBatchAfterDelivery(
                shipment_id=shipment_id, window_start=batch.window_start, delivered_at=s.delivered_at
            )
        if (
            batch.root == bytes(32)
            or batch.count == 0
            or batch.window_end < batch.window_start
            or batch.max_temp < batch.min_temp
        ):
            raise ShipmentInvalidBatch(shipment_id=shipment_id, root=batch.root)
        return self._request("postTelemetry", shipment_id, batch.as_tuple())

    # ------------------------------------------------ calldata for the oracles' outbox (no pre-flight)
    # The oracles write intents while the node may be down, behind intents not yet mined: a
    # pre-flight read would fail or see the state before them, so they take the calldata alone.

    def post_telemetry_calldata(self, shipment_id: bytes, batch: TelemetryBatch) -> bytes:
        """Calldata of ``postTelemetry(shipment_id, batch)``, without pre-flight checks."""
        return self.calldata("postTelemetry", shipment_id, batch.as_tuple())

    def prove_breach_calldata(
        self,
        shipment_id: bytes,
        batch: TelemetryBatch,
        reading: Reading,
        signature: bytes,
        proof: Sequence[bytes],
    ) -> bytes:
        """Calldata of ``proveBreach``: ``reading`` (signed by its device) is in ``batch`` by ``proof``
        and outside the shipment's band; without pre-flight checks."""
        return self.calldata(
            "proveBreach", shipment_id, batch.as_tuple(), reading.as_tuple(), signature, list(proof)
        )

    def prove_breach_from_reading(self, shipment_id: bytes, reading: Reading, signature: bytes) -> TxRequest:
        """Proves a breach straight from a device-signed reading, without an oracle batch (sent by
        the shipment's supplier, carrier or buyer)."""
        return self._request("proveBreachFromReading", shipment_id, reading.as_tuple(), signature)

    def confirm_delivery_calldata(self, shipment_id: bytes) -> bytes:
        """Calldata of ``confirmDelivery(shipment_id)``, without pre-flight checks."""
        return self.calldata("confirmDelivery", shipment_id)

    @classmethod
    def shipment_of_call(cls, data: bytes) -> bytes | None:
        """The shipment an escrow call names (its ``id`` argument), None for a call naming none or
        for calldata that is no escrow call."""
        call = cls.decode_call(data)
        shipment_id = None if call is None else call.args.get("id")
        return shipment_id if isinstance(shipment_id, bytes) else None

    @classmethod
    def manifest_of_call(cls, data: bytes) -> Manifest | None:
        """The manifest of ``createShipment(m, signature)`` calldata, None for any other calldata."""
        call = cls.decode_call(data)
        if call is None or call.function != "createShipment":
            return None
        m = call.args["m"]
        values: list[Any] = [
            tuple(checksum(d) for d in m[f["name"]]) if f["type"] == "address[]" else m[f["name"]]
            for f in MANIFEST_TYPE
        ]
        return Manifest(*values)

    @classmethod
    def token_of_withdraw(cls, data: bytes) -> str | None:
        """The token of ``withdraw(token)`` calldata, None for any other calldata."""
        call = cls.decode_call(data)
        if call is None or call.function != "withdraw":
            return None
        return checksum(call.args["token"])

    def withdraw(self, token: str, *, sender: str) -> TxRequest:
        """Withdraws everything ``sender`` is owed in ``token``.

        Raises:
            EscrowNothingToWithdraw: nothing is owed.
        """
        if self.owed(sender, token) == 0:
            raise EscrowNothingToWithdraw(account=checksum(sender), token=checksum(token))
        return self._request("withdraw", checksum(token))
