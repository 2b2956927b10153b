"""The read model: its migration, and every contract event decoded into it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, func, inspect, select
from sqlalchemy.orm import Session

from chain.db import Base, make_engine, upgrade
from chain.indexer import Indexer
from chain.tables import readmodel as rm
from chain.tables.disputes import Dispute
from tests.chain.consortium import ROLES, Consortium
from tests.chain.snapshots import applied_logs, chain_logs

pytestmark = pytest.mark.anvil

#: Read-model tables a later migration adds (the whole schema at head: tests/chain/tables).
LATER_TABLES = {"ownership_settlements"}  # 0008_ownership
READ_MODEL_TABLES = {
    m.local_table.name for m in Base.registry.mappers if m.class_.__module__ == "chain.tables.readmodel"
} - LATER_TABLES


def hexs(value: bytes) -> str:
    return "0x" + value.hex()


def test_upgrade_on_empty_database_creates_the_models_schema(database_url: str) -> None:
    upgrade(database_url, "0001_readmodel")
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == READ_MODEL_TABLES | {"alembic_version"}
        models = MetaData(naming_convention=Base.metadata.naming_convention)
        for name in READ_MODEL_TABLES:
            Base.metadata.tables[name].to_metadata(models)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), models)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    upgrade(database_url, "0001_readmodel")
    upgrade(database_url, "0001_readmodel")


def test_full_life_cycle_is_decoded_into_the_read_model(
    consortium: Consortium, sessions: Callable[[], Session]
) -> None:
    c = consortium
    ids = c.full_life_cycle()
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=0, window=5)
    applied = indexer.run_once()

    head = c.w3.eth.block_number
    expected = chain_logs(c.w3, c.addresses, c.deploy_block, head)
    found = applied_logs(sessions)
    assert applied == len(expected)
    assert set(found) == expected
    assert set(found.values()) == {1}
    assert indexer.cursor() == (head, hexs(c.w3.eth.get_block(head)["hash"]))
    assert indexer.run_once() == 0

    led, esc, reg = c.ledger.functions, c.escrow.functions, c.registry.functions
    with sessions() as s:
        partners = {p.account: p for p in s.scalars(select(rm.Partner))}
        assert {a: (p.name, p.gs1_key, p.active) for a, p in partners.items()} == {
            c.supplier: ("Acme Foods", "0614141", True),
            c.buyer: ("Fresh Mart", "0614142", True),
            c.carrier: ("Cold Haul", "0614143", True),
        }
        roles = {(r.role_name, r.account) for r in s.scalars(select(rm.RoleMember))}
        assert roles == {
            ("DEFAULT_ADMIN_ROLE", c.admin),
            ("SUPPLIER_ROLE", c.supplier),
            ("RECORDER_ROLE", c.supplier),
            ("RETAILER_ROLE", c.buyer),
            ("CARRIER_ROLE", c.carrier),
            ("ORACLE_ROLE", c.oracle),
        }
        for role_name, account in roles:
            assert reg.hasRole(ROLES.get(role_name, b"\0" * 32), account).call()
        auditor = ROLES["AUDITOR_ROLE"]
        revoked = select(rm.RoleChange).where(
            rm.RoleChange.granted.is_(False), rm.RoleChange.role == hexs(auditor)
        )
        assert s.scalars(revoked).one().account == c.carrier
        device = s.get(rm.Device, c.device)
        assert device is not None and (device.owner, device.active) == (c.carrier, True)
        assert s.scalar(select(func.count()).select_from(rm.DeviceChange)) == 3

        assert s.scalar(select(rm.AnchoredEvent.event_id)) == hexs(ids["event"])
        assert s.execute(select(rm.AnchoredBatch.root, rm.AnchoredBatch.count)).one() == (
            hexs(ids["root"]),
            3,
        )
        for name in ("lot", "item1", "item2", "pallet", "out1", "out2"):
            asset = s.get(rm.Asset, hexs(ids[name]))
            owner, _, _, lot = led.asset(ids[name]).call()
            assert asset is not None
            assert (asset.owner, asset.custodian, asset.lot) == (
                owner,
                owner,  # the ledger keeps no custody: the column follows the owner
                None if lot == b"\0" * 32 else hexs(lot),
            )
            parent = led.parentOf(ids[name]).call()
            assert asset.parent == (None if parent == b"\0" * 32 else hexs(parent))
        lot = s.get(rm.Asset, hexs(ids["lot"]))
        assert lot is not None and lot.recalled
        links = s.execute(
            select(rm.TransformationLink.direction, rm.TransformationLink.asset_id).order_by(
                rm.TransformationLink.position
            )
        ).all()
        assert links == [
            ("input", hexs(ids["item2"])),
            ("output", hexs(ids["out1"])),
            ("output", hexs(ids["out2"])),
        ]
        assert s.scalar(select(func.count()).select_from(rm.AggregationLink)) == 3
        recall = s.scalars(select(rm.AssetChange).where(rm.AssetChange.kind == "recalled")).one()
        assert (recall.asset_id, recall.reason) == (hexs(ids["lot"]), "listeria found in lot")

        for key in ("shipment", "refunded", "cancelled"):
            row = s.get(rm.Shipment, hexs(ids[key]))
            chain = esc.shipment(ids[key]).call()
            assert row is not None
            assert (
                row.supplier,
                row.deadline,
                row.buyer,
                row.dispute_window,
                row.carrier,
                row.custodian,
                row.custody_seq,
                row.token,
                row.min_temp,
                row.max_temp,
                row.amount,
                row.penalty,
                row.penalties,
                row.items_hash,
            ) == (
                chain[0],
                chain[1],
                chain[3],
                chain[4],
                chain[6],  # chain[5] is disputedAt
                chain[8],
                chain[9],
                chain[11],  # chain[10] is pickedUpAt
                chain[12],
                chain[13],
                chain[14],
                chain[15],
                chain[16],
                hexs(chain[17]),
            )
            assert (
                row.state
                == [
                    "None",
                    "Created",
                    "Funded",
                    "InTransit",
                    "Delivered",
                    "Released",
                    "Refunded",
                    "Cancelled",
                    "Disputed",
                    "Resolved",
                ][chain[2]]
            )
            assert (row.delivered_at or 0) == chain[7]
        shipment = s.get(rm.Shipment, hexs(ids["shipment"]))
        assert shipment is not None and (shipment.released_to_supplier, shipment.released_to_buyer) == (
            900,
            100,
        )
        settled = s.scalars(select(rm.OwnershipSettlement)).one()  # ownership followed payment
        assert (
            settled.shipment_id,
            settled.supplier,
            settled.buyer,
            settled.transferred,
            settled.skipped,
        ) == (
            hexs(ids["shipment"]),
            c.supplier,
            c.buyer,
            2,
            1,
        )
        skipped = s.scalars(select(rm.AssetChange).where(rm.AssetChange.kind == "not_settled")).one()
        assert (skipped.asset_id, skipped.from_account, skipped.to_account, skipped.reason) == (
            hexs(ids["item2"]),
            c.supplier,
            c.buyer,
            f"shipment {hexs(ids['shipment'])}: consumed by a transformation",
        )
        assert s.scalar(select(rm.Asset.owner).where(rm.Asset.asset_id == hexs(ids["out1"]))) == c.buyer
        assert s.scalar(select(func.count()).select_from(rm.CustodyHandover)) == 1
        assert s.scalar(select(func.count()).select_from(rm.TelemetryBatchPosted)) == 1
        breach = s.scalars(select(rm.Breach)).one()
        assert (breach.device, breach.temperature, breach.penalty, breach.counter) == (c.device, 950, 100, 1)
        assert sorted(
            s.execute(select(rm.Payment.kind, rm.Payment.to_supplier, rm.Payment.to_buyer)).all()
        ) == [("refunded", 0, 1_000), ("released", 900, 100)]
        assert s.execute(select(rm.Withdrawal.account, rm.Withdrawal.amount)).one() == (c.supplier, 900)
        for balance in s.scalars(select(rm.EscrowBalance)):
            assert balance.owed == esc.owed(balance.account, balance.token).call()
        assert {(b.account, b.owed) for b in s.scalars(select(rm.EscrowBalance))} == {
            (c.supplier, 0),
            (c.buyer, 1_100),
        }
        status = s.get(rm.ContractStatus, c.escrow.address)
        assert status is not None and status.paused is False
        assert [
            k for (k,) in s.execute(select(rm.ContractChange.kind).order_by(rm.ContractChange.block_number))
        ] == [
            "token_approved",  # the deployment approves the test token
            "paused",
            "unpaused",
            "token_unapproved",
            "token_approved",
            "admin_transfer_scheduled",
            "admin_transfer_cancelled",
        ]


def test_disputes_are_decoded_into_the_read_model(
    consortium: Consortium, sessions: Callable[[], Session]
) -> None:
    c = consortium
    ids = c.dispute_cycle()
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=0, window=5)
    indexer.run_once()

    esc = c.escrow.functions
    with sessions() as s:
        rows = {key: s.get(Dispute, hexs(sid)) for key, sid in ids.items()}
        for key, row in rows.items():
            assert row is not None
            assert (row.buyer, row.reason, json.loads(row.evidence)) == (
                c.buyer,
                f"{key}: arrived warm",
                ["ipfs://evidence", "sha256:00"],
            )
            assert row.raised_at == esc.shipment(ids[key]).call()[5]  # disputedAt
            shipment = s.get(rm.Shipment, hexs(ids[key]))
            assert shipment is not None and shipment.state == "Resolved"
        resolved, fallback = rows["resolved"], rows["fallback"]
        assert resolved is not None and fallback is not None
        assert (resolved.resolved_by, resolved.to_supplier, resolved.to_buyer, resolved.fallback) == (
            c.arbiter,
            600,
            400,
            False,
        )
        assert (fallback.resolved_by, fallback.to_supplier, fallback.to_buyer, fallback.fallback) == (
            c.carrier,
            1_000,
            0,
            True,
        )
        assert sorted(
            s.execute(select(rm.Payment.kind, rm.Payment.to_supplier, rm.Payment.to_buyer)).all()
        ) == [
            ("fallback", 1_000, 0),
            ("resolved", 600, 400),
        ]
        disputed = s.scalars(select(rm.ShipmentChange).where(rm.ShipmentChange.kind == "disputed")).all()
        assert {d.shipment_id for d in disputed} == {hexs(i) for i in ids.values()}
        for balance in s.scalars(select(rm.EscrowBalance)):
            assert balance.owed == esc.owed(balance.account, balance.token).call()
        assert {(b.account, b.owed) for b in s.scalars(select(rm.EscrowBalance))} == {
            (c.supplier, 1_600),
            (c.buyer, 400),
        }
