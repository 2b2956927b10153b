"""TraceabilityLedger's aggregate/disaggregate pre-flight checks in the wrapper: each refusal is the
contract's custom error with its arguments, and the contract refuses the same call the same way."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from web3.exceptions import ContractLogicError

from chain.contracts import TraceabilityLedger
from chain.contracts.ledger import MAX_NESTING
from chain.exceptions import (
    ContractError,
    LedgerAggregationCycle,
    LedgerAggregationTooDeep,
    LedgerAlreadyAggregated,
    LedgerInvalidLink,
    LedgerNotAggregated,
    LedgerNotOwner,
    decode_revert,
)
from chain.gs1 import asset_id
from chain.gs1.keys import with_check_digit
from chain.transact import TxRequest
from tests.chain.consortium import Consortium, deploy
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def c(anvil: AnvilNode) -> Consortium:
    consortium = deploy(anvil.w3())
    consortium.set_up_partners()
    return consortium


@pytest.fixture
def unit(c: Consortium) -> Callable[[], bytes]:
    """Registers a new SSCC of the supplier's and returns its ledger ID."""

    def make() -> bytes:
        serial = int.from_bytes(os.urandom(4)) % 10**9
        link = f"https://id.gs1.org/00/{with_check_digit('0' + '0614141' + f'{serial:09d}')}"
        c.send(c.ledger.functions.registerAsset(link, bytes(32)), c.supplier)
        return asset_id(link)

    return make


def contract_says(c: Consortium, sender: str, request: TxRequest) -> ContractError:
    """The contract's own refusal of ``request`` from ``sender`` (an eth_call)."""
    with pytest.raises(ContractLogicError) as raised:
        c.w3.eth.call({"from": sender, "to": request.to, "data": request.data})  # type: ignore[typeddict-item]
    error = decode_revert(raised.value)
    assert error is not None
    return error


def test_aggregate_preflight_matches_the_contract(c: Consortium, unit: Callable[[], bytes]) -> None:
    led = TraceabilityLedger(c.w3, c.ledger.address)
    pallet, case, item = unit(), unit(), unit()
    with pytest.raises(LedgerInvalidLink):
        led.aggregate(pallet, [], sender=c.supplier)
    with pytest.raises(LedgerNotOwner) as not_owner:
        led.aggregate(pallet, [case], sender=c.buyer)
    assert (not_owner.value.id, not_owner.value.account) == (pallet, c.buyer)
    c.send(c.ledger.functions.aggregate(pallet, [case]), c.supplier)
    c.send(c.ledger.functions.aggregate(case, [item]), c.supplier)
    with pytest.raises(LedgerAlreadyAggregated) as again:
        led.aggregate(pallet, [item], sender=c.supplier)
    assert (again.value.child, again.value.parent) == (item, case)
    with pytest.raises(LedgerAggregationCycle) as cycle:
        led.aggregate(item, [pallet], sender=c.supplier)
    assert (cycle.value.parent, cycle.value.child) == (item, pallet)
    refused = contract_says(
        c, c.supplier, TxRequest(c.ledger.address, led.calldata("aggregate", item, [pallet]))
    )
    assert isinstance(refused, LedgerAggregationCycle) and refused.args_by_name == cycle.value.args_by_name


def test_aggregate_deeper_than_the_ledger_nests_refused(c: Consortium, unit: Callable[[], bytes]) -> None:
    led = TraceabilityLedger(c.w3, c.ledger.address)
    # A chain of MAX_NESTING + 2 units, each packed into the next: the bottom one has 17 above it.
    units = [unit() for _ in range(MAX_NESTING + 2)]
    for child, parent in zip(units, units[1:], strict=False):
        c.send(c.ledger.functions.aggregate(parent, [child]), c.supplier)
    bottom, fresh = units[0], unit()
    with pytest.raises(LedgerAggregationTooDeep):
        led.aggregate(bottom, [fresh], sender=c.supplier)
    refused = contract_says(
        c, c.supplier, TxRequest(c.ledger.address, led.calldata("aggregate", bottom, [fresh]))
    )
    assert isinstance(refused, LedgerAggregationTooDeep)
    led.aggregate(units[1], [fresh], sender=c.supplier)  # one level up is still within the bound


def test_disaggregate_preflight(c: Consortium, unit: Callable[[], bytes]) -> None:
    led = TraceabilityLedger(c.w3, c.ledger.address)
    pallet, case, loose = unit(), unit(), unit()
    c.send(c.ledger.functions.aggregate(pallet, [case]), c.supplier)
    with pytest.raises(LedgerNotOwner):
        led.disaggregate(pallet, [case], sender=c.buyer)
    with pytest.raises(LedgerNotAggregated) as not_packed:
        led.disaggregate(pallet, [case, loose], sender=c.supplier)
    assert (not_packed.value.child, not_packed.value.parent) == (loose, pallet)
    request = led.disaggregate(pallet, [case], sender=c.supplier)
    assert request.data == led.calldata("disaggregate", pallet, [case])
