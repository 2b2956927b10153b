"""One typed wrapper per contract: validated address, pre-flight checks, decoded domain objects."""

from chain.contracts.base import ContractCall, ContractEvent, ContractWrapper
from chain.contracts.escrow import Custody, Reading, Shipment, ShipmentEscrow, ShipmentState, TelemetryBatch
from chain.contracts.ledger import Anchor, Asset, TraceabilityLedger, ledger_link
from chain.contracts.registry import Device, DeviceStatus, Partner, PartnerRegistry, role
from chain.contracts.token import ERC20, Approval, TestToken

__all__ = [
    "Custody",
    "ERC20",
    "Anchor",
    "Approval",
    "Asset",
    "ContractCall",
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
    "ledger_link",
    "role",
]
