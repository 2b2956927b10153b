"""Test funds on a local development chain: gas from anvil's ``anvil_setBalance`` and tokens minted
on the deployment's TestToken, for a fresh key to transact locally (``tracechain dev fund``).

What makes a chain a development chain here is the node itself, never its chain ID (a consortium
may pick any ID, and anvil takes any with ``--chain-id``): the node must say it is anvil
(``web3_clientVersion`` ``anvil/...``) and answer anvil's development methods (``anvil_nodeInfo``).
Every change is made through those methods or the TestToken's open ``mint``, so on any other node
nothing could be given even if the check were fooled: Besu and Geth have no ``anvil_setBalance``,
and no real network's TestToken is worth anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.contracts import TestToken
from chain.contracts.base import checksum
from chain.exceptions import NodeRequestRefused, NotDevelopmentChain
from chain.jsonrpc import JsonRpc
from chain.transact import send_and_wait

#: What a development account keeps at least to pay for minting (wei).
FAUCET_FLOOR = 10**18


def require_development_chain(w3: Web3, url: str) -> str:
    """The node's client version, when it is a local anvil with its development methods on.

    Raises:
        NotDevelopmentChain: any other node (nothing has been sent).
    """
    rpc = JsonRpc(w3)
    try:
        client = str(rpc.call("web3_clientVersion", []))
    except NodeRequestRefused as exc:
        raise NotDevelopmentChain(url, "unknown client", "it does not answer web3_clientVersion") from exc
    if not client.lower().startswith("anvil/"):
        raise NotDevelopmentChain(url, client, "its client is not anvil")
    try:
        rpc.call("anvil_nodeInfo", [])
    except NodeRequestRefused as exc:
        raise NotDevelopmentChain(url, client, "it does not answer anvil's development methods") from exc
    return client


@dataclass(frozen=True)
class Balances:
    """An account's gas (wei) and test tokens (smallest units; None: no test token on this chain)."""

    wei: int
    tokens: int | None


@dataclass(frozen=True)
class Funding:
    """What ``fund`` gave: the account's balances before and after."""

    account: str
    before: Balances
    after: Balances


def balances(w3: Web3, account: str, token: TestToken | None) -> Balances:
    return Balances(
        int(w3.eth.get_balance(checksum(account))), None if token is None else token.balance_of(account)
    )


def fund(
    w3: Web3,
    url: str,
    account: str,
    *,
    wei: int,
    tokens: int,
    token: TestToken | None,
    faucet: LocalAccount,
) -> Funding:
    """Gives ``account`` ``wei`` of gas and ``tokens`` test tokens (when ``token`` is given).

    Args:
        url: the node's URL, for the refusal message.
        token: the deployment's TestToken (its code checked by the caller), or None.
        faucet: a development account that signs the mint (its gas topped up here if low).

    Raises:
        NotDevelopmentChain: ``w3`` is not a local anvil; nothing was sent.
    """
    require_development_chain(w3, url)
    account = checksum(account)
    rpc = JsonRpc(w3)
    before = balances(w3, account, token)
    if wei:
        rpc.call("anvil_setBalance", [account, hex(before.wei + wei)])
    if token is not None and tokens:
        if int(w3.eth.get_balance(faucet.address)) < FAUCET_FLOOR:
            rpc.call("anvil_setBalance", [faucet.address, hex(FAUCET_FLOOR * 10)])
        send_and_wait(w3, faucet, token.mint(account, tokens))
    return Funding(account, before, balances(w3, account, token))
