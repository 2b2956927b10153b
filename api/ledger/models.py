"""Request and response schemas of the ledger routes (``/ledger``)."""

from __future__ import annotations

from api.models import Input, Output, SignedTx, TxPublic


class LedgerTxCreate(Input):
    """The partner's own signed TraceabilityLedger call, as ``GET /ledger/unsigned/{action}`` gave it."""

    transaction: SignedTx


class LedgerTxPublic(Output):
    """What became of a relayed ledger call (``pending`` until mined; follow it at
    ``GET /transactions/{txHash}``)."""

    action: str
    assets: list[str]
    """The IDs the call registers (an item, a lot, a transformation's outputs) or concerns (the
    recalled lot, the offered item, the parent then the children)."""
    transformation_id: str | None = None
    transaction: TxPublic


class ItemPublic(Output):
    """An item, lot or logistic unit on the ledger now."""

    id: str
    link: str | None
    owner: str
    registered_at: int
    lot: str | None
    parent: str | None
    transformation_id: str | None
    made_from: list[str]
    consumed: bool
    recalled: bool
    offered_to: str | None
