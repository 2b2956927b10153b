"""chain.exceptions against the compiled ABIs: one class per custom error, fields as the ABI's inputs,
every error decoded from its revert data into its class, every chain error under TracechainError.

When a contract gains, loses or changes an error, these tests fail naming the class to add, remove or
fix in chain/exceptions/ (run `make build` first: they read chain/artifacts/*.json).
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

import chain.exceptions as exceptions
from chain.artifacts import ARTIFACTS_DIR, CONTRACT_NAMES, abi_errors
from chain.exceptions import (
    NOT_IN_ABI,
    ContractError,
    ErrorClassesOutOfDate,
    RevertedWithReason,
    ShipmentUnexpectedState,
    TracechainError,
    UnknownContractError,
    build_error_table,
    decode_revert_data,
    field_name,
)
from chain.exceptions.decoding import selector

ABI_ERRORS = {entry["name"]: entry for entry in abi_errors()}
ADDRESS = to_checksum_address("0x" + "ab" * 20)


def _python_type(abi_type: str) -> str:
    """The annotation a field of `abi_type` carries."""
    if abi_type in ("address", "string"):
        return "str"
    if abi_type == "bool":
        return "bool"
    if re.fullmatch(r"bytes\d*", abi_type):
        return "bytes"
    if re.fullmatch(r"u?int\d*", abi_type):
        return "int"
    raise AssertionError(f"no Python type for the ABI type {abi_type}: extend _python_type and the decoder")


def _sample(abi_type: str) -> Any:
    return {"address": ADDRESS, "string": "too long", "bool": True}.get(abi_type) or (
        bytes(range(1, 33)) if abi_type.startswith("bytes") else -3 if abi_type.startswith("int") else 7
    )


def test_every_artifact_is_read_for_its_errors() -> None:
    built = sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
    assert built == sorted(CONTRACT_NAMES), (
        f"chain.artifacts.CONTRACT_NAMES {sorted(CONTRACT_NAMES)} differs from the built artifacts {built}"
    )
    declared = {
        e["name"]
        for p in ARTIFACTS_DIR.glob("*.json")
        for e in json.loads(p.read_text())["abi"]
        if e["type"] == "error"
    }
    assert declared == set(ABI_ERRORS)


def test_every_abi_error_has_exactly_one_class() -> None:
    classes = set(ContractError.leaves) - NOT_IN_ABI
    missing = sorted(set(ABI_ERRORS) - classes)
    extra = sorted(classes - set(ABI_ERRORS))
    assert not missing, f"ABI errors without a class in chain/exceptions/: {missing}"
    assert not extra, f"classes in chain/exceptions/ for errors no ABI declares: {extra}"
    overloaded = sorted(n for n in ABI_ERRORS if sum(e["name"] == n for e in abi_errors()) > 1)
    assert not overloaded, f"errors declared with different inputs under one name: {overloaded}"


@pytest.mark.parametrize("name", sorted(ABI_ERRORS))
def test_class_fields_are_the_abi_inputs(name: str) -> None:
    leaf = ContractError.leaves.get(name)
    assert leaf is not None, f"no class {name} in chain/exceptions/"
    inputs = ABI_ERRORS[name]["inputs"]
    expected = {field_name(i["name"]): _python_type(i["type"]) for i in inputs}
    annotations = inspect.get_annotations(leaf)
    assert list(annotations) == list(expected), (
        f"{name}: fields {list(annotations)}, the ABI's {list(expected)}"
    )
    assert leaf.fields == tuple(expected)
    assert annotations == expected, f"{name}: annotations {annotations}, the ABI's types give {expected}"
    assert leaf.__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("name", sorted(ABI_ERRORS))
def test_revert_data_decodes_into_its_class(name: str) -> None:
    entry = ABI_ERRORS[name]
    types = [i["type"] for i in entry["inputs"]]
    values = [_sample(t) for t in types]
    error = decode_revert_data("0x" + (selector(entry) + abi_encode(types, values)).hex())
    assert type(error) is ContractError.leaves[name]
    assert error.args_by_name == dict(zip(error.fields, values, strict=True))
    assert str(error).startswith(f"{name}(")


def test_decoding_refuses_an_abi_error_without_a_class() -> None:
    new = {"type": "error", "name": "ShipmentLost", "inputs": [{"name": "shipmentId", "type": "bytes32"}]}
    changed = {
        "type": "error",
        "name": "LedgerAssetExists",
        "inputs": [{"name": "assetId", "type": "bytes32"}],
    }
    with pytest.raises(ErrorClassesOutOfDate) as raised:
        build_error_table([*abi_errors(), new, changed])
    assert "no class for ShipmentLost('shipment_id',)" in str(raised.value)
    assert "LedgerAssetExists has the fields ('id',), the ABI ('asset_id',)" in str(raised.value)


def test_a_leaf_takes_exactly_its_fields() -> None:
    error = ShipmentUnexpectedState(shipment_id=b"\x01" * 32, current=2, expected_states=b"\x00" * 32)
    assert error.current == 2 and isinstance(error, TracechainError)
    with pytest.raises(TypeError, match="ShipmentUnexpectedState takes the fields"):
        ShipmentUnexpectedState(shipment_id=b"\x01" * 32, current=2)


def test_reverts_without_a_known_custom_error() -> None:
    reason = decode_revert_data("0x08c379a0" + abi_encode(["string"], ["nope"]).hex())
    assert isinstance(reason, RevertedWithReason) and reason.reason == "nope"
    assert isinstance(decode_revert_data("0xdeadbeef"), UnknownContractError)
    known_but_truncated = selector(ABI_ERRORS["LedgerAssetExists"]) + b"\x01"
    assert isinstance(decode_revert_data(known_but_truncated), UnknownContractError)


def test_every_chain_error_is_a_tracechain_error() -> None:
    from chain.gs1 import IdentifierError

    errors = [
        obj for obj in vars(exceptions).values() if isinstance(obj, type) and issubclass(obj, BaseException)
    ]
    assert len(errors) > len(ABI_ERRORS)
    assert all(issubclass(e, TracechainError) for e in errors)
    assert issubclass(IdentifierError, TracechainError) and issubclass(IdentifierError, ValueError)
