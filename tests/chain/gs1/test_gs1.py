"""chain.gs1: check digits, Digital Link spellings, EPC URNs both ways, the canonical and ledger keys."""

from __future__ import annotations

import itertools
from urllib.parse import quote

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.gs1 import (
    EPC_SCHEMES,
    IdentifierError,
    asset_id,
    canonical_key,
    check_digit,
    digital_link_to_epc_urn,
    epc_urn_to_digital_link,
    full_link,
    normalise_key,
    parse_identifier,
)

ITEM = "https://brand.example/p/01/9506000134352/10/LOT42/21/0001?linkType=gs1:pip"
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
CHARS = "!$&'()*+,;=:@"  # kept literal in a canonical path segment
values = st.text(alphabet=CSET82, min_size=1, max_size=20)


def with_check(body: str) -> str:
    return body + check_digit(body)


digits = st.integers(0, 9).map(str)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    """A valid GTIN-8, -12, -13 or -14 (its 14-digit form is the one that is checked)."""
    length = draw(st.sampled_from((8, 12, 13, 14)))
    return with_check("".join(draw(st.lists(digits, min_size=length - 1, max_size=length - 1))))


# --- check digits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ai", "value", "n"),
    [
        ("01", "09506000134352", 14),  # GTIN (GS1 General Specifications examples)
        ("00", "106141412345678908", 18),  # SSCC
        ("414", "0614141073467", 13),  # GLN
        ("417", "0614141000005", 13),  # party GLN
        ("8003", "00614141123452400", 14),  # GRAI with serial
        ("8018", "061414112345678902", 18),  # GSRN
        ("253", "4012345000009ABC", 13),  # GDTI with serial
        ("8006", "095060001343520102", 14),  # ITIP: piece 01 of 02
    ],
)
def test_valid_keys_pass_and_a_wrong_check_digit_is_refused(ai: str, value: str, n: int) -> None:
    """``n``: how many digits the check digit closes."""
    assert normalise_key(ai, value) == value
    wrong = value[: n - 1] + str((int(value[n - 1]) + 1) % 10) + value[n:]
    with pytest.raises(IdentifierError, match="check digit"):
        normalise_key(ai, wrong)


@given(st.text(alphabet="0123456789", min_size=7, max_size=17), st.data())
def test_a_changed_digit_always_changes_the_check_digit(body: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(body) - 1))
    other = data.draw(digits.filter(lambda d: d != body[i]))
    assert check_digit(body[:i] + other + body[i + 1 :]) != check_digit(body)


def test_keys_without_a_check_digit_are_taken_as_written() -> None:
    assert normalise_key("8004", "0614141ABC-1") == "0614141ABC-1"  # GIAI
    assert normalise_key("401", "0614141XYZ") == "0614141XYZ"  # GINC


# --- Digital Link spellings -------------------------------------------------------------------


def test_canonical_forms_of_an_item_link() -> None:
    link = parse_identifier(ITEM)
    assert link.uri() == "https://id.gs1.org/01/09506000134352/10/LOT42/21/0001"
    assert canonical_key(ITEM) == "https://id.gs1.org/01/09506000134352/21/0001"
    assert asset_id(ITEM) == keccak(text="https://id.gs1.org/01/09506000134352/21/0001")
    assert asset_id(link.lot_link() or link) == keccak(text="https://id.gs1.org/01/09506000134352/10/LOT42")
    with pytest.raises(IdentifierError):
        asset_id("https://id.gs1.org/01/09506000134353/21/1")  # wrong check digit


@pytest.mark.parametrize(
    "spelling",
    [
        "https://id.gs1.org/01/09506000134352/10/LOT42/21/0001",
        "http://example.com/01/9506000134352/21/0001/10/LOT42",  # host, GTIN-13, qualifier order
        "https://brand.example/a/b/01/09506000134352/10/LO%54%342/21/%30001#x",  # prefix, encoding
        "https://id.gs1.org/01/09506000134352/21/0001?10=LOT42&17=250101",  # lot in the query
        "https://id.gs1.org/01/09506000134352/22/V1/10/LOT42/21/0001",  # CPV dropped
        "urn:epc:id:sgtin:9506000.013435.0001",
        "  https://id.gs1.org/01/09506000134352/21/0001 ",
    ],
)
def test_every_spelling_of_one_item_has_one_ledger_key(spelling: str) -> None:
    assert canonical_key(spelling) == "https://id.gs1.org/01/09506000134352/21/0001"
    assert asset_id(spelling) == keccak(text="https://id.gs1.org/01/09506000134352/21/0001")


def test_gtin_8_and_12_pad_to_14() -> None:
    assert canonical_key("https://id.gs1.org/01/96385074") == "https://id.gs1.org/01/00000096385074"
    assert canonical_key("https://x.example/01/614141123452") == "https://id.gs1.org/01/00614141123452"


