"""The digits a GS1 company prefix is matched against (docs/security.md §4.1)."""

from __future__ import annotations

import pytest

from chain.gs1 import IdentifierError, brand_digits, check_prefix, is_restricted


@pytest.mark.parametrize(
    ("key", "digits"),
    [
        ("https://id.gs1.org/01/09506000134352/10/L1", "9506000134352"),  # GTIN-14: indicator dropped
        ("https://example.com/p/01/19506000134359/21/S1", "9506000134359"),
        ("09506000134352", "9506000134352"),
        ("9506000134352", "9506000134352"),  # GTIN-13 as is
        ("614141000005", "0614141000005"),  # GTIN-12: leading 0
        ("95060002", "0000095060002"),  # GTIN-8 padded
        ("https://id.gs1.org/00/106141412345678908", "06141412345678908"),  # SSCC: extension dropped
        ("106141412345678908", "06141412345678908"),
        ("urn:epc:id:sscc:0614141.1234567890", "06141412345678908"),
        ("https://id.gs1.org/414/0614141000005/254/7", "0614141000005"),  # GLN as is
        ("urn:epc:id:sgtin:0614141.812345.6789", "0614141123458"),
    ],
)
def test_brand_digits_of_keys_and_links(key: str, digits: str) -> None:
    assert brand_digits(key) == digits


@pytest.mark.parametrize("key", ["urn:uuid:1", "https://id.gs1.org/401/ABC", "0950600013435", "1234"])
def test_brand_digits_refuses_what_carries_no_prefix(key: str) -> None:
    with pytest.raises(IdentifierError):
        brand_digits(key)


def test_prefix_checks() -> None:
    assert check_prefix("0614141") == "0614141"
    assert is_restricted("0212") and is_restricted("0400") and is_restricted("2999")
    assert not is_restricted("0300") and not is_restricted("1234")
    for bad in ("401", "4012345678901", "40a1", "0212", "2999"):
        with pytest.raises(IdentifierError):
            check_prefix(bad)
