"""One typed wrapper per contract: validated address, pre-flight checks, decoded domain objects."""

from chain.contracts.base import ContractEvent, ContractWrapper
from chain.contracts.escrow import Reading, Shipment, ShipmentEscrow, ShipmentState, TelemetryBatch
from chain.contracts.ledger import Anchor, Asset, TraceabilityLedger
from chain.contracts.registry import Device, DeviceStatus, Partner, PartnerRegistry, role
from chain.contracts.token import TestToken

__all__ = [
    "Anchor",
    "Asset",
    "ContractEvent",
    "ContractWrapper",
    "Device",
    "DeviceStatus",
    "Partner",
    "PartnerRegistry",
    "Reading",
    "Shipment",
    "ShipmentEscrow",
    "ShipmentState",
    "TelemetryBatch",
    "TestToken",
    "TraceabilityLedger",
    "role",
]