def test_cpv_and_tpx_keys() -> None:
    assert (
        canonical_key("https://id.gs1.org/01/09506000134352/22/V1") == "https://id.gs1.org/01/09506000134352"
    )
    tpx = "https://id.gs1.org/01/09506000134352/235/T-9"
    assert canonical_key(tpx) == tpx and asset_id(tpx) == keccak(text=tpx)
    with pytest.raises(IdentifierError, match="does not take"):
        asset_id("https://id.gs1.org/01/09506000134352/235/T-9/21/1")


@pytest.mark.parametrize(
    "bad",
    [
        "https://example.com/not-a-link",
        "https://id.gs1.org/01/9506000134353",  # GTIN-13 with a wrong check digit
        "https://id.gs1.org/01/09506000134352/21",  # AI without a value
        "https://id.gs1.org/00/106141412345678908/10/L1",  # SSCC takes no qualifier
        "https://id.gs1.org/01/09506000134352/21/1/21/2",  # serial twice
        "https://id.gs1.org/414/0614141073468",  # GLN check digit
        "http://[not-an-ip]/01/09506000134352",
        "ftp://id.gs1.org/01/09506000134352",
    ],
)
def test_malformed_links_are_refused_and_key_as_themselves(bad: str) -> None:
    with pytest.raises(IdentifierError):
        asset_id(bad)
    assert full_link(bad) is None and canonical_key(bad) == bad


@st.composite
def item_spellings(draw: st.DrawFn) -> tuple[str, str, str]:
    """(a spelling of an item link, the canonical link of the same item, the item's lot link)."""
    gtin, lot, serial = draw(gtins()), draw(values), draw(values)
    host = draw(
        st.sampled_from(["https://id.gs1.org", "http://brand.example", "https://x.example:8443/dl/p"])
    )
    pairs = [("10", lot), ("21", serial)]
    if draw(st.booleans()):
        pairs.append(("22", draw(values)))
    pairs = draw(st.permutations(pairs))
    # Percent-encode what must be, and perhaps more.
    encode = draw(st.sampled_from([lambda v: quote(v, safe=""), lambda v: quote(v, safe="!&'()*+,;=:")]))
    path = f"/01/{gtin}" + "".join(f"/{ai}/{encode(v)}" for ai, v in pairs)
    query = draw(st.sampled_from(["", "?linkType=gs1:pip", "?17=260101&3103=000195"]))
    g14 = gtin.zfill(14)
    return (
        host + path + query,
        f"https://id.gs1.org/01/{g14}/21/{quote(serial, safe=CHARS)}",
        (f"https://id.gs1.org/01/{g14}/10/{quote(lot, safe=CHARS)}"),
    )


@given(item_spellings())
def test_any_spelling_gives_the_canonical_and_ledger_key(case: tuple[str, str, str]) -> None:
    spelling, item, lot = case
    link = parse_identifier(spelling)
    assert canonical_key(spelling) == item
    assert asset_id(spelling) == keccak(text=item)
    assert (link.lot_link() or link).uri() == lot
    # The canonical URIs parse back to themselves.
    assert parse_identifier(link.uri()) == link
    assert canonical_key(item) == item


# --- EPC URNs <-> Digital Links ---------------------------------------------------------------


def test_epc_urns_of_the_tag_data_standard_examples() -> None:
    assert epc_urn_to_digital_link("urn:epc:id:sscc:0614141.1234567890") == (
        "https://id.gs1.org/00/106141412345678908"  # the extension digit counts in the check digit
    )
    assert epc_urn_to_digital_link("urn:epc:id:sgln:0614141.12345.400") == (
        "https://id.gs1.org/414/0614141123452/254/400"
    )
    assert (
        epc_urn_to_digital_link("urn:epc:id:grai:0614141.12345.400")
        == "https://id.gs1.org/8003/00614141123452400"
    )
    assert (
        epc_urn_to_digital_link("urn:epc:id:giai:0614141.12345ABC")
        == "https://id.gs1.org/8004/061414112345ABC"
    )
    assert (
        epc_urn_to_digital_link("urn:epc:id:gsrn:0614141.1234567890")
        == "https://id.gs1.org/8018/061414112345678902"
    )
    assert (
        epc_urn_to_digital_link("urn:epc:idpat:sgtin:0614141.107346.*")
        == "https://id.gs1.org/01/10614141073464"
    )
    # URN escapes and Digital Link encoding name the same serial.
    assert canonical_key("urn:epc:id:sgtin:0614141.107346.A%2FB%26") == canonical_key(
        "https://id.gs1.org/01/10614141073464/21/A%2FB&"
    )


@pytest.mark.parametrize(
    "urn", ["urn:epc:id:sgtin:0614141.10734.1", "urn:epc:id:foo:1.2", "urn:epc:id:sscc:x.1"]
)
def test_malformed_epc_urns_are_refused(urn: str) -> None:
    with pytest.raises(IdentifierError):
        epc_urn_to_digital_link(urn)


