"""`python -m oracles.keeper`: run the keeper with settings from KEEPER_* variables."""

from __future__ import annotations

import logging

from oracles.keeper.service import KeeperService
from oracles.keeper.settings import KeeperSettings
from oracles.lifecycle import serve


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(lambda stop_event: KeeperService(KeeperSettings(), stop_event))


if __name__ == "__main__":
    main()
