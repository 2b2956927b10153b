"""Every error the chain layer raises: one root, one leaf per problem, messages built from typed
arguments. Contract custom errors (from the ABIs' ``error`` entries) are decoded into the
:class:`ContractError` leaves below in one place, :func:`decode_revert`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from chain.artifacts import load_artifact

CONTRACT_NAMES = ("PartnerRegistry", "TraceabilityLedger", "ShipmentEscrow", "TestToken")


class TracechainError(Exception):
    """Root of every error raised by Tracechain's chain layer."""


# ---------------------------------------------------------------- configuration and node


class NodeUnreachable(TracechainError):
    """The node at the configured URL does not answer."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"no node answers at {url} ({reason}): start it (`tracechain node`) or fix TRACECHAIN_RPC_URL"
        )


class WrongChain(TracechainError):
    """The node serves another chain than the one configured."""

    def __init__(self, url: str, expected: int, actual: int) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the node at {url} serves chain ID {actual}, not {expected}: "
            f"point TRACECHAIN_RPC_URL at the right node or set TRACECHAIN_CHAIN_ID={actual}"
        )


class NodeRequestRefused(TracechainError):
    """The node answered a JSON-RPC request with an error."""

    def __init__(self, method: str, error: object) -> None:
        self.method = method
        self.error = error
        super().__init__(f"the node refused {method}: {error}")


class DeploymentMissing(TracechainError):
    """No deployment is recorded for this chain, or its contracts are gone."""

    def __init__(self, chain_id: int, path: str, detail: str = "") -> None:
        self.chain_id = chain_id
        self.path = path
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"no Tracechain deployment for chain {chain_id} in {path}{extra}: run `tracechain deploy` first"
        )


class DeploymentMismatch(TracechainError):
    """The code at a recorded address is not the contract this build expects."""

    def __init__(self, name: str, address: str, chain_id: int) -> None:
        self.name = name
        self.address = address
        self.chain_id = chain_id
        super().__init__(
            f"{name} at {address} on chain {chain_id} does not match this build: "
            "check TRACECHAIN_RPC_URL, or remove its entry from deployments.json to redeploy"
        )


class InvalidAddress(TracechainError):
    """A value is not a valid Ethereum address."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(f"{value!r} is not an Ethereum address (0x followed by 40 hex digits)")


class NoContractCode(TracechainError):
    """No contract code is deployed at an address."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        super().__init__(f"no {name} contract at {address}: check the deployment (`tracechain status`)")


# ---------------------------------------------------------------- keys


class KeystoreError(TracechainError):
    """A keystore problem (base of the key errors)."""


class KeyNotFound(KeystoreError):
    """No keystore of that name."""

    def __init__(self, name: str, directory: str) -> None:
        self.name = name
        self.directory = directory
        super().__init__(f"no key {name!r} in {directory}: create it with `tracechain keys create {name}`")


class KeyExists(KeystoreError):
    """A keystore of that name exists already; it is never overwritten."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        super().__init__(f"key {name!r} exists already at {path}: choose another name")


class WrongPassphrase(KeystoreError):
    """The passphrase does not decrypt the keystore."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"wrong passphrase for {path}: check TRACECHAIN_PASSPHRASE")


class InvalidPrivateKey(KeystoreError):
    """The private key to import is malformed."""

    def __init__(self) -> None:
        super().__init__("the private key must be 32 bytes as 64 hex digits (optionally 0x-prefixed)")


# ---------------------------------------------------------------- transactions


class UnknownIntent(TracechainError):
    """No outbox intent has this key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no outbox intent with key {key!r}")


class IntentConflict(TracechainError):
    """An intent with this key exists with another payload."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"intent key {key!r} was already used for a different transaction")


class TransactionFailed(TracechainError):
    """A transaction reverted (or could not be sent) and will not be retried."""

    def __init__(self, tx_hash: str | None, reason: str, cause: ContractError | None = None) -> None:
        self.tx_hash = tx_hash
        self.reason = reason
        self.cause = cause
        where = f"transaction {tx_hash}" if tx_hash else "transaction"
        super().__init__(f"{where} failed: {reason}")


class PreflightFailed(TracechainError):
    """A wrapper's check before sending found that the call would fail."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


# ---------------------------------------------------------------- contract custom errors


