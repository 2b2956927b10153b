"""EPC URNs (GS1 Tag Data Standard 2.0) to canonical GS1 Digital Links and back.

A Digital Link does not say where its GS1 company prefix ends, so the way back needs the prefix's
length (the partner registry knows each partner's prefix; GS1 publishes the length table).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

from chain.gs1.digital_link import CANONICAL_HOST, DigitalLink, link_of, parse_digital_link
from chain.gs1.keys import IdentifierError, with_check_digit

# TDS 2.0 §6.3: these characters of a URN component are percent-escaped, every other one is literal.
_URN_ESCAPED = frozenset('"%&/<>?')
COMPANY_PREFIX_LENGTHS = range(6, 13)
#: The EPC schemes (pure identity, and ``lgtin`` for classes) this module translates.
EPC_SCHEMES = frozenset(
    "sgtin sscc sgln pgln grai giai gsrn gsrnp gdti sgcn ginc gsin cpi itip upui lgtin".split()
)


def _digits(value: str, what: str) -> str:
    if value and not (value.isdigit() and value.isascii()):
        raise IdentifierError(f"{what} {value!r} must be digits")
    return value


def _fields(body: str, n: int, scheme: str) -> list[str]:
    # Only the last field (serial, lot, extension, asset reference) may contain a dot.
    parts = body.split(".", n - 1)
    if len(parts) != n:
        raise IdentifierError(f"EPC scheme {scheme} needs {n} dot-separated fields, got {body!r}")
    return parts


def _keyed(company: str, ref: str, length: int, what: str) -> str:
    """Company prefix + reference + check digit, ``length`` digits in all."""
    body = _digits(company, "company prefix") + _digits(ref, what)
    if not company or len(body) != length - 1:
        raise IdentifierError(f"{what}: {company}.{ref} must make {length - 1} digits")
    return with_check_digit(body)


def _gtin14(company: str, indicator_item: str) -> str:
    """TDS puts the indicator digit first in the item reference; the GTIN puts it first of all."""
    body = indicator_item[:1] + _digits(company, "company prefix") + indicator_item[1:]
    if not company or len(_digits(body, "GTIN")) != 13:
        raise IdentifierError(f"GTIN: {company}.{indicator_item} must make 13 digits")
    return with_check_digit(body)


def _pairs(urn: str) -> list[tuple[str, str]]:
    m = re.fullmatch(r"urn:epc:(id|class|idpat):([a-z0-9]+):(.+)", urn)
    if m is None:
        raise IdentifierError(f"{urn!r} is not an EPC URN")
    kind, scheme, body = m.groups()
    if kind == "class":
        if scheme != "lgtin":
            raise IdentifierError(f"unsupported EPC class scheme {scheme!r}")
        cp, ir, lot = _fields(body, 3, scheme)
        return [("01", _gtin14(cp, ir)), ("10", unquote(lot))]
    if kind == "idpat":
        cp, ir, star = _fields(body, 3, scheme)
        if scheme != "sgtin" or star != "*":
            raise IdentifierError(f"unsupported EPC pattern {urn!r}")
        return [("01", _gtin14(cp, ir))]
    if scheme in ("sgtin", "upui"):
        cp, ir, serial = _fields(body, 3, scheme)
        return [("01", _gtin14(cp, ir)), ("21" if scheme == "sgtin" else "235", unquote(serial))]
    if scheme == "sscc":
        cp, ref = _fields(body, 2, scheme)
        # The extension digit comes first in the SSCC and counts in its check digit.
        return [("00", _keyed(ref[:1] + cp, ref[1:], 18, "serial reference"))]
    if scheme == "sgln":
        cp, loc, ext = _fields(body, 3, scheme)
        gln = _keyed(cp, loc, 13, "location reference")
        return [("414", gln)] + ([] if ext == "0" else [("254", unquote(ext))])
    if scheme == "pgln":
        cp, party = _fields(body, 2, scheme)
        return [("417", _keyed(cp, party, 13, "party reference"))]
    if scheme == "giai":
        cp, asset = _fields(body, 2, scheme)
        return [("8004", _digits(cp, "company prefix") + unquote(asset))]
    if scheme == "grai":
        cp, asset, serial = _fields(body, 3, scheme)
        return [("8003", "0" + _keyed(cp, asset, 13, "asset type") + unquote(serial))]
    if scheme in ("gsrn", "gsrnp"):
        cp, ref = _fields(body, 2, scheme)
        return [("8018" if scheme == "gsrn" else "8017", _keyed(cp, ref, 18, "service reference"))]
    if scheme in ("gdti", "sgcn"):
        cp, ref, serial = _fields(body, 3, scheme)
        return [("253" if scheme == "gdti" else "255", _keyed(cp, ref, 13, "reference") + unquote(serial))]
    if scheme == "ginc":
        cp, ref = _fields(body, 2, scheme)
        return [("401", _digits(cp, "company prefix") + unquote(ref))]
    if scheme == "gsin":
        cp, ref = _fields(body, 2, scheme)
        return [("402", _keyed(cp, ref, 17, "shipper reference"))]
    if scheme == "cpi":
        cp, ref, serial = _fields(body, 3, scheme)
        return [("8010", _digits(cp, "company prefix") + unquote(ref)), ("8011", serial)]
    if scheme == "itip":
        cp, ir, piece, total, serial = _fields(body, 5, scheme)
        return [("8006", _gtin14(cp, ir) + piece + total), ("21", unquote(serial))]
    raise IdentifierError(f"unsupported EPC scheme {scheme!r}")


@lru_cache(maxsize=65_536)
def epc_urn_to_digital_link(urn: str) -> str:
    """The canonical GS1 Digital Link URI of an EPC URN (pure identity, LGTIN class or SGTIN pattern).

    Raises:
        IdentifierError: not an EPC URN, an unsupported scheme, or malformed fields.
    """
    return link_of(_pairs(urn)).uri()


def _escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _URN_ESCAPED else c for c in value)


def digital_link_to_epc_urn(link: str | DigitalLink, company_prefix_length: int) -> str:
    """The EPC URN of a Digital Link's constrained form: SGTIN (01 + 21), LGTIN class (01 + 10),
    SGTIN pattern (01 alone), UPUI (01 + 235), SSCC, SGLN, PGLN or GIAI.

    Args:
        link: a Digital Link URI (any host) or a parsed link.
        company_prefix_length: digits of the GS1 company prefix in the key (6 to 12).

    Raises:
        IdentifierError: a malformed link, another key type, or a prefix length the key cannot have.
    """
    parsed = parse_digital_link(link) if isinstance(link, str) else link
    constrained = parsed.constrained()
    (ai, value), qualifiers = constrained.primary, dict(constrained.elements[1:])
    n = company_prefix_length
    if n not in COMPANY_PREFIX_LENGTHS:
        raise IdentifierError(f"a GS1 company prefix has 6 to 12 digits, not {n}")
    if ai == "01":
        cp, ir = value[1 : 1 + n], value[0] + value[1 + n : 13]
        if "21" in qualifiers:
            return f"urn:epc:id:sgtin:{cp}.{ir}.{_escape(qualifiers['21'])}"
        if "235" in qualifiers:
            return f"urn:epc:id:upui:{cp}.{ir}.{_escape(qualifiers['235'])}"
        if "10" in qualifiers:
            return f"urn:epc:class:lgtin:{cp}.{ir}.{_escape(qualifiers['10'])}"
        return f"urn:epc:idpat:sgtin:{cp}.{ir}.*"
    if ai == "00":
        return f"urn:epc:id:sscc:{value[1 : 1 + n]}.{value[0]}{value[1 + n : 17]}"
    if ai in ("414", "417"):
        if ai == "417":
            return f"urn:epc:id:pgln:{value[:n]}.{value[n:12]}"
        return f"urn:epc:id:sgln:{value[:n]}.{value[n:12]}.{_escape(qualifiers.get('254', '0'))}"
    if ai == "8004":
        if not value[:n].isdigit() or len(value) <= n:
            raise IdentifierError(f"GIAI {value!r} has no {n}-digit company prefix and asset reference")
        return f"urn:epc:id:giai:{value[:n]}.{_escape(value[n:])}"
    raise IdentifierError(f"no EPC URN translation for AI {ai} ({CANONICAL_HOST}/{ai}/…)")
