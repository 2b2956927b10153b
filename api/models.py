"""Request and response models of the API (input models forbid extra fields)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chain.manifest import MAX_DEVICES, MAX_ITEMS


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# ------------------------------------------------------------------------------------------------ health


class Health(Output):
    status: Literal["ok"] = "ok"


class Readiness(Output):
    status: Literal["ready", "degraded"]
    database: bool
    chain: bool | None = None


# -------------------------------------------------------------------------------------------------- auth


class NoncePublic(Output):
    nonce: str
    expires_at: float = Field(alias="expiresAt")
    domain: str
    chain_id: int = Field(alias="chainId")


class LoginCreate(Input):
    message: str = Field(max_length=4096)
    signature: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{130}$")


class TokenPublic(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: int
    address: str
    roles: list[str]


# ------------------------------------------------------------------------------------------------- EPCIS


class CaptureProblem(Output):
    pointer: str
    detail: str


class CaptureJobPublic(Output):
    """The REST binding's CaptureJob, plus the IDs of the events stored and their anchor batch."""

    capture_id: str = Field(alias="captureID")
    created_at: str = Field(alias="createdAt")
    finished_at: str | None = Field(default=None, alias="finishedAt")
    running: bool
    success: bool
    capture_error_behaviour: Literal["rollback", "proceed"] = Field(alias="captureErrorBehaviour")
    errors: list[CaptureProblem] = []
    event_ids: list[str] = Field(default=[], alias="eventIDs")


class QueryDocument(Output):
    """An EPCISQueryDocument (JSON-LD); events come back exactly as captured."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    context: list[Any] = Field(alias="@context")
    type: Literal["EPCISQueryDocument"] = "EPCISQueryDocument"
    schema_version: str = Field(alias="schemaVersion")
    creation_date: str = Field(alias="creationDate")
    epcis_body: dict[str, Any] = Field(alias="epcisBody")


class EventPublic(Output):
    """One EPCIS event as captured, with the JSON-LD context it was captured in."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    context: list[Any] = Field(alias="@context")
    type: str
    event_id: str = Field(alias="eventID")


# ------------------------------------------------------------------------------------------------- trace


class Anchor(Output):
    status: Literal["unanchored", "pending", "anchored", "verified", "tampered", "invalid-proof", "failed"]
    hash_id: str = Field(alias="hashId")
    leaf: str | None = None
    capturer: str | None = None
    """The partner who captured the event, whose claim the Merkle leaf commits to (the zero address
    for none); None when the leaf was sealed before claims were attributed."""
    batch_root: str | None = Field(default=None, alias="batchRoot")
    proof: list[str] = []
    tx_hash: str | None = Field(default=None, alias="txHash")
    block_number: int | None = Field(default=None, alias="blockNumber")


class TracedEvent(Output):
    event_id: str = Field(alias="eventID")
    event_type: str = Field(alias="eventType")
    event_time: str | None = Field(alias="eventTime")
    biz_step: str | None = Field(alias="bizStep")
    disposition: str | None
    biz_location: str | None = Field(alias="bizLocation")
    read_point: str | None = Field(alias="readPoint")
    event: dict[str, Any]
    anchor: Anchor
    claimant: Literal["brand-owner", "admin"] | None = None
    """For a recall or a certification: who made it, when rightful (its objects' brand owner, or for a
    recall the consortium admin); absent or None otherwise."""


class TraceNode(Output):
    key: str
    relation: Literal["input", "parent", "output", "child"]
    depth: int
    via_event_id: str | None = Field(alias="viaEventID")
    events: list[TracedEvent] | None = None


class TracePublic(Output):
    identifier: str
    key: str
    recalled: bool
    history: list[TracedEvent]
    upstream: list[TraceNode]
    downstream: list[TraceNode]


# ------------------------------------------------------------------------------------------- resolver


class ResolverDescription(Output):
    """/.well-known/gs1resolver (GS1 Digital Link resolver description)."""

    name: str
    resolver_root: str = Field(alias="resolverRoot")
    supported_primary_keys: list[str] = Field(alias="supportedPrimaryKeys")
    supported_context_values: list[str] = Field(default=[], alias="supportedContextValues")
    supported_link_type: list[dict[str, str]] = Field(alias="supportedLinkType")
    link_type_default_can_be_linkset: bool = Field(default=True, alias="linkTypeDefaultCanBeLinkset")


