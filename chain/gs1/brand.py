"""GS1 company prefixes: which digits of a key name its brand owner (docs/security.md §4.1, §4.3).

The registry holds each partner's company prefixes (4 to 12 digits) and answers
``brandOwnerOf(digits)``; these are the digits it is asked about, so the API, the CLI and the
contracts match a key against the prefixes in the same way.
"""

from __future__ import annotations

from chain.gs1.canonical import parse_identifier
from chain.gs1.keys import IdentifierError, normalise_key

#: Length bounds of a GS1 company prefix.
MIN_PREFIX, MAX_PREFIX = 4, 12

# For each primary key, where the company prefix starts in its value and how many digits after
# that can carry it: a GTIN-14's indicator digit, an SSCC's extension digit and a GRAI's leading
# zero come first; a GLN, GDTI, GCN, GSIN and GSRN start with the prefix.
_PREFIX_SPAN: dict[str, tuple[int, int]] = {
    "00": (1, 17),  # SSCC
    "01": (1, 13),  # GTIN (14 digits)
    "253": (0, 13),  # GDTI
    "255": (0, 13),  # GCN
    "402": (0, 17),  # GSIN
    "414": (0, 13),  # GLN of a location
    "417": (0, 13),  # party GLN
    "8003": (1, 13),  # GRAI: 0 + asset type
    "8004": (0, 30),  # GIAI: prefix + reference
    "8006": (1, 13),  # ITIP: a GTIN
    "8017": (0, 18),  # GSRN
    "8018": (0, 18),  # GSRN
}


def brand_digits(key: str) -> str:
    """The digits of a GS1 key that a company prefix is matched against: a GTIN in its 13-digit
    form (a GTIN-14 without its indicator digit, a GTIN-12 with a leading 0), an SSCC without its
    extension digit, a GLN as it is.

    Args:
        key: a Digital Link URI on any host, an EPC URN, or the bare digits of a GTIN (8, 12, 13
            or 14 digits), a GLN (13) or an SSCC (18), check digit included.

    Raises:
        IdentifierError: not a GS1 key, a malformed one, or a key that carries no company prefix
            (GINC, CPID).
    """
    key = key.strip()
    if key.isdigit():
        if len(key) == 18:
            return normalise_key("00", key)[1:]
        return normalise_key("01", key)[1:]  # 8, 12, 13 (GTIN-13 or GLN: the same digits) or 14
    ai, value = parse_identifier(key).primary
    span = _PREFIX_SPAN.get(ai)
    if span is None:
        raise IdentifierError(f"a key of AI {ai} carries no GS1 company prefix")
    start, length = span
    digits = value[start : start + length]
    end = next((i for i, ch in enumerate(digits) if not ch.isdigit()), len(digits))
    if end < MIN_PREFIX:
        raise IdentifierError(f"{key!r} starts with no GS1 company prefix")
    return digits[:end]


def is_restricted(prefix: str) -> bool:
    """True for restricted-circulation numbers (leading 02, 04, 20-29): they name no company."""
    return prefix.startswith(("02", "04", "2"))


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can be a company prefix: 4 to 12 digits, not restricted.

    Raises:
        IdentifierError: anything else.
    """
    if not (prefix.isascii() and prefix.isdigit() and MIN_PREFIX <= len(prefix) <= MAX_PREFIX):
        raise IdentifierError(f"GS1 company prefix {prefix!r} must be {MIN_PREFIX} to {MAX_PREFIX} digits")
    if is_restricted(prefix):
        raise IdentifierError(f"{prefix!r} is a restricted-circulation number, no company prefix")
    return prefix
