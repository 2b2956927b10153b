"""Run a TxSender in this process and SIGKILL it right after its first broadcast, before the
broadcast is recorded (RELIABILITY 9). Used by tests/chain/test_sender.py as a subprocess:

    python -m tests.chain.sender_crash RPC_URL DB_URL LEDGER N LABEL
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from eth_utils import keccak
from web3 import HTTPProvider, Web3

from chain.contracts import TraceabilityLedger
from chain.db import make_engine, make_sessionmaker
from chain.keys import dev_account
from chain.sender import TxSender


def main() -> None:
    rpc_url, db_url, ledger_address, count, label = (
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        int(sys.argv[4]),
        sys.argv[5],
    )
    w3 = Web3(HTTPProvider(rpc_url))
    sender = TxSender(w3, dev_account(1), make_sessionmaker(make_engine(db_url)), confirmations=0)
    ledger = TraceabilityLedger(w3, ledger_address)
    for i in range(count):
        sender.submit(
            f"crash-{i}",
            ledger.address,
            ledger.calldata("anchorEvent", keccak(text=f"{label}-{i}")),
            gas=100_000,
        )
    original = sender._send

    def send_then_die(*args: Any, **kwargs: Any) -> Any:
        # The transactions reach the node; the process dies before the outbox records it.
        original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    sender._send = send_then_die  # type: ignore[method-assign]
    sender.process()


if __name__ == "__main__":
    main()
