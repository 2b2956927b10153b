"""What the oracles read from the chain and the calldata they hand to chain/'s sender.

The oracles never send a transaction themselves: they encode calldata here and submit it to
`chain.sender.TxSender` under an idempotency key (`TxSubmitter` is the part of its API they use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi import encode as abi_encode
from eth_utils import keccak
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types
from web3 import Web3

from chain import eip712
from chain.artifacts import load_artifact
from chain.exceptions import NodeRequestRefused
from chain.jsonrpc import JsonRpc
from oracles.telemetry import codec

_DEVICE = keccak(text="device(address)")[:4]
_IS_ACTIVE_DEVICE = keccak(text="isActiveDevice(address)")[:4]


class TxSubmitter(Protocol):
    """The slice of `chain.sender.TxSender` the oracles use."""

    def submit(self, key: str, to: str, data: bytes, *, gas: int | None = None, value: int = 0) -> int: ...

    def status(self, key: str) -> Any: ...

    def statuses(self, keys: Sequence[str]) -> dict[str, Any]: ...


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
        post = next(f for f in self.escrow.abi if f.get("name") == "postTelemetry")
        self._post_telemetry = (function_abi_to_4byte_selector(post), get_abi_input_types(post))

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

    def device_statuses(self, devices: list[bytes]) -> list[tuple[bool, bool]]:
        """(registered, active) of each device, in one batched JSON-RPC request.

        Raises:
            ChainUnavailable: the node did not answer (or refused a call).
        """
        registry = self.registry.address
        calls: list[tuple[str, list[Any]]] = []
        for device in devices:
            arg = bytes(12) + device
            calls.append(("eth_call", [{"to": registry, "data": "0x" + (_DEVICE + arg).hex()}, "latest"]))
            calls.append(
                ("eth_call", [{"to": registry, "data": "0x" + (_IS_ACTIVE_DEVICE + arg).hex()}, "latest"])
            )
        try:
            results = JsonRpc(self.w3).call_many(calls)
        except (OSError, ValueError, NodeRequestRefused) as exc:
            raise ChainUnavailable(str(exc)) from exc
        # device() returns the Device struct inline (owner first); isActiveDevice() one bool word.
        return [
            (int(results[2 * i][2:66] or "0", 16) != 0, int(results[2 * i + 1] or "0x0", 16) != 0)
            for i in range(len(devices))
        ]

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
        # eth_abi directly with the ABI's types: web3's encode_abi re-resolves the function each
        # call, a few percent of the oracle's main thread at full rate.
        selector, types = self._post_telemetry
        return selector + abi_encode(types, [shipment_id, batch])

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
