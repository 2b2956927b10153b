"""GS1 identifiers: the one place that parses them, checks them and reduces them to a key.

Every identifier the chain layer, the API and the oracles hash, store, match or put on chain goes
through this package:

- :mod:`chain.gs1.keys`: primary keys (GTIN, SSCC, GLN, GIAI, GRAI, GSRN, …), the key qualifiers
  each takes, and the mod-10 check digit of every key that has one.
- :mod:`chain.gs1.digital_link`: a Digital Link URI on any host, under any path prefix, with its
  qualifiers in any order, percent-encoded or not, a GTIN-8/12/13/14, a query string, parsed
  into one canonical :class:`DigitalLink`.
- :mod:`chain.gs1.epc`: EPC URNs (TDS 2.0) to Digital Links, and back for SGTIN, LGTIN, UPUI,
  SSCC, SGLN, PGLN and GIAI given the company prefix length.
- :mod:`chain.gs1.canonical`: the canonical key and the ledger key.
- :mod:`chain.gs1.brand`: the digits a GS1 company prefix is matched against (brand owner).

**The canonical key** is the *constrained* canonical Digital Link URI that CBV 2.0's event hash
(rule 18 III) requires: host ``https://id.gs1.org``, GTIN of 14 digits, and of the key qualifiers
only the most fine-grained identity an EPC URN carries. So ``/01/{gtin}/10/{lot}/21/{serial}``
keys as ``/01/{gtin}/21/{serial}`` (GTIN + serial identify an item whatever its lot, as in the GS1
General Specifications), ``/01/{gtin}/10/{lot}`` as itself, ``/414/{gln}/254/{ext}`` as itself.
Values are percent-decoded, then percent-encoded again only where a path segment needs it
(``"%/<>?#``, space, non-ASCII). Anything that is not a GS1 key keys as itself.

**The ledger key** (``asset_id``) of an item, lot or logistic unit on TraceabilityLedger is the
keccak-256 of that same canonical key. Hence the event index and the ledger agree, and a recall
is found through any spelling of the item's link: the item's own key does not depend on whether
the link names the lot, and the read model links the item to its lot (``registerAsset(item,
lot)``). Decided for the qualifiers that are not an identity of their own:

- AI 22 (consumer product variant) is dropped: ``/01/{gtin}/22/{cpv}/10/{lot}/21/{serial}``
  is the item ``/01/{gtin}/21/{serial}``, and ``/01/{gtin}/22/{cpv}`` is the GTIN ``/01/{gtin}``;
  the variant describes the item, GTIN + serial already identifies it, and the EPC URN of the
  item (SGTIN) has no place for it.
- AI 235 (third-party controlled serial extension) is kept: ``/01/{gtin}/235/{tpx}`` is an item
  of its own (the EPC ``upui`` scheme). The Digital Link standard allows 235 only alone, so a
  link combining it with 22, 10 or 21 is refused.
"""

from chain.gs1.brand import brand_digits, check_prefix, is_restricted
from chain.gs1.canonical import asset_id, canonical_key, full_link, parse_identifier
from chain.gs1.digital_link import (
    CANONICAL_HOST,
    DigitalLink,
    parse_digital_link,
    parse_digital_link_path,
)
from chain.gs1.epc import EPC_SCHEMES, digital_link_to_epc_urn, epc_urn_to_digital_link
from chain.gs1.keys import PRIMARY_KEYS, IdentifierError, check_digit, normalise_key

__all__ = [
    "CANONICAL_HOST",
    "EPC_SCHEMES",
    "PRIMARY_KEYS",
    "DigitalLink",
    "IdentifierError",
    "asset_id",
    "brand_digits",
    "canonical_key",
    "check_digit",
    "check_prefix",
    "digital_link_to_epc_urn",
    "epc_urn_to_digital_link",
    "full_link",
    "is_restricted",
    "normalise_key",
    "parse_digital_link",
    "parse_digital_link_path",
    "parse_identifier",
]
