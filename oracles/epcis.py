"""What both oracles' EPCIS 2.0 events share: the JSON-LD context and Tracechain's object URIs."""

from __future__ import annotations

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def shipment_uri(shipment_id: bytes) -> str:
    """The EPC-like URI of a shipment (its on-chain ID) in an event's epcList."""
    return f"urn:tracechain:shipment:0x{shipment_id.hex()}"


def device_uri(device: bytes) -> str:
    """The URI of a sensor device (its address) as a sensor report's deviceID."""
    return f"urn:tracechain:device:0x{device.hex()}"
