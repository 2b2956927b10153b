"""EPCIS 2.0 capture (REST binding): POST /epcis/capture and the capture jobs."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from api.deps import AnchorerDep, RecordingPartner, ServicesDep, SessionDep
from api.epcis.store import CaptureLimits, capture, get_job, job_event_ids
from api.errors import CaptureLimitExceeded, NotFound, ValidationProblem
from api.models import CaptureJobPublic, CaptureProblem
from api.rights import Capturer, check_capture
from chain.tables.epcis import CaptureJob

router = APIRouter(prefix="/epcis", tags=["epcis capture"])

_DOC_SCHEMA = {
    "type": "object",
    "description": "An EPCISDocument (JSON-LD), validated against GS1's EPCIS 2.0 "
    "JSON schema and the CBV vocabulary",
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {"type": {"type": "string", "enum": ["EPCISDocument"]}},
}


def job_public(job: CaptureJob, event_ids: list[str]) -> CaptureJobPublic:
    return CaptureJobPublic(
        captureID=job.id,
        createdAt=job.created_at.isoformat().replace("+00:00", "Z"),
        finishedAt=job.finished_at.isoformat().replace("+00:00", "Z") if job.finished_at else None,
        running=job.running,
        success=job.success,
        captureErrorBehaviour=job.error_behaviour,  # type: ignore[arg-type]
        errors=[CaptureProblem.model_validate(e) for e in job.errors or []],
        eventIDs=event_ids,
    )


@router.post(
    "/capture",
    status_code=202,
    response_model=CaptureJobPublic,
    responses={
        400: {"description": "Invalid EPCIS document (problem+json naming the field)"},
        403: {"description": "An event about an object the partner may not capture it about (§4.2)"},
        409: {"description": "An event ID already captured with other content"},
        413: {"description": "Capture limit exceeded"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _DOC_SCHEMA},
                "application/ld+json": {"schema": _DOC_SCHEMA},
            },
        }
    },
)
async def capture_events(
    request: Request,
    response: Response,
    services: ServicesDep,
    partner: RecordingPartner,
    anchorer: AnchorerDep,
    behaviour: Annotated[
        str, Header(alias="GS1-Capture-Error-Behaviour", pattern="^(rollback|proceed)$")
    ] = "rollback",
) -> CaptureJobPublic:
    """Validates, checks the partner's capture rights on, stores and anchors the events; 202 with
    `Location: /epcis/capture/{id}`. One event the partner may not capture refuses the whole document
    (403 SecurityException naming the object and the rule), whatever GS1-Capture-Error-Behaviour says."""
    s = services.settings
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > s.capture_max_bytes:
        raise CaptureLimitExceeded(
            f"body of {declared} bytes exceeds {s.capture_max_bytes}",
            headers={"GS1-EPCIS-Capture-File-Size-Limit": str(s.capture_max_bytes)},
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > s.capture_max_bytes:
            raise CaptureLimitExceeded(
                f"body exceeds {s.capture_max_bytes} bytes",
                headers={"GS1-EPCIS-Capture-File-Size-Limit": str(s.capture_max_bytes)},
            )
    try:
        document: Any = json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationProblem(
            "body is not JSON", errors=[{"pointer": "", "detail": str(exc)[:200]}]
        ) from exc
    from starlette.concurrency import run_in_threadpool

    capturer = Capturer(partner.address, admin=partner.is_admin)
    result = await run_in_threadpool(
        capture,
        services.sessions,
        document,
        behaviour=behaviour,
        submitter=capturer.address,
        anchorer=anchorer,
        limits=CaptureLimits(max_events=s.capture_max_events, max_bytes=s.capture_max_bytes),
        guard=partial(check_capture, brands=services.brands, capturer=capturer),
    )
    services.trace_cache.invalidate()
    request.app.state.metrics.captured.inc(len(result.event_ids))
    response.headers["Location"] = f"/epcis/capture/{result.job.id}"
    response.headers["GS1-EPCIS-Version"] = "2.0.0"
    response.headers["GS1-CBV-Version"] = "2.0.0"
    return job_public(result.job, result.event_ids)


@router.get(
    "/capture/{capture_id}",
    response_model=CaptureJobPublic,
    responses={404: {"description": "No such capture job"}},
)
def capture_job(capture_id: str, session: SessionDep, partner: RecordingPartner) -> CaptureJobPublic:
    """The capture job: running, success, errors and the event IDs stored. Only its submitter sees it."""
    job = get_job(session, capture_id)
    if job.submitter is not None and job.submitter != partner.address and not partner.is_auditor:
        raise NotFound(f"no capture job {capture_id!r}")
    return job_public(job, job_event_ids(session, capture_id))