class Linkset(Output):
    """RFC 9264 linkset."""

    linkset: list[dict[str, Any]]


# --------------------------------------------------------------------------------- shipments and escrow

Bytes32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
Signature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65 bytes r‖s‖v, v 27 or 28")]
SignedTx = Annotated[
    str,
    Field(
        pattern=r"^0x(?:[0-9a-fA-F]{2}){1,16384}$",
        description="a signed raw transaction (EIP-1559, EIP-2930 or EIP-155 legacy) as for "
        "eth_sendRawTransaction",
    ),
]


class ManifestIn(Input):
    """IShipmentEscrow.Manifest as the supplier signed it (EIP-712, domain "Tracechain" v1)."""

    shipmentId: Bytes32  # noqa: N815
    itemsHash: Bytes32  # noqa: N815
    supplier: Address
    buyer: Address
    carrier: Address
    devices: list[Address] = Field(
        min_length=1,
        max_length=MAX_DEVICES,
        description="the tracking devices whose readings count as evidence",
    )
    token: Address
    amount: int = Field(gt=0, lt=2**256)
    penalty: int = Field(ge=0, lt=2**256)
    minTemp: int = Field(ge=-(2**31), lt=2**31)  # noqa: N815
    maxTemp: int = Field(ge=-(2**31), lt=2**31)  # noqa: N815
    deadline: int = Field(gt=0, lt=2**64)
    disputeWindow: int = Field(ge=0, lt=2**64)  # noqa: N815
    nonce: int = Field(ge=0, lt=2**256)
    items: list[Bytes32] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description="the ledger asset IDs itemsHash commits to (keccak256(abi.encode(bytes32[] items))), "
        "in order; outside the signed struct. Known items pass to the buyer when the shipment settles",
    )

    @field_validator("devices")
    @classmethod
    def _distinct_devices(cls, devices: list[str]) -> list[str]:
        lowered = [d.lower() for d in devices]
        if len(set(lowered)) != len(lowered) or any(int(d, 16) == 0 for d in lowered):
            raise ValueError("devices must be distinct non-zero addresses")
        return devices


class ShipmentCreate(Input):
    """A supplier-signed manifest: exactly what ``tracechain sign manifest`` prints. ``chainId``,
    ``escrow`` and ``digest`` are optional; when given they must be this API's chain, its escrow and
    the manifest's EIP-712 digest (a manifest signed for another deployment is refused by name
    rather than as a signature by someone else)."""

    manifest: ManifestIn
    signature: Signature
    chainId: int | None = Field(default=None, gt=0)  # noqa: N815
    escrow: Address | None = None
    digest: Bytes32 | None = None


class RelayPublic(Output):
    shipment_id: str
    outbox_key: str
    state: str
    status_url: str | None = None
    """Where the relay's progress is followed: ``GET /transactions/intents/{outbox_key}``."""
    shipment_url: str | None = None


class FundCreate(Input):
    """The buyer's own signed transactions: optionally ``token.approve(escrow, ≥ amount)``, then
    ``escrow.fund(shipmentId)`` (consecutive nonces)."""

    transactions: list[SignedTx] = Field(min_length=1, max_length=2)


class ConsentIn(Input):
    """The other party's EIP-712 ``CustodyHandover`` consent (shipmentId, from, to, seq, deadline);
    ``from`` and ``seq`` are the shipment's current custodian and custody sequence number on chain."""

    to: Address
    deadline: int = Field(gt=0, lt=2**64)
    signature: Signature


class HandoverCreate(Input):
    """A custody hand-over: the counterparty's consent and the sending party's own signed
    ``escrow.handOver(shipmentId, to, deadline, consent)`` transaction."""

    consent: ConsentIn
    transaction: SignedTx


class DeliveryCreate(Input):
    """The buyer's own signed ``escrow.confirmDelivery(shipmentId)`` transaction."""

    transaction: SignedTx


