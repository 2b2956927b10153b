"""What the shipment oracle reads from the chain and the calldata of its ledger and escrow calls."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from chain.contracts import ShipmentState, TraceabilityLedger, role
from oracles.chainview import ChainView, read

CARRIER_ROLE = role("CARRIER_ROLE")
IN_TRANSIT = ShipmentState.IN_TRANSIT


@dataclass(frozen=True)
class ShipmentParties:
    """What the shipment oracle needs of an on-chain shipment."""

    state: int  # IShipmentEscrow.State
    carrier: str
    custodian: str
    items_hash: bytes


class ShipmentChain(ChainView):
    """Shipments' parties and carriers, ledger anchors; anchorEvent and confirmDelivery calldata.

    Raises:
        NoContractCode: no contract at an address.
    """

    def __init__(
        self, w3: Web3, escrow_address: str, registry_address: str, ledger_address: str, recorder: str
    ) -> None:
        super().__init__(w3, escrow_address, registry_address)
        self.ledger = TraceabilityLedger(w3, ledger_address)
        #: The account the oracle anchors with: anchors are per recorder, and its own are what count.
        self.recorder = recorder

    @property
    def ledger_address(self) -> str:
        return str(self.ledger.address)

    def shipment_parties(self, shipment_id: bytes) -> ShipmentParties | None:
        """State, carrier, custodian and itemsHash of a shipment, None when it does not exist.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        s = read(lambda: self.escrow.shipment(shipment_id))
        if s.state == ShipmentState.NONE:
            return None
        return ShipmentParties(int(s.state), s.carrier, s.custodian, s.items_hash)

    def is_active_carrier(self, account: str) -> bool:
        """True when `account` is an active partner holding CARRIER_ROLE.

        Raises:
            InvalidAddress: `account` is not an address.
            ChainUnavailable: the node did not answer.
        """
        return read(lambda: self.registry.has_role(CARRIER_ROLE, account)) and read(
            lambda: self.registry.is_active_partner(account)
        )

    def event_anchored(self, event_key: bytes) -> bool:
        """True when the oracle's account has anchored the event singly on TraceabilityLedger.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        return read(lambda: self.ledger.anchor_of(event_key, self.recorder)).anchored

    def anchor_event_data(self, event_key: bytes) -> bytes:
        """Calldata of TraceabilityLedger.anchorEvent for an EPCIS event's 32-byte key."""
        return self.ledger.anchor_event_calldata(event_key)

    def confirm_delivery_data(self, shipment_id: bytes) -> bytes:
        return self.escrow.confirm_delivery_calldata(shipment_id)
