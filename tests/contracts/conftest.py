"""Fixtures for the contract behaviour suite: roles, deployments, and factories of shipments.

Deployments are module-scoped; Ape's pytest plugin snapshots the in-process chain around each
test, so every test starts from the same freshly deployed system.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from chain import eip712
from chain.merkle import MerkleTree
from chain.roles import (
    AUDITOR_ROLE,
    CARRIER_ROLE,
    DEFAULT_ADMIN_ROLE,
    ORACLE_ROLE,
    RECORDER_ROLE,
    RELAYER_ROLE,
    RETAILER_ROLE,
    SUPPLIER_ROLE,
)
from tests.contracts.eip712 import Reading

# The role IDs come from chain.roles, so these suites exercise the contracts' role checks with the IDs
# that every Python process uses.
__all__ = [
    "AUDITOR_ROLE",
    "CARRIER_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "ORACLE_ROLE",
    "RECORDER_ROLE",
    "RELAYER_ROLE",
    "RETAILER_ROLE",
    "SUPPLIER_ROLE",
]

HOUR = 3600
DAY = 24 * HOUR
AMOUNT = 1_000 * 10**6  # 1,000 TUSD (6 decimals)
PENALTY = 150 * 10**6
MIN_TEMP, MAX_TEMP = 200, 800  # 2.00 °C .. 8.00 °C
CUSTODY_BEFORE_NOW = 2 * DAY  # how long ago `shipment_in` picked a shipment up


class State(IntEnum):
    NONE = 0
    CREATED = 1
    FUNDED = 2
    IN_TRANSIT = 3
    DELIVERED = 4
    RELEASED = 5
    REFUNDED = 6
    CANCELLED = 7
    DISPUTED = 8
    RESOLVED = 9


def state_bits(*states: State) -> bytes:
    """The `expectedStates` bitmap of ShipmentUnexpectedState."""
    return sum(1 << s for s in states).to_bytes(32, "big")


# ------------------------------------------------------------------ roles


@pytest.fixture(scope="session")
def admin(accounts: Any) -> Any:
    return accounts[0]


@pytest.fixture(scope="session")
def supplier(accounts: Any) -> Any:
    return accounts[1]


@pytest.fixture(scope="session")
def carrier(accounts: Any) -> Any:
    return accounts[2]


@pytest.fixture(scope="session")
def retailer(accounts: Any) -> Any:
    return accounts[3]


@pytest.fixture(scope="session")
def oracle(accounts: Any) -> Any:
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts: Any) -> Any:
    return accounts[5]


@pytest.fixture(scope="session")
def auditor(accounts: Any) -> Any:
    return accounts[6]


@pytest.fixture(scope="session")
def carrier2(accounts: Any) -> Any:
    """A second carrier, for hand-overs between carriers."""
    return accounts[7]


@pytest.fixture(scope="session")
def account_of(accounts: Any) -> Callable[[Any], Any]:
    """account_of(address or account) -> the test account with that address."""
    by_address = {a.address: a for a in accounts[:10]}

    def lookup(who: Any) -> Any:
        return by_address[str(who.address if hasattr(who, "address") else who)]

    return lookup


@pytest.fixture(scope="session")
def device_keys() -> list[Any]:
    """Signing keys of IoT temperature loggers (deterministic, never used to send transactions)."""
    return [Account.from_key(keccak(text=f"tracechain test device {i}")) for i in range(3)]


@pytest.fixture(scope="session")
def device(device_keys: list[Any]) -> Any:
    return device_keys[0]


# ------------------------------------------------------------------ deployments


@pytest.fixture(scope="module")
def registry(
    project: Any,
    admin: Any,
    supplier: Any,
    carrier: Any,
    carrier2: Any,
    retailer: Any,
    oracle: Any,
    auditor: Any,
    device_keys: list[Any],
) -> Any:
    r = admin.deploy(project.PartnerRegistry, HOUR, admin)
    r.admitPartner(supplier, "Acme Dairy", ["4012345"], [SUPPLIER_ROLE, RECORDER_ROLE], sender=admin)
    r.admitPartner(carrier, "Cold Freight", ["4098765"], [CARRIER_ROLE, RECORDER_ROLE], sender=admin)
    r.admitPartner(carrier2, "Last Mile", ["4098766"], [CARRIER_ROLE], sender=admin)
    r.admitPartner(retailer, "Corner Grocer", ["4055555"], [RETAILER_ROLE], sender=admin)
    r.admitPartner(auditor, "Food Safety Audit", [], [AUDITOR_ROLE], sender=admin)
    r.grantRole(ORACLE_ROLE, oracle, sender=admin)
    # Device 0 and 1 belong to the carrier; device 2 is registered, then switched off.
    for key in device_keys:
        r.registerDevice(key.address, carrier, sender=admin)
    r.setDeviceActive(device_keys[2].address, False, sender=admin)
    return r


@pytest.fixture(scope="module")
def ledger(project: Any, admin: Any, registry: Any, escrow: Any) -> Any:
    return admin.deploy(project.TraceabilityLedger, registry, escrow)


@pytest.fixture(scope="module")
def escrow(project: Any, admin: Any, registry: Any) -> Any:
    return admin.deploy(project.ShipmentEscrow, registry)


@pytest.fixture(scope="module")
def token(project: Any, admin: Any, escrow: Any) -> Any:
    """The settlement token, approved by the consortium."""
    t = admin.deploy(project.TestToken, "Test USD", "TUSD")
    escrow.setTokenApproved(t, True, sender=admin)
    return t


@pytest.fixture(scope="module", autouse=True)
def system(
    admin: Any,
    supplier: Any,
    carrier: Any,
    carrier2: Any,
    retailer: Any,
    oracle: Any,
    stranger: Any,
    auditor: Any,
    device_keys: list[Any],
    device: Any,
    registry: Any,
    ledger: Any,
    escrow: Any,
    token: Any,
    account_of: Any,
    make_manifest: Any,
    sign_manifest: Any,
    create_shipment: Any,
    fund: Any,
    sign_handover: Any,
    hand_over: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
) -> None:
    """Sets up every role and deployment before the module's first test, so that Ape's chain
    isolation snapshots once per module instead of rebasing fixtures test by test."""


# ------------------------------------------------------------------ factories


@pytest.fixture(scope="module")
def sign_manifest(chain: Any, escrow: Any, supplier: Any) -> Callable[..., bytes]:
    """sign_manifest(manifest, signer=supplier, chain_id=..., verifying_contract=escrow) -> signature."""

    def sign(
        manifest: dict[str, Any],
        signer: Any = None,
        chain_id: int | None = None,
        verifying_contract: str | None = None,
    ) -> bytes:
        dom = eip712.domain(
            chain.chain_id if chain_id is None else chain_id, verifying_contract or escrow.address
        )
        return eip712.sign((signer or supplier).private_key, "Manifest", dom, manifest)

    return sign


def manifest_args(manifest: dict[str, Any]) -> tuple[Any, ...]:
    """The manifest as the contract's struct tuple."""
    return eip712.as_tuple("Manifest", manifest)


