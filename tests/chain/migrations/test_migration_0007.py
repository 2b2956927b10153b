"""Migration 0007 (telemetry readings written once, open batches), up and down, with data in the
tables, on SQLite and PostgreSQL; and the oracle adopting readings an older oracle left unbatched.

The batch stored before 0007 is built in the Merkle layout of that time (`PromotedOddTree`, 5
leaves so that it differs from OpenZeppelin's); a second batch is sealed in today's layout
(`MerkleTree`), as by an oracle run after issue 9. Proofs of both must lead to their roots, whether
computed by the live oracle or stored again by 0007's downgrade (with its own frozen Merkle code).
"""

from __future__ import annotations

import os
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from chain.db import MIGRATIONS_DIR, make_engine, make_sessionmaker, upgrade
from chain.hashing import keccak
from chain.merkle import MerkleTree, PromotedOddTree, verify
from chain.tables.telemetry import TelemetryBatch, TelemetryReading
from oracles.telemetry.batcher import reading_proof
from oracles.telemetry.chain import TelemetryChain
from oracles.telemetry.ingest import Ingestor
from oracles.telemetry.pool import WorkerPool
from oracles.telemetry.verifier import Limits

SHIPMENT = b"\x51" * 32


def downgrade(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    command.downgrade(cfg, revision)


def insert_reading(conn: Any, i: int, batch_id: int | None, leaf: int | None, proof: bytes | None) -> bytes:
    sh = keccak(b"reading-%d" % i)
    conn.execute(
        text(
            "INSERT INTO telemetry_readings (device, counter, timestamp, shipment_id, temperature, humidity,"
            " latitude, longitude, signature, struct_hash, received_at, batch_id, leaf_index, proof)"
            " VALUES (:d, :c, 1700000000, :s, 500, 5000, 0, 0, :sig, :sh, :at, :b, :l, :p)"
        ),
        {
            "d": b"\x01" * 20,
            "c": i + 1,
            "s": SHIPMENT,
            "sig": os.urandom(65),
            "sh": sh,
            "at": 1700000000.0 + i,
            "b": batch_id,
            "l": leaf,
            "p": proof,
        },
    )
    return sh


new_sealed = [keccak(b"new-reading-%d" % i) for i in range(5)]
new_tree = MerkleTree([keccak(h) for h in new_sealed])


def insert_new_reading(conn: Any, counter: int, batch_id: int, leaf: int) -> None:
    """A reading of the batch sealed in OpenZeppelin's layout (no proof column since 0007)."""
    conn.execute(
        text(
            "INSERT INTO telemetry_readings (device, counter, timestamp, shipment_id, temperature, humidity,"
            " latitude, longitude, signature, struct_hash, received_at, batch_id, leaf_index)"
            " VALUES (:d, :c, 1700000000, :s, 500, 5000, 0, 0, :sig, :sh, 1700000000.0, :b, :l)"
        ),
        {
            "d": b"\x02" * 20,
            "c": counter,
            "s": SHIPMENT,
            "sig": os.urandom(65),
            "sh": new_sealed[leaf],
            "b": batch_id,
            "l": leaf,
        },
    )


def columns(engine: Engine, table: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: cast(dict[str, Any], c) for c in inspect(engine).get_columns(table)}


def test_0007_keeps_every_reading_and_the_oracle_adopts_the_unbatched(database_url: str) -> None:
    upgrade(database_url, "0006_auth_nonces")
    engine = make_engine(database_url)
    sealed = [keccak(b"reading-%d" % i) for i in range(5)]
    tree = PromotedOddTree([keccak(h) for h in sealed])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO telemetry_batches (shipment_id, seq, root, count, window_start, window_end,"
                " min_temp, max_temp, state, tx_key, first_received_at, sealed_at)"
                " VALUES (:s, 1, :r, 5, 1, 2, 500, 500, 'anchored', 'telemetry:x:1', 1.0, 2.0)"
            ),
            {"s": SHIPMENT, "r": tree.root},
        )
        old = conn.execute(text("SELECT id FROM telemetry_batches")).scalar_one()
        for i in range(5):
            insert_reading(conn, i, old, i, b"".join(tree.proof(i)))
        for i in range(5, 8):  # stored by the old oracle, not yet batched
            insert_reading(conn, i, None, None, None)
    engine.dispose()

    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        cols = columns(engine, "telemetry_readings")
        assert "proof" not in cols
        assert columns(engine, "telemetry_batches")["root"]["nullable"]
        sessions = make_sessionmaker(engine)
        # The old batch's proofs are now computed from its leaves, and still lead to its root.
        with sessions() as s:
            for i in range(5):
                assert verify(reading_proof(s, old, i), tree.root, keccak(sealed[i]))
        # Starting the oracle puts the unbatched readings in an open batch, in arrival order.
        ingestor = Ingestor(sessions, cast(TelemetryChain, None), WorkerPool(0, Limits()), batch_max_size=2)
        with sessions() as s:
            adopted = s.query(TelemetryReading).filter(TelemetryReading.counter > 5).all()
            assert all(r.batch_id is not None for r in adopted)
            batches = {r.batch_id: s.get(TelemetryBatch, r.batch_id) for r in adopted}
            assert {b.state for b in batches.values() if b is not None} == {"open"}
            assert sorted(b.seq for b in batches.values() if b is not None) == [2, 3]  # after seq 1
            by_batch: dict[int | None, list[int | None]] = {}
            for r in sorted(adopted, key=lambda r: r.counter):
                by_batch.setdefault(r.batch_id, []).append(r.leaf_index)
            assert sorted(by_batch.values()) == [[0], [0, 1]]  # max size 2: a full one and an open one
        assert len(ingestor.due_batches(now=0.0, window_s=1e9)) == 1  # the full one is due at once
        assert len(ingestor.due_batches(now=0.0, window_s=1e9, force=True)) == 1
        # A batch sealed after issue 9, in OpenZeppelin's layout.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO telemetry_batches (shipment_id, seq, root, count, window_start, window_end,"
                    " min_temp, max_temp, state, tx_key, first_received_at, sealed_at)"
                    " VALUES (:s, 9, :r, 5, 1, 2, 500, 500, 'anchored', 'telemetry:x:9', 1.0, 2.0)"
                ),
                {"s": SHIPMENT, "r": new_tree.root},
            )
            new = conn.execute(text("SELECT id FROM telemetry_batches WHERE seq = 9")).scalar_one()
            for i in range(5):
                insert_new_reading(conn, 100 + i, new, i)
        with sessions() as s:
            for i in range(5):
                assert verify(reading_proof(s, new, i), new_tree.root, keccak(new_sealed[i]))
    finally:
        engine.dispose()

    # Downgrade: open batches are dissolved and every sealed batch's proofs are stored again.
    downgrade(database_url, "0006_auth_nonces")
    engine = make_engine(database_url)
    try:
        assert "proof" in columns(engine, "telemetry_readings")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM telemetry_batches")).scalar() == 2
            rows = conn.execute(
                text("SELECT counter, batch_id, proof, struct_hash FROM telemetry_readings ORDER BY counter")
            ).all()
        assert [r[1] for r in rows] == [old] * 5 + [None] * 3 + [new] * 5
        for counter, batch_id, proof, sh in rows[:5] + rows[8:]:
            root = tree.root if batch_id == old else new_tree.root
            siblings = [bytes(proof)[i : i + 32] for i in range(0, len(proof), 32)]
            assert verify(siblings, root, keccak(bytes(sh))), counter
    finally:
        engine.dispose()
