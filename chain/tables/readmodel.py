"""The read model: what the contracts emitted, as SQL tables (SQLite or PostgreSQL).

Two kinds of table, both written only by `chain.indexer`:

* **Log tables** (append-only history), one row per applied log, keyed by the log's identity
  `(tx_hash, log_index)` (plus a position for logs that carry lists), so a log can be applied only
  once. Each row carries `block_number` and `block_hash`; a rollback deletes the rows above the
  fork block.
* **State tables** (current state: partners, roles, devices, assets, shipments, balances, contract
  status), derived from the logs. Every change to a state row is journalled in `state_undo` with
  the row as it was before, so a rollback restores the state of the fork block exactly by undoing
  the journal in reverse order.

Conventions: addresses are checksummed strings, bytes32 values `0x`-prefixed lowercase hex,
unsigned integers that may exceed 63 bits (amounts, user-supplied uint64 fields) use `BigUint`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Dialect, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from chain.db import Base

ADDRESS = String(42)
HASH = String(66)


class BigUint(TypeDecorator[int]):
    """An unsigned integer up to 2**256 - 1: NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite
    (whose integers stop at 2**63 - 1)."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


# ---------------------------------------------------------------------------------------------- log tables


class LogRow:
    """Identity and position of the applied log (primary key: transaction hash and log index)."""

    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True, sort_order=-10)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-9)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True, sort_order=-7)
    block_hash: Mapped[str] = mapped_column(HASH, sort_order=-6)
    contract: Mapped[str] = mapped_column(ADDRESS, sort_order=-5)


class ListedLogRow(LogRow):
    """A log that carries a list: one row per element, `position` completing the key."""

    position: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-8)


class RoleChange(LogRow, Base):
    """RoleGranted / RoleRevoked (OpenZeppelin AccessControl)."""

    __tablename__ = "role_changes"
    role: Mapped[str] = mapped_column(HASH, index=True)
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    sender: Mapped[str] = mapped_column(ADDRESS)
    granted: Mapped[bool] = mapped_column(Boolean)


class RoleAdminChange(LogRow, Base):
    """RoleAdminChanged."""

    __tablename__ = "role_admin_changes"
    role: Mapped[str] = mapped_column(HASH)
    previous_admin_role: Mapped[str] = mapped_column(HASH)
    new_admin_role: Mapped[str] = mapped_column(HASH)


class PartnerChange(LogRow, Base):
    """PartnerAdmitted (name set) / PartnerStatusChanged (active set) / PrefixAssigned and
    PrefixRevoked (the company prefix in ``gs1_key``)."""

    __tablename__ = "partner_changes"
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # admitted | status
    name: Mapped[str | None] = mapped_column(Text)
    gs1_key: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)


