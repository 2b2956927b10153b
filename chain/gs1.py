"""GS1 identifiers: EPC URNs (TDS 2.0) to canonical GS1 Digital Link URIs, Digital Link parsing
and the constrained canonical form the CBV 2.0 event hash and our indexes use.

Every identifier the API and the oracles store or match is reduced to one key: the constrained canonical
Digital Link URI on ``https://id.gs1.org`` (or the identifier itself when it is not a GS1 key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

CANONICAL_HOST = "https://id.gs1.org"

# Key and qualifier AIs a constrained canonical URI may keep (CBV 2.0 hash rule 18), most specific first.
_QUALIFIERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "01": (("21",), ("10",), ("235",)),
    "414": (("254",),),
    "8006": (("21",), ("10",)),
    "8010": (("8011",),),
}
PRIMARY_KEYS = (
    "00",
    "01",
    "253",
    "255",
    "401",
    "402",
    "414",
    "417",
    "8003",
    "8004",
    "8006",
    "8010",
    "8017",
    "8018",
)
_QUALIFIER_AIS = {"10", "21", "22", "235", "254", "8011"}


class IdentifierError(ValueError):
    """An identifier that claims to be a GS1 key (EPC URN or Digital Link) but is malformed."""


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of `digits` (the key without its check digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def _digits(value: str, what: str) -> str:
    if not value.isdigit():
        raise IdentifierError(f"{what} {value!r} must be digits")
    return value


def _parts(body: str, n: int, scheme: str) -> list[str]:
    parts = body.split(".")
    if len(parts) != n:
        raise IdentifierError(f"urn:epc:id:{scheme} needs {n} dot-separated fields, got {body!r}")
    return parts


def _gtin14(company: str, indicator_item: str) -> str:
    _digits(company, "company prefix")
    _digits(indicator_item, "indicator/item reference")
    body = indicator_item[:1] + company + indicator_item[1:]
    if len(body) != 13:
        raise IdentifierError(f"GTIN body {body!r} must have 13 digits")
    return body + check_digit(body)


def _keyed(company: str, ref: str, length: int, what: str) -> str:
    body = _digits(company, "company prefix") + _digits(ref, what)
    if len(body) != length - 1:
        raise IdentifierError(f"{what}: {body!r} must have {length - 1} digits")
    return body + check_digit(body)


@lru_cache(maxsize=65_536)
def epc_urn_to_digital_link(urn: str) -> str:
    """The canonical GS1 Digital Link URI of an EPC URN (pure identity, class or pattern).

    Raises:
        IdentifierError: the URN names a GS1 scheme but its fields are malformed.
    """
    m = re.fullmatch(r"urn:epc:(id|class|idpat):([a-z0-9]+):(.+)", urn)
    if m is None:
        raise IdentifierError(f"{urn!r} is not an EPC URN")
    kind, scheme, body = m.groups()
    if kind == "class":
        if scheme != "lgtin":
            raise IdentifierError(f"unsupported EPC class scheme {scheme!r}")
        cp, ir, lot = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/01/{_gtin14(cp, ir)}/10/{lot}"
    if kind == "idpat":
        parts = body.split(".")
        if scheme == "sgtin" and len(parts) == 3 and parts[2] == "*":
            return f"{CANONICAL_HOST}/01/{_gtin14(parts[0], parts[1])}"
        raise IdentifierError(f"unsupported EPC pattern {urn!r}")
    if scheme == "sgtin":
        cp, ir, serial = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/01/{_gtin14(cp, ir)}/21/{serial}"
    if scheme == "sscc":
        cp, ref = _parts(body, 2, scheme)
        key = _keyed(cp, ref[1:], 17, "serial reference")
        return f"{CANONICAL_HOST}/00/{ref[:1]}{key}"
    if scheme == "sgln":
        cp, loc, ext = _parts(body, 3, scheme)
        gln = _keyed(cp, loc, 13, "location reference")
        return f"{CANONICAL_HOST}/414/{gln}" + ("" if ext == "0" else f"/254/{ext}")
    if scheme == "pgln":
        cp, party = _parts(body, 2, scheme)
        return f"{CANONICAL_HOST}/417/{_keyed(cp, party, 13, 'party reference')}"
    if scheme == "grai":
        cp, asset, serial = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/8003/0{_keyed(cp, asset, 13, 'asset type')}{serial}"
    if scheme == "giai":
        cp, asset = _parts(body, 2, scheme)
        return f"{CANONICAL_HOST}/8004/{_digits(cp, 'company prefix')}{asset}"
    if scheme in ("gsrn", "gsrnp"):
        cp, ref = _parts(body, 2, scheme)
        ai = "8018" if scheme == "gsrn" else "8017"
        return f"{CANONICAL_HOST}/{ai}/{_keyed(cp, ref, 18, 'service reference')}"
    if scheme == "gdti":
        cp, doc, serial = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/253/{_keyed(cp, doc, 13, 'document type')}{serial}"
    if scheme == "sgcn":
        cp, coupon, serial = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/255/{_keyed(cp, coupon, 13, 'coupon reference')}{serial}"
    if scheme == "ginc":
        cp, ref = _parts(body, 2, scheme)
        return f"{CANONICAL_HOST}/401/{_digits(cp, 'company prefix')}{ref}"
    if scheme == "gsin":
        cp, ref = _parts(body, 2, scheme)
        return f"{CANONICAL_HOST}/402/{_keyed(cp, ref, 17, 'shipper reference')}"
    if scheme == "cpi":
        cp, ref, serial = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/8010/{_digits(cp, 'company prefix')}{ref}/8011/{serial}"
    if scheme == "itip":
        cp, ir, piece, total, serial = _parts(body, 5, scheme)
        return f"{CANONICAL_HOST}/8006/{_gtin14(cp, ir)}{piece}{total}/21/{serial}"
    if scheme == "upui":
        cp, ir, tpx = _parts(body, 3, scheme)
        return f"{CANONICAL_HOST}/01/{_gtin14(cp, ir)}/235/{tpx}"
    raise IdentifierError(f"unsupported EPC scheme {scheme!r}")


@dataclass(frozen=True)
class DigitalLink:
    """A parsed GS1 Digital Link path: the primary key and its qualifiers, in path order."""

    elements: tuple[tuple[str, str], ...]

    @property
    def primary(self) -> tuple[str, str]:
        return self.elements[0]

    def get(self, ai: str) -> str | None:
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
        return host + "".join(f"/{ai}/{value}" for ai, value in self.elements)

    def constrained(self) -> DigitalLink:
        """The most fine-grained identification only (CBV 2.0 hash rule 18 III)."""
        ai, value = self.primary
        for quals in _QUALIFIERS.get(ai, ()):
            found = [(q, self.get(q)) for q in quals]
            if all(v is not None for _, v in found):
                return DigitalLink(((ai, value), *((q, v) for q, v in found if v is not None)))
        return DigitalLink(((ai, value),))

    def lot_link(self) -> DigitalLink | None:
        """The lot this item belongs to (01 + 10), if the link names one."""
        if self.gtin is None or self.lot is None:
            return None
        return DigitalLink((("01", self.gtin), ("10", self.lot)))


@lru_cache(maxsize=65_536)
def parse_digital_link_path(path: str) -> DigitalLink:
    """Parses `/01/{gtin}/10/{lot}/21/{serial}` (or any primary key path) into AI/value pairs.

    Raises:
        IdentifierError: no GS1 primary key, an odd number of segments or an invalid GTIN.
    """
    raw = path.strip("/").split("/")
    segments = [unquote(s) for s in raw if s] if "%" in path else [s for s in raw if s]
    # A Digital Link may sit under a path prefix: start at the first primary key AI.
    start = next((i for i, s in enumerate(segments) if s in PRIMARY_KEYS and i + 1 < len(segments)), None)
    if start is None:
        raise IdentifierError(f"no GS1 primary key in {path!r}")
    rest = segments[start:]
    if len(rest) % 2:
        raise IdentifierError(f"Digital Link path {path!r} has an AI without a value")
    elements = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
    ai, value = elements[0]
    for q, _ in elements[1:]:
        if q not in _QUALIFIER_AIS:
            raise IdentifierError(f"{q!r} is not a key qualifier")
    if ai == "01":
        if not value.isdigit() or len(value) not in (8, 12, 13, 14):
            raise IdentifierError(f"GTIN {value!r} must have 8, 12, 13 or 14 digits")
        value = value.zfill(14)
        if check_digit(value[:-1]) != value[-1]:
            raise IdentifierError(f"GTIN {value!r} has a wrong check digit")
        elements = ((ai, value), *elements[1:])
    return DigitalLink(elements)


def is_digital_link(uri: str) -> bool:
    if not uri.startswith(("http://", "https://")):
        return False
    try:
        parse_digital_link_path(urlsplit(uri).path)
    except IdentifierError:
        return False
    return True


@lru_cache(maxsize=65_536)
def canonical_key(identifier: str) -> str:
    """The key an identifier is stored and matched under: the constrained canonical Digital Link
    URI for EPC URNs and GS1 Digital Link URIs, the identifier itself for anything else."""
    ident = identifier.strip()
    if ident.startswith("urn:epc:"):
        try:
            return epc_urn_to_digital_link(ident)
        except IdentifierError:
            return ident
    if ident.startswith(("http://", "https://")):
        try:
            link = parse_digital_link_path(urlsplit(ident).path)
        except IdentifierError:
            return ident
        return link.constrained().uri()
    return ident


def full_link(identifier: str) -> DigitalLink | None:
    """The Digital Link (all qualifiers kept) an EPC URN or Digital Link URI names, or None."""
    ident = identifier.strip()
    try:
        if ident.startswith("urn:epc:"):
            ident = epc_urn_to_digital_link(ident)
        if ident.startswith(("http://", "https://")):
            return parse_digital_link_path(urlsplit(ident).path)
    except IdentifierError:
        return None
    return None
