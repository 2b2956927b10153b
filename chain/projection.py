"""Applies decoded contract events to the read model: one log-table row per log (history) and the
changes to the state tables, each journalled in `state_undo` so that a rollback can reverse it.

`Projection` works on one window of logs inside the indexer's transaction: log rows are gathered
per table and inserted in bulk; state rows go through the session (with a per-window cache, so a
window touching the same shipment or asset many times reads it once).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from chain.db import Base
from chain.logdecoder import DecodedLog
from chain.roles import role_name
from chain.tables.disputes import Dispute
from chain.tables.readmodel import (
    AggregationLink,
    AnchoredBatch,
    AnchoredEvent,
    Asset,
    AssetChange,
    Breach,
    ContractChange,
    ContractStatus,
    CustodyHandover,
    Device,
    DeviceChange,
    EscrowBalance,
    LogRow,
    OwnershipSettlement,
    Partner,
    PartnerChange,
    Payment,
    RoleAdminChange,
    RoleChange,
    RoleMember,
    Shipment,
    ShipmentChange,
    StateUndo,
    TelemetryBatchPosted,
    TransformationLink,
    Withdrawal,
)

log = logging.getLogger(__name__)

ZERO32 = "0x" + "00" * 32
M = TypeVar("M", bound=Base)


def _key(obj: Base) -> list[Any]:
    return [getattr(obj, c.name) for c in inspect(type(obj)).primary_key]


def _snapshot(obj: Base) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in inspect(type(obj)).columns}


class Projection:
    """The effects of one window of logs, to be written with `flush()` in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._rows: dict[type[LogRow], list[dict[str, Any]]] = defaultdict(list)
        self._undo: list[dict[str, Any]] = []
        self._cache: dict[tuple[type[Base], tuple[Any, ...]], Any] = {}
        self._block = 0
        self.applied = 0
        self.skipped = 0

    # ------------------------------------------------------------------------------ state helpers

    def _get(self, model: type[M], *key: Any) -> M | None:
        ck = (model, key)
        if ck not in self._cache:
            with self._session.no_autoflush:
                self._cache[ck] = self._session.get(model, key if len(key) > 1 else key[0])
        obj: M | None = self._cache[ck]
        return obj

    def _journal(self, obj: Base, before: dict[str, Any] | None) -> None:
        self._undo.append(
            {
                "block_number": self._block,
                "table_name": obj.__tablename__,
                "key": json.dumps(_key(obj)),
                "before": None if before is None else json.dumps(before),
            }
        )

    def _create(self, obj: M) -> M:
        self._journal(obj, None)
        self._session.add(obj)
        self._cache[(type(obj), tuple(_key(obj)))] = obj
        return obj

    def _update(self, obj: Base | None, **values: Any) -> None:
        if obj is None:  # indexing started after the entity was created: nothing to update
            return
        self._journal(obj, _snapshot(obj))
        for name, value in values.items():
            setattr(obj, name, value)

    def _delete(self, obj: Base) -> None:
        self._journal(obj, _snapshot(obj))
        if obj in self._session.new:  # created earlier in this window
            self._session.expunge(obj)
        else:
            self._session.delete(obj)
        self._cache[(type(obj), tuple(_key(obj)))] = None

    def _credit(self, account: str, token: str, amount: int) -> None:
        balance = self._get(EscrowBalance, account, token)
        if balance is None:
            self._create(EscrowBalance(account=account, token=token, owed=amount))
        else:
            self._update(balance, owed=balance.owed + amount)

    # ------------------------------------------------------------------------------------- apply

    def apply(self, logs: Iterable[DecodedLog]) -> None:
        """Applies `logs` (in chain order)."""
        for d in logs:
            handler = _HANDLERS.get(d.name)
            if handler is None:
                log.warning("no handler for %s.%s at block %d", d.contract_name, d.name, d.block_number)
                self.skipped += 1
                continue
            self._block = d.block_number
            handler(self, d)
            self.applied += 1

    def _row(self, model: type[LogRow], d: DecodedLog, **values: Any) -> None:
        self._rows[model].append(
            {
                "tx_hash": d.tx_hash,
                "log_index": d.log_index,
                "block_number": d.block_number,
                "block_hash": d.block_hash,
                "contract": d.contract,
                **values,
            }
        )

    def flush(self) -> None:
        """Writes the gathered log rows, the state changes and their undo journal."""
        for model, rows in self._rows.items():
            self._session.execute(insert(model), rows)
        self._session.flush()
        if self._undo:
            # explicit ids: the rollback undoes in id order, which must be the order of the changes
            first = (self._session.scalar(select(func.max(StateUndo.id))) or 0) + 1
            for offset, entry in enumerate(self._undo):
                entry["id"] = first + offset
            self._session.execute(insert(StateUndo), self._undo)
        self._rows.clear()
        self._undo.clear()
        self._cache.clear()

    # ---------------------------------------------------------------------------- PartnerRegistry

    def _role_granted(self, d: DecodedLog) -> None:
        a = d.args
        self._row(RoleChange, d, role=a["role"], account=a["account"], sender=a["sender"], granted=True)
        if self._get(RoleMember, d.contract, a["role"], a["account"]) is None:
            self._create(
                RoleMember(
                    contract=d.contract,
                    role=a["role"],
                    account=a["account"],
                    role_name=role_name(a["role"]),
                    granted_block=d.block_number,
                )
            )

    def _role_revoked(self, d: DecodedLog) -> None:
        a = d.args
        self._row(RoleChange, d, role=a["role"], account=a["account"], sender=a["sender"], granted=False)
        member = self._get(RoleMember, d.contract, a["role"], a["account"])
        if member is not None:
            self._delete(member)

    def _role_admin_changed(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            RoleAdminChange,
            d,
            role=a["role"],
            previous_admin_role=a["previousAdminRole"],
            new_admin_role=a["newAdminRole"],
        )

    def _partner_admitted(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            PartnerChange,
            d,
            account=a["account"],
            kind="admitted",
            name=a["name"],
            active=True,
        )
        self._create(
            Partner(
                account=a["account"], name=a["name"], gs1_key="", active=True, admitted_block=d.block_number
            )
        )

    def _prefix_changed(self, d: DecodedLog) -> None:
        # partners.gs1_key holds the partner's current company prefixes, sorted, space-separated;
        # partner_changes one row per assignment or revocation, the prefix in its gs1_key.
        a = d.args
        assigned = d.name == "PrefixAssigned"
        partner = self._get(Partner, a["account"])
        self._row(
            PartnerChange,
            d,
            account=a["account"],
            kind="prefix_assigned" if assigned else "prefix_revoked",
            gs1_key=a["prefix"],
            active=partner is None or partner.active,
        )
        if partner is not None:
            held = set(partner.gs1_key.split())
            if assigned:
                held.add(a["prefix"])
            else:
                held.discard(a["prefix"])
            self._update(partner, gs1_key=" ".join(sorted(held)))

    def _partner_status(self, d: DecodedLog) -> None:
        a = d.args
        self._row(PartnerChange, d, account=a["account"], kind="status", active=a["active"])
        self._update(self._get(Partner, a["account"]), active=a["active"])

    def _device_registered(self, d: DecodedLog) -> None:
        a = d.args
        self._row(DeviceChange, d, device=a["device"], kind="registered", owner=a["owner"], active=True)
        self._create(
            Device(device=a["device"], owner=a["owner"], active=True, registered_block=d.block_number)
        )

    def _device_status(self, d: DecodedLog) -> None:
        a = d.args
        self._row(DeviceChange, d, device=a["device"], kind="status", active=a["active"])
        self._update(self._get(Device, a["device"]), active=a["active"])

    def _pause(self, d: DecodedLog) -> None:
        paused = d.name == "Paused"
        self._row(ContractChange, d, kind="paused" if paused else "unpaused", account=d.args["account"])
        status = self._get(ContractStatus, d.contract)
        if status is None:
            self._create(ContractStatus(contract=d.contract, paused=paused, updated_block=d.block_number))
        else:
            self._update(status, paused=paused, updated_block=d.block_number)

    def _domain_changed(self, d: DecodedLog) -> None:
        self._row(ContractChange, d, kind="eip712_domain_changed")

    def _token_approval(self, d: DecodedLog) -> None:
        kind = "token_approved" if d.args["approved"] else "token_unapproved"
        self._row(ContractChange, d, kind=kind, account=d.args["token"])

    def _admin_transfer(self, d: DecodedLog) -> None:
        """The registry's two-step admin rules: a transfer or a delay change scheduled or cancelled
        (the transfer itself shows as RoleRevoked and RoleGranted of DEFAULT_ADMIN_ROLE)."""
        kind = {
            "DefaultAdminTransferScheduled": "admin_transfer_scheduled",
            "DefaultAdminTransferCanceled": "admin_transfer_cancelled",
            "DefaultAdminDelayChangeScheduled": "admin_delay_change_scheduled",
            "DefaultAdminDelayChangeCanceled": "admin_delay_change_cancelled",
        }[d.name]
        self._row(ContractChange, d, kind=kind, account=d.args.get("newAdmin"))

    # ------------------------------------------------------------------------- TraceabilityLedger

    def _event_anchored(self, d: DecodedLog) -> None:
        self._row(AnchoredEvent, d, event_id=d.args["eventId"], recorder=d.args["recorder"])

    def _batch_anchored(self, d: DecodedLog) -> None:
        a = d.args
        self._row(AnchoredBatch, d, root=a["root"], recorder=a["recorder"], count=a["count"])

    def _asset_registered(self, d: DecodedLog) -> None:
        a = d.args
        lot = None if a["lot"] == ZERO32 else a["lot"]
        self._row(AssetChange, d, asset_id=a["id"], kind="registered", lot=lot, to_account=a["owner"])
        self._create(
            Asset(
                asset_id=a["id"],
                lot=lot,
                owner=a["owner"],
                custodian=a["owner"],
                parent=None,
                recalled=False,
                registered_block=d.block_number,
            )
        )

    def _ownership_transferred(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            AssetChange, d, asset_id=a["id"], kind="ownership", from_account=a["from"], to_account=a["to"]
        )
        # The ledger keeps no custody (goods in transit are the escrow's shipments'): the column
        # follows the owner.
        self._update(self._get(Asset, a["id"]), owner=a["to"], custodian=a["to"])

    def _ownership_offered(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            AssetChange, d, asset_id=a["id"], kind="offered", from_account=a["from"], to_account=a["to"]
        )

    def _ownership_settled(self, d: DecodedLog) -> None:
        # The items themselves moved by the OwnershipTransferred logs just before this one.
        a = d.args
        self._row(
            OwnershipSettlement,
            d,
            shipment_id=a["shipmentId"],
            supplier=a["supplier"],
            buyer=a["buyer"],
            transferred=a["transferred"],
            skipped=a["skipped"],
        )

    def _ownership_settlement_skipped(self, d: DecodedLog) -> None:
        a = d.args
        owner = None if int(a["owner"], 16) == 0 else a["owner"]
        shipment = self._get(Shipment, a["shipmentId"])
        why = "consumed by a transformation" if a["consumed"] else "not the supplier's"
        self._row(
            AssetChange,
            d,
            asset_id=a["id"],
            kind="not_settled",
            from_account=owner,
            to_account=None if shipment is None else shipment.buyer,
            reason=f"shipment {a['shipmentId']}: {why}",
        )

    def _lot_recalled(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            AssetChange, d, asset_id=a["lot"], kind="recalled", from_account=a["by"], reason=a["reason"]
        )
        self._update(self._get(Asset, a["lot"]), recalled=True)

    def _transformed(self, d: DecodedLog) -> None:
        a = d.args
        links = [("input", x) for x in a["inputs"]] + [("output", x) for x in a["outputs"]]
        for position, (direction, asset_id) in enumerate(links):
            self._row(
                TransformationLink,
                d,
                position=position,
                transformation_id=a["transformationId"],
                recorder=a["recorder"],
                direction=direction,
                asset_id=asset_id,
            )

    def _aggregation(self, d: DecodedLog) -> None:
        parent: str = d.args["parent"]
        aggregated = d.name == "Aggregated"
        for position, child in enumerate(d.args["children"]):
            self._row(
                AggregationLink, d, position=position, parent=parent, child=child, aggregated=aggregated
            )
            self._update(self._get(Asset, child), parent=parent if aggregated else None)

    # ----------------------------------------------------------------------------- ShipmentEscrow

    def _shipment_created(self, d: DecodedLog) -> None:
        m: dict[str, Any] = d.args["manifest"]
        sid: str = d.args["shipmentId"]
        self._row(ShipmentChange, d, shipment_id=sid, kind="created", actor=m["supplier"], amount=m["amount"])
        self._create(
            Shipment(
                shipment_id=sid,
                items_hash=m["itemsHash"],
                supplier=m["supplier"],
                buyer=m["buyer"],
                carrier=m["carrier"],
                token=m["token"],
                amount=m["amount"],
                penalty=m["penalty"],
                min_temp=m["minTemp"],
                max_temp=m["maxTemp"],
                deadline=m["deadline"],
                dispute_window=m["disputeWindow"],
                nonce=m["nonce"],
                state="Created",
                custodian=m["supplier"],
                custody_seq=0,
                funded=0,
                penalties=0,
                delivered_at=None,
                released_to_supplier=0,
                released_to_buyer=0,
                created_block=d.block_number,
                updated_block=d.block_number,
            )
        )

    def _shipment(self, d: DecodedLog) -> Shipment | None:
        return self._get(Shipment, d.args["shipmentId"])

    def _shipment_funded(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            ShipmentChange,
            d,
            shipment_id=a["shipmentId"],
            kind="funded",
            actor=a["buyer"],
            amount=a["amount"],
        )
        self._update(self._shipment(d), state="Funded", funded=a["amount"], updated_block=d.block_number)

    def _custody_handed_over(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            CustodyHandover,
            d,
            shipment_id=a["shipmentId"],
            from_account=a["from"],
            to_account=a["to"],
            seq=a["seq"],
        )
        s = self._shipment(d)
        if s is not None:
            state = "InTransit" if s.state == "Funded" else s.state
            self._update(
                s, custodian=a["to"], custody_seq=a["seq"], state=state, updated_block=d.block_number
            )

    def _telemetry_posted(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            TelemetryBatchPosted,
            d,
            shipment_id=a["shipmentId"],
            root=a["root"],
            count=a["count"],
            window_start=a["windowStart"],
            window_end=a["windowEnd"],
            min_temp=a["minTemp"],
            max_temp=a["maxTemp"],
        )

    def _breach_proven(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            Breach,
            d,
            shipment_id=a["shipmentId"],
            device=a["device"],
            episode=a["episode"],
            counter=a["counter"],
            temperature=a["temperature"],
            penalty=a["penalty"],
        )
        s = self._shipment(d)
        if s is not None:
            self._update(s, penalties=s.penalties + a["penalty"], updated_block=d.block_number)

    def _delivery_confirmed(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            ShipmentChange,
            d,
            shipment_id=a["shipmentId"],
            kind="delivered",
            actor=a["by"],
            at=a["deliveredAt"],
        )
        self._update(
            self._shipment(d), state="Delivered", delivered_at=a["deliveredAt"], updated_block=d.block_number
        )

    def _payment_released(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            Payment,
            d,
            shipment_id=a["shipmentId"],
            kind="released",
            to_supplier=a["toSupplier"],
            to_buyer=a["toBuyer"],
        )
        s = self._shipment(d)
        if s is not None:
            self._update(
                s,
                state="Released",
                released_to_supplier=a["toSupplier"],
                released_to_buyer=a["toBuyer"],
                updated_block=d.block_number,
            )
            self._credit(s.supplier, s.token, a["toSupplier"])
            if a["toBuyer"]:
                self._credit(s.buyer, s.token, a["toBuyer"])

    def _dispute_raised(self, d: DecodedLog) -> None:
        a = d.args
        sid: str = a["shipmentId"]
        self._row(ShipmentChange, d, shipment_id=sid, kind="disputed", actor=a["buyer"], at=a["disputedAt"])
        self._update(self._shipment(d), state="Disputed", updated_block=d.block_number)
        self._create(
            Dispute(
                shipment_id=sid,
                buyer=a["buyer"],
                reason=a["reason"],
                evidence=json.dumps(list(a["evidence"])),
                raised_at=a["disputedAt"],
                raised_block=d.block_number,
                raised_tx=d.tx_hash,
            )
        )

    def _dispute_settled(self, d: DecodedLog) -> None:
        """DisputeResolved (the arbiter's split) or DisputeSettledByFallback (the release rule)."""
        a = d.args
        fallback = d.name == "DisputeSettledByFallback"
        by = a["by"] if fallback else a["arbiter"]
        self._row(
            Payment,
            d,
            shipment_id=a["shipmentId"],
            kind="fallback" if fallback else "resolved",
            to_supplier=a["toSupplier"],
            to_buyer=a["toBuyer"],
        )
        self._update(
            self._get(Dispute, a["shipmentId"]),
            resolved_by=by,
            to_supplier=a["toSupplier"],
            to_buyer=a["toBuyer"],
            fallback=fallback,
            resolved_block=d.block_number,
            resolved_tx=d.tx_hash,
        )
        s = self._shipment(d)
        if s is not None:
            self._update(
                s,
                state="Resolved",
                released_to_supplier=a["toSupplier"],
                released_to_buyer=a["toBuyer"],
                updated_block=d.block_number,
            )
            if a["toSupplier"]:
                self._credit(s.supplier, s.token, a["toSupplier"])
            if a["toBuyer"]:
                self._credit(s.buyer, s.token, a["toBuyer"])

    def _shipment_refunded(self, d: DecodedLog) -> None:
        a = d.args
        self._row(
            Payment, d, shipment_id=a["shipmentId"], kind="refunded", to_supplier=0, to_buyer=a["toBuyer"]
        )
        s = self._shipment(d)
        if s is not None:
            self._update(s, state="Refunded", released_to_buyer=a["toBuyer"], updated_block=d.block_number)
            self._credit(s.buyer, s.token, a["toBuyer"])

    def _shipment_cancelled(self, d: DecodedLog) -> None:
        self._row(ShipmentChange, d, shipment_id=d.args["shipmentId"], kind="cancelled")
        self._update(self._shipment(d), state="Cancelled", updated_block=d.block_number)

    def _withdrawn(self, d: DecodedLog) -> None:
        a = d.args
        self._row(Withdrawal, d, account=a["account"], token=a["token"], amount=a["amount"])
        balance = self._get(EscrowBalance, a["account"], a["token"])
        if balance is not None:
            self._update(balance, owed=max(0, balance.owed - a["amount"]))


