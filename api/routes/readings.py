"""A shipment's telemetry readings and the proof of any one of them (parties and auditors only).

Mounted under ``/shipments`` by api.routes.shipments. The readings are the telemetry oracle's
accepted (device-signature-checked) ones; each carries its status against the batch roots the
indexer saw posted on chain (api.telemetry).
"""

from __future__ import annotations

from typing import Annotated, Any

from eth_account import Account
from fastapi import APIRouter, Path, Query

from api.deps import CurrentPartner, SessionDep, SettingsDep
from api.errors import NotFound
from api.escrow.visibility import visible_shipment
from api.models import ReadingProof, ReadingPublic, ReadingsPage, TelemetryBatchPublic
from api.telemetry import StoredBatch, StoredReading, get_reading, list_readings
from chain import eip712

router = APIRouter()

ShipmentId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
Device = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
Counter = Annotated[int, Path(ge=0, lt=2**64)]
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such shipment (or reading), or not one of the caller's"}
}


def _batch(b: StoredBatch | None) -> TelemetryBatchPublic | None:
    if b is None or b.root is None:  # open: no root to prove against yet
        return None
    return TelemetryBatchPublic(
        seq=b.seq,
        root="0x" + b.root.hex(),
        count=b.count,
        window_start=b.window_start,
        window_end=b.window_end,
        min_temp=b.min_temp,
        max_temp=b.max_temp,
        state=b.state,
        tx_hash=b.onchain_tx or b.tx_hash,
        block_number=b.block_number,
        posted_on_chain=b.onchain_tx is not None,
    )


def _public(r: StoredReading, min_temp: int, max_temp: int) -> ReadingPublic:
    return ReadingPublic(
        device=r.device_address,
        counter=r.counter,
        timestamp=r.timestamp,
        temperature_c=r.temperature / 100,
        humidity_pct=r.humidity / 100,
        latitude=r.latitude / 1e6,
        longitude=r.longitude / 1e6,
        in_band=min_temp <= r.temperature <= max_temp,
        status=r.status,
        batch_seq=None if r.batch is None else r.batch.seq,
    )


@router.get("/{shipment_id}/readings", response_model=ReadingsPage, responses=NOT_VISIBLE)
def shipment_readings(
    shipment_id: ShipmentId,
    session: SessionDep,
    partner: CurrentPartner,
    after: Annotated[int, Query(ge=0, lt=2**63, description="cursor: `next_after` of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    since: Annotated[int | None, Query(ge=0, lt=2**63, description="unix seconds, inclusive")] = None,
    until: Annotated[int | None, Query(ge=0, lt=2**63, description="unix seconds, inclusive")] = None,
) -> ReadingsPage:
    """The shipment's device readings in the order they were received (°C, % RH, degrees), each with
    whether it is within the manifest's band and its verification status (unbatched, pending,
    verified on chain, or tampered / invalid-proof)."""
    s = visible_shipment(session, shipment_id, partner)
    rows = list_readings(
        session, bytes.fromhex(s.shipment_id[2:]), after=after, limit=limit + 1, since=since, until=until
    )
    page = rows[:limit]
    return ReadingsPage(
        shipment_id=s.shipment_id,
        readings=[_public(r, s.min_temp, s.max_temp) for r in page],
        next_after=page[-1].id if len(rows) > limit else None,
    )


@router.get(
    "/{shipment_id}/readings/{device}/{counter}/proof", response_model=ReadingProof, responses=NOT_VISIBLE
)
def reading_proof(
    shipment_id: ShipmentId,
    device: Device,
    counter: Counter,
    session: SessionDep,
    settings: SettingsDep,
    partner: CurrentPartner,
) -> ReadingProof:
    """The proof of one reading (by device and counter): the ``Reading`` struct and the device's
    signature, the struct hash, the Merkle leaf ``keccak256(structHash)`` and proof, and the batch.
    To check it without this API: ``ShipmentEscrow.isBatchPosted(shipmentId, batch)`` must be true,
    ``MerkleProof.verify(proof, batch.root, leaf)`` must hold, and ``readingDigest(reading)`` must
    recover to the device (a registered device of the registry)."""
    s = visible_shipment(session, shipment_id, partner)
    r = get_reading(session, bytes.fromhex(s.shipment_id[2:]), bytes.fromhex(device[2:]), counter)
    if r is None:
        raise NotFound(f"no reading {counter} of device {device} in shipment {shipment_id}")
    signature_valid = False
    if settings.escrow_address and len(r.signature) == 65:
        digest = eip712.digest(
            "Reading", eip712.domain(settings.chain_id, settings.escrow_address), r.message()
        )
        try:
            signature_valid = Account._recover_hash(digest, signature=r.signature) == r.device_address
        except ValueError:
            signature_valid = False
    return ReadingProof(
        shipment_id=s.shipment_id,
        status=r.status,
        escrow=settings.escrow_address,
        chain_id=settings.chain_id,
        reading={**r.message(), "shipmentId": s.shipment_id},
        signature="0x" + r.signature.hex(),
        signature_valid=signature_valid,
        struct_hash="0x" + r.struct_hash.hex(),
        leaf="0x" + r.leaf.hex(),
        proof=["0x" + p.hex() for p in r.proof],
        batch=_batch(r.batch),
    )
