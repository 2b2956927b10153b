"""Export compiled contracts (Ape's .build manifest) to chain/artifacts/<Name>.json (abi + bytecode).

chain/ loads ABIs and bytecode from there at run time; nothing is compiled at import time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ("PartnerRegistry", "TraceabilityLedger", "ShipmentEscrow", "TestToken")


def main() -> int:
    manifest = json.loads((ROOT / ".build" / "__local__.json").read_text())
    types = manifest["contractTypes"]
    out = ROOT / "chain" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    for name in CONTRACTS:
        ct = types[name]
        artifact = {
            "contractName": name,
            "abi": ct["abi"],
            "bytecode": ct["deploymentBytecode"]["bytecode"],
            "deployedBytecode": ct["runtimeBytecode"]["bytecode"],
        }
        (out / f"{name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
