"""connect(): transports, chain-ID check, proof-of-authority middleware."""

from __future__ import annotations

import pytest

from chain.connection import LazyConnection, connect
from chain.exceptions import NodeUnreachable, WrongChain
from chain.settings import ChainSettings
from tests.fixtures.anvil import CHAIN_ID, AnvilNode, free_port

pytestmark = pytest.mark.anvil


def test_connect_http_checks_chain_id(anvil: AnvilNode) -> None:
    w3 = connect(ChainSettings(rpc_url=anvil.url, chain_id=CHAIN_ID))
    assert w3.eth.chain_id == CHAIN_ID


def test_connect_websocket(anvil: AnvilNode) -> None:
    w3 = connect(ChainSettings(rpc_url=anvil.url.replace("http", "ws"), chain_id=CHAIN_ID))
    assert w3.eth.block_number >= 0


def test_connect_wrong_chain_id_says_what_to_do(anvil: AnvilNode) -> None:
    with pytest.raises(WrongChain) as info:
        connect(ChainSettings(rpc_url=anvil.url, chain_id=1))
    assert (info.value.expected, info.value.actual) == (1, CHAIN_ID)
    assert "TRACECHAIN_CHAIN_ID" in str(info.value) and "\n" not in str(info.value)


def test_connect_unreachable_node_says_what_to_do() -> None:
    with pytest.raises(NodeUnreachable) as info:
        connect(ChainSettings(rpc_url=f"http://127.0.0.1:{free_port()}"))
    assert "tracechain node" in str(info.value)


def test_connect_poa_puts_middleware_at_layer_zero(anvil: AnvilNode) -> None:
    w3 = connect(ChainSettings(rpc_url=anvil.url, chain_id=CHAIN_ID, poa=True))
    # `middleware` lists the onion outermost first: layer 0 comes last.
    assert w3.middleware_onion.middleware[-1][1] == "poa"
    assert w3.middleware_onion.get("poa") is not None
    assert w3.eth.get_block("latest")["number"] >= 0


def test_settings_reject_mistyped_url() -> None:
    with pytest.raises(ValueError, match="must start with"):
        ChainSettings(rpc_url="htp://localhost:8545")


def test_settings_derive_database_and_keystore_from_data_dir(tmp_path: object) -> None:
    settings = ChainSettings(data_dir=tmp_path)
    assert settings.database_url.endswith("tracechain.db") and settings.database_url.startswith("sqlite:///")
    assert settings.keystore_path == tmp_path / "keystore"  # type: ignore[operator]


def test_lazy_connection_waits_for_the_node_and_then_keeps_it() -> None:
    node = AnvilNode(port=free_port(), state_file=None)
    lazy = LazyConnection(ChainSettings(rpc_url=node.url, chain_id=CHAIN_ID, poa=True), timeout=2)
    with pytest.raises(NodeUnreachable):  # nothing listens yet: built without a connection
        lazy.web3()
    node.start()
    try:
        w3 = lazy.web3()
        assert w3.eth.chain_id == CHAIN_ID and w3.middleware_onion.get("poa") is not None
        assert lazy.web3() is w3
    finally:
        node.stop()


def test_lazy_connection_refuses_a_node_of_another_chain(anvil: AnvilNode) -> None:
    with pytest.raises(WrongChain):
        LazyConnection(ChainSettings(rpc_url=anvil.url, chain_id=CHAIN_ID + 1)).web3()
