"""Custom errors of the OpenZeppelin Contracts 5 libraries that Tracechain's contracts inherit
(AccessControl, ECDSA, ERC-20, Pausable, Nonces, ShortStrings, ReentrancyGuard, SafeERC20).

One class per ABI ``error`` entry; fields as in :mod:`chain.exceptions.contract`.
"""

from __future__ import annotations

from chain.exceptions.contract import ContractError


class AccessControlBadConfirmation(ContractError):
    """renounceRole was called for another account."""


class AccessControlEnforcedDefaultAdminDelay(ContractError):
    """The admin transfer or renouncement was not scheduled, or its delay has not passed yet."""

    schedule: int


class AccessControlEnforcedDefaultAdminRules(ContractError):
    """DEFAULT_ADMIN_ROLE is granted, revoked or renounced only by the two-step transfer."""


class AccessControlInvalidDefaultAdmin(ContractError):
    """The account is not the pending admin (or the zero address was made admin)."""

    default_admin: str


class AccessControlUnauthorizedAccount(ContractError):
    """The account lacks the role the call needs."""

    account: str
    needed_role: bytes


class ECDSAInvalidSignature(ContractError):
    """The signature does not recover to an address."""


class ECDSAInvalidSignatureLength(ContractError):
    """The signature has the wrong length."""

    length: int


class ECDSAInvalidSignatureS(ContractError):
    """The signature is malleable (high s)."""

    s: bytes


class ERC20InsufficientAllowance(ContractError):
    """The spender's allowance is too small."""

    spender: str
    allowance: int
    needed: int


class ERC20InsufficientBalance(ContractError):
    """The sender's token balance is too small."""

    sender: str
    balance: int
    needed: int


class ERC20InvalidApprover(ContractError):
    """The approver is the zero address."""

    approver: str


class ERC20InvalidReceiver(ContractError):
    """The receiver is the zero address."""

    receiver: str


class ERC20InvalidSender(ContractError):
    """The sender is the zero address."""

    sender: str


class ERC20InvalidSpender(ContractError):
    """The spender is the zero address."""

    spender: str


class EnforcedPause(ContractError):
    """The contract is paused."""


class ExpectedPause(ContractError):
    """The contract is not paused."""


class InvalidAccountNonce(ContractError):
    """The signed nonce is not the account's next nonce."""

    account: str
    current_nonce: int


class InvalidShortString(ContractError):
    """A short string is malformed."""


class ReentrancyGuardReentrantCall(ContractError):
    """A re-entrant call was refused."""


class SafeERC20FailedOperation(ContractError):
    """A token transfer failed."""

    token: str


class StringTooLong(ContractError):
    """A string is too long for a short string."""

    value: str


class SafeCastOverflowedUintDowncast(ContractError):
    """A value does not fit the narrower integer type (e.g. an admin delay beyond uint48)."""

    bits: int
    value: int
