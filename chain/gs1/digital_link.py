"""GS1 Digital Link URIs: parsing any spelling into one canonical :class:`DigitalLink`, and its
constrained form (the most fine-grained identity only, CBV 2.0 hash rule 18 III)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

from chain.gs1.keys import KEYS, QUALIFIERS, IdentifierError, normalise_key, qualifier_order

CANONICAL_HOST = "https://id.gs1.org"

# The qualifiers a constrained link keeps, per primary key, most fine-grained first: the identity an
# EPC URN can carry (SGTIN, LGTIN, UPUI, SGLN, ITIP, CPI), which CBV 2.0's hash rule 18 III keeps.
_CONSTRAINED: dict[str, tuple[str, ...]] = {
    "01": ("21", "10", "235"),
    "414": ("254",),
    "8006": ("21", "10"),
    "8010": ("8011",),
}
# RFC 3986 `pchar` minus unreserved characters (which quote() never encodes): a value keeps these
# literally and has every other character (`"`, `%`, `/`, `<`, `>`, `?`, `#`, space, non-ASCII)
# percent-encoded, so that the canonical URI parses back to the same values.
_PCHAR_SAFE = "!$&'()*+,;=:@"


def encode_value(value: str) -> str:
    """An AI value as a canonical Digital Link path segment."""
    return quote(value, safe=_PCHAR_SAFE)


@dataclass(frozen=True)
class DigitalLink:
    """A parsed GS1 Digital Link: its primary key and key qualifiers as (AI, value) pairs.

    Values are percent-decoded, a GTIN has 14 digits, check digits are verified, and qualifiers
    are in the Digital Link standard's order (``/01/…/22/…/10/…/21/…``) whatever order the URI
    named them in: two spellings of one link compare equal.
    """

    elements: tuple[tuple[str, str], ...]

    @property
    def primary(self) -> tuple[str, str]:
        """The primary key's AI and value."""
        return self.elements[0]

    def get(self, ai: str) -> str | None:
        """The value of ``ai``, None if the link does not name it."""
        for key, value in self.elements:
            if key == ai:
                return value
        return None

    @property
    def gtin(self) -> str | None:
        return self.get("01")

    @property
    def lot(self) -> str | None:
        return self.get("10")

    @property
    def serial(self) -> str | None:
        return self.get("21")

    def uri(self, host: str = CANONICAL_HOST) -> str:
        """The URI on ``host`` (``""``: the path alone), values percent-encoded where a path
        segment needs it."""
        return host + "".join(f"/{ai}/{encode_value(value)}" for ai, value in self.elements)

    def constrained(self) -> DigitalLink:
        """The most fine-grained identification only (CBV 2.0 hash rule 18 III): a serial (or
        TPX) drops the lot and the CPV; a lot drops the CPV."""
        ai, value = self.primary
        for qualifier in _CONSTRAINED.get(ai, ()):
            found = self.get(qualifier)
            if found is not None:
                return DigitalLink(((ai, value), (qualifier, found)))
        return DigitalLink(((ai, value),))

    def lot_link(self) -> DigitalLink | None:
        """The lot this item belongs to (01 + 10), if the link names one."""
        if self.gtin is None or self.lot is None:
            return None
        return DigitalLink((("01", self.gtin), ("10", self.lot)))


def link_of(pairs: list[tuple[str, str]]) -> DigitalLink:
    """The canonical link of decoded (AI, value) pairs, the primary key first.

    Raises:
        IdentifierError: a malformed key, a wrong check digit, or qualifiers the key does not take.
    """
    (ai, value), qualifiers = pairs[0], dict(pairs[1:])
    if len(qualifiers) != len(pairs) - 1:
        raise IdentifierError(f"a key qualifier is given twice in {pairs}")
    ordered = qualifier_order(ai, list(qualifiers)) if qualifiers else []
    return DigitalLink(((ai, normalise_key(ai, value)), *((q, qualifiers[q]) for q in ordered)))


@lru_cache(maxsize=65_536)
def parse_digital_link_path(path: str) -> DigitalLink:
    """Parses a Digital Link path (``/01/{gtin}/10/{lot}/21/{serial}``, optionally under a path
    prefix such as ``/p/01/…``) into its canonical :class:`DigitalLink`.

    Raises:
        IdentifierError: no GS1 primary key, an AI without a value, a malformed key, a wrong check
            digit, or qualifiers the key does not take.
    """
    # Split before decoding: an encoded "/" (%2F) belongs to a value.
    raw = [s for s in path.split("/") if s]
    # A Digital Link may sit under a path prefix: it starts at the first primary key AI.
    start = next((i for i, s in enumerate(raw) if s in KEYS and i + 1 < len(raw)), None)
    if start is None:
        raise IdentifierError(f"no GS1 Digital Link primary key in {path!r}")
    rest = [unquote(s) for s in raw[start:]]
    if len(rest) % 2:
        raise IdentifierError(f"Digital Link path {path!r} has an AI without a value")
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    for ai, _ in pairs[1:]:
        if ai not in QUALIFIERS:
            raise IdentifierError(f"{ai!r} is not a key qualifier")
    return link_of(pairs)


def parse_digital_link(uri: str) -> DigitalLink:
    """Parses a Digital Link URI on any host; its query string (data attributes, ``linkType``) and
    fragment name no part of the identity and are ignored.

    Raises:
        IdentifierError: not an http(s) URI, or its path is not a Digital Link (see
            :func:`parse_digital_link_path`).
    """
    try:
        parts = urlsplit(uri.strip())
    except ValueError as exc:  # e.g. a bracketed host that is no IP address
        raise IdentifierError(f"{uri!r} is not a URI: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise IdentifierError(f"{uri!r} is not an http(s) URI")
    return parse_digital_link_path(parts.path)
