"""GS1 identifiers (re-exported from chain/gs1.py, where the oracles use them too)."""

from chain.gs1 import (
    CANONICAL_HOST,
    PRIMARY_KEYS,
    DigitalLink,
    IdentifierError,
    canonical_key,
    check_digit,
    epc_urn_to_digital_link,
    full_link,
    is_digital_link,
    parse_digital_link_path,
)

__all__ = [
    "CANONICAL_HOST",
    "PRIMARY_KEYS",
    "DigitalLink",
    "IdentifierError",
    "canonical_key",
    "check_digit",
    "epc_urn_to_digital_link",
    "full_link",
    "is_digital_link",
    "parse_digital_link_path",
]