def _address_of(value: Any) -> Any:
    if isinstance(value, list):
        return [_address_of(v) for v in value]
    return value.address if hasattr(value, "address") else value


@pytest.fixture(scope="module")
def make_manifest(
    chain: Any, escrow: Any, token: Any, supplier: Any, retailer: Any, carrier: Any, device_keys: list[Any]
) -> Callable[..., dict[str, Any]]:
    """make_manifest(**overrides) -> a manifest with the supplier's next nonce and a fresh ID; its
    devices are the three test devices (the carrier's)."""
    ids = itertools.count()

    def make(**overrides: Any) -> dict[str, Any]:
        m = {
            "shipmentId": keccak(text=f"urn:tracechain:shipment:{next(ids)}"),
            "itemsHash": keccak(text="https://id.gs1.org/01/09506000134352/10/LOT42"),
            "supplier": supplier.address,
            "buyer": retailer.address,
            "carrier": carrier.address,
            "devices": [k.address for k in device_keys],
            "token": token.address,
            "amount": AMOUNT,
            "penalty": PENALTY,
            "minTemp": MIN_TEMP,
            "maxTemp": MAX_TEMP,
            "deadline": chain.pending_timestamp + 7 * DAY,
            "disputeWindow": 2 * DAY,
            "nonce": escrow.nonces(overrides.get("supplier", supplier.address)),
        }
        m.update({k: _address_of(v) for k, v in overrides.items()})
        return m

    return make


@pytest.fixture(scope="module")
def create_shipment(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    stranger: Any,
) -> Callable[..., dict[str, Any]]:
    """create_shipment(**overrides) -> the manifest, after a relayer (anyone) submitted it."""

    def create(**overrides: Any) -> dict[str, Any]:
        m = make_manifest(**overrides)
        escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)
        return m

    return create


