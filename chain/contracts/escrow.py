"""Typed wrapper of ShipmentEscrow: shipments, escrow, telemetry batches, pull payments."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chain.contracts.base import RegistryGatedWrapper, checksum
from chain.exceptions import EscrowNothingToWithdraw, ShipmentExists, ShipmentInvalidBatch
from chain.manifest import Manifest
from chain.roles import ORACLE_ROLE
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


@dataclass(frozen=True)
class Shipment:
    """A shipment as stored on chain."""

    id: bytes
    supplier: str
    deadline: int
    state: ShipmentState
    buyer: str
    dispute_window: int
    carrier: str
    delivered_at: int
    custodian: str
    custody_seq: int
    token: str
    min_temp: int
    max_temp: int
    amount: int
    penalty: int
    penalties: int
    items_hash: bytes


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


class ShipmentEscrow(RegistryGatedWrapper):
    """ShipmentEscrow at a validated address; writes return :class:`TxRequest` after pre-flight checks."""

    NAME = "ShipmentEscrow"

    def shipment(self, shipment_id: bytes) -> Shipment:
        f = self._call("shipment", shipment_id)
        return Shipment(
            shipment_id,
            checksum(f[0]),
            int(f[1]),
            ShipmentState(f[2]),
            checksum(f[3]),
            int(f[4]),
            checksum(f[5]),
            int(f[6]),
            checksum(f[7]),
            int(f[8]),
            checksum(f[9]),
            int(f[10]),
            int(f[11]),
            int(f[12]),
            int(f[13]),
            int(f[14]),
            bytes(f[15]),
        )

    def owed(self, account: str, token: str) -> int:
        return int(self._call("owed", checksum(account), checksum(token)))

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
        """
        if self.shipment(manifest.shipment_id).state != ShipmentState.NONE:
            raise ShipmentExists(shipment_id=manifest.shipment_id)
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

    def post_telemetry(self, shipment_id: bytes, batch: TelemetryBatch, *, sender: str) -> TxRequest:
        """Posts a telemetry batch.

        Raises:
            ShipmentInvalidBatch: zero root or count, or an inverted window or range.
            AccessControlUnauthorizedAccount: ``sender`` lacks ORACLE_ROLE.
        """
        if (
            batch.root == bytes(32)
            or batch.count == 0
            or batch.window_end < batch.window_start
            or batch.max_temp < batch.min_temp
        ):
            raise ShipmentInvalidBatch(shipment_id=shipment_id, root=batch.root)
        self._require_role(ORACLE_ROLE, sender)
        return self._request("postTelemetry", shipment_id, batch.as_tuple())

    @classmethod
    def shipment_of_call(cls, data: bytes) -> bytes | None:
        """The shipment an escrow call names (its ``id`` argument), None for a call naming none or
        for calldata that is no escrow call."""
        call = cls.decode_call(data)
        shipment_id = None if call is None else call.args.get("id")
        return shipment_id if isinstance(shipment_id, bytes) else None

    def withdraw(self, token: str, *, sender: str) -> TxRequest:
        """Withdraws everything ``sender`` is owed in ``token``.

        Raises:
            EscrowNothingToWithdraw: nothing is owed.
        """
        if self.owed(sender, token) == 0:
            raise EscrowNothingToWithdraw(account=checksum(sender), token=checksum(token))
        return self._request("withdraw", checksum(token))
