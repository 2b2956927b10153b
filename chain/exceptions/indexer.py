"""Errors of the indexer (chain logs into the read model)."""

from __future__ import annotations

from chain.exceptions.base import TracechainError


class IndexerError(TracechainError):
    """Root of the indexer's errors."""


class ReorgTooDeep(IndexerError):
    """The node's chain shares none of the stored recent blocks: the reorg is deeper than the kept history."""

    def __init__(self, cursor: int, oldest_kept: int | None) -> None:
        super().__init__(
            f"reorg below the kept history (cursor {cursor}, oldest kept block {oldest_kept}): "
            "rebuild the read model from the deployment block"
        )
        self.cursor = cursor
        self.oldest_kept = oldest_kept