def _snake(name: str) -> str:
    return "value" if name == "str" else re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _show(value: object) -> str:
    return (
        "0x" + value.hex()
        if isinstance(value, bytes)
        else repr(value)
        if isinstance(value, str)
        else str(value)
    )


class ContractError(TracechainError):
    """A contract reverted with one of its custom errors; the fields are the error's arguments."""

    selector: ClassVar[bytes] = b""

    def __init__(self, **args: Any) -> None:
        self.args_by_name: dict[str, Any] = args
        for name, value in args.items():
            setattr(self, name, value)
        doc = (type(self).__doc__ or "").strip().splitlines()[0] if type(self).__doc__ else ""
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"{type(self).__name__}({shown}): {doc}")

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


class AccessControlBadConfirmation(ContractError):
    """renounceRole was called for another account."""


class AccessControlUnauthorizedAccount(ContractError):
    """The account lacks the role the call needs."""

    account: str
    needed_role: bytes


class ECDSAInvalidSignature(ContractError):
    """The signature does not recover to an address."""


class ECDSAInvalidSignatureLength(ContractError):
    """The signature has the wrong length."""

    length: int


class ECDSAInvalidSignatureS(ContractError):
    """The signature is malleable (high s)."""

    s: bytes


class ERC20InsufficientAllowance(ContractError):
    """The spender's allowance is too small."""

    spender: str
    allowance: int
    needed: int


class ERC20InsufficientBalance(ContractError):
    """The sender's token balance is too small."""

    sender: str
    balance: int
    needed: int


class ERC20InvalidApprover(ContractError):
    """The approver is the zero address."""

    approver: str


class ERC20InvalidReceiver(ContractError):
    """The receiver is the zero address."""

    receiver: str


class ERC20InvalidSender(ContractError):
    """The sender is the zero address."""

    sender: str


class ERC20InvalidSpender(ContractError):
    """The spender is the zero address."""

    spender: str


class EnforcedPause(ContractError):
    """The contract is paused."""


class EscrowNothingToWithdraw(ContractError):
    """The account is owed nothing in this token."""

    account: str
    token: str


class ExpectedPause(ContractError):
    """The contract is not paused."""


class InvalidAccountNonce(ContractError):
    """The signed nonce is not the account's next nonce."""

    account: str
    current_nonce: int


class InvalidShortString(ContractError):
    """A short string is malformed."""


class LedgerAlreadyAggregated(ContractError):
    """The child is already aggregated into a parent."""

    child: bytes
    parent: bytes


class LedgerAssetExists(ContractError):
    """An asset with this ID is already registered."""

    id: bytes


class LedgerBatchAlreadyAnchored(ContractError):
    """This Merkle root is already anchored."""

    root: bytes


class LedgerEmptyBatch(ContractError):
    """The batch has a zero root or count."""

    root: bytes


class LedgerEventAlreadyAnchored(ContractError):
    """This EPCIS event ID is already anchored."""

    event_id: bytes


class LedgerInvalidLink(ContractError):
    """A link (ID, inputs or outputs, children) is empty or invalid."""

    id: bytes


class LedgerLotRecalled(ContractError):
    """The lot is recalled."""

    lot: bytes


class LedgerNotAggregated(ContractError):
    """The child is not aggregated into this parent."""

    child: bytes
    parent: bytes


class LedgerNotCustodian(ContractError):
    """The account is not the asset's custodian."""

    id: bytes
    account: str


class LedgerNotOwner(ContractError):
    """The account is not the asset's owner."""

    id: bytes
    account: str


class LedgerUnknownAsset(ContractError):
    """No asset with this ID is registered."""

    id: bytes


class ReentrancyGuardReentrantCall(ContractError):
    """A re-entrant call was refused."""


class RegistryDeviceExists(ContractError):
    """The device is already registered."""

    device: str
    owner: str


class RegistryGatedZeroRegistry(ContractError):
    """The registry address is zero."""


class RegistryInvalidDevice(ContractError):
    """The device address is zero."""

    device: str


class RegistryInvalidPartner(ContractError):
    """The partner address is zero or its name or GS1 key is empty."""

    account: str
    name: str
    gs1_key: str


class RegistryPartnerExists(ContractError):
    """The account is already an admitted partner."""

    account: str


class RegistryUnknownDevice(ContractError):
    """The device is not registered."""

    device: str


class RegistryUnknownPartner(ContractError):
    """The account is not an admitted partner."""

    account: str


class SafeERC20FailedOperation(ContractError):
    """A token transfer failed."""

    token: str


