"""What the read model holds and what the node holds, in comparable form (test helper)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from chain.tables.disputes import Dispute
from chain.tables.readmodel import LOG_TABLES, STATE_TABLES

LogId = tuple[str, int, str]  # tx hash, log index, block hash


def applied_logs(sessions: Callable[[], Session]) -> Counter[LogId]:
    """Each applied log with the number of log tables that hold it (1 when applied exactly once)."""
    found: Counter[LogId] = Counter()
    with sessions() as session:
        for model in LOG_TABLES:
            rows = session.execute(select(model.tx_hash, model.log_index, model.block_hash).distinct()).all()
            found.update((tx, index, block) for tx, index, block in rows)
    return found


def chain_logs(w3: Web3, addresses: dict[str, str], first: int, last: int) -> set[LogId]:
    """The node's logs of `addresses` in blocks [first, last]."""
    logs = w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": list(addresses.values())})
    return {
        (
            "0x" + bytes(entry["transactionHash"]).hex(),
            int(entry["logIndex"]),
            "0x" + bytes(entry["blockHash"]).hex(),
        )
        for entry in logs
    }


def state_snapshot(sessions: Callable[[], Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every state table's rows, sorted, for comparing two read models."""
    with sessions() as session:
        return {
            model.__tablename__: sorted(map(tuple, session.execute(select(model.__table__))), key=repr)
            for model in (*STATE_TABLES, Dispute)
        }
