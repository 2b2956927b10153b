"""`ape run deploy --network ...`: deploys Tracechain on Ape's selected network.

Thin on purpose: it hands the network's RPC URL and chain ID to `tracechain deploy`, the one code
path (chain/deploy.py) that deploys, verifies and records the contracts.
"""

from __future__ import annotations

import os

from ape import networks

from chain.cli import main as tracechain


def main() -> None:
    provider = networks.provider
    os.environ.setdefault("TRACECHAIN_CHAIN_ID", str(provider.chain_id))
    tracechain(["deploy", "--rpc-url", str(provider.http_uri)])