class ShipmentBatchExists(ContractError):
    """This telemetry batch is already posted."""

    shipment_id: bytes
    batch_hash: bytes


class ShipmentBreachAlreadyProven(ContractError):
    """A breach of this episode is already proven."""

    shipment_id: bytes
    episode: int


class ShipmentConsentExpired(ContractError):
    """The hand-over consent has expired."""

    shipment_id: bytes
    deadline: int


class ShipmentDeadlineNotPassed(ContractError):
    """The delivery deadline has not passed yet."""

    shipment_id: bytes
    deadline: int


class ShipmentDeadlinePassed(ContractError):
    """The delivery deadline has passed."""

    shipment_id: bytes
    deadline: int


class ShipmentDisputeWindowOpen(ContractError):
    """The dispute window is still open."""

    shipment_id: bytes
    ends_at: int


class ShipmentExists(ContractError):
    """A shipment with this ID exists."""

    shipment_id: bytes


class ShipmentInactiveDevice(ContractError):
    """The device is unknown or inactive."""

    device: str


class ShipmentInvalidBatch(ContractError):
    """The telemetry batch is malformed."""

    shipment_id: bytes
    root: bytes


class ShipmentInvalidCustodian(ContractError):
    """The new custodian is not allowed."""

    shipment_id: bytes
    to: str


class ShipmentInvalidManifest(ContractError):
    """The manifest is malformed."""

    shipment_id: bytes


class ShipmentInvalidReading(ContractError):
    """The reading is not in the batch, of another shipment, or outside its window."""

    shipment_id: bytes
    device: str
    counter: int


class ShipmentInvalidSigner(ContractError):
    """The signature was made by someone else."""

    shipment_id: bytes
    expected: str
    recovered: str


class ShipmentNoBreach(ContractError):
    """The reading is within the temperature range."""

    shipment_id: bytes
    temperature: int


class ShipmentUnauthorized(ContractError):
    """The account may not act on this shipment."""

    shipment_id: bytes
    account: str


class ShipmentUnexpectedState(ContractError):
    """The shipment is in a state that does not allow this call."""

    shipment_id: bytes
    current: int
    expected_states: bytes


class ShipmentUnknownBatch(ContractError):
    """The telemetry batch was never posted."""

    shipment_id: bytes
    batch_hash: bytes


class StringTooLong(ContractError):
    """A string is too long for a short string."""

    value: str


_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")


@cache
def _error_table() -> dict[bytes, tuple[type[ContractError], tuple[str, ...], tuple[str, ...]]]:
    """Selector → (leaf class, field names, ABI types), from every artifact's error entries."""
    leaves = {cls.__name__: cls for cls in ContractError.__subclasses__()}
    table: dict[bytes, tuple[type[ContractError], tuple[str, ...], tuple[str, ...]]] = {}
    for contract in CONTRACT_NAMES:
        for entry in load_artifact(contract)["abi"]:
            if entry["type"] != "error":
                continue
            types = tuple(i["type"] for i in entry["inputs"])
            selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            cls = leaves.get(entry["name"])
            if cls is None:  # an error added to the contracts without a leaf here: still decoded by name
                cls = type(entry["name"], (ContractError,), {"__doc__": f"Contract error {entry['name']}."})
                leaves[entry["name"]] = cls
            table[selector] = (cls, tuple(_snake(i["name"]) for i in entry["inputs"]), types)
    return table


def _plain(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def decode_revert_data(data: bytes | str | None) -> ContractError:
    """The :class:`ContractError` leaf for raw revert data (``0x``-hex or bytes)."""
    if data is None:
        return UnknownContractError(b"")
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data)
    selector, body = raw[:4], raw[4:]
    if selector == _ERROR_STRING:
        return RevertedWithReason(str(abi_decode(["string"], body)[0]))
    if selector == _PANIC:
        return RevertedWithReason(f"panic 0x{abi_decode(['uint256'], body)[0]:x}")
    entry = _error_table().get(selector)
    if entry is None:
        return UnknownContractError(raw)
    cls, names, types = entry
    try:
        values = abi_decode(list(types), body)
    except Exception:  # noqa: BLE001 - malformed data is reported, not raised
        return UnknownContractError(raw)
    err = cls.__new__(cls)
    ContractError.__init__(err, **{n: _plain(t, v) for n, t, v in zip(names, types, values, strict=True)})
    return err


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
