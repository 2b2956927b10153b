"""What the oracles read from the chain and the calldata they hand to chain/'s sender.

The oracles never send a transaction themselves: they encode calldata here and submit it to
`chain.sender.TxSender` under an idempotency key (`TxSubmitter` is the part of its API they use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import keccak
from web3 import Web3

from chain import eip712
from chain.artifacts import load_artifact
from oracles.telemetry import codec


class TxSubmitter(Protocol):
    """The slice of `chain.sender.TxSender` the oracles use."""

    def submit(self, key: str, to: str, data: bytes, *, gas: int | None = None, value: int = 0) -> int: ...

    def status(self, key: str) -> Any: ...


class ChainUnavailable(RuntimeError):
    """The node did not answer; the caller retries later."""


CARRIER_ROLE = keccak(text="CARRIER_ROLE")
IN_TRANSIT = 3  # IShipmentEscrow.State.InTransit


@dataclass(frozen=True)
class ShipmentParties:
    """What the shipment oracle needs of an on-chain shipment."""

    state: int  # IShipmentEscrow.State
    carrier: str
    custodian: str
    items_hash: bytes


class ChainView:
    """Reads of PartnerRegistry and ShipmentEscrow; calldata of the oracles' escrow and ledger calls."""

    def __init__(
        self, w3: Web3, escrow_address: str, registry_address: str, ledger_address: str = ""
    ) -> None:
        self.w3 = w3
        self.escrow = w3.eth.contract(
            address=Web3.to_checksum_address(escrow_address), abi=load_artifact("ShipmentEscrow")["abi"]
        )
        self.registry = w3.eth.contract(
            address=Web3.to_checksum_address(registry_address), abi=load_artifact("PartnerRegistry")["abi"]
        )
        self.ledger = (
            w3.eth.contract(
                address=Web3.to_checksum_address(ledger_address),
                abi=load_artifact("TraceabilityLedger")["abi"],
            )
            if ledger_address
            else None
        )
        self._domain: bytes | None = None

    @property
    def escrow_address(self) -> str:
        return str(self.escrow.address)

    def domain(self) -> bytes:
        """EIP-712 domain separator of the escrow (cached after the first call).

        Raises:
            ChainUnavailable: the node did not answer.
        """
        if self._domain is None:
            try:
                chain_id = self.w3.eth.chain_id
            except (OSError, ValueError) as exc:
                raise ChainUnavailable(str(exc)) from exc
            self._domain = eip712.domain_separator(chain_id, self.escrow.address)
        return self._domain

    def device_status(self, device: bytes) -> tuple[bool, bool]:
        """(registered, active) for a device address.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        addr = codec.to_checksum(device)
        try:
            owner, _ = self.registry.functions.device(addr).call()
            active = bool(self.registry.functions.isActiveDevice(addr).call())
        except (OSError, ValueError) as exc:
            raise ChainUnavailable(str(exc)) from exc
        return int(owner, 16) != 0, active

    def shipment_band(self, shipment_id: bytes) -> tuple[int, int] | None:
        """(minTemp, maxTemp) of a shipment in centi-°C, None when it does not exist.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        try:
            s = self.escrow.functions.shipment(shipment_id).call()
        except (OSError, ValueError) as exc:
            raise ChainUnavailable(str(exc)) from exc
        state, min_temp, max_temp = s[2], s[10], s[11]
        if state == 0:
            return None
        return int(min_temp), int(max_temp)

    def post_telemetry_data(self, shipment_id: bytes, batch: tuple[bytes, int, int, int, int, int]) -> bytes:
        return bytes.fromhex(self.escrow.encode_abi("postTelemetry", args=[shipment_id, batch])[2:])

    def prove_breach_data(
        self,
        shipment_id: bytes,
        batch: tuple[bytes, int, int, int, int, int],
        reading: codec.Reading,
        proof: list[bytes],
    ) -> bytes:
        data = self.escrow.encode_abi(
            "proveBreach", args=[shipment_id, batch, reading.as_struct(), reading.signature, proof]
        )
        return bytes.fromhex(data[2:])

    def confirm_delivery_data(self, shipment_id: bytes) -> bytes:
        return bytes.fromhex(self.escrow.encode_abi("confirmDelivery", args=[shipment_id])[2:])

    # ------------------------------------------------------------ shipment oracle

    @property
    def ledger_address(self) -> str:
        if self.ledger is None:
            raise ValueError("no TraceabilityLedger address configured")
        return str(self.ledger.address)

    def shipment_parties(self, shipment_id: bytes) -> ShipmentParties | None:
        """State, carrier, custodian and itemsHash of a shipment, None when it does not exist.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        try:
            s = self.escrow.functions.shipment(shipment_id).call()
        except (OSError, ValueError) as exc:
            raise ChainUnavailable(str(exc)) from exc
        if s[2] == 0:
            return None
        return ShipmentParties(int(s[2]), str(s[5]), str(s[7]), bytes(s[15]))

    def is_active_carrier(self, account: str) -> bool:
        """True when `account` is an active partner holding CARRIER_ROLE.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        addr = Web3.to_checksum_address(account)
        try:
            return bool(self.registry.functions.hasRole(CARRIER_ROLE, addr).call()) and bool(
                self.registry.functions.isActivePartner(addr).call()
            )
        except (OSError, ValueError) as exc:
            raise ChainUnavailable(str(exc)) from exc

    def event_anchored(self, event_key: bytes) -> bool:
        """True when TraceabilityLedger has anchored the event singly (by anyone).

        Raises:
            ChainUnavailable: the node did not answer.
        """
        if self.ledger is None:
            raise ValueError("no TraceabilityLedger address configured")
        try:
            return int(self.ledger.functions.anchorOf(event_key).call()[1]) != 0
        except (OSError, ValueError) as exc:
            raise ChainUnavailable(str(exc)) from exc

    def anchor_event_data(self, event_key: bytes) -> bytes:
        """Calldata of TraceabilityLedger.anchorEvent for an EPCIS event's 32-byte key."""
        if self.ledger is None:
            raise ValueError("no TraceabilityLedger address configured")
        return bytes.fromhex(self.ledger.encode_abi("anchorEvent", args=[event_key])[2:])
