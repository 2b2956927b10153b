"""The reading codec and the Merkle tree against the real ShipmentEscrow on anvil."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from chain import eip712
from chain.artifacts import load_artifact
from chain.contracts import ShipmentEscrow
from chain.deploy import Deployment
from chain.exceptions import ContractError
from chain.merkle import MerkleTree, verify
from chain.transact import TxRequest, send_and_wait
from oracles.fleet import Fleet, Provisioner
from oracles.telemetry import codec
from oracles.telemetry.verifier import Limits, Reason, verify_records
from tests.contracts.eip712 import high_s
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil


def _readings(fleet: Fleet, n: int, breach_at: int, at: int | None = None) -> list[codec.Reading]:
    """`n` signed readings of the fleet's first device, a second apart up to now (or all taken at
    `at`), one of them (`breach_at`) out of band."""
    key = fleet.device_keys()[0]
    dev, sid = codec.address_of(key), fleet.shipment_ids()[0]
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    now = int(time.time())
    out = []
    for i in range(n):
        temp = 1500 if i == breach_at else 450 + i % 7 - 3
        out.append(
            codec.sign(
                codec.Reading(
                    dev,
                    i + 1,
                    now - n + i if at is None else at,
                    sid,
                    temp,
                    5123,
                    -33_868_800,
                    151_209_300 - i,
                ),
                key,
                dom,
            )
        )
    return out


def test_digest_matches_contract(anvil: AnvilNode, make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(1, 1)
    escrow = anvil.w3().eth.contract(address=fleet.escrow, abi=load_artifact("ShipmentEscrow")["abi"])
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    for r in _readings(fleet, 3, breach_at=1):
        assert escrow.functions.readingDigest(r.as_struct()).call() == codec.typed_digest(
            dom, codec.struct_hash(r)
        )
        assert codec.decode(codec.encode(r)) == r


def test_proof_from_tree_proves_breach_on_chain(
    anvil: AnvilNode, make_fleet: Callable[..., Fleet], oracle_account: LocalAccount, deployment: Deployment
) -> None:
    fleet = make_fleet(1, 1)
    w3 = anvil.w3()
    # Taken in custody: at the pickup (readings before it are no evidence).
    picked_up_at = ShipmentEscrow(w3, fleet.escrow).shipment(fleet.shipment_ids()[0]).picked_up_at
    readings = _readings(fleet, 37, breach_at=29, at=picked_up_at)
    tree = MerkleTree([codec.leaf(codec.struct_hash(r)) for r in readings])
    escrow = w3.eth.contract(address=fleet.escrow, abi=load_artifact("ShipmentEscrow")["abi"])
    sid = fleet.shipment_ids()[0]
    batch = (
        tree.root,
        len(readings),
        min(r.timestamp for r in readings),
        max(r.timestamp for r in readings),
        min(r.temperature for r in readings),
        max(r.temperature for r in readings),
    )
    post = bytes.fromhex(escrow.encode_abi("postTelemetry", args=[sid, batch])[2:])
    send_and_wait(w3, oracle_account, TxRequest(fleet.escrow, post))
    assert escrow.functions.isBatchPosted(sid, batch).call()
    for i, r in enumerate(readings):
        assert verify(tree.proof(i), tree.root, codec.leaf(codec.struct_hash(r)))

    breach = readings[29]
    data = bytes.fromhex(
        escrow.encode_abi(
            "proveBreach", args=[sid, batch, breach.as_struct(), breach.signature, tree.proof(29)]
        )[2:]
    )
    mined = send_and_wait(w3, oracle_account, TxRequest(fleet.escrow, data))
    events = escrow.events.BreachProven().process_receipt(w3.eth.get_transaction_receipt(mined.tx_hash))
    assert events[0].args.counter == 30 and events[0].args.temperature == 1500
    # The same episode cannot be charged twice.
    with pytest.raises(ContractError):
        send_and_wait(w3, oracle_account, TxRequest(fleet.escrow, data))


def test_verifier_rejects_high_s_and_foreign_domain(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(1, 1)
    r = _readings(fleet, 1, breach_at=-1)[0]
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    high = high_s(r.signature)
    twin = codec.Reading(
        *[
            getattr(r, f)
            for f in (
                "device",
                "counter",
                "timestamp",
                "shipment_id",
                "temperature",
                "humidity",
                "latitude",
                "longitude",
            )
        ],
        signature=high,
    )
    other = eip712.domain_separator(fleet.chain_id + 1, fleet.escrow)
    now = int(time.time())
    got = verify_records(
        [codec.encode(r), codec.encode(twin), b"\x02" + os.urandom(149), codec.encode(r)[:-1]],
        dom,
        now,
        Limits(),
    )
    assert [c for c, _ in got] == [Reason.ACCEPTED, Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.MALFORMED]
    assert verify_records([codec.encode(r)], other, now, Limits())[0][0] == Reason.BAD_SIGNATURE


def test_batched_device_statuses_agree_with_single_calls(
    anvil: AnvilNode, make_fleet: Callable[..., Fleet], provisioner: Provisioner
) -> None:
    from oracles.telemetry.chain import TelemetryChain

    fleet = make_fleet(3, 1)
    view = TelemetryChain(anvil.w3(), fleet.escrow, fleet.registry)
    devices = [codec.address_of(k) for k in fleet.device_keys()]
    provisioner.set_device_active(devices[1], False)
    asked = [*devices, os.urandom(20)]
    got = view.device_statuses(asked)
    assert got == [view.device_status(d) for d in asked]
    assert got == [(True, True), (True, False), (True, True), (False, False)]
