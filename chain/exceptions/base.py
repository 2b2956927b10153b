"""The root of every error the chain layer raises."""

from __future__ import annotations


class TracechainError(Exception):
    """Root of every error raised by Tracechain's chain layer (and of the GS1 identifier errors)."""
