"""Signatures (RELIABILITY 1 and 2): replay, another chain or contract, high-s."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from tests.contracts.asserts import reverts
from tests.contracts.conftest import HOUR, State, manifest_args
from tests.contracts.eip712 import high_s

OTHER_CHAIN = 4242


def test_create_shipment_same_signature_twice_reverts(
    escrow: Any, make_manifest: Any, sign_manifest: Any, supplier: Any, stranger: Any
) -> None:
    m = make_manifest()
    sig = sign_manifest(m)
    escrow.createShipment(manifest_args(m), sig, sender=stranger)
    with reverts(escrow.ShipmentExists, shipmentId=m["shipmentId"]):
        escrow.createShipment(manifest_args(m), sig, sender=supplier)
    assert escrow.nonces(supplier) == 1


def test_create_shipment_used_nonce_reverts(
    escrow: Any, make_manifest: Any, sign_manifest: Any, supplier: Any, stranger: Any
) -> None:
    # A second manifest signed with the already used nonce is a replay too, whatever its ID.
    m = make_manifest()
    escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)
    again = make_manifest(nonce=0)
    with reverts(escrow.InvalidAccountNonce, account=supplier, currentNonce=1):
        escrow.createShipment(manifest_args(again), sign_manifest(again), sender=stranger)
    assert escrow.nonces(supplier) == 1


def test_create_shipment_signed_for_other_chain_reverts(
    escrow: Any, make_manifest: Any, sign_manifest: Any, supplier: Any, stranger: Any
) -> None:
    m = make_manifest()
    sig = sign_manifest(m, chain_id=OTHER_CHAIN)
    recovered = Account._recover_hash(escrow.manifestDigest(manifest_args(m)), signature=sig)
    with reverts(
        escrow.ShipmentInvalidSigner, shipmentId=m["shipmentId"], expected=supplier, recovered=recovered
    ):
        escrow.createShipment(manifest_args(m), sig, sender=stranger)
    assert escrow.nonces(supplier) == 0


def test_create_shipment_signed_for_other_contract_reverts(
    escrow: Any, ledger: Any, make_manifest: Any, sign_manifest: Any, supplier: Any, stranger: Any
) -> None:
    m = make_manifest()
    sig = sign_manifest(m, verifying_contract=ledger.address)
    recovered = Account._recover_hash(escrow.manifestDigest(manifest_args(m)), signature=sig)
    with reverts(
        escrow.ShipmentInvalidSigner, shipmentId=m["shipmentId"], expected=supplier, recovered=recovered
    ):
        escrow.createShipment(manifest_args(m), sig, sender=stranger)


def test_create_shipment_high_s_signature_reverts(
    escrow: Any, make_manifest: Any, sign_manifest: Any, supplier: Any, stranger: Any
) -> None:
    m = make_manifest()
    twin = high_s(sign_manifest(m))
    # The twin is a valid secp256k1 signature of the same digest (eth_account accepts it) ...
    assert Account._recover_hash(escrow.manifestDigest(manifest_args(m)), signature=twin) == supplier.address
    # ... but the contract rejects it.
    with reverts(escrow.ECDSAInvalidSignatureS, s=twin[32:64]):
        escrow.createShipment(manifest_args(m), twin, sender=stranger)
    assert escrow.nonces(supplier) == 0


def test_hand_over_consent_for_other_chain_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    sid, deadline = m["shipmentId"], chain.pending_timestamp + HOUR
    consent = sign_handover(carrier, sid, supplier, carrier, 0, deadline, chain_id=OTHER_CHAIN)
    recovered = Account._recover_hash(
        escrow.handoverDigest(sid, supplier, carrier, 0, deadline), signature=consent
    )
    with reverts(escrow.ShipmentInvalidSigner, shipmentId=sid, expected=carrier, recovered=recovered):
        escrow.handOver(sid, carrier, deadline, consent, sender=supplier)


def test_hand_over_consent_for_other_contract_reverts(
    chain: Any, escrow: Any, ledger: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    sid, deadline = m["shipmentId"], chain.pending_timestamp + HOUR
    consent = sign_handover(carrier, sid, supplier, carrier, 0, deadline, verifying_contract=ledger.address)
    recovered = Account._recover_hash(
        escrow.handoverDigest(sid, supplier, carrier, 0, deadline), signature=consent
    )
    with reverts(escrow.ShipmentInvalidSigner, shipmentId=sid, expected=carrier, recovered=recovered):
        escrow.handOver(sid, carrier, deadline, consent, sender=supplier)


def test_hand_over_high_s_consent_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    sid, deadline = m["shipmentId"], chain.pending_timestamp + HOUR
    twin = high_s(sign_handover(carrier, sid, supplier, carrier, 0, deadline))
    with reverts(escrow.ECDSAInvalidSignatureS, s=twin[32:64]):
        escrow.handOver(sid, carrier, deadline, twin, sender=supplier)


def test_prove_breach_reading_signed_for_other_chain_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, device: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [900])
    sig = readings[0].sign(device.key, OTHER_CHAIN, escrow.address)
    recovered = Account._recover_hash(escrow.readingDigest(readings[0].as_tuple()), signature=sig)
    with reverts(
        escrow.ShipmentInvalidSigner, shipmentId=m["shipmentId"], expected=device.address, recovered=recovered
    ):
        prove(m, batch, readings, tree, 0, signature=sig)


def test_prove_breach_high_s_reading_signature_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, device: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [900])
    twin = high_s(readings[0].sign(device.key, chain.chain_id, escrow.address))
    with reverts(escrow.ECDSAInvalidSignatureS, s=twin[32:64]):
        prove(m, batch, readings, tree, 0, signature=twin)
