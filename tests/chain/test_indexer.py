"""The indexer against a real anvil: confirmation depth, reorgs (RELIABILITY 12), backfill after
downtime and node restarts (RELIABILITY 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3 import Web3

from chain.indexer import Indexer, ReorgTooDeep
from chain.tables import readmodel as rm
from tests.chain.consortium import Consortium, rand32, supplier_links
from tests.chain.snapshots import applied_logs, chain_logs, state_snapshot
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

Sessions = Callable[[], Session]


def hexs(value: bytes) -> str:
    return "0x" + value.hex()


def assert_exactly_the_final_logs(c: Consortium, sessions: Sessions, confirmations: int) -> None:
    """The read model holds each log of the canonical chain up to head - confirmations once, nothing else."""
    final = c.w3.eth.block_number - confirmations
    found = applied_logs(sessions)
    assert set(found.values()) <= {1}
    assert set(found) == chain_logs(c.w3, c.addresses, c.deploy_block, final)


def anchored_ids(sessions: Sessions) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(rm.AnchoredEvent.event_id)))


def highest_applied_block(sessions: Sessions) -> int:
    with sessions() as s:
        return max(s.scalar(select(func.max(m.block_number))) or 0 for m in rm.LOG_TABLES)


def test_run_once_applies_nothing_before_the_confirmation_depth(
    consortium: Consortium, sessions: Sessions
) -> None:
    c = consortium
    c.set_up_partners()
    ids = c.anchor(3)
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=3)
    indexer.run_once()
    head = c.w3.eth.block_number
    assert indexer.cursor()[0] == head - 3
    assert highest_applied_block(sessions) <= head - 3
    assert anchored_ids(sessions) == []
    assert_exactly_the_final_logs(c, sessions, 3)

    c.mine(3)
    assert indexer.run_once() == 3
    assert anchored_ids(sessions) == sorted(map(hexs, ids))
    assert indexer.run_once() == 0
    assert_exactly_the_final_logs(c, sessions, 3)


def test_reorg_within_confirmation_depth_applies_each_event_once(
    consortium: Consortium, sessions: Sessions
) -> None:
    c = consortium
    c.set_up_partners()
    kept = c.anchor(2)
    c.mine(4)
    orphaned = c.anchor(3)
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=4, window=3)
    indexer.run_once()
    assert anchored_ids(sessions) == sorted(map(hexs, kept))

    replacements = [rand32(), rand32()]
    c.reorg(3, [(c.anchor_tx(replacements[0]), 0), (c.anchor_tx(replacements[1]), 1)])
    indexer.run_once()
    assert_exactly_the_final_logs(c, sessions, 4)
    c.mine(4)
    indexer.run_once()

    assert_exactly_the_final_logs(c, sessions, 4)
    assert anchored_ids(sessions) == sorted(map(hexs, kept + replacements))
    assert not set(map(hexs, orphaned)) & set(anchored_ids(sessions))


def test_reorg_deeper_than_confirmation_depth_is_rolled_back(
    consortium: Consortium, make_sessions: Callable[[], Sessions]
) -> None:
    c = consortium
    sessions = make_sessions()
    led = c.ledger.functions
    c.set_up_partners()
    links = supplier_links()
    lx, ly, lz = links["item1"], links["item2"], links["out1"]
    x, y, z = (Web3.keccak(text=link) for link in (lx, ly, lz))
    c.send(led.registerAsset(lx, b"\0" * 32), c.supplier)
    c.send(led.offerOwnership(x, c.buyer), c.supplier)
    c.send(led.acceptOwnership(x), c.buyer)  # orphaned below
    c.send(led.registerAsset(ly, b"\0" * 32), c.supplier)  # orphaned below
    orphaned = c.anchor(1)
    c.mine(1)
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=1, window=2)
    indexer.run_once()
    with sessions() as s:
        asset = s.get(rm.Asset, hexs(x))
        assert asset is not None and asset.owner == c.buyer

    replacement = rand32()
    register_z = {
        "from": c.supplier,
        "to": c.ledger.address,
        "gas": 300_000,
        "data": c.ledger.encode_abi("registerAsset", [lz, b"\0" * 32]),
    }
    c.reorg(4, [(register_z, 0), (c.anchor_tx(replacement), 2)])
    c.mine(2)
    indexer.run_once()

    assert_exactly_the_final_logs(c, sessions, 1)
    assert anchored_ids(sessions) == [hexs(replacement)]
    assert hexs(orphaned[0]) not in anchored_ids(sessions)
    with sessions() as s:
        asset = s.get(rm.Asset, hexs(x))
        assert asset is not None and asset.owner == c.supplier == led.asset(x).call()[0]
        assert s.get(rm.Asset, hexs(y)) is None
        assert s.get(rm.Asset, hexs(z)) is not None
    rebuilt = make_sessions()
    Indexer(c.w3, rebuilt, c.addresses, c.deploy_block, confirmations=1).run_once()
    assert state_snapshot(sessions) == state_snapshot(rebuilt)


def test_reorg_below_the_kept_history_raises(consortium: Consortium, sessions: Sessions) -> None:
    c = consortium
    c.set_up_partners()
    c.anchor(8)
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=0, window=2, history=2)
    indexer.run_once()
    c.reorg(6, [(c.anchor_tx(), 0)])
    with pytest.raises(ReorgTooDeep):
        indexer.run_once()


def test_backfill_after_downtime_loses_and_duplicates_nothing(
    consortium: Consortium, sessions: Sessions
) -> None:
    c = consortium
    c.set_up_partners()
    c.mine(2)
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=2, window=3)
    indexer.run_once()
    ids = c.anchor(25)  # the indexer is down for these 25 blocks
    c.mine(2)
    assert indexer.run_once() == 25
    assert_exactly_the_final_logs(c, sessions, 2)
    assert anchored_ids(sessions) == sorted(map(hexs, ids))


@pytest.mark.parametrize("kill", [False, True], ids=["stopped", "killed"])
def test_node_restart_under_the_running_indexer_loses_and_duplicates_nothing(
    anvil: AnvilNode, consortium: Consortium, sessions: Sessions, kill: bool
) -> None:
    c = consortium
    c.set_up_partners()
    time.sleep(1.5)  # anvil saves its state every second: keep the deployment through a kill
    indexer = Indexer(c.w3, sessions, c.addresses, c.deploy_block, confirmations=0, window=4)
    stop = threading.Event()
    loop = threading.Thread(target=indexer.run, args=(stop, 0.05), daemon=True)
    loop.start()
    try:
        c.anchor(5)
        time.sleep(0.3)
        anvil.stop(kill=kill)  # a killed node may lose its last blocks: a reorg to the indexer
        time.sleep(0.5)
        anvil.start()
        c.anchor(5)
        head = c.w3.eth.block_number
        deadline = time.monotonic() + 20
        while indexer.cursor()[0] < head and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=20)
    assert not loop.is_alive()
    assert indexer.cursor()[0] == c.w3.eth.block_number
    assert_exactly_the_final_logs(c, sessions, 0)
