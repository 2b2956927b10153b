"""Errors of the partner client (``tracechain login``, ``tracechain shipment``): the API's answers,
sessions, and transactions followed to their end. Each message is one line saying what to do."""

from __future__ import annotations

from chain.exceptions.base import TracechainError


class ClientError(TracechainError):
    """A partner-client problem (base of the client errors)."""


class ApiUnreachable(ClientError):
    """Nothing answers at the API's URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"the API at {url} does not answer ({reason}): start it (`tracechain up`) or pass --api / "
            "TRACECHAIN_API_URL"
        )


class ApiRefused(ClientError):
    """The API answered with a problem (RFC 7807): its status, type and detail."""

    def __init__(self, status: int, title: str, detail: str, problem_type: str = "about:blank") -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.problem_type = problem_type
        # The problem type's last segment names the rule (``not-brand-owner``); else its title.
        name = problem_type.rsplit("/", 1)[-1] if problem_type.startswith("http") else title
        super().__init__(f"the API refused ({status} {name}): {detail}")


class NotSignedIn(ClientError):
    """No saved session for the key: the partner has not signed in with it."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"not signed in with key {key!r}: run `tracechain login --key {key}`")


class SessionExpired(ClientError):
    """The saved session's token expired (or the API no longer accepts it)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"the session of key {key!r} has expired: run `tracechain login --key {key}` again")


class TransactionReverted(ClientError):
    """A relayed transaction reverted on chain: the decoded custom error."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what} reverted: {reason}")


class ClientInputError(ClientError):
    """An option or file the command cannot use (named, with what is expected)."""

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        super().__init__(f"{what}: {detail}")
