"""The on-chain keys of GS1 identifiers and EPCIS events.

- An item or lot is keyed on TraceabilityLedger by the keccak-256 of its canonical GS1 Digital
  Link URI: ``https://id.gs1.org/01/{gtin14}/10/{lot}/21/{serial}`` (lot and serial present as the
  link names them, in that order; the GTIN zero-padded to 14 digits; values percent-decoded).
- An EPCIS event is keyed by the 32-byte sha-256 of its CBV 2.0 hash-based event ID
  (``ni:///sha-256;<hex>?ver=CBV2.0``).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from eth_utils import keccak

CANONICAL_HOST = "https://id.gs1.org"
_QUALIFIER_ORDER = ("10", "21")


class IdentifierError(ValueError):
    """An identifier that is not a usable GS1 Digital Link URI, event ID or bytes32."""


def _gtin_check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def canonical_digital_link(uri: str) -> str:
    """The canonical form of a GS1 Digital Link URI naming a GTIN (with lot and/or serial).

    Any host and path prefix are accepted (``https://brand.example/p/01/…``); query string and
    fragment are dropped.

    Args:
        uri: e.g. ``https://example.com/01/9506000134352/10/LOT42/21/0001?linkType=gs1:pip``.

    Returns:
        ``https://id.gs1.org/01/09506000134352/10/LOT42/21/0001``.

    Raises:
        IdentifierError: no ``/01/{gtin}`` in the path, a bad GTIN, or an unsupported qualifier.
    """
    segments = [unquote(s) for s in urlsplit(uri.strip()).path.split("/") if s]
    if "01" not in segments[:-1]:
        raise IdentifierError(f"{uri!r} is not a GS1 Digital Link URI with a GTIN (/01/<gtin>)")
    rest = segments[segments.index("01") :]
    if len(rest) % 2:
        raise IdentifierError(f"{uri!r}: an application identifier has no value")
    pairs = dict(zip(rest[::2], rest[1::2], strict=True))
    unsupported = set(pairs) - {"01", *_QUALIFIER_ORDER}
    if unsupported:
        raise IdentifierError(f"{uri!r}: unsupported key qualifier(s) {', '.join(sorted(unsupported))}")
    gtin = pairs["01"]
    if not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        raise IdentifierError(f"GTIN {gtin!r} must have 8, 12, 13 or 14 digits")
    gtin = gtin.zfill(14)
    if _gtin_check_digit(gtin[:-1]) != gtin[-1]:
        raise IdentifierError(f"GTIN {gtin!r} has a wrong check digit")
    path = f"/01/{gtin}" + "".join(f"/{ai}/{pairs[ai]}" for ai in _QUALIFIER_ORDER if ai in pairs)
    return CANONICAL_HOST + path


def asset_id(uri: str) -> bytes:
    """The TraceabilityLedger key of an item or lot: keccak-256 of its canonical Digital Link URI.

    Args:
        uri: a GS1 Digital Link URI (see :func:`canonical_digital_link`).

    Returns:
        32 bytes.

    Raises:
        IdentifierError: ``uri`` is not a GS1 Digital Link URI with a GTIN.
    """
    return keccak(text=canonical_digital_link(uri))


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