class DisputeCreate(Input):
    """The buyer's own signed ``escrow.dispute(shipmentId, reason, evidence)`` transaction."""

    transaction: SignedTx


class ResolutionCreate(Input):
    """An arbiter's own signed ``escrow.resolveDispute(shipmentId, toBuyer)`` transaction."""

    transaction: SignedTx


class TxPublic(Output):
    tx_hash: str
    state: Literal["pending", "mined", "reverted", "refused"]
    block_number: int | None = None
    error: str | None = None


class TransactionsPublic(Output):
    """What became of relayed partner-signed transactions (``pending`` until mined)."""

    shipment_id: str
    action: Literal["fund", "hand-over", "confirm-delivery", "dispute", "resolve"]
    transactions: list[TxPublic]


class UnsignedTxPublic(Output):
    """A transaction for the partner's wallet to sign as is (fees are the node's current suggestion)."""

    chain_id: int = Field(alias="chainId")
    sender: str = Field(alias="from")
    to: str
    data: str
    value: int = 0
    nonce: int
    gas: int | None = None
    max_fee_per_gas: int = Field(alias="maxFeePerGas")
    max_priority_fee_per_gas: int = Field(alias="maxPriorityFeePerGas")


class ConsentRequest(Output):
    """The EIP-712 ``CustodyHandover`` message the counterparty signs (``eth_signTypedData_v4``)."""

    signer: str
    sender: str
    digest: str
    typed_data: dict[str, Any]


class TelemetrySummary(Output):
    batches: int
    readings: int
    min_temp_c: float | None
    max_temp_c: float | None
    window_start: int | None
    window_end: int | None
    breaches: int
    readings_received: int = 0
    readings_out_of_band: int = 0
    readings_unbatched: int = 0
    last_reading_at: int | None = None


class HandoverPublic(Output):
    from_account: str
    to_account: str
    seq: int
    tx_hash: str
    block_number: int


class ShipmentItemPublic(Output):
    """One item the shipment sells: its ledger asset ID, its owner now (read model; None: not
    registered) and, once ownership was settled, whether it passed to the buyer."""

    asset_id: str
    owner: str | None
    passed: bool | None


class OwnershipPublic(Output):
    """Whether ownership of the shipment's items followed payment.

    ``state``: ``no-item-list`` (the manifest's items are not known: nothing will pass),
    ``stays`` (refunded or cancelled: the supplier keeps title), ``awaiting-settlement``,
    ``pending`` (settled: the keeper passes the items), ``passed``."""

    state: str
    items: list[ShipmentItemPublic]
    transferred: int | None = None
    skipped: int | None = None
    tx_hash: str | None = None


class CustodyPublic(Output):
    custodian: str
    seq: int
    handovers: list[HandoverPublic]


class BreachPublic(Output):
    episode: int  # the episode's start (unix seconds): the reading that opened it
    episode_start: int
    device: str
    counter: int
    temperature_c: float
    penalty: str
    tx_hash: str


class PaymentSchedule(Output):
    """Where the money is and when it moves (token base units as decimal strings, unix seconds)."""

    token: str
    amount: str
    funded: str
    penalties: str
    to_supplier: str
    to_buyer: str
    fund_by: int | None
    deliver_by: int
    delivered_at: int | None
    dispute_window: int
    release_from: int | None
    refund_from: int | None
    released_to_supplier: str
    released_to_buyer: str
    arbitration_until: int | None = None
    """A disputed shipment: arbiters decide before this time; from it, anyone may settle by the
    fallback rule (docs/disputes.md)."""
    next_step: str


class DisputePublic(Output):
    """A shipment's dispute: what the buyer said, and how it ended (``resolved_by`` the arbiter, or the
    caller of the fallback settlement when ``fallback``)."""

    buyer: str
    reason: str
    evidence: list[str]
    raised_at: int
    tx_hash: str
    arbitration_until: int
    resolved_by: str | None = None
    to_supplier: str | None = None
    to_buyer: str | None = None
    fallback: bool | None = None
    resolution_tx_hash: str | None = None


