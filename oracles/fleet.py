"""A demo fleet on a local chain: partners, registered devices, funded shipments in transit.

Used by `tracechain simulate --provision`, the oracle tests and the benchmarks. Every step is an
administrative transaction sent with `chain.transact.send_and_wait` by the consortium admin and
the demo partners (anvil's well-known dev keys), never by a service.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from chain import eip712
from chain.contracts import PartnerRegistry, ShipmentEscrow, TestToken, role
from chain.manifest import Manifest, items_hash, sign_manifest
from chain.transact import TxRequest, send_and_wait
from oracles.telemetry import codec


@dataclass
class Fleet:
    """Devices (private keys) and shipments (IDs, bands) provisioned on chain."""

    chain_id: int
    escrow: str
    registry: str
    devices: list[str] = field(default_factory=list)  # hex private keys
    shipments: list[str] = field(default_factory=list)  # 0x bytes32
    min_temp: int = 200
    max_temp: int = 800
    supplier: str = ""
    buyer: str = ""
    carrier: str = ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> Fleet:
        return cls(**json.loads(path.read_text()))

    def device_keys(self) -> list[bytes]:
        return [bytes.fromhex(k.removeprefix("0x")) for k in self.devices]

    def shipment_ids(self) -> list[bytes]:
        return [bytes.fromhex(s.removeprefix("0x")) for s in self.shipments]


class Provisioner:
    """Sends the setup transactions of a demo fleet, through the contract wrappers."""

    def __init__(
        self,
        w3: Web3,
        admin: LocalAccount,
        registry: str,
        escrow: str,
        token: str,
        supplier: LocalAccount,
        carrier: LocalAccount,
        buyer: LocalAccount,
    ) -> None:
        self.w3, self.admin = w3, admin
        self.registry = PartnerRegistry(w3, registry)
        self.escrow = ShipmentEscrow(w3, escrow)
        self.token = TestToken(w3, token)
        self.supplier, self.carrier, self.buyer = supplier, carrier, buyer
        self.chain_id = w3.eth.chain_id

    def _send(self, account: LocalAccount, request: TxRequest) -> None:
        send_and_wait(self.w3, account, request)

    def admit_partners(self) -> None:
        for acct, name, prefixes, role_name in (
            (self.supplier, "Demo Supplier", ["4012345"], "SUPPLIER_ROLE"),
            (self.carrier, "Demo Carrier", [], "CARRIER_ROLE"),
            (self.buyer, "Demo Retailer", [], "RETAILER_ROLE"),
        ):
            if not self.registry.partner(acct.address).admitted:
                request = self.registry.admit_partner(
                    acct.address, name, prefixes, [role(role_name)], sender=self.admin.address
                )
                self._send(self.admin, request)

    def register_device(self, device: bytes) -> None:
        request = self.registry.register_device(
            codec.to_checksum(device), self.carrier.address, sender=self.admin.address
        )
        self._send(self.admin, request)

    def set_device_active(self, device: bytes, active: bool) -> None:
        request = self.registry.set_device_active(
            codec.to_checksum(device), active, sender=self.admin.address
        )
        self._send(self.admin, request)

    def create_shipment(
        self,
        shipment_id: bytes,
        min_temp: int,
        max_temp: int,
        *,
        devices: Sequence[bytes | str],
        amount: int = 10**21,
        penalty: int = 10**19,
        in_transit: bool = True,
        items: Sequence[bytes] | None = None,
    ) -> None:
        """Create (supplier-signed manifest naming ``devices``, selling the ledger assets ``items``
        if given), fund (buyer) and hand the shipment to the carrier."""
        manifest = Manifest(
            shipment_id=shipment_id,
            items_hash=keccak(shipment_id) if items is None else items_hash(items),
            supplier=self.supplier.address,
            buyer=self.buyer.address,
            carrier=self.carrier.address,
            devices=tuple(d if isinstance(d, str) else codec.to_checksum(d) for d in devices),
            token=self.token.address,
            amount=amount,
            penalty=penalty,
            min_temp=min_temp,
            max_temp=max_temp,
            deadline=int(time.time()) + 30 * 24 * 3600,
            dispute_window=3600,
            nonce=self.escrow.nonce_of(self.supplier.address),
        )
        sig = sign_manifest(self.supplier, manifest, self.chain_id, self.escrow.address)
        self._send(self.admin, self.escrow.create_shipment(manifest, sig))
        self._send(self.admin, self.token.mint(self.buyer.address, amount))
        self._send(self.buyer, self.token.approve(self.escrow.address, amount))
        self._send(self.buyer, self.escrow.fund(shipment_id))
        if in_transit:
            self.hand_to_carrier(shipment_id)

    def hand_to_carrier(self, shipment_id: bytes) -> None:
        """The supplier hands a funded shipment to the carrier (with its consent): in transit."""
        dom = eip712.domain(self.chain_id, self.escrow.address)
        deadline = int(time.time()) + 30 * 24 * 3600
        h = {
            "shipmentId": shipment_id,
            "from": self.supplier.address,
            "to": self.carrier.address,
            "seq": 0,
            "deadline": deadline,
        }
        consent = eip712.sign(self.carrier.key, "CustodyHandover", dom, h)
        data = self.escrow.calldata("handOver", shipment_id, self.carrier.address, deadline, consent)
        self._send(self.supplier, TxRequest(self.escrow.address, data))


def provision(
    w3: Web3,
    admin: LocalAccount,
    registry: str,
    escrow: str,
    token: str,
    n_devices: int,
    n_shipments: int,
    min_temp: int = 200,
    max_temp: int = 800,
    *,
    partners: tuple[str, str, str],
) -> Fleet:
    """Admit the demo partners, register `n_devices` fresh device keys, create `n_shipments` in transit.

    `partners` are the private keys of (supplier, carrier, buyer).
    """
    supplier, carrier, buyer = (Account.from_key(k) for k in partners)
    p = Provisioner(w3, admin, registry, escrow, token, supplier, carrier, buyer)
    p.admit_partners()
    fleet = Fleet(
        w3.eth.chain_id,
        p.escrow.address,
        p.registry.address,
        min_temp=min_temp,
        max_temp=max_temp,
        supplier=supplier.address,
        buyer=buyer.address,
        carrier=carrier.address,
    )
    addresses = []
    for _ in range(n_devices):
        key = os.urandom(32)
        addresses.append(codec.address_of(key))
        p.register_device(addresses[-1])
        fleet.devices.append("0x" + key.hex())
    for k in range(n_shipments):
        sid = os.urandom(32)
        # The simulator sends device i's readings for shipment i % n_shipments: those are its devices.
        p.create_shipment(sid, min_temp, max_temp, devices=addresses[k::n_shipments])
        fleet.shipments.append("0x" + sid.hex())
    return fleet