@pytest.fixture(scope="module")
def fund(escrow: Any, account_of: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    """fund(manifest): the buyer mints, approves and deposits the amount."""

    def do_fund(m: dict[str, Any]) -> None:
        buyer = account_of(m["buyer"])
        tok = escrow.chain_manager.contracts.instance_at(m["token"])
        tok.mint(buyer, m["amount"], sender=buyer)
        tok.approve(escrow, m["amount"], sender=buyer)
        escrow.fund(m["shipmentId"], sender=buyer)

    return do_fund


@pytest.fixture(scope="module")
def sign_handover(chain: Any, escrow: Any) -> Callable[..., bytes]:
    """sign_handover(signer, shipment_id, from, to, seq, deadline, chain_id=..., verifying_contract=...)."""

    def sign(
        signer: Any,
        shipment_id: bytes,
        frm: Any,
        to: Any,
        seq: int,
        deadline: int,
        chain_id: int | None = None,
        verifying_contract: str | None = None,
    ) -> bytes:
        dom = eip712.domain(
            chain.chain_id if chain_id is None else chain_id, verifying_contract or escrow.address
        )
        msg = {"shipmentId": shipment_id, "from": str(frm), "to": str(to), "seq": seq, "deadline": deadline}
        return eip712.sign(signer.private_key, "CustodyHandover", dom, msg)

    return sign


@pytest.fixture(scope="module")
def hand_over(
    chain: Any, escrow: Any, account_of: Callable[[Any], Any], sign_handover: Callable[..., bytes]
) -> Callable[..., Any]:
    """hand_over(manifest, to, by=current custodian) -> receipt; the other party signs consent."""

    def do(m: dict[str, Any], to: Any, by: Any = None) -> Any:
        sid = m["shipmentId"]
        s = escrow.shipment(sid)
        frm = account_of(s.custodian)
        to = account_of(to)
        by = by or frm
        other = to if by == frm else frm
        deadline = chain.pending_timestamp + HOUR
        consent = sign_handover(other, sid, frm.address, to.address, s.custodySeq, deadline)
        return escrow.handOver(sid, to, deadline, consent, sender=by)

    return do


@pytest.fixture(scope="module")
def shipment_in(
    create_shipment: Callable[..., dict[str, Any]],
    fund: Callable[[dict[str, Any]], None],
    hand_over: Callable[..., Any],
    escrow: Any,
    account_of: Callable[[Any], Any],
) -> Callable[..., dict[str, Any]]:
    """shipment_in(State.X, **overrides) -> a manifest whose shipment has reached state X.

    A shipment in transit was picked up two days ago (so readings of the last two days are in
    custody); a delivered one was delivered now, two days after pickup.
    """

    def reach(state: State, **overrides: Any) -> dict[str, Any]:
        m = create_shipment(**overrides)
        if state >= State.FUNDED:
            fund(m)
        if state >= State.IN_TRANSIT:
            hand_over(m, m["carrier"])
            escrow.chain_manager.pending_timestamp += CUSTODY_BEFORE_NOW
        if state >= State.DELIVERED:
            escrow.confirmDelivery(m["shipmentId"], sender=account_of(m["buyer"]))
        assert escrow.shipment(m["shipmentId"]).state == state
        return m

    return reach


@pytest.fixture(scope="module")
def post_readings(chain: Any, escrow: Any, oracle: Any, device_keys: list[Any]) -> Callable[..., Any]:
    """post_readings(manifest, temperatures, device=device_keys[0], start=now) -> (batch, readings, tree).

    Builds device-signed readings one minute apart, their Merkle tree, and posts the batch as the oracle.
    """

    def post(
        m: dict[str, Any],
        temperatures: list[int],
        device: Any = None,
        start: int | None = None,
        post: bool = True,
    ) -> tuple[tuple[Any, ...], list[Reading], MerkleTree]:
        dev = device or device_keys[0]
        t0 = chain.pending_timestamp if start is None else start
        readings = [
            Reading(
                dev.address, counter=i + 1, timestamp=t0 + 60 * i, shipmentId=m["shipmentId"], temperature=t
            )
            for i, t in enumerate(temperatures)
        ]
        tree = MerkleTree([r.leaf() for r in readings])
        batch = (
            tree.root,
            len(readings),
            t0,
            t0 + 60 * (len(readings) - 1),
            min(temperatures),
            max(temperatures),
        )
        if post:
            escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
        return batch, readings, tree

    return post


@pytest.fixture(scope="module")
def prove(chain: Any, escrow: Any, device_keys: list[Any], stranger: Any) -> Callable[..., Any]:
    """prove(manifest, batch, readings, tree, index, sender=stranger, signature=None) -> receipt."""
    keys = {k.address: k for k in device_keys}

    def do(
        m: dict[str, Any],
        batch: tuple[Any, ...],
        readings: list[Reading],
        tree: MerkleTree,
        index: int,
        sender: Any = None,
        signature: bytes | None = None,
    ) -> Any:
        r = readings[index]
        sig = (
            signature if signature is not None else r.sign(keys[r.device].key, chain.chain_id, escrow.address)
        )
        return escrow.proveBreach(
            m["shipmentId"], batch, r.as_tuple(), sig, tree.proof(index), sender=sender or stranger
        )

    return do
