"""Exact revert assertions: the custom error and every one of its arguments."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

from ape.exceptions import ContractLogicError, CustomError
from eth_abi import decode
from eth_utils import keccak, to_checksum_address


def _norm(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return int(value)
    if hasattr(value, "address"):  # accounts and contracts
        return str(value.address)
    if isinstance(value, bytes):
        return bytes(value)
    return value


def _revert_data(exc: Exception) -> bytes:
    """Raw revert data of an error Ape could not decode (it keeps it in the message)."""
    msg = getattr(exc, "revert_message", None) or ""
    if msg.startswith(("b'", 'b"')):
        return ast.literal_eval(msg)
    if msg.startswith("0x"):
        return bytes.fromhex(msg[2:])
    raise AssertionError(f"reverted without custom error data: {exc!r}")


def _decode(exc: Exception, error: Any) -> dict[str, Any]:
    """The arguments of `error` raised as `exc`; fails when `exc` is another error."""
    abi = error.abi
    if isinstance(exc, CustomError):  # decoded by Ape: an error of the called contract's ABI
        assert exc.abi.selector == abi.selector, f"expected {abi.selector}, got {exc.abi.selector}: {exc!r}"
        return dict(exc.inputs)
    # An error of another contract (a token, a library) bubbled up through the called one.
    data = _revert_data(exc)
    selector = keccak(text=abi.selector)[:4]
    assert data[:4] == selector, f"expected {abi.selector}, got revert data 0x{data.hex()}"
    values = decode([i.canonical_type for i in abi.inputs], data[4:])
    return {
        i.name: (to_checksum_address(v) if i.type == "address" else v)
        for i, v in zip(abi.inputs, values, strict=True)
    }


@contextmanager
def reverts(error: Any, **inputs: Any) -> Iterator[None]:
    """Asserts that the block reverts with custom `error` and exactly these arguments.

    Stricter than `ape.reverts(error, **inputs)`: every argument of the error must be named (a
    misspelt or missing name fails instead of being skipped), and an error raised by another
    contract (a token, say) is decoded from the revert data instead of passing unchecked.
    """
    try:
        yield
    except ContractLogicError as exc:
        actual = _decode(exc, error)
    else:
        raise AssertionError(f"did not revert (expected {error.abi.selector})")
    assert set(actual) == set(inputs), (
        f"{error.abi.name} has arguments {sorted(actual)}, test named {sorted(inputs)}"
    )
    for name, expected in inputs.items():
        got = actual[name]
        assert _norm(got) == _norm(expected), f"{error.abi.name}.{name}: expected {expected!r}, got {got!r}"


def _plain(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return bytes(value)
    if hasattr(value, "items") and not isinstance(value, dict):  # an ABI struct
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def emitted(receipt: Any, contract: Any) -> list[tuple[str, dict[str, Any]]]:
    """The events `contract` emitted in `receipt`, in order, as (name, arguments)."""
    address = str(contract.address)
    return [
        (log.event_name, {k: _plain(v) for k, v in log.event_arguments.items()})
        for log in receipt.events
        if str(log.contract_address) == address
    ]


def ev(event_name: str, /, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """An expected event, for comparison with `emitted`; accounts and contracts become addresses."""
    return event_name, {k: _norm(v) if not isinstance(v, dict) else v for k, v in arguments.items()}
