"""`python -m oracles.shipments`: run the shipment oracle with settings from ORACLE_* variables."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from oracles.shipments.service import ShipmentOracle
from oracles.shipments.settings import ShipmentSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    oracle = ShipmentOracle(ShipmentSettings())

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        oracle.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    oracle.run()


if __name__ == "__main__":
    main()
