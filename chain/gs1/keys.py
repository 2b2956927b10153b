"""GS1 keys: which application identifiers (AIs) are primary keys, which qualifiers each may carry,
and the check digit of every key that has one (GS1 General Specifications §3.2, §7.9)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chain.identifiers import IdentifierError


@dataclass(frozen=True)
class KeyFormat:
    """How the value of one primary key AI is written.

    Attributes:
        digits: the length of the all-numeric part that starts the value (0: none).
        checked: whether the last of those digits is a GS1 mod-10 check digit.
        rest: a regular expression the value's remainder (after ``digits``) must match.
        qualifier_paths: the key qualifiers a Digital Link may add, each tuple one allowed
            combination in the Digital Link standard's order.
    """

    digits: int
    checked: bool
    rest: str = ""
    qualifier_paths: tuple[tuple[str, ...], ...] = ()


#: A character of the GS1 AI encodable character set 82 (General Specifications figure 7.11-1).
CSET82 = r"""[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]"""

#: Primary keys a Digital Link may start with, and how their values are checked.
KEYS: dict[str, KeyFormat] = {
    "00": KeyFormat(18, True),  # SSCC
    "01": KeyFormat(14, True, qualifier_paths=(("22", "10", "21"), ("235",))),  # GTIN
    "253": KeyFormat(13, True, rf"{CSET82}{{0,17}}"),  # GDTI: document type + optional serial
    "255": KeyFormat(13, True, r"[0-9]{0,12}"),  # GCN: coupon reference + optional serial
    "401": KeyFormat(0, False, rf"{CSET82}{{1,30}}"),  # GINC
    "402": KeyFormat(17, True),  # GSIN
    "414": KeyFormat(13, True, qualifier_paths=(("254",),)),  # GLN of a physical location
    "417": KeyFormat(13, True),  # party GLN
    "8003": KeyFormat(14, True, rf"{CSET82}{{0,16}}"),  # GRAI: 0 + asset type + optional serial
    "8004": KeyFormat(4, False, rf"{CSET82}{{0,26}}"),  # GIAI: company prefix (4-12 digits) + ref
    "8006": KeyFormat(14, True, r"[0-9]{4}", (("22", "10", "21"),)),  # ITIP: GTIN + piece + total
    "8010": KeyFormat(0, False, r"[0-9A-Z#\-/]{1,30}", (("8011",),)),  # CPID
    "8017": KeyFormat(18, True),  # GSRN of a provider
    "8018": KeyFormat(18, True),  # GSRN of a recipient
}
PRIMARY_KEYS = tuple(KEYS)
QUALIFIERS = frozenset(q for fmt in KEYS.values() for path in fmt.qualifier_paths for q in path)
#: GTINs may be written with 8, 12, 13 or 14 digits and are zero-padded to 14 (GTIN-14 form).
GTIN_LENGTHS = (8, 12, 13, 14)


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of ``digits`` (the key without its check digit).

    Weights 3 and 1 alternate from the right, so leading zeros change nothing: the check digit of
    a GTIN-8 is that of its GTIN-14 form.
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def with_check_digit(body: str) -> str:
    """``body`` followed by its check digit."""
    return body + check_digit(body)


def normalise_key(ai: str, value: str) -> str:
    """The value of primary key ``ai`` in canonical form (a GTIN padded to 14 digits), its check
    digit verified.

    Raises:
        IdentifierError: ``ai`` is not a primary key, or ``value`` is malformed for it.
    """
    fmt = KEYS.get(ai)
    if fmt is None:
        raise IdentifierError(f"{ai!r} is not a GS1 primary key AI")
    if ai == "01":
        if not value.isdigit() or len(value) not in GTIN_LENGTHS:
            raise IdentifierError(f"GTIN {value!r} must have 8, 12, 13 or 14 digits")
        value = value.zfill(14)
    head, rest = value[: fmt.digits], value[fmt.digits :]
    if len(head) != fmt.digits or not all("0" <= ch <= "9" for ch in head):
        raise IdentifierError(f"AI {ai} value {value!r} must start with {fmt.digits} digits")
    if fmt.checked and check_digit(head[:-1]) != head[-1]:
        raise IdentifierError(f"AI {ai} value {value!r} has a wrong check digit")
    if not re.fullmatch(fmt.rest, rest):
        raise IdentifierError(f"AI {ai} value {value!r} is malformed")
    return value


def qualifier_order(ai: str, qualifiers: list[str]) -> list[str]:
    """``qualifiers`` of primary key ``ai`` in the Digital Link standard's order.

    Raises:
        IdentifierError: a qualifier that ``ai`` does not take, one given twice, or a combination
            the standard does not allow (AI 235 with 22, 10 or 21).
    """
    if len(set(qualifiers)) != len(qualifiers):
        raise IdentifierError(f"a key qualifier of AI {ai} is given twice: {qualifiers}")
    for path in KEYS[ai].qualifier_paths:
        if set(qualifiers) <= set(path):
            return [q for q in path if q in qualifiers]
    raise IdentifierError(f"AI {ai} does not take the key qualifiers {qualifiers}")
