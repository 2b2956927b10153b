"""A paused escrow is waited out: readings taken while it is paused are stored, their batches wait
(none fails), and once it is unpaused every batch is anchored and the breach proven; nothing lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from chain import eip712
from chain.contracts import ShipmentEscrow
from chain.db import make_engine, make_sessionmaker
from chain.tables.telemetry import TelemetryBatch, TelemetryBreach, TelemetryReading
from chain.transact import TxRequest, send_and_wait
from oracles.fleet import Fleet
from oracles.telemetry import codec
from tests.fixtures.anvil import AnvilNode, free_port
from tests.fixtures.broker import Broker
from tests.oracles.harness import BlockPusher, in_process, oracle_env, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.broker]


def test_readings_while_paused_anchored_after_unpause(
    anvil: AnvilNode,
    broker: Broker,
    make_fleet: Callable[..., Fleet],
    admin: LocalAccount,
    database_url: str,
) -> None:
    fleet = make_fleet(2, 1)
    sid = fleet.shipment_ids()[0]
    keys = fleet.device_keys()
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, fleet.escrow)
    send_and_wait(w3, admin, TxRequest(escrow.address, ShipmentEscrow.calldata("pause")))
    assert escrow.paused()

    now = int(time.time())
    records = [
        codec.encode(
            codec.sign(
                codec.Reading(
                    codec.address_of(k), c, now, sid, 1_500 if c == 3 else 450, 5_000, 52_000_000, 0
                ),
                k,
                dom,
            )
        )
        for k in keys
        for c in range(1, 6)
    ]
    port = free_port()
    env = oracle_env(
        fleet,
        anvil.url,
        database_url,
        broker.port,
        http_port=port,
        verify_workers=0,
        mqtt_client_id=f"p-{port}",
    )
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)

    def batch_states() -> list[str]:
        with sessions() as s:
            return list(s.scalars(select(TelemetryBatch.state)))

    with BlockPusher(w3), in_process(env) as oracle:
        assert wait_until(lambda: oracle.mqtt.connected.is_set(), 10)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/readings",
            json={"readings": ["0x" + r.hex() for r in records]},
            timeout=30,
        ).json()
        assert answer["accepted"] == len(records)

        # Sealed, and waiting: nothing anchored, nothing failed, no penalty while paused.
        assert wait_until(lambda: bool(batch_states()) and "open" not in batch_states(), 15)
        time.sleep(3)
        assert not {"anchored", "failed"} & set(batch_states())
        assert escrow.shipment(sid).penalties == 0

        send_and_wait(w3, admin, TxRequest(escrow.address, ShipmentEscrow.calldata("unpause")))
        assert wait_until(lambda: set(batch_states()) == {"anchored"}, 30), batch_states()
        assert wait_until(lambda: escrow.shipment(sid).penalties > 0, 30), "breach not proven after unpause"

        def breach_states() -> list[str]:
            with sessions() as s:
                return [b.state for b in s.scalars(select(TelemetryBreach))]

        assert wait_until(lambda: breach_states() == ["proven"], 30), breach_states()

        with sessions() as s:
            stored = s.scalar(select(TelemetryReading.id).order_by(TelemetryReading.id.desc()).limit(1))
            counted = sum(b.count for b in s.scalars(select(TelemetryBatch)))
    engine.dispose()
    assert stored is not None and counted == len(records)  # every reading in an anchored batch
    assert escrow.breach_episodes(sid) == [now]
