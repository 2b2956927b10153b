"""Shipments: relay a supplier-signed manifest, and read a shipment's status, money, custody, breaches,
payment schedule and telemetry.

Only the shipment's supplier, buyer, carrier and current custodian (and auditors and arbiters) see
it; to anyone else it does not exist (404). The escrow actions (fund, hand-over, delivery, dispute,
resolution) are in
api.routes.escrow, the readings in api.routes.readings; both are mounted under this router.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentPartner, SessionDep, SettingsDep
from api.errors import Forbidden, InvalidRequest, Unavailable
from api.escrow import listing
from api.escrow.listing import PartyRole
from api.escrow.service import EscrowRelayDep, escrow_or_404
from api.escrow.signatures import recover_typed, require_signer
from api.escrow.visibility import visible_shipment
from api.models import (
    BreachPublic,
    CustodyPublic,
    DisputePublic,
    HandoverPublic,
    ManifestDefaults,
    PaymentSchedule,
    RelayPublic,
    ShipmentCreate,
    ShipmentPublic,
    ShipmentsPage,
    TelemetrySummary,
)
from api.ownership import ownership_of, record_items
from api.routes import escrow, readings
from api.telemetry import reading_counts
from chain import eip712
from chain.contracts import ShipmentEscrow
from chain.contracts.escrow import ARBITRATION_PERIOD
from chain.tables.disputes import Dispute

router = APIRouter(prefix="/shipments", tags=["shipments and escrow"])

ShipmentId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such shipment, or not one of the caller's"}
}


def _manifest_message(body: ShipmentCreate) -> dict[str, Any]:
    """The manifest as the EIP-712 message (bytes32 fields as bytes)."""
    m = body.manifest
    message = {
        f["name"]: (
            bytes.fromhex(getattr(m, f["name"])[2:]) if f["type"] == "bytes32" else getattr(m, f["name"])
        )
        for f in eip712.MANIFEST_TYPE
    }
    message["devices"] = [to_checksum_address(d) for d in m.devices]
    return message


@router.post(
    "",
    status_code=202,
    response_model=RelayPublic,
    responses={400: {"description": "Invalid signature"}, 403: {"description": "Not the supplier or buyer"}},
)
def create_shipment(
    body: ShipmentCreate, session: SessionDep, settings: SettingsDep, partner: CurrentPartner
) -> RelayPublic:
    """Relays a supplier-signed manifest to ShipmentEscrow.createShipment through the relayer's outbox
    (anyone may relay a manifest, so the API's service account sends it). The caller must be the
    manifest's supplier or buyer; the signature must recover to the supplier. An ``items`` list in the
    manifest (the ledger asset IDs itemsHash commits to) is kept for the keeper, which passes them to
    the buyer when the shipment settles; one that does not hash to itemsHash is refused (422)."""
    m = body.manifest
    if to_checksum_address(partner.address) not in (
        to_checksum_address(m.supplier),
        to_checksum_address(m.buyer),
    ):
        raise Forbidden("only the manifest's supplier or buyer may relay it")
    if not (settings.escrow_address and settings.relayer_address):
        raise Unavailable("no escrow contract or relayer configured")
    message = _manifest_message(body)
    _require_this_deployment(body, message, settings.chain_id, settings.escrow_address)
    signer = recover_typed(
        "Manifest",
        eip712.domain(settings.chain_id, settings.escrow_address),
        message,
        body.signature,
        "/signature",
    )
    require_signer(signer, m.supplier, "the manifest's supplier", "/signature")
    from chain.tables.outbox import OutboxIntent, OutboxState

    # The items the manifest sells, checked against itemsHash, kept with the relay intent.
    record_items(session, m.shipmentId, m.itemsHash, m.items)

    data = ShipmentEscrow.calldata(
        "createShipment", eip712.as_tuple("Manifest", message), bytes.fromhex(body.signature[2:])
    )
    key = f"shipment-create:{m.shipmentId.lower()}"
    relayer = to_checksum_address(settings.relayer_address)
    exists = session.scalars(
        select(OutboxIntent.state).where(OutboxIntent.sender == relayer, OutboxIntent.key == key)
    ).first()
    if exists is None:
        session.add(
            OutboxIntent(
                sender=relayer,
                key=key,
                to_address=to_checksum_address(settings.escrow_address),
                data=data,
                value=0,
                state=OutboxState.INTENT.value,
            )
        )
    session.commit()
    return RelayPublic(
        shipment_id=m.shipmentId.lower(),
        outbox_key=key,
        state=exists or "intent",
        status_url=f"/transactions/intents/{key}",
        shipment_url=f"/shipments/{m.shipmentId.lower()}",
    )


def _require_this_deployment(
    body: ShipmentCreate, message: dict[str, Any], chain_id: int, escrow: str
) -> None:
    """Refuses (422, by field) a manifest signed for another chain or escrow, or whose stated digest
    is not its own: ``tracechain sign manifest`` prints all three beside the manifest."""
    wrong: list[dict[str, str]] = []
    if body.chainId is not None and body.chainId != chain_id:
        wrong.append(
            {"pointer": "/chainId", "detail": f"signed for chain {body.chainId}; this is chain {chain_id}"}
        )
    if body.escrow is not None and to_checksum_address(body.escrow) != to_checksum_address(escrow):
        wrong.append(
            {
                "pointer": "/escrow",
                "detail": f"signed for {body.escrow}; this escrow is {to_checksum_address(escrow)}",
            }
        )
    if not wrong and body.digest is not None:
        expected = "0x" + eip712.digest("Manifest", eip712.domain(chain_id, escrow), message).hex()
        if body.digest.lower() != expected:
            wrong.append({"pointer": "/digest", "detail": f"the manifest's digest here is {expected}"})
    if wrong:
        raise InvalidRequest("the manifest was signed for another deployment, or altered", errors=wrong)


# -------------------------------------------------------------------------------------------------- list


@router.get("", response_model=ShipmentsPage)
def list_shipments(
    session: SessionDep,
    partner: CurrentPartner,
    role: Annotated[PartyRole | None, Query(description="only where the caller is this party")] = None,
    state: Annotated[
        str | None, Query(pattern=r"^[A-Z][A-Za-z]{1,15}$", description="e.g. Created, InTransit, Delivered")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> ShipmentsPage:
    """The caller's shipments, newest first: those it is the supplier, buyer, carrier or current
    custodian of (an auditor sees every shipment), from the read model. Page on with ``cursor``."""
    return listing.list_shipments(session, partner, role=role, state=state, limit=limit, cursor=cursor)


@router.get(
    "/manifest-defaults",
    response_model=ManifestDefaults,
    responses={
        404: {"description": "No escrow configured"},
        503: {"description": "The node is unreachable"},
    },
)
def manifest_defaults(
    session: SessionDep, settings: SettingsDep, partner: CurrentPartner, escrow: EscrowRelayDep
) -> ManifestDefaults:
    """What the caller's next manifest needs: the chain ID and escrow of the EIP-712 domain, its next
    escrow nonce (past its manifests still waiting in the relay's outbox) and the approved tokens."""
    return listing.manifest_defaults(session, escrow_or_404(escrow), partner, settings.relayer_address)


# ------------------------------------------------------------------------------------------------ status


def _payment_schedule(s: Any, now: float, dispute: Any | None) -> PaymentSchedule:
    state = s.state
    amount, penalties = int(s.amount), int(s.penalties)
    to_supplier, to_buyer = amount - penalties, penalties
    if state == "Refunded":
        to_supplier, to_buyer = 0, amount
    elif state == "Cancelled":
        to_supplier = to_buyer = 0
    elif state == "Resolved":
        to_supplier, to_buyer = int(s.released_to_supplier), int(s.released_to_buyer)
    arbitration_until = None if dispute is None else int(dispute.raised_at) + ARBITRATION_PERIOD
    release_from = None if s.delivered_at is None else int(s.delivered_at) + int(s.dispute_window)
    open_ = state in ("Created", "Funded", "InTransit")
    if open_ and now > int(s.deadline):
        step = "refund"
    elif state == "Created":
        step = "fund"
    elif state == "Funded":
        step = "hand-over"
    elif state == "InTransit":
        step = "confirm-delivery"
    elif state == "Delivered":
        step = "release" if release_from is not None and now >= release_from else "dispute-window"
    elif state == "Disputed":
        # arbiters decide until the bound; then anyone (the keeper) settles by the fallback rule
        step = "arbitration" if arbitration_until is None or now < arbitration_until else "settle-dispute"
    elif state in ("Released", "Refunded", "Resolved"):
        step = "withdraw"
    else:
        step = "none"
    return PaymentSchedule(
        token=s.token,
        amount=str(amount),
        funded=str(s.funded),
        penalties=str(penalties),
        to_supplier=str(to_supplier),
        to_buyer=str(to_buyer),
        fund_by=int(s.deadline) if state == "Created" else None,
        deliver_by=int(s.deadline),
        delivered_at=s.delivered_at,
        dispute_window=int(s.dispute_window),
        release_from=release_from,
        refund_from=int(s.deadline) + 1 if open_ else None,
        released_to_supplier=str(s.released_to_supplier),
        released_to_buyer=str(s.released_to_buyer),
        arbitration_until=arbitration_until if state == "Disputed" else None,
        next_step=step,
    )


def _dispute(row: Any | None) -> DisputePublic | None:
    if row is None:
        return None
    return DisputePublic(
        buyer=row.buyer,
        reason=row.reason,
        evidence=json.loads(row.evidence),
        raised_at=int(row.raised_at),
        tx_hash=row.raised_tx,
        arbitration_until=int(row.raised_at) + ARBITRATION_PERIOD,
        resolved_by=row.resolved_by,
        to_supplier=None if row.to_supplier is None else str(row.to_supplier),
        to_buyer=None if row.to_buyer is None else str(row.to_buyer),
        fallback=row.fallback,
        resolution_tx_hash=row.resolved_tx,
    )


def _telemetry(session: Session, s: Any, breaches: int) -> TelemetrySummary:
    from chain.tables.readmodel import TelemetryBatchPosted

    batches = session.scalars(
        select(TelemetryBatchPosted).where(TelemetryBatchPosted.shipment_id == s.shipment_id)
    ).all()
    counts = reading_counts(session, bytes.fromhex(s.shipment_id[2:]), s.min_temp, s.max_temp)
    low = min((b.min_temp for b in batches), default=None)
    high = max((b.max_temp for b in batches), default=None)
    return TelemetrySummary(
        batches=len(batches),
        readings=sum(b.count for b in batches),
        min_temp_c=None if low is None else low / 100,
        max_temp_c=None if high is None else high / 100,
        window_start=min((b.window_start for b in batches), default=None),
        window_end=max((b.window_end for b in batches), default=None),
        breaches=breaches,
        readings_received=counts.received,
        readings_out_of_band=counts.out_of_band,
        readings_unbatched=counts.unbatched,
        last_reading_at=counts.last_reading_at,
    )


@router.get("/{shipment_id}", response_model=ShipmentPublic, responses=NOT_VISIBLE)
def shipment_status(shipment_id: ShipmentId, session: SessionDep, partner: CurrentPartner) -> ShipmentPublic:
    """State, amounts, custody, breaches, the payment schedule, the telemetry summary and whether the
    items' ownership passed to the buyer, from the read model (what the indexer has seen final on
    chain) and the telemetry oracle's store."""
    from chain.tables.readmodel import Breach, CustodyHandover

    s = visible_shipment(session, shipment_id, partner)
    handovers = session.scalars(
        select(CustodyHandover)
        .where(CustodyHandover.shipment_id == s.shipment_id)
        .order_by(CustodyHandover.seq)
    ).all()
    breaches = session.scalars(
        select(Breach).where(Breach.shipment_id == s.shipment_id).order_by(Breach.episode)
    ).all()
    dispute = session.get(Dispute, s.shipment_id)
    return ShipmentPublic(
        shipment_id=s.shipment_id,
        state=s.state,
        supplier=s.supplier,
        buyer=s.buyer,
        carrier=s.carrier,
        custodian=s.custodian,
        token=s.token,
        amount=str(s.amount),
        funded=str(s.funded),
        penalty=str(s.penalty),
        penalties=str(s.penalties),
        min_temp_c=s.min_temp / 100,
        max_temp_c=s.max_temp / 100,
        deadline=s.deadline,
        dispute_window=s.dispute_window,
        delivered_at=s.delivered_at,
        released_to_supplier=str(s.released_to_supplier),
        released_to_buyer=str(s.released_to_buyer),
        telemetry=_telemetry(session, s, len(breaches)),
        custody=CustodyPublic(
            custodian=s.custodian,
            seq=int(s.custody_seq),
            handovers=[
                HandoverPublic(
                    from_account=h.from_account,
                    to_account=h.to_account,
                    seq=int(h.seq),
                    tx_hash=h.tx_hash,
                    block_number=h.block_number,
                )
                for h in handovers
            ],
        ),
        breaches=[
            BreachPublic(
                episode=int(b.episode),
                episode_start=int(b.episode),  # episodes start at the excursion's first proven reading
                device=b.device,
                counter=int(b.counter),
                temperature_c=b.temperature / 100,
                penalty=str(b.penalty),
                tx_hash=b.tx_hash,
            )
            for b in breaches
        ],
        payment_schedule=_payment_schedule(s, time.time(), dispute),
        ownership=ownership_of(session, s),
        dispute=_dispute(dispute),
    )


router.include_router(escrow.router)
router.include_router(readings.router)
