"""Shipments and escrow: relay a supplier-signed manifest, and read a shipment's status, money,
breaches and telemetry. Only the shipment's supplier, buyer and carrier (and auditors) see it; to
anyone else it does not exist (404)."""

from __future__ import annotations

from typing import Annotated, Any

from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentPartner, Principal, SessionDep, SettingsDep
from api.errors import Forbidden, NotFound, Unavailable, ValidationProblem
from chain import eip712

router = APIRouter(prefix="/shipments", tags=["shipments and escrow"])

Bytes32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
ShipmentId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]


class ManifestIn(BaseModel):
    """IShipmentEscrow.Manifest as the supplier signed it (EIP-712, domain "Tracechain" v1)."""

    model_config = ConfigDict(extra="forbid")
    shipmentId: Bytes32  # noqa: N815
    itemsHash: Bytes32  # noqa: N815
    supplier: Address
    buyer: Address
    carrier: Address
    token: Address
    amount: int = Field(gt=0, lt=2**256)
    penalty: int = Field(ge=0, lt=2**256)
    minTemp: int = Field(ge=-(2**31), lt=2**31)  # noqa: N815
    maxTemp: int = Field(ge=-(2**31), lt=2**31)  # noqa: N815
    deadline: int = Field(gt=0, lt=2**64)
    disputeWindow: int = Field(ge=0, lt=2**64)  # noqa: N815
    nonce: int = Field(ge=0, lt=2**256)


class ShipmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifest: ManifestIn
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class RelayPublic(BaseModel):
    shipment_id: str
    outbox_key: str
    state: str


class TelemetrySummary(BaseModel):
    batches: int
    readings: int
    min_temp_c: float | None
    max_temp_c: float | None
    window_start: int | None
    window_end: int | None
    breaches: int


class ShipmentPublic(BaseModel):
    shipment_id: str
    state: str
    supplier: str
    buyer: str
    carrier: str
    custodian: str
    token: str
    amount: str
    funded: str
    penalty: str
    penalties: str
    min_temp_c: float
    max_temp_c: float
    deadline: int
    dispute_window: int
    delivered_at: int | None
    released_to_supplier: str
    released_to_buyer: str
    telemetry: TelemetrySummary


def _message(m: ManifestIn) -> dict[str, Any]:
    """The manifest as the EIP-712 message (bytes32 fields as bytes)."""
    return {
        f["name"]: (
            bytes.fromhex(getattr(m, f["name"])[2:]) if f["type"] == "bytes32" else getattr(m, f["name"])
        )
        for f in eip712.MANIFEST_TYPE
    }


def manifest_digest(m: ManifestIn, chain_id: int, escrow: str) -> bytes:
    """The EIP-712 digest ShipmentEscrow.manifestDigest computes."""
    return eip712.digest("Manifest", eip712.domain(chain_id, escrow), _message(m))


def _visible(session: Session, shipment_id: str, partner: Principal) -> Any:
    from chain.readmodel import Shipment

    row = session.get(Shipment, shipment_id.lower())
    parties = set() if row is None else {row.supplier, row.buyer, row.carrier}
    if row is None or (partner.address not in parties and not partner.is_auditor):
        raise NotFound(f"no shipment {shipment_id}")
    return row


@router.post(
    "",
    status_code=202,
    response_model=RelayPublic,
    responses={400: {"description": "Invalid signature"}, 403: {"description": "Not the supplier or buyer"}},
)
def create_shipment(
    body: ShipmentCreate, session: SessionDep, settings: SettingsDep, partner: CurrentPartner
) -> RelayPublic:
    """Relays a supplier-signed manifest to ShipmentEscrow.createShipment through the relayer's outbox.
    The caller must be the manifest's supplier or buyer; the signature must recover to the supplier."""
    m = body.manifest
    if partner.address not in (to_checksum_address(m.supplier), to_checksum_address(m.buyer)):
        raise Forbidden("only the manifest's supplier or buyer may relay it")
    if not (settings.escrow_address and settings.relayer_address):
        raise Unavailable("no escrow contract or relayer configured")
    sig = bytes.fromhex(body.signature[2:])
    if int.from_bytes(sig[32:64], "big") > eip712.SECP256K1_HALF_N:
        raise ValidationProblem(
            "high-s signatures are not accepted", errors=[{"pointer": "/signature", "detail": "high-s"}]
        )
    digest = manifest_digest(m, settings.chain_id, settings.escrow_address)
    signer = Account._recover_hash(digest, signature=sig)
    if signer != to_checksum_address(m.supplier):
        raise ValidationProblem(
            "the signature was not made by the manifest's supplier",
            errors=[{"pointer": "/signature", "detail": f"recovers to {signer}"}],
        )
    from chain.outbox import OutboxIntent, OutboxState

    manifest_type = eip712.abi_tuple_type("Manifest")
    selector = keccak(f"createShipment({manifest_type},bytes)".encode())[:4]
    data = selector + encode([manifest_type, "bytes"], [eip712.as_tuple("Manifest", _message(m)), sig])
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
    return RelayPublic(shipment_id=m.shipmentId.lower(), outbox_key=key, state=exists or "intent")


@router.get(
    "/{shipment_id}", response_model=ShipmentPublic, responses={404: {"description": "No such shipment"}}
)
def shipment_status(shipment_id: ShipmentId, session: SessionDep, partner: CurrentPartner) -> ShipmentPublic:
    """State, amounts, penalties, payments and the telemetry summary (parties and auditors only)."""
    from chain.readmodel import Breach
    from chain.readmodel import TelemetryBatchPosted as TelemetryBatch

    s = _visible(session, shipment_id, partner)
    batches = session.scalars(select(TelemetryBatch).where(TelemetryBatch.shipment_id == s.shipment_id)).all()
    breaches = session.scalars(select(Breach.episode).where(Breach.shipment_id == s.shipment_id)).all()
    summary = TelemetrySummary(
        batches=len(batches),
        readings=sum(b.count for b in batches),
        min_temp_c=min((b.min_temp for b in batches), default=None),
        max_temp_c=max((b.max_temp for b in batches), default=None),
        window_start=min((b.window_start for b in batches), default=None),
        window_end=max((b.window_end for b in batches), default=None),
        breaches=len(breaches),
    )
    if summary.min_temp_c is not None and summary.max_temp_c is not None:
        summary.min_temp_c /= 100
        summary.max_temp_c /= 100
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
        telemetry=summary,
    )
