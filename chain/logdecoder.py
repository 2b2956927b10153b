"""Decodes raw `eth_getLogs` entries of the Tracechain contracts with their ABIs from the build.

A fast path for the indexer: it works on the node's JSON (hex strings) directly, without web3's
result formatters, and decodes indexed value types from the topics by hand (eth_abi only for the
data part). Values come out in the read model's conventions: checksummed addresses, bytes32 as
`0x`-prefixed lowercase hex, integers as `int`, structs as dicts keyed by component name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from chain.artifacts import load_artifact


@lru_cache(maxsize=65_536)
def checksum(address: str) -> str:
    """The checksummed form of a 0x-prefixed hex address (cached: a chain has few distinct ones)."""
    return to_checksum_address(address)


@dataclass(frozen=True, slots=True)
class DecodedLog:
    """One contract event with the identity of the log that carried it."""

    contract: str
    contract_name: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True, slots=True)
class _EventSpec:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_abi: tuple[Mapping[str, Any], ...]


def _abi_type(param: Mapping[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples spelled out."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def _topic_value(kind: str, topic: str) -> Any:
    if kind == "address":
        return checksum("0x" + topic[-40:])
    if kind.startswith("uint"):
        return int(topic, 16)
    if kind.startswith("int"):
        value = int(topic, 16)
        return value - (1 << 256) if value >= 1 << 255 else value
    if kind == "bool":
        return int(topic, 16) != 0
    return topic.lower()  # bytes32 and friends; the keccak of a dynamic value for indexed dynamic types


def _normalize(param: Mapping[str, Any], value: Any) -> Any:
    kind: str = param["type"]
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        return [_normalize(inner, v) for v in value]
    if kind == "tuple":
        return {c["name"]: _normalize(c, v) for c, v in zip(param["components"], value, strict=True)}
    if kind == "address":
        return checksum(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class LogDecoder:
    """Decoder for the logs of contracts `addresses` (artifact name → address).

    Args:
        addresses: e.g. {"PartnerRegistry": "0x…", "TraceabilityLedger": "0x…", "ShipmentEscrow": "0x…"}.

    Raises:
        chain.exceptions.ArtifactMissing: a contract was not built.
    """

    def __init__(self, addresses: Mapping[str, str]) -> None:
        self._specs: dict[tuple[str, str], _EventSpec] = {}
        self._names: dict[str, tuple[str, str]] = {}
        for contract_name, address in addresses.items():
            lower = address.lower()
            self._names[lower] = (checksum(lower), contract_name)
            for item in load_artifact(contract_name)["abi"]:
                if item["type"] != "event" or item.get("anonymous"):
                    continue
                topic0 = "0x" + event_abi_to_log_topic(item).hex()
                inputs: Sequence[Mapping[str, Any]] = item["inputs"]
                data = tuple(i for i in inputs if not i["indexed"])
                self._specs[(lower, topic0)] = _EventSpec(
                    name=item["name"],
                    indexed=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
                    data_names=tuple(i["name"] for i in data),
                    data_types=tuple(_abi_type(i) for i in data),
                    data_abi=data,
                )

    @property
    def addresses(self) -> list[str]:
        """The checksummed addresses whose logs this decoder knows."""
        return [checksummed for checksummed, _ in self._names.values()]

    def decode(self, log: Mapping[str, Any]) -> DecodedLog | None:
        """Decodes one raw log (JSON-RPC form); None when its address or event is not known."""
        address = log["address"].lower()
        topics: Sequence[str] = log["topics"]
        spec = self._specs.get((address, topics[0].lower())) if topics else None
        if spec is None:
            return None
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _topic_value(kind, topic)
        if spec.data_types:
            values = abi_decode(spec.data_types, bytes.fromhex(log["data"][2:]))
            for param, value in zip(spec.data_abi, values, strict=True):
                args[param["name"]] = _normalize(param, value)
        contract, contract_name = self._names[address]
        return DecodedLog(
            contract=contract,
            contract_name=contract_name,
            name=spec.name,
            args=args,
            block_number=int(log["blockNumber"], 16),
            block_hash=log["blockHash"].lower(),
            tx_hash=log["transactionHash"].lower(),
            log_index=int(log["logIndex"], 16),
        )
