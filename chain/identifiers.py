"""The on-chain keys of EPCIS events, raw bytes32 keys, and the error every malformed identifier raises.

An EPCIS event is keyed by the 32-byte sha-256 of its CBV 2.0 hash-based event ID
(``ni:///sha-256;<hex>?ver=CBV2.0``). Items, lots and logistic units are keyed by their GS1
identifiers: :func:`chain.gs1.asset_id`.
"""

from __future__ import annotations

import re

from chain.exceptions import TracechainError


class IdentifierError(TracechainError, ValueError):
    """An identifier that is malformed: a GS1 key (EPC URN or Digital Link, see :mod:`chain.gs1`),
    an event ID or a bytes32."""


def bytes32(value: str) -> bytes:
    """``0x``-prefixed (or bare) 64 hex digits as 32 bytes.

    Raises:
        IdentifierError: not 32 bytes of hex.
    """
    text = value.strip().removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise IdentifierError(f"{value!r} is not a bytes32 (0x and 64 hex digits)")
    return raw


def event_id(value: str) -> bytes:
    """The ledger key of an EPCIS event: the sha-256 in its CBV 2.0 ``ni:///sha-256;<hex>`` ID.

    Args:
        value: ``ni:///sha-256;<64 hex>?ver=CBV2.0`` or the bytes32 itself.

    Raises:
        IdentifierError: neither form.
    """
    text = value.strip()
    if text.lower().startswith("ni:///sha-256;"):
        digest = text.split(";", 1)[1].split("?", 1)[0]
        return bytes32(digest)
    if text.startswith("ni:"):
        raise IdentifierError(f"{value!r}: only ni:///sha-256 event IDs are anchored")
    return bytes32(text)


# ---------------------------------------------------------------- Tracechain's own URIs in EPCIS events

#: The JSON-LD context of every EPCIS 2.0 document Tracechain writes.
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

_SHIPMENT_URI = re.compile(r"^urn:tracechain:shipment:0x([0-9a-fA-F]{64})$")


def shipment_uri(shipment_id: bytes) -> str:
    """The EPC-like URI of a ShipmentEscrow shipment (its on-chain ID) in an event's epcList."""
    return f"urn:tracechain:shipment:0x{shipment_id.hex()}"


def shipment_of_uri(value: str) -> bytes | None:
    """The shipment ID a :func:`shipment_uri` names, None for any other value."""
    m = _SHIPMENT_URI.match(value)
    return bytes.fromhex(m.group(1)) if m else None


def device_uri(device: bytes) -> str:
    """The URI of a sensor device (its address) as a sensor report's deviceID."""
    return f"urn:tracechain:device:0x{device.hex()}"