prefix_lengths = st.integers(6, 12)


def _urn_escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in '"%&/<>?' else c for c in value)


def _digit_string(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


@st.composite
def epc_urns(draw: st.DrawFn) -> tuple[str, int]:
    """A pure-identity EPC URN of the schemes with a way back, in canonical URN form, and its
    company prefix length."""
    n = draw(prefix_lengths)
    cp = draw(_digit_string(n))
    raw = draw(values)
    serial = _urn_escape(raw)
    scheme = draw(st.sampled_from(["sgtin", "lgtin", "upui", "sscc", "sgln", "giai", "pgln"]))
    if scheme in ("sgtin", "upui"):
        return f"urn:epc:id:{scheme}:{cp}.{draw(_digit_string(13 - n))}.{serial}", n
    if scheme == "lgtin":
        return f"urn:epc:class:lgtin:{cp}.{draw(_digit_string(13 - n))}.{serial}", n
    if scheme == "sscc":
        return f"urn:epc:id:sscc:{cp}.{draw(_digit_string(17 - n))}", n
    if scheme == "sgln":
        ext = draw(st.sampled_from(["0", serial]))  # 0: no extension
        return f"urn:epc:id:sgln:{cp}.{draw(_digit_string(12 - n))}.{ext}", n
    if scheme == "pgln":
        return f"urn:epc:id:pgln:{cp}.{draw(_digit_string(12 - n))}", n
    return f"urn:epc:id:giai:{cp}.{_urn_escape(raw[: 30 - n])}", n


@given(epc_urns())
def test_epc_urn_to_digital_link_and_back_is_the_identity(case: tuple[str, int]) -> None:
    urn, n = case
    link = epc_urn_to_digital_link(urn)
    assert canonical_key(urn) == link == canonical_key(link)
    assert digital_link_to_epc_urn(link, n) == urn
    assert asset_id(urn) == asset_id(link)


@given(item_spellings(), prefix_lengths)
def test_digital_link_to_epc_urn_and_back_gives_the_canonical_key(case: tuple[str, str, str], n: int) -> None:
    spelling, item, lot = case
    assert epc_urn_to_digital_link(digital_link_to_epc_urn(spelling, n)) == item
    assert epc_urn_to_digital_link(digital_link_to_epc_urn(lot, n)) == lot


def test_digital_link_to_epc_urn_refuses_what_it_cannot_translate() -> None:
    with pytest.raises(IdentifierError, match="6 to 12"):
        digital_link_to_epc_urn("https://id.gs1.org/01/09506000134352/21/1", 5)
    with pytest.raises(IdentifierError, match="no EPC URN"):
        digital_link_to_epc_urn("https://id.gs1.org/8018/061414112345678902", 7)


def test_spellings_are_many_but_keys_are_one() -> None:
    """All orders of the qualifiers, with and without CPV, give one key (exhaustive, small)."""
    pairs = [("22", "V"), ("10", "L"), ("21", "S")]
    keys = {
        asset_id("https://id.gs1.org/01/09506000134352" + "".join(f"/{a}/{v}" for a, v in order))
        for order in itertools.permutations(pairs)
    }
    assert keys == {keccak(text="https://id.gs1.org/01/09506000134352/21/S")}


SCHEME_EXAMPLES = {
    "sgtin": "urn:epc:id:sgtin:0614141.112345.400",
    "sscc": "urn:epc:id:sscc:0614141.1234567890",
    "sgln": "urn:epc:id:sgln:0614141.12345.0",
    "pgln": "urn:epc:id:pgln:0614141.00000",
    "grai": "urn:epc:id:grai:0614141.12345.400",
    "giai": "urn:epc:id:giai:0614141.12345400",
    "gsrn": "urn:epc:id:gsrn:0614141.1234567890",
    "gsrnp": "urn:epc:id:gsrnp:0614141.1234567890",
    "gdti": "urn:epc:id:gdti:0614141.12345.400",
    "sgcn": "urn:epc:id:sgcn:4012345.67890.04711",
    "ginc": "urn:epc:id:ginc:0614141.xyz3311cba",
    "gsin": "urn:epc:id:gsin:0614141.123456789",
    "cpi": "urn:epc:id:cpi:0614141.123ABC.123456789",
    "itip": "urn:epc:id:itip:4012345.012345.01.02.987",
    "upui": "urn:epc:id:upui:1234567.089456.51qIgY)%3C%26Jp3*j7'SDB",
    "lgtin": "urn:epc:class:lgtin:4012345.012345.998877",
}


@pytest.mark.parametrize("scheme", sorted(EPC_SCHEMES))
def test_every_listed_epc_scheme_translates_to_a_valid_link(scheme: str) -> None:
    link = epc_urn_to_digital_link(SCHEME_EXAMPLES[scheme])
    assert parse_identifier(link).uri() == link
