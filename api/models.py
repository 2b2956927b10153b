"""Request and response models of the API (input models forbid extra fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
