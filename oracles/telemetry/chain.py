"""What the telemetry oracle reads from the chain and the calldata of its escrow calls."""

from __future__ import annotations

from web3 import Web3

from chain import eip712
from chain.contracts import Custody, Reading, ShipmentState, TelemetryBatch
from oracles.chainview import ChainView, read
from oracles.telemetry import codec

#: A sealed batch as the oracle stores it: (root, count, windowStart, windowEnd, minTemp, maxTemp).
BatchTuple = tuple[bytes, int, int, int, int, int]


class TelemetryChain(ChainView):
    """Device statuses, shipment bands and the EIP-712 domain; postTelemetry and proveBreach calldata."""

    def __init__(self, w3: Web3, escrow_address: str, registry_address: str) -> None:
        super().__init__(w3, escrow_address, registry_address)
        self._domain: bytes | None = None

    def domain(self) -> bytes:
        """EIP-712 domain separator of the escrow (cached after the first call).

        Raises:
            ChainUnavailable: the node did not answer.
        """
        if self._domain is None:
            chain_id = read(lambda: self.w3.eth.chain_id)
            self._domain = eip712.domain_separator(chain_id, self.escrow.address)
        return self._domain

    def device_status(self, device: bytes) -> tuple[bool, bool]:
        """(registered, active) for a device address.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        return self.device_statuses([device])[0]

    def device_statuses(self, devices: list[bytes]) -> list[tuple[bool, bool]]:
        """(registered, active) of each device, in one batched JSON-RPC request.

        Raises:
            ChainUnavailable: the node did not answer (or refused a call).
        """
        addresses = [codec.to_checksum(d) for d in devices]
        return [(s.registered, s.active) for s in read(lambda: self.registry.device_statuses(addresses))]

    def shipment_band(self, shipment_id: bytes) -> tuple[int, int] | None:
        """(minTemp, maxTemp) of a shipment in centi-°C, None when it does not exist.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        s = read(lambda: self.escrow.shipment(shipment_id))
        if s.state == ShipmentState.NONE:
            return None
        return s.min_temp, s.max_temp

    def custodies(self, shipment_ids: list[bytes]) -> list[Custody]:
        """Each shipment's devices and custody window (pickup, delivery), in one batched request.

        Raises:
            ChainUnavailable: the node did not answer (or refused a call).
        """
        return read(lambda: self.escrow.custodies(shipment_ids))

    def post_telemetry_data(self, shipment_id: bytes, batch: BatchTuple) -> bytes:
        return self.escrow.post_telemetry_calldata(shipment_id, TelemetryBatch(*batch))

    def prove_breach_data(
        self, shipment_id: bytes, batch: BatchTuple, reading: codec.Reading, proof: list[bytes]
    ) -> bytes:
        return self.escrow.prove_breach_calldata(
            shipment_id, TelemetryBatch(*batch), Reading(*reading.as_struct()), reading.signature, proof
        )
