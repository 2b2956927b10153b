"""Typed wrappers of ERC-20 tokens: any standard token (the escrow's payment token) and the
TestToken of local runs and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chain.contracts.base import ContractWrapper, checksum
from chain.exceptions import ERC20InvalidReceiver
from chain.transact import TxRequest

#: The functions of the ERC-20 standard with its optional metadata (EIP-20).
ERC20_FUNCTIONS = (
    "allowance",
    "approve",
    "balanceOf",
    "decimals",
    "name",
    "symbol",
    "totalSupply",
    "transfer",
    "transferFrom",
)


@dataclass(frozen=True)
class Approval:
    """An ``approve(spender, amount)`` call."""

    spender: str
    amount: int


class ERC20(ContractWrapper):
    """Any ERC-20 token at a validated address.

    Its ABI is the standard's part of TestToken's (an OpenZeppelin ERC20): the build compiles no
    bare IERC20, and the standard's selectors and encodings are the same for every token.
    """

    NAME = "TestToken"
    FUNCTIONS: ClassVar[tuple[str, ...] | None] = ERC20_FUNCTIONS

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", checksum(account)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", checksum(owner), checksum(spender)))

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def symbol(self) -> str:
        return str(self._call("symbol"))

    def approve(self, spender: str, amount: int) -> TxRequest:
        """Lets ``spender`` move up to ``amount`` of the sender's tokens."""
        return self._request("approve", checksum(spender), amount)

    @classmethod
    def decode_approve(cls, data: bytes) -> Approval | None:
        """The approval ``data`` encodes exactly, None for any other call."""
        call = cls.decode_call(data)
        if call is None or call.function != "approve":
            return None
        return Approval(checksum(call.args["spender"]), int(call.args["value"]))


class TestToken(ERC20):
    """An ERC-20 with open minting."""

    __test__ = False  # not a pytest class
    NAME = "TestToken"
    FUNCTIONS = None

    def mint(self, to: str, amount: int) -> TxRequest:
        """Mints ``amount`` to ``to``.

        Raises:
            ERC20InvalidReceiver: ``to`` is the zero address.
        """
        to = checksum(to)
        if int(to, 16) == 0:
            raise ERC20InvalidReceiver(receiver=to)
        return self._request("mint", to, amount)
