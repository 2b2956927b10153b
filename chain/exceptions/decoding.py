"""The one place revert data becomes a :class:`ContractError` leaf: selector → class, from the ABIs."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, NamedTuple

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

# The leaf modules register their classes in ContractError.leaves when imported.
from chain.exceptions import contracts as _contracts  # noqa: F401
from chain.exceptions import openzeppelin as _openzeppelin  # noqa: F401
from chain.exceptions.contract import (
    NOT_IN_ABI,
    ContractError,
    RevertedWithReason,
    UnknownContractError,
    field_name,
)
from chain.exceptions.deployment import ErrorClassesOutOfDate

_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")


class _Decoder(NamedTuple):
    leaf: type[ContractError]
    types: tuple[str, ...]


def selector(entry: dict[str, Any]) -> bytes:
    """The 4-byte selector of an ABI ``error`` entry."""
    types = ",".join(i["type"] for i in entry["inputs"])
    return function_signature_to_4byte_selector(f"{entry['name']}({types})")


@cache
def error_table() -> dict[bytes, _Decoder]:
    """Selector → (leaf class, ABI types) for every custom error of the contracts' ABIs.

    Raises:
        ErrorClassesOutOfDate: an ABI error has no leaf, or a leaf's fields differ from its inputs.
        ArtifactMissing: the contracts were not built.
    """
    # Imported here: chain.artifacts imports this package for ArtifactMissing.
    from chain.artifacts import abi_errors

    return build_error_table(abi_errors())


def build_error_table(entries: Iterable[dict[str, Any]]) -> dict[bytes, _Decoder]:
    """Selector → (leaf class, ABI types) for the ABI ``error`` entries ``entries``.

    Raises:
        ErrorClassesOutOfDate: an entry has no leaf, or a leaf's fields differ from its inputs.
    """
    table: dict[bytes, _Decoder] = {}
    problems: list[str] = []
    for entry in entries:
        leaf = ContractError.leaves.get(entry["name"])
        fields = tuple(field_name(i["name"]) for i in entry["inputs"])
        if leaf is None or entry["name"] in NOT_IN_ABI:
            problems.append(f"no class for {entry['name']}{fields}")
        elif leaf.fields != fields:
            problems.append(f"{entry['name']} has the fields {leaf.fields}, the ABI {fields}")
        else:
            table[selector(entry)] = _Decoder(leaf, tuple(i["type"] for i in entry["inputs"]))
    if problems:
        raise ErrorClassesOutOfDate(problems)
    return table


def _plain(abi_type: str, value: Any) -> Any:
    return to_checksum_address(value) if abi_type == "address" else value


def decode_revert_data(data: bytes | str | None) -> ContractError:
    """The :class:`ContractError` leaf for raw revert data (``0x``-hex or bytes)."""
    if data is None:
        return UnknownContractError(b"")
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data)
    selector_, body = raw[:4], raw[4:]
    if selector_ == _ERROR_STRING:
        return RevertedWithReason(str(abi_decode(["string"], body)[0]))
    if selector_ == _PANIC:
        return RevertedWithReason(f"panic 0x{abi_decode(['uint256'], body)[0]:x}")
    decoder = error_table().get(selector_)
    if decoder is None:
        return UnknownContractError(raw)
    try:
        values = abi_decode(list(decoder.types), body)
    except (DecodingError, UnicodeDecodeError):  # a known selector with malformed arguments: reported as is
        return UnknownContractError(raw)
    args = {name: _plain(t, v) for name, t, v in zip(decoder.leaf.fields, decoder.types, values, strict=True)}
    # Built without the leaf's own __init__ (UnknownContractError's takes raw data, not fields).
    error = decoder.leaf.__new__(decoder.leaf)
    ContractError.__init__(error, **args)
    return error


def decode_revert(exc: BaseException) -> ContractError | None:
    """The contract error carried by a web3 exception, or None if it is not a revert.

    Understands web3's ``ContractCustomError`` / ``ContractLogicError`` (their ``data``) and JSON-RPC
    error dicts carrying ``data``.
    """
    from web3.exceptions import ContractLogicError

    if isinstance(exc, ContractError):
        return exc
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            return decode_revert_data(data)
        return RevertedWithReason(exc.message or str(exc))
    if exc.args and isinstance(exc.args[0], dict):
        data = exc.args[0].get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return decode_revert_data(data)
    return None