class DeviceChange(LogRow, Base):
    """DeviceRegistered (owner set) / DeviceStatusChanged."""

    __tablename__ = "device_changes"
    device: Mapped[str] = mapped_column(ADDRESS, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # registered | status
    owner: Mapped[str | None] = mapped_column(ADDRESS)
    active: Mapped[bool] = mapped_column(Boolean)


class ContractChange(LogRow, Base):
    """Paused / Unpaused / EIP712DomainChanged / TokenApprovalChanged (account: the token) / the
    registry's admin transfer and delay changes, scheduled or cancelled (account: the new admin)."""

    __tablename__ = "contract_changes"
    # paused | unpaused | eip712_domain_changed | token_approved | token_unapproved |
    # admin_transfer_scheduled | admin_transfer_cancelled | admin_delay_change_scheduled | …_cancelled
    kind: Mapped[str] = mapped_column(String(32))
    account: Mapped[str | None] = mapped_column(ADDRESS)


class AnchoredEvent(LogRow, Base):
    """EventAnchored: one EPCIS event ID (sha-256 of its CBV 2.0 hash-based ID) anchored singly."""

    __tablename__ = "anchored_events"
    event_id: Mapped[str] = mapped_column(HASH, index=True)
    recorder: Mapped[str] = mapped_column(ADDRESS)


class AnchoredBatch(LogRow, Base):
    """BatchAnchored: the Merkle root of `count` EPCIS event IDs."""

    __tablename__ = "anchored_batches"
    root: Mapped[str] = mapped_column(HASH, index=True)
    recorder: Mapped[str] = mapped_column(ADDRESS)
    count: Mapped[int] = mapped_column(BigInteger)


class AssetChange(LogRow, Base):
    """AssetRegistered / OwnershipOffered / OwnershipTransferred / LotRecalled /
    OwnershipSettlementSkipped of one asset (``custody`` rows come from ledgers before issue 10,
    whose CustodyTransferred is gone). A ``not_settled`` row: the asset was sold in a settled
    shipment (``reason`` names it) but did not pass to the buyer (``to_account``); ``from_account``
    owned it then (None: unknown asset)."""

    __tablename__ = "asset_changes"
    asset_id: Mapped[str] = mapped_column(HASH, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # registered | offered | ownership | recalled | not_settled
    lot: Mapped[str | None] = mapped_column(HASH)
    from_account: Mapped[str | None] = mapped_column(ADDRESS)
    to_account: Mapped[str | None] = mapped_column(ADDRESS)
    reason: Mapped[str | None] = mapped_column(Text)


class TransformationLink(ListedLogRow, Base):
    """Transformed: one row per input and per output (`direction`), in the order emitted."""

    __tablename__ = "transformation_links"
    transformation_id: Mapped[str] = mapped_column(HASH, index=True)
    recorder: Mapped[str] = mapped_column(ADDRESS)
    direction: Mapped[str] = mapped_column(String(8))  # input | output
    asset_id: Mapped[str] = mapped_column(HASH, index=True)


class AggregationLink(ListedLogRow, Base):
    """Aggregated / Disaggregated: one row per child."""

    __tablename__ = "aggregation_links"
    parent: Mapped[str] = mapped_column(HASH, index=True)
    child: Mapped[str] = mapped_column(HASH, index=True)
    aggregated: Mapped[bool] = mapped_column(Boolean)  # False: disaggregated


class ShipmentChange(LogRow, Base):
    """ShipmentCreated / ShipmentFunded / DeliveryConfirmed / ShipmentCancelled / DisputeRaised."""

    __tablename__ = "shipment_changes"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # created | funded | delivered | cancelled | disputed
    actor: Mapped[str | None] = mapped_column(ADDRESS)
    amount: Mapped[int | None] = mapped_column(BigUint)
    at: Mapped[int | None] = mapped_column(BigInteger)


class CustodyHandover(LogRow, Base):
    """CustodyHandedOver: a consented custody hand-over of a shipment."""

    __tablename__ = "custody_handovers"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    from_account: Mapped[str] = mapped_column(ADDRESS)
    to_account: Mapped[str] = mapped_column(ADDRESS)
    seq: Mapped[int] = mapped_column(BigUint)


class TelemetryBatchPosted(LogRow, Base):
    """TelemetryBatchPosted: a Merkle root of `count` device readings (centi-°C, unix seconds)."""

    __tablename__ = "telemetry_batches_posted"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    root: Mapped[str] = mapped_column(HASH, index=True)
    count: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[int] = mapped_column(BigUint)
    window_end: Mapped[int] = mapped_column(BigUint)
    min_temp: Mapped[int] = mapped_column(Integer)
    max_temp: Mapped[int] = mapped_column(Integer)


class Breach(LogRow, Base):
    """BreachProven: one breach episode charged to the supplier."""

    __tablename__ = "breaches"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    device: Mapped[str] = mapped_column(ADDRESS)
    episode: Mapped[int] = mapped_column(BigUint)
    counter: Mapped[int] = mapped_column(BigUint)
    temperature: Mapped[int] = mapped_column(Integer)
    penalty: Mapped[int] = mapped_column(BigUint)


class Payment(LogRow, Base):
    """PaymentReleased (`released`) / ShipmentRefunded (`refunded`) / DisputeResolved
    (`resolved`) / DisputeSettledByFallback (`fallback`): credits in escrow."""

    __tablename__ = "payments"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    to_supplier: Mapped[int] = mapped_column(BigUint)
    to_buyer: Mapped[int] = mapped_column(BigUint)


class OwnershipSettlement(LogRow, Base):
    """OwnershipSettled: a settled shipment's items passed from its supplier to its buyer
    (``transferred`` moved, ``skipped`` did not: see the ``not_settled`` asset changes)."""

    __tablename__ = "ownership_settlements"
    shipment_id: Mapped[str] = mapped_column(HASH, index=True)
    supplier: Mapped[str] = mapped_column(ADDRESS)
    buyer: Mapped[str] = mapped_column(ADDRESS)
    transferred: Mapped[int] = mapped_column(BigUint)
    skipped: Mapped[int] = mapped_column(BigUint)


class Withdrawal(LogRow, Base):
    """Withdrawn: a payee pulled what it was owed."""

    __tablename__ = "withdrawals"
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    token: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(BigUint)


LOG_TABLES: tuple[type[LogRow], ...] = (
    RoleChange,
    RoleAdminChange,
    PartnerChange,
    DeviceChange,
    ContractChange,
    AnchoredEvent,
    AnchoredBatch,
    AssetChange,
    TransformationLink,
    AggregationLink,
    ShipmentChange,
    CustodyHandover,
    TelemetryBatchPosted,
    Breach,
    Payment,
    OwnershipSettlement,
    Withdrawal,
)

# -------------------------------------------------------------------------------------------- state tables


class Partner(Base):
    __tablename__ = "partners"
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    #: The partner's GS1 company prefixes, sorted and space-separated ("" for none).
    gs1_key: Mapped[str] = mapped_column(Text, index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    admitted_block: Mapped[int] = mapped_column(BigInteger)


class RoleMember(Base):
    """A role currently held on record (a suspended partner keeps its roles on record)."""

    __tablename__ = "roles"
    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    role: Mapped[str] = mapped_column(HASH, primary_key=True)
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    role_name: Mapped[str | None] = mapped_column(String(32))
    granted_block: Mapped[int] = mapped_column(BigInteger)


class Device(Base):
    __tablename__ = "devices"
    device: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    owner: Mapped[str] = mapped_column(ADDRESS, index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    registered_block: Mapped[int] = mapped_column(BigInteger)


class Asset(Base):
    """An item or lot (keccak-256 of its GS1 Digital Link URI). `lot` is None for lots themselves;
    `parent` is the asset it is currently aggregated into; `recalled` marks a recalled lot (an item
    is recalled when its lot is). `custodian` equals `owner`: the ledger keeps no custody since
    issue 10 (goods in transit are in ShipmentEscrow shipments, see `shipments.custodian`)."""

    __tablename__ = "assets"
    asset_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    lot: Mapped[str | None] = mapped_column(HASH, index=True)
    owner: Mapped[str] = mapped_column(ADDRESS, index=True)
    custodian: Mapped[str] = mapped_column(ADDRESS, index=True)
    parent: Mapped[str | None] = mapped_column(HASH, index=True)
    recalled: Mapped[bool] = mapped_column(Boolean)
    registered_block: Mapped[int] = mapped_column(BigInteger)


class Shipment(Base):
    """A shipment: its signed manifest, lifecycle state, custodian and money."""

    __tablename__ = "shipments"
    shipment_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    items_hash: Mapped[str] = mapped_column(HASH)
    supplier: Mapped[str] = mapped_column(ADDRESS, index=True)
    buyer: Mapped[str] = mapped_column(ADDRESS, index=True)
    carrier: Mapped[str] = mapped_column(ADDRESS, index=True)
    token: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(BigUint)
    penalty: Mapped[int] = mapped_column(BigUint)
    min_temp: Mapped[int] = mapped_column(Integer)
    max_temp: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[int] = mapped_column(BigUint)
    dispute_window: Mapped[int] = mapped_column(BigUint)
    nonce: Mapped[int] = mapped_column(BigUint)
    state: Mapped[str] = mapped_column(String(16))  # IShipmentEscrow.State name
    custodian: Mapped[str] = mapped_column(ADDRESS, index=True)
    custody_seq: Mapped[int] = mapped_column(BigUint)
    funded: Mapped[int] = mapped_column(BigUint)
    penalties: Mapped[int] = mapped_column(BigUint)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    released_to_supplier: Mapped[int] = mapped_column(BigUint)
    released_to_buyer: Mapped[int] = mapped_column(BigUint)
    created_block: Mapped[int] = mapped_column(BigInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class EscrowBalance(Base):
    """What the escrow owes `account` in `token` (credited by release/refund, zeroed by withdraw)."""

    __tablename__ = "escrow_balances"
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    token: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    owed: Mapped[int] = mapped_column(BigUint)


class ContractStatus(Base):
    __tablename__ = "contract_status"
    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    updated_block: Mapped[int] = mapped_column(BigInteger)


STATE_TABLES: tuple[type[Base], ...] = (
    Partner,
    RoleMember,
    Device,
    Asset,
    Shipment,
    EscrowBalance,
    ContractStatus,
)

# ---------------------------------------------------------------------------------- indexer bookkeeping


class IndexerCursor(Base):
    """The last block applied (and its hash), per chain."""

    __tablename__ = "indexer_cursor"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(HASH)


class IndexedBlock(Base):
    """Hashes of recent applied blocks (window ends and blocks with logs), to find a fork point."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(HASH)


class StateUndo(Base):
    """One state-row change: the row's key and its previous values (None: the row did not exist)."""

    __tablename__ = "state_undo"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    table_name: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(Text)  # JSON list of primary-key values
    before: Mapped[str | None] = mapped_column(Text)  # JSON object of column values


__all__ = [
    "BigUint",
    "LogRow",
    "LOG_TABLES",
    "STATE_TABLES",
    "RoleChange",
    "RoleAdminChange",
    "PartnerChange",
    "DeviceChange",
    "ContractChange",
    "OwnershipSettlement",
    "AnchoredEvent",
    "AnchoredBatch",
    "AssetChange",
    "TransformationLink",
    "AggregationLink",
    "ShipmentChange",
    "CustodyHandover",
    "TelemetryBatchPosted",
    "Breach",
    "Payment",
    "Withdrawal",
    "Partner",
    "RoleMember",
    "Device",
    "Asset",
    "Shipment",
    "EscrowBalance",
    "ContractStatus",
    "IndexerCursor",
    "IndexedBlock",
    "StateUndo",
]
