"""What every contract wrapper shares: a validated address, reads that raise decoded contract
errors, struct results by their ABI field names, calldata for the sender, many reads in one
batched request, and receipt logs decoded into :class:`ContractEvent` objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from eth_abi.codec import ABICodec
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, is_address, to_checksum_address
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from chain.artifacts import load_artifact
from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    InvalidAddress,
    NoContractCode,
    NodeRequestRefused,
    decode_revert,
)
from chain.jsonrpc import JsonRpc
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


def _abi_value(value: Any) -> Any:
    """A decoded argument as the ABI codec encodes it: structs (decoded as dicts) as tuples."""
    if isinstance(value, Mapping):
        return tuple(_abi_value(v) for v in value.values())
    if isinstance(value, list | tuple):
        return type(value)(_abi_value(v) for v in value)
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


@cache
def _strict_codec() -> ABICodec:
    """web3's strict ABI codec (no node: a Web3 without a provider only lends its codec)."""
    return Web3().codec


@cache
def _function(name: str, functions: tuple[str, ...] | None, fn: str) -> _Function:
    """Selector and ABI types of function ``fn`` of artifact ``name``, resolved once."""
    # The contracts overload no function name (tests/chain/test_wrappers.py checks), so a name is
    # a function.
    entry = next(e for e in _abi(name, functions) if e["type"] == "function" and e["name"] == fn)
    return _Function(
        function_abi_to_4byte_selector(entry),  # type: ignore[arg-type]
        tuple(collapse_if_tuple(i) for i in entry["inputs"]),
        tuple(collapse_if_tuple(o) for o in entry["outputs"]),
        tuple(entry["outputs"]),
    )


@dataclass(frozen=True)
class ContractCall:
    """A decoded call of one of a contract's functions: its name and its arguments by name."""

    function: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class _Function:
    """A function's selector and ABI types, resolved once per wrapper."""

    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    output_abi: tuple[dict[str, Any], ...]


#: A read for :meth:`ContractWrapper.call_many`: function name and arguments.
Read = tuple[str, Sequence[Any]]


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

    @classmethod
    def _function(cls, fn: str) -> _Function:
        return _function(cls.NAME, cls.FUNCTIONS, fn)

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return plain(self.contract.functions[fn](*args).call())
        except ContractLogicError as exc:
            error = decode_revert(exc)
            assert error is not None
            raise error from exc

    def _struct(self, fn: str, *args: Any) -> dict[str, Any]:
        """The struct ``fn(*args)`` returns, by its ABI field names (never by position)."""
        (component,) = self._function(fn).output_abi
        values = self._call(fn, *args)
        return {c["name"]: v for c, v in zip(component["components"], values, strict=True)}

    @classmethod
    def calldata(cls, fn: str, *args: Any) -> bytes:
        """ABI-encoded calldata of ``fn(*args)``; needs no node (callable on the class, e.g. for an
        outbox intent written while the node is down).

        Arguments are given as the ABI codec takes them: ``bytes`` for ``bytesN``/``bytes``,
        checksummed addresses, tuples for structs. Encoded with web3's strict codec and the
        function's types resolved once: web3's ``Contract.encode_abi`` resolves the function among
        the ABI's and normalises every argument on each call, 4.4-5.8 ms a postTelemetry call
        against 0.13-0.15 ms here (timeit, 10,000 calls, web3 7.16), and the telemetry oracle
        encodes one per batch on its main thread.
        """
        f = cls._function(fn)
        return f.selector + _strict_codec().encode(f.inputs, args)

    @classmethod
    def decode_call(cls, data: bytes) -> ContractCall | None:
        """The call ``data`` encodes, None if it is no call of this contract's functions (unknown
        selector, or arguments that do not decode, or trailing bytes)."""
        try:
            fn, args = _codec(cls.NAME, cls.FUNCTIONS).decode_function_input(data)
        except (ValueError, DecodingError):
            return None
        call = ContractCall(fn.fn_name, plain(args))
        if cls.calldata(call.function, *(_abi_value(v) for v in args.values())) != bytes(data):
            return None  # trailing or non-canonical bytes: not exactly this call
        return call

    @classmethod
    def decode_result(cls, fn: str, data: bytes) -> Any:
        """``fn``'s return data decoded: the value for one output, a tuple for several."""
        values = plain(_strict_codec().decode(cls._function(fn).outputs, data))
        return values[0] if len(values) == 1 else values

    def call_many(self, reads: Sequence[Read]) -> list[Any]:
        """The results of many view calls on this contract, in one batched JSON-RPC request.

        Each result as :meth:`decode_result` gives it (structs as tuples: callers name them).

        Raises:
            NodeRequestRefused: the node answered one of the calls with an error.
        """
        calls = [
            ("eth_call", [{"to": self.address, "data": "0x" + self.calldata(fn, *args).hex()}, "latest"])
            for fn, args in reads
        ]
        results = JsonRpc(self.w3).call_many(calls)
        return [
            self.decode_result(fn, bytes.fromhex(str(r).removeprefix("0x")))
            for (fn, _), r in zip(reads, results, strict=True)
        ]

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

    def events(
        self, names: Sequence[str], from_block: int, to_block: int, *, window: int = 10_000
    ) -> list[ContractEvent]:
        """This contract's events called ``names`` in blocks ``from_block`` to ``to_block``, in chain
        order: ``eth_getLogs`` over windows of at most ``window`` blocks, a window halved while the
        node refuses it (nodes cap the block range or the results of one call).

        Raises:
            NodeRequestRefused: the node refused even a one-block window.
        """
        topics = ["0x" + topic.hex() for topic, name in self._topics.items() if name in names]
        found: list[ContractEvent] = []
        start, span = from_block, window
        while start <= to_block:
            end = min(start + span - 1, to_block)
            try:
                logs = self.w3.eth.get_logs(
                    {"address": self.address, "fromBlock": start, "toBlock": end, "topics": [topics]}  # type: ignore[typeddict-item]
                )
            except Web3RPCError as exc:
                if end == start:
                    raise NodeRequestRefused("eth_getLogs", str(exc)) from exc
                span = max(1, (end - start + 1) // 2)
                continue
            found += self.decode_events(logs)
            start = end + 1
        return found


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