class ShipmentPublic(Output):
    shipment_id: str
    state: str
    supplier: str
    buyer: str
    carrier: str
    custodian: str
    token: str
    amount: str
    funded: str
    penalty: str
    penalties: str
    min_temp_c: float
    max_temp_c: float
    deadline: int
    dispute_window: int
    delivered_at: int | None
    released_to_supplier: str
    released_to_buyer: str
    telemetry: TelemetrySummary
    custody: CustodyPublic
    breaches: list[BreachPublic]
    payment_schedule: PaymentSchedule
    ownership: OwnershipPublic | None = None  # GET /shipments/{id} always says; a list may not
    dispute: DisputePublic | None = None


class TelemetryBatchPublic(Output):
    """A sealed telemetry batch (contract units: centi-°C) and whether its root is on chain."""

    seq: int
    root: str
    count: int
    window_start: int
    window_end: int
    min_temp: int
    max_temp: int
    state: str
    tx_hash: str | None
    block_number: int | None
    posted_on_chain: bool


class ReadingPublic(Output):
    device: str
    counter: int
    timestamp: int
    temperature_c: float
    humidity_pct: float
    latitude: float
    longitude: float
    in_band: bool
    status: Literal["unbatched", "tampered", "invalid-proof", "failed", "pending", "verified"]
    batch_seq: int | None


class ReadingsPage(Output):
    shipment_id: str
    readings: list[ReadingPublic]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last")


class ReadingProof(Output):
    """Everything needed to check one reading without trusting the API: the device-signed struct,
    its Merkle proof and the batch, which ``ShipmentEscrow.isBatchPosted`` confirms and
    ``proveBreach`` accepts as is."""

    shipment_id: str
    status: Literal["unbatched", "tampered", "invalid-proof", "failed", "pending", "verified"]
    escrow: str | None
    chain_id: int
    reading: dict[str, Any] = Field(description="IShipmentEscrow.Reading, contract units")
    signature: str
    signature_valid: bool
    struct_hash: str
    leaf: str
    proof: list[str]
    batch: TelemetryBatchPublic | None


# ------------------------------------------------------------- lists, payments and transaction status


class ManifestDefaults(Output):
    """What a supplier's next manifest needs from the deployment (``tracechain shipment new``)."""

    chain_id: int = Field(alias="chainId")
    escrow: str
    supplier: str
    nonce: int
    """The caller's next escrow nonce: on chain, or past its manifests still in the relay's outbox."""
    tokens: list[str]
    """The settlement tokens the consortium approved (``ShipmentEscrow.isTokenApproved``)."""
    chain_time: int = Field(alias="chainTime")
    """The latest block's time: the escrow checks deadlines against it, not against a wall clock."""


class ShipmentSummary(Output):
    shipment_id: str
    state: str
    roles: list[Literal["supplier", "buyer", "carrier", "custodian"]]
    """The caller's parts in the shipment (empty for an auditor outside it)."""
    supplier: str
    buyer: str
    carrier: str
    custodian: str
    token: str
    amount: str
    deadline: int
    delivered_at: int | None
    updated_block: int


class ShipmentsPage(Output):
    shipments: list[ShipmentSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class OwedPublic(Output):
    token: str
    owed: str
    """Token base units, a decimal string."""


class OwedList(Output):
    account: str
    owed: list[OwedPublic]


class WithdrawCreate(Input):
    """The payee's own signed ``escrow.withdraw(token)`` transaction."""

    transaction: SignedTx


class WithdrawalPublic(Output):
    token: str
    amount: str
    transaction: TxPublic
    status_url: str


class TransactionStatus(Output):
    """A transaction's way to the read model: ``intent`` (in the relay's outbox), ``sent`` (the node has
    it), ``mined``, ``indexed`` (the read model has processed its block), or ``reverted`` (``error``:
    the decoded custom error; a relayed intent whose simulation reverted has no ``tx_hash``)."""

    state: Literal["intent", "sent", "mined", "indexed", "reverted"]
    tx_hash: str | None = None
    outbox_key: str | None = None
    block_number: int | None = None
    error: str | None = None
    shipment_id: str | None = None
    final: bool
    """True once the state will not change any more (indexed or reverted)."""
