"""The base of the contracts' custom errors: a leaf per ABI ``error`` entry, whose fields are the
error's arguments.

Each leaf declares its fields as class annotations, in the ABI's order and named as its inputs in
snake_case; ``tests/chain/exceptions/test_exceptions.py`` checks every leaf against the compiled
ABIs, and the constructor refuses other field names, so the annotations are what an instance
carries.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from chain.exceptions.base import TracechainError

#: ABI input names that are not usable Python field names, and the field name used instead.
_RENAMED = {"str": "value"}


def field_name(abi_name: str) -> str:
    """The Python field name of an ABI input: snake_case (``shipmentId`` → ``shipment_id``)."""
    return _RENAMED.get(abi_name) or re.sub(r"(?<!^)(?=[A-Z])", "_", abi_name).lower()


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)


class ContractError(TracechainError):
    """A contract reverted with one of its custom errors; the fields are the error's arguments."""

    #: The field names, in order, from the class's own annotations (set for each subclass).
    fields: ClassVar[tuple[str, ...]] = ()
    #: Every leaf by class name; a name is declared once.
    leaves: ClassVar[dict[str, type[ContractError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__annotations__", {})
        cls.fields = tuple(name for name, kind in own.items() if not str(kind).startswith("ClassVar"))
        if cls.__name__ in ContractError.leaves:
            raise TypeError(f"contract error {cls.__name__} is declared twice")
        ContractError.leaves[cls.__name__] = cls

    def __init__(self, **args: Any) -> None:
        if sorted(args) != sorted(self.fields):
            raise TypeError(f"{type(self).__name__} takes the fields {self.fields}, not {tuple(args)}")
        self.args_by_name: dict[str, Any] = {name: args[name] for name in self.fields}
        for name, value in args.items():
            setattr(self, name, value)
        doc = (type(self).__doc__ or "").strip().splitlines()
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.args_by_name.items())
        super().__init__(f"{type(self).__name__}({shown}): {doc[0] if doc else ''}")

    @property
    def error_name(self) -> str:
        """The Solidity error's name."""
        return type(self).__name__


class UnknownContractError(ContractError):
    """A revert whose data matches no custom error of the Tracechain ABIs."""

    data: bytes

    def __init__(self, data: bytes) -> None:
        super().__init__(data=data)


class RevertedWithReason(ContractError):
    """A revert with a plain ``Error(string)`` reason or a panic code."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


#: The leaves that no ABI declares: they stand for reverts without a known custom error.
NOT_IN_ABI: frozenset[str] = frozenset({UnknownContractError.__name__, RevertedWithReason.__name__})
