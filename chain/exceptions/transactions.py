"""Errors of sending transactions: the outbox's intents, wrappers' pre-flight checks, failures."""

from __future__ import annotations

from chain.exceptions.base import TracechainError
from chain.exceptions.contract import ContractError


class UnknownIntent(TracechainError):
    """No outbox intent has this key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no outbox intent with key {key!r}")


class IntentConflict(TracechainError):
    """An intent with this key exists with another payload."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"intent key {key!r} was already used for a different transaction")


class TransactionFailed(TracechainError):
    """A transaction reverted (or could not be sent) and will not be retried."""

    def __init__(self, tx_hash: str | None, reason: str, cause: ContractError | None = None) -> None:
        self.tx_hash = tx_hash
        self.reason = reason
        self.cause = cause
        where = f"transaction {tx_hash}" if tx_hash else "transaction"
        super().__init__(f"{where} failed: {reason}")


class PreflightFailed(TracechainError):
    """A wrapper's check before sending found that the call would fail."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


class NotAdmin(PreflightFailed):
    """The signing key is not the consortium admin (the registry's DEFAULT_ADMIN_ROLE holder)."""

    def __init__(self, account: str, admin: str) -> None:
        self.account = account
        self.admin = admin
        super().__init__(
            f"{account} is not the consortium admin; the admin is {admin}: sign with its key (--key)"
        )


class NoChange(PreflightFailed):
    """The requested change would change nothing (e.g. suspending a suspended partner)."""
