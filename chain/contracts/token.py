"""Typed wrapper of the ERC-20 TestToken (local runs and tests)."""

from __future__ import annotations

from chain.contracts.base import ContractWrapper, checksum
from chain.exceptions import ERC20InvalidReceiver
from chain.transact import TxRequest


class TestToken(ContractWrapper):
    """An ERC-20 with open minting."""

    __test__ = False  # not a pytest class
    NAME = "TestToken"

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", checksum(account)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", checksum(owner), checksum(spender)))

    def mint(self, to: str, amount: int) -> TxRequest:
        """Mints ``amount`` to ``to``.

        Raises:
            ERC20InvalidReceiver: ``to`` is the zero address.
        """
        to = checksum(to)
        if int(to, 16) == 0:
            raise ERC20InvalidReceiver(receiver=to)
        return self._request("mint", to, amount)

    def approve(self, spender: str, amount: int) -> TxRequest:
        return self._request("approve", checksum(spender), amount)
