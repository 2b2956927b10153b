"""``tracechain sign``: offline signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chain.cli.common import DataOpt, out, passphrase, settings_for

sign_app = typer.Typer(no_args_is_help=True, help="Offline signatures.")


@sign_app.command("manifest")
def sign_manifest_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Manifest JSON.")],
    key: Annotated[str, typer.Option("--key", help="The supplier's keystore name.")],
    escrow: Annotated[
        str | None, typer.Option(help="ShipmentEscrow address (default: from deployments.json).")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="Chain ID (default: TRACECHAIN_CHAIN_ID).")] = None,
    data_dir: DataOpt = None,
) -> None:
    """Sign a shipment manifest (EIP-712) offline; prints the manifest (its 14 fields, normalised),
    chain ID, escrow, digest and signature as JSON: the body ``POST /shipments`` takes as is."""
    from chain.deploy import deployments_path, read_deployment
    from chain.exceptions import DeploymentMissing
    from chain.keys import load_key
    from chain.manifest import Manifest, manifest_digest, sign_manifest

    settings = settings_for(data_dir=data_dir, key=key)
    chain = chain_id or settings.chain_id
    if escrow is None:
        deployment = read_deployment(settings.data_dir, chain)
        if deployment is None or "ShipmentEscrow" not in deployment.contracts:
            raise DeploymentMissing(chain, str(deployments_path(settings.data_dir)), "or pass --escrow")
        escrow = deployment.address("ShipmentEscrow")
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{file} is not JSON ({exc.msg} at line {exc.lineno})") from exc
    manifest = Manifest.from_json(doc)
    printed = manifest.to_json()
    if "items" in doc:  # the ledger asset IDs itemsHash commits to travel beside the signed struct
        printed["items"] = doc["items"]
    account = load_key(settings.keystore_path, key, passphrase())
    signature = sign_manifest(account, manifest, chain, escrow)
    out.print_json(
        json.dumps(
            {
                "manifest": printed,
                "chainId": chain,
                "escrow": escrow,
                "digest": "0x" + manifest_digest(manifest, chain, escrow).hex(),
                "signature": "0x" + signature.hex(),
            }
        )
    )
