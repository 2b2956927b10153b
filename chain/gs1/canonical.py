"""The one canonical form of a GS1 identifier, and the ledger key derived from it."""

from __future__ import annotations

from functools import lru_cache

from eth_utils import keccak

from chain.gs1.digital_link import DigitalLink, parse_digital_link
from chain.gs1.epc import epc_urn_to_digital_link
from chain.gs1.keys import IdentifierError


def parse_identifier(identifier: str) -> DigitalLink:
    """The Digital Link (every qualifier kept) an EPC URN or a Digital Link URI on any host names.

    Raises:
        IdentifierError: neither, or a malformed one.
    """
    ident = identifier.strip()
    if ident.startswith("urn:epc:"):
        ident = epc_urn_to_digital_link(ident)
    return parse_digital_link(ident)


@lru_cache(maxsize=65_536)
def full_link(identifier: str) -> DigitalLink | None:
    """The Digital Link an EPC URN or Digital Link URI names, None for anything else or a malformed one."""
    try:
        return parse_identifier(identifier)
    except IdentifierError:
        return None


@lru_cache(maxsize=65_536)
def canonical_key(identifier: str) -> str:
    """The key an identifier is hashed (CBV 2.0), stored and matched under: the constrained
    canonical Digital Link URI of an EPC URN or GS1 Digital Link URI, the identifier itself (less
    surrounding blanks) for anything else or a malformed one."""
    link = full_link(identifier)
    return identifier.strip() if link is None else link.constrained().uri()


def asset_id(identifier: str | DigitalLink) -> bytes:
    """The TraceabilityLedger key of an item, lot or logistic unit: keccak-256 of its canonical key.

    Args:
        identifier: a Digital Link URI on any host, an EPC URN, or a parsed link.

    Returns:
        32 bytes: every spelling of one item gives the same key (see :mod:`chain.gs1`).

    Raises:
        IdentifierError: not a GS1 key, or a malformed one.
    """
    link = identifier if isinstance(identifier, DigitalLink) else parse_identifier(identifier)
    return keccak(text=link.constrained().uri())
