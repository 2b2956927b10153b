"""Contract wrappers: validated addresses, pre-flight errors, decoded reads, events and reverts."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from chain.contracts import (
    ERC20,
    Anchor,
    Approval,
    ContractCall,
    PartnerRegistry,
    Reading,
    ShipmentEscrow,
    ShipmentState,
    TelemetryBatch,
    TestToken,
    TraceabilityLedger,
    role,
)
from chain.deploy import Deployment
from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    InvalidAddress,
    LedgerEventAlreadyAnchored,
    NoContractCode,
    RegistryInvalidPartner,
    RegistryInvalidPrefix,
    RegistryPartnerExists,
    RegistryPrefixNotHeld,
    RegistryPrefixOverlap,
    RegistryRestrictedPrefix,
    RegistryUnknownPartner,
)
from chain.keys import dev_account
from chain.manifest import Manifest, manifest_digest, sign_manifest
from chain.transact import TxRequest, send_and_wait
from tests.chain.support import admin, deployed, service
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil
SUPPLIER, STRANGER = dev_account(3), dev_account(9)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return deployed(anvil.w3(), tmp_path_factory.mktemp("wrappers"))


@pytest.fixture(scope="module")
def registry(anvil: AnvilNode, deployment: Deployment) -> PartnerRegistry:
    return PartnerRegistry(anvil.w3(), deployment.address("PartnerRegistry"))


def test_wrapper_rejects_bad_address_and_missing_code(anvil: AnvilNode) -> None:
    with pytest.raises(InvalidAddress):
        PartnerRegistry(anvil.w3(), "0x1234")
    with pytest.raises(NoContractCode):
        PartnerRegistry(anvil.w3(), "0x" + "12" * 20)


def test_admit_partner_returns_partner_and_events(anvil: AnvilNode, registry: PartnerRegistry) -> None:
    w3 = anvil.w3()
    request = registry.admit_partner(
        SUPPLIER.address, "Acme Farms", ["0614141"], [role("supplier")], sender=admin().address
    )
    mined = send_and_wait(w3, admin(), request)
    partner = registry.partner(SUPPLIER.address)
    assert (partner.name, partner.active, partner.admitted) == ("Acme Farms", True, True)
    assert registry.prefixes_of(SUPPLIER.address) == ["0614141"]
    events = registry.decode_events(mined.logs)
    assert [e.name for e in events] == ["PartnerAdmitted", "PrefixAssigned", "RoleGranted"]
    assert events[0].args == {"account": SUPPLIER.address, "name": "Acme Farms"}
    assert events[1].args == {"account": SUPPLIER.address, "prefix": "0614141"}
    assert isinstance(events[2].args["role"], bytes) and events[0].block_number == mined.block_number
    assert registry.has_role(role("SUPPLIER_ROLE"), SUPPLIER.address)


def test_registry_preflight_raises_typed_errors(registry: PartnerRegistry) -> None:
    with pytest.raises(RegistryPartnerExists) as exists:
        registry.admit_partner(SUPPLIER.address, "Acme", [], [], sender=admin().address)
    assert exists.value.account == SUPPLIER.address
    with pytest.raises(RegistryInvalidPartner):
        registry.admit_partner(STRANGER.address, "", [], [], sender=admin().address)
    with pytest.raises(RegistryInvalidPrefix):
        registry.admit_partner(STRANGER.address, "X", ["1"], [], sender=admin().address)
    with pytest.raises(RegistryRestrictedPrefix):
        registry.assign_prefix(SUPPLIER.address, "0412", sender=admin().address)
    with pytest.raises(RegistryPrefixOverlap) as overlap:
        registry.admit_partner(STRANGER.address, "X", ["06141410"], [], sender=admin().address)
    assert (overlap.value.prefix, overlap.value.holder) == ("06141410", SUPPLIER.address)
    with pytest.raises(RegistryPrefixNotHeld):
        registry.revoke_prefix(SUPPLIER.address, "0614142", sender=admin().address)
    with pytest.raises(AccessControlUnauthorizedAccount) as denied:
        registry.admit_partner(STRANGER.address, "X", [], [], sender=STRANGER.address)
    assert denied.value.needed_role == bytes(32)
    with pytest.raises(RegistryUnknownPartner):
        registry.register_device(dev_account(8).address, STRANGER.address, sender=admin().address)


def test_brand_owner_of_keys_and_links_single_and_batched(registry: PartnerRegistry) -> None:
    keys = [
        "https://example.com/01/10614141000019/21/a%2Fb",  # indicator digit 1, prefix 0614141
        "urn:epc:id:sscc:0614141.1234567890",
        "0614141000005",  # a GLN
        "https://id.gs1.org/01/09506000134352",  # 950600: nobody's
        "urn:uuid:not-a-gs1-key",
    ]
    owners = registry.brand_owners(keys)
    assert owners == {k: registry.brand_owner(k) for k in keys}
    assert list(owners.values()) == [SUPPLIER.address] * 3 + [None, None]


def test_ledger_anchor_preflight_and_decoded_revert(anvil: AnvilNode, deployment: Deployment) -> None:
    w3 = anvil.w3()
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    event_id = keccak(text="urn:epcis:1")
    mined = send_and_wait(w3, service(), ledger.anchor_event(event_id, sender=service().address))
    assert ledger.anchor_of(event_id, service().address) == Anchor(service().address, mined.block_number)
    assert ledger.anchors_of(event_id) == [Anchor(service().address, mined.block_number)]
    assert ledger.decode_events(mined.logs)[0].args == {"eventId": event_id, "recorder": service().address}
    with pytest.raises(LedgerEventAlreadyAnchored) as pre:
        ledger.anchor_event(event_id, sender=service().address)
    assert pre.value.event_id == event_id
    # Bypassing the pre-flight check: the node's revert is decoded into the same leaf, nothing sent.
    nonce = w3.eth.get_transaction_count(service().address)
    with pytest.raises(LedgerEventAlreadyAnchored):
        send_and_wait(w3, service(), TxRequest(ledger.address, ledger.calldata("anchorEvent", event_id)))
    assert w3.eth.get_transaction_count(service().address) == nonce
    # Only recorders anchor: the wrapper's pre-flight and the contract refuse anyone else alike.
    with pytest.raises(AccessControlUnauthorizedAccount) as denied:
        ledger.anchor_event(keccak(b"x"), sender=STRANGER.address)
    assert denied.value.account == STRANGER.address and denied.value.needed_role == keccak(
        text="RECORDER_ROLE"
    )
    with pytest.raises(AccessControlUnauthorizedAccount) as refused:
        send_and_wait(w3, STRANGER, TxRequest(ledger.address, ledger.calldata("anchorEvent", keccak(b"x"))))
    assert refused.value.account == STRANGER.address
    assert not ledger.anchor_of(keccak(b"x"), STRANGER.address).anchored


def test_manifest_signature_matches_contract_digest(anvil: AnvilNode, deployment: Deployment) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    token = TestToken(w3, deployment.address("TestToken"))
    manifest = Manifest(
        keccak(b"s1"),
        keccak(b"items"),
        SUPPLIER.address,
        dev_account(4).address,
        dev_account(5).address,
        (dev_account(6).address,),
        token.address,
        1_000_000,
        10_000,
        -200,
        800,
        2**40,
        3600,
        0,
    )
    digest = manifest_digest(manifest, w3.eth.chain_id, escrow.address)
    assert escrow.manifest_digest(manifest) == digest
    signature = sign_manifest(SUPPLIER, manifest, w3.eth.chain_id, escrow.address)
    assert len(signature) == 65
    assert escrow.shipment(manifest.shipment_id).state is ShipmentState.NONE
    assert token.balance_of(SUPPLIER.address) == 0


def test_calldata_equals_web3_encoding_and_no_function_is_overloaded(
    anvil: AnvilNode, deployment: Deployment, registry: PartnerRegistry
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    token = TestToken(w3, deployment.address("TestToken"))
    for wrapper in (escrow, ledger, registry, token):  # calldata() resolves a function by its name
        names = [e["name"] for e in wrapper.abi if e["type"] == "function"]
        assert len(names) == len(set(names)), wrapper.NAME
    sid, eid = keccak(b"shipment"), keccak(b"event")
    batch = TelemetryBatch(keccak(b"root"), 3, 10, 20, -150, 900)
    reading = Reading(SUPPLIER.address, 7, 15, sid, -300, 5000, 52_520_000, -13_405_000)
    proof = [keccak(b"p1"), keccak(b"p2")]
    cases = [
        (escrow.post_telemetry_calldata(sid, batch), escrow, "postTelemetry", [sid, batch.as_tuple()]),
        (
            escrow.prove_breach_calldata(sid, batch, reading, b"\x01" * 65, proof),
            escrow,
            "proveBreach",
            [sid, batch.as_tuple(), reading.as_tuple(), b"\x01" * 65, proof],
        ),
        (escrow.confirm_delivery_calldata(sid), escrow, "confirmDelivery", [sid]),
        (ledger.anchor_event_calldata(eid), ledger, "anchorEvent", [eid]),
        (
            registry.calldata("admitPartner", SUPPLIER.address, "Acme", ["0614141"], [role("supplier")]),
            registry,
            "admitPartner",
            [SUPPLIER.address, "Acme", ["0614141"], [role("supplier")]],
        ),
        (token.approve(escrow.address, 5).data, token, "approve", [escrow.address, 5]),
    ]
    for data, wrapper, fn, args in cases:
        assert data == bytes.fromhex(wrapper.contract.encode_abi(fn, args)[2:]), fn


def test_device_statuses_in_one_request_agree_with_single_reads(
    anvil: AnvilNode, registry: PartnerRegistry
) -> None:
    w3, owner, device = anvil.w3(), dev_account(6), dev_account(7).address
    send_and_wait(w3, admin(), registry.admit_partner(owner.address, "Owner", [], [], sender=admin().address))
    send_and_wait(w3, admin(), registry.register_device(device, owner.address, sender=admin().address))
    statuses = registry.device_statuses([device, STRANGER.address])
    assert [(s.address, s.registered, s.active) for s in statuses] == [
        (device, True, True),
        (STRANGER.address, False, False),
    ]
    for s in statuses:
        assert (s.registered, s.active) == (
            registry.device(s.address).registered,
            registry.is_active_device(s.address),
        )


def test_escrow_calls_decode_to_the_shipment_they_name(anvil: AnvilNode, deployment: Deployment) -> None:
    escrow = ShipmentEscrow(anvil.w3(), deployment.address("ShipmentEscrow"))
    sid, carrier = keccak(b"s2"), dev_account(5).address
    hand_over = escrow.hand_over(sid, carrier.lower(), 2**40, b"\x01" * 65)
    assert hand_over.to == escrow.address
    assert ShipmentEscrow.decode_call(hand_over.data) == ContractCall(
        "handOver", {"id": sid, "to": carrier, "consentDeadline": 2**40, "consent": b"\x01" * 65}
    )
    for request in (hand_over, escrow.fund(sid), escrow.confirm_delivery(sid)):
        assert ShipmentEscrow.shipment_of_call(request.data) == sid
    assert escrow.fund(sid).data == ShipmentEscrow.calldata("fund", sid)  # no node needed to encode
    # Not exactly an escrow call naming a shipment: none.
    withdraw = ShipmentEscrow.calldata("withdraw", carrier)
    for data in (withdraw, escrow.fund(sid).data + b"\x00", b"\xde\xad\xbe\xef", b""):
        assert ShipmentEscrow.shipment_of_call(data) is None
    approve = ERC20.calldata("approve", escrow.address, 5)
    assert ShipmentEscrow.decode_call(approve) is None and ERC20.decode_approve(withdraw) is None
    assert ERC20.decode_approve(approve) == Approval(escrow.address, 5)
    # Calls with struct arguments decode too: a batch names its shipment; a manifest (its struct's
    # shipmentId) is read by manifest_of_call; a withdrawal names its token.
    batch = ShipmentEscrow.calldata("postTelemetry", sid, (b"\x01" * 32, 3, 1, 2, -5, 5))
    assert ShipmentEscrow.shipment_of_call(batch) == sid
    assert ShipmentEscrow.decode_call(batch + b"\x00") is None
    manifest = Manifest(
        sid, keccak(b"i"), carrier, carrier, carrier, (carrier,), carrier, 5, 1, -2, 3, 4, 5, 6
    )
    create = ShipmentEscrow.calldata("createShipment", manifest.as_tuple(), b"\x01" * 65)
    assert ShipmentEscrow.shipment_of_call(create) is None
    assert ShipmentEscrow.manifest_of_call(create) == manifest
    assert ShipmentEscrow.manifest_of_call(withdraw) is None
    assert ShipmentEscrow.token_of_withdraw(withdraw) == carrier
    assert ShipmentEscrow.token_of_withdraw(create) is None


def test_ledger_anchor_batch_calldata_needs_no_node(anvil: AnvilNode, deployment: Deployment) -> None:
    ledger = TraceabilityLedger(anvil.w3(), deployment.address("TraceabilityLedger"))
    root = keccak(b"batch")
    request = ledger.anchor_batch(root, 3, sender=service().address)
    assert request.data == TraceabilityLedger.anchor_batch_calldata(root, 3)
    assert TraceabilityLedger.decode_call(request.data) == ContractCall(
        "anchorBatch", {"root": root, "count": 3}
    )
    with pytest.raises(ValueError):
        TraceabilityLedger.anchor_batch_calldata(b"short", 3)


def test_dispute_wrappers_match_the_contract(anvil: AnvilNode, deployment: Deployment) -> None:
    from chain.contracts import escrow as escrow_module
    from chain.exceptions import (
        ShipmentInvalidDisputeEvidence,
        ShipmentInvalidDisputeReason,
        ShipmentTooMuchEvidence,
    )

    escrow = ShipmentEscrow(anvil.w3(), deployment.address("ShipmentEscrow"))
    fns = escrow.contract.functions
    for name in (
        "ARBITRATION_PERIOD",
        "MAX_DISPUTE_REASON",
        "MAX_DISPUTE_EVIDENCE",
        "MAX_DISPUTE_EVIDENCE_LENGTH",
    ):
        assert getattr(escrow_module, name) == getattr(fns, name)().call(), name
    sid = keccak(b"s3")
    dispute = escrow.dispute(sid, "warm", ["ipfs://x"])
    assert ShipmentEscrow.decode_call(dispute.data) == ContractCall(
        "dispute", {"id": sid, "reason": "warm", "evidence": ("ipfs://x",)}
    )
    for request in (dispute, escrow.resolve_dispute(sid, 5), escrow.settle_dispute(sid)):
        assert ShipmentEscrow.shipment_of_call(request.data) == sid
    with pytest.raises(ShipmentInvalidDisputeReason):
        escrow.dispute(sid, "", [])
    with pytest.raises(ShipmentTooMuchEvidence):
        escrow.dispute(sid, "warm", ["x"] * 17)
    with pytest.raises(ShipmentInvalidDisputeEvidence):
        escrow.dispute(sid, "warm", ["é" * 257])  # 514 bytes of UTF-8
    assert escrow.shipment(sid).disputed_at == 0 and escrow.shipment(sid).state == ShipmentState.NONE
