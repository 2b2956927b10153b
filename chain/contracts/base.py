"""What every contract wrapper shares: a validated address, reads that raise decoded contract
errors, calldata for the sender, and receipt logs decoded into :class:`ContractEvent` objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, is_address, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from chain.artifacts import load_artifact
from chain.exceptions import AccessControlUnauthorizedAccount, InvalidAddress, NoContractCode, decode_revert
from chain.transact import TxRequest


def plain(value: Any) -> Any:
    """``value`` with web3's AttributeDicts and HexBytes turned into dicts and bytes."""
    if isinstance(value, HexBytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    return value


def checksum(value: str) -> ChecksumAddress:
    """``value`` as a checksummed address.

    Raises:
        InvalidAddress: not an address.
    """
    if not isinstance(value, str) or not is_address(value):
        raise InvalidAddress(str(value))
    return to_checksum_address(value)


@cache
def _abi(name: str, functions: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """Artifact ``name``'s ABI, its functions limited to ``functions`` unless that is None."""
    return [
        e
        for e in load_artifact(name)["abi"]
        if functions is None or e["type"] != "function" or e["name"] in functions
    ]


@cache
def _codec(name: str, functions: tuple[str, ...] | None) -> type[Contract]:
    """A contract class that encodes and decodes calls of that ABI, bound to no node or address."""
    return Web3().eth.contract(abi=_abi(name, functions))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ContractCall:
    """A decoded call of one of a contract's functions: its name and its arguments by name."""

    function: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class ContractEvent:
    """One decoded contract event."""

    contract: str
    name: str
    args: Mapping[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int


class ContractWrapper:
    """Base of the typed wrappers; subclasses set ``NAME`` to the artifact name, and ``FUNCTIONS``
    to the functions they expose when the artifact has more (a standard's subset of its ABI)."""

    NAME: ClassVar[str]
    FUNCTIONS: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, w3: Web3, address: str, *, check_code: bool = True) -> None:
        self.w3 = w3
        self.address = checksum(address)
        if check_code and not bytes(w3.eth.get_code(self.address)):
            raise NoContractCode(self.NAME, self.address)
        self.abi: list[dict[str, Any]] = _abi(self.NAME, self.FUNCTIONS)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.abi)
        self._topics = {
            bytes(event_abi_to_log_topic(e)): e["name"]  # type: ignore[arg-type]
            for e in self.abi
            if e["type"] == "event"
        }

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return plain(self.contract.functions[fn](*args).call())
        except ContractLogicError as exc:
            error = decode_revert(exc)
            assert error is not None
            raise error from exc

    @classmethod
    def calldata(cls, fn: str, *args: Any) -> bytes:
        """ABI-encoded calldata of ``fn(*args)``; needs no node (callable on the class, e.g. for an
        outbox intent written while the node is down)."""
        return bytes.fromhex(_codec(cls.NAME, cls.FUNCTIONS).encode_abi(fn, list(args)).removeprefix("0x"))

    @classmethod
    def decode_call(cls, data: bytes) -> ContractCall | None:
        """The call ``data`` encodes, None if it is no call of this contract's functions (unknown
        selector, or arguments that do not decode, or trailing bytes)."""
        try:
            fn, args = _codec(cls.NAME, cls.FUNCTIONS).decode_function_input(data)
        except (ValueError, DecodingError):
            return None
        call = ContractCall(fn.fn_name, plain(args))
        if cls.calldata(call.function, *args.values()) != bytes(data):
            return None  # trailing or non-canonical bytes: not exactly this call
        return call

    def _request(self, fn: str, *args: Any) -> TxRequest:
        return TxRequest(self.address, self.calldata(fn, *args))

    def decode_events(self, logs: Iterable[Any]) -> list[ContractEvent]:
        """The events this contract emitted among ``logs`` (e.g. a receipt's), in log order."""
        out: list[ContractEvent] = []
        for log in logs:
            if to_checksum_address(log["address"]) != self.address or not log["topics"]:
                continue
            name = self._topics.get(bytes(HexBytes(log["topics"][0])))
            if name is None:
                continue
            decoded = self.contract.events[name]().process_log(log)
            out.append(
                ContractEvent(
                    contract=self.NAME,
                    name=name,
                    args=plain(decoded["args"]),
                    address=self.address,
                    block_number=int(decoded["blockNumber"]),
                    tx_hash="0x" + bytes(decoded["transactionHash"]).hex(),
                    log_index=int(decoded["logIndex"]),
                )
            )
        return out


class RegistryGatedWrapper(ContractWrapper):
    """A contract whose roles live in the PartnerRegistry (pre-flight role checks ask it)."""

    def registry_address(self) -> str:
        return str(self._call("registry"))

    def _require_role(self, role: bytes, account: str) -> None:
        registry = self.w3.eth.contract(
            address=checksum(self.registry_address()), abi=load_artifact("PartnerRegistry")["abi"]
        )
        if not registry.functions.hasRole(role, checksum(account)).call():
            raise AccessControlUnauthorizedAccount(account=checksum(account), needed_role=role)
