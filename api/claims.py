"""Claims others rely on: recalls and certifications are shown (on the consumer page, as a trace's
``recalled``) only when made by the brand owner of the goods, a recall also by the consortium admin
(docs/security.md §4.2, §4.5). Capture rights refuse other such claims (api.rights); this checks
again where they are shown, for events stored before capture rights and prefixes reassigned since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.brands import BrandOwners
from api.epcis.store import vocab_short
from api.rights import checksum_or_empty, objects_of
from chain.roles import DEFAULT_ADMIN_ROLE
from chain.tables.readmodel import RoleMember

ADMIN_ROLE = "0x" + DEFAULT_ADMIN_ROLE.hex()
BRAND_OWNER = "brand-owner"
ADMIN = "admin"


def is_brand_claim(event: Mapping[str, Any]) -> bool:
    """Whether the event makes a claim only a brand owner may make: a recall or a certification."""
    return vocab_short(event.get("disposition"), "Disp-") == "recalled" or bool(
        event.get("certificationInfo")
    )


def claimants(
    session: Session, brands: BrandOwners, claims: Sequence[tuple[int, Mapping[str, Any], str | None]]
) -> dict[int, str]:
    """Who made each rightful recall or certification among ``claims`` ((key, event, capturer)):
    :data:`BRAND_OWNER` when its capturer is the brand owner of every object it names, :data:`ADMIN`
    for a recall the consortium admin captured. Claims absent from the answer are not rightful
    (captured by anyone else, by no partner, or about objects no member brands) and are never
    shown as claims (the consumer page, a trace's ``recalled``).

    Capture rights refuse such claims (:func:`check_capture`); this is checked again where they are
    shown, for events stored before capture rights, and prefixes reassigned since.
    """
    mine = [(k, e, checksum_or_empty(by or "")) for k, e, by in claims if is_brand_claim(e)]
    if not mine:
        return {}
    keys = sorted({key for _, e, _ in mine for key, _, _ in objects_of(e)})
    owners = brands.brand_owners(keys)
    admins = set(
        session.scalars(
            select(RoleMember.account).where(
                RoleMember.role == ADMIN_ROLE, RoleMember.account.in_({by for _, _, by in mine})
            )
        )
    )
    out: dict[int, str] = {}
    for k, event, by in mine:
        objects = [key for key, _, _ in objects_of(event)]
        if by and objects and all(owners.get(key) == by for key in objects):
            out[k] = BRAND_OWNER
        elif by in admins and vocab_short(event.get("disposition"), "Disp-") == "recalled":
            out[k] = ADMIN
    return out
