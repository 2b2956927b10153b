"""`python -m oracles.shipments`: run the shipment oracle with settings from ORACLE_* variables."""

from __future__ import annotations

import logging

from oracles.lifecycle import serve
from oracles.shipments.service import ShipmentOracle
from oracles.shipments.settings import ShipmentSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(lambda stop_event: ShipmentOracle(ShipmentSettings(), stop_event))


if __name__ == "__main__":
    main()