_HANDLERS: dict[str, Callable[[Projection, DecodedLog], None]] = {
    "RoleGranted": Projection._role_granted,
    "RoleRevoked": Projection._role_revoked,
    "RoleAdminChanged": Projection._role_admin_changed,
    "PartnerAdmitted": Projection._partner_admitted,
    "PartnerStatusChanged": Projection._partner_status,
    "PrefixAssigned": Projection._prefix_changed,
    "PrefixRevoked": Projection._prefix_changed,
    "DeviceRegistered": Projection._device_registered,
    "DeviceStatusChanged": Projection._device_status,
    "Paused": Projection._pause,
    "Unpaused": Projection._pause,
    "EIP712DomainChanged": Projection._domain_changed,
    "TokenApprovalChanged": Projection._token_approval,
    "DefaultAdminTransferScheduled": Projection._admin_transfer,
    "DefaultAdminTransferCanceled": Projection._admin_transfer,
    "DefaultAdminDelayChangeScheduled": Projection._admin_transfer,
    "DefaultAdminDelayChangeCanceled": Projection._admin_transfer,
    "EventAnchored": Projection._event_anchored,
    "BatchAnchored": Projection._batch_anchored,
    "AssetRegistered": Projection._asset_registered,
    "OwnershipTransferred": Projection._ownership_transferred,
    "OwnershipOffered": Projection._ownership_offered,
    "LotRecalled": Projection._lot_recalled,
    "OwnershipSettled": Projection._ownership_settled,
    "OwnershipSettlementSkipped": Projection._ownership_settlement_skipped,
    "Transformed": Projection._transformed,
    "Aggregated": Projection._aggregation,
    "Disaggregated": Projection._aggregation,
    "ShipmentCreated": Projection._shipment_created,
    "ShipmentFunded": Projection._shipment_funded,
    "CustodyHandedOver": Projection._custody_handed_over,
    "TelemetryBatchPosted": Projection._telemetry_posted,
    "BreachProven": Projection._breach_proven,
    "DeliveryConfirmed": Projection._delivery_confirmed,
    "PaymentReleased": Projection._payment_released,
    "ShipmentRefunded": Projection._shipment_refunded,
    "ShipmentCancelled": Projection._shipment_cancelled,
    "Withdrawn": Projection._withdrawn,
    "DisputeRaised": Projection._dispute_raised,
    "DisputeResolved": Projection._dispute_settled,
    "DisputeSettledByFallback": Projection._dispute_settled,
}
