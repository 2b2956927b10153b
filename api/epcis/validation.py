"""Validation of captured EPCIS documents: GS1's JSON schema (vendored in api/schemas/) and the CBV
vocabulary, with every problem reported as a JSON pointer to the failing field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from chain.gs1 import (
    CANONICAL_HOST,
    EPC_SCHEMES,
    IdentifierError,
    epc_urn_to_digital_link,
    parse_digital_link_path,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "EPCIS-JSON-Schema.json"
CBV = "https://ref.gs1.org/cbv/"

# Standard terms, taken from the schema's own enumerations (CBV 2.0).
_VOCAB_DEFS = {
    "BizStep-": "bizStep",
    "Disp-": "disposition",
    "BTT-": "bizTransaction-type",
    "SDT-": "source-dest-type",
    "ER-": "error-reason",
    "Comp-": "component",
}
_EPC_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QTY_FIELDS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


@dataclass(frozen=True)
class FieldError:
    """One problem: the JSON pointer of the failing field and what is wrong with it."""

    pointer: str
    detail: str

    @property
    def event_index(self) -> int | None:
        """Index in epcisBody.eventList when the problem lies inside an event."""
        m = re.match(r"^/epcisBody/eventList/(\d+)(/|$)", self.pointer)
        return int(m.group(1)) if m else None


@cache
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


@cache
def _validator() -> Any:
    return jsonschema_rs.Draft7Validator(_schema(), validate_formats=True)


@cache
def standard_terms(prefix: str) -> frozenset[str]:
    """The standard bare words of one CBV vocabulary (by Web URI prefix, e.g. ``BizStep-``)."""
    definition = _schema()["definitions"][_VOCAB_DEFS[prefix]]
    for alt in definition.get("anyOf", []):
        if "enum" in alt:
            return frozenset(alt["enum"])
    return frozenset()


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def schema_errors(document: Any) -> list[FieldError]:
    """Problems the GS1 JSON schema finds (empty when the document is valid)."""
    validator = _validator()
    if validator.is_valid(document):
        return []
    found: dict[str, FieldError] = {}
    for err in validator.iter_errors(document):
        path = list(err.instance_path)
        schema_path = [str(p) for p in err.schema_path]
        name = re.match(r'^"(.*?)" is not valid', err.message) if "propertyNames" in schema_path else None
        if name is not None:
            path.append(name.group(1))
            detail = f"unknown field {name.group(1)!r} (extensions need a namespace prefix)"
        else:
            detail = err.message
        pointer = _pointer(path)
        found.setdefault(pointer, FieldError(pointer, detail[:300]))
    return list(found.values())


def _check_identifier(value: object, pointer: str, errors: list[FieldError]) -> None:
    if not isinstance(value, str):
        return
    try:
        if value.startswith("urn:epc:"):
            if value.startswith(("urn:epc:id:", "urn:epc:class:", "urn:epc:idpat:sgtin:")):
                scheme = value.split(":")[3] if value.count(":") >= 4 else ""
                if scheme in EPC_SCHEMES:
                    epc_urn_to_digital_link(value)
        elif value.startswith(CANONICAL_HOST + "/"):
            parse_digital_link_path(value[len(CANONICAL_HOST) :])
    except IdentifierError as exc:
        errors.append(FieldError(pointer, str(exc)))


def _check_term(value: object, pointer: str, prefix: str, errors: list[FieldError]) -> None:
    if isinstance(value, str) and value.startswith(CBV + prefix):
        term = value[len(CBV + prefix) :]
        if term not in standard_terms(prefix):
            errors.append(FieldError(pointer, f"{term!r} is not a CBV {prefix.rstrip('-')} term"))


def vocabulary_errors(event: Mapping[str, Any], base: str) -> list[FieldError]:
    """CBV checks the schema cannot express: Web-URI CBV terms must be standard terms, GS1 keys
    (EPC URNs, id.gs1.org Digital Links) must be well formed with valid check digits."""
    errors: list[FieldError] = []
    _check_term(event.get("bizStep"), f"{base}/bizStep", "BizStep-", errors)
    _check_term(event.get("disposition"), f"{base}/disposition", "Disp-", errors)
    for field in _EPC_FIELDS:
        for i, epc in enumerate(event.get(field) or []):
            _check_identifier(epc, f"{base}/{field}/{i}", errors)
    for field in _QTY_FIELDS:
        for i, q in enumerate(event.get(field) or []):
            if isinstance(q, dict):
                _check_identifier(q.get("epcClass"), f"{base}/{field}/{i}/epcClass", errors)
    if "parentID" in event:
        _check_identifier(event["parentID"], f"{base}/parentID", errors)
    for field in ("readPoint", "bizLocation"):
        if isinstance(event.get(field), dict):
            _check_identifier(event[field].get("id"), f"{base}/{field}/id", errors)
    for field, key, prefix in (
        ("bizTransactionList", "type", "BTT-"),
        ("sourceList", "type", "SDT-"),
        ("destinationList", "type", "SDT-"),
    ):
        for i, item in enumerate(event.get(field) or []):
            if isinstance(item, dict):
                _check_term(item.get(key), f"{base}/{field}/{i}/{key}", prefix, errors)
    return errors


def validate_document(document: Any) -> tuple[list[FieldError], dict[int, list[FieldError]]]:
    """Validates an EPCISDocument.

    Returns:
        The document-level problems (the capture must be refused) and, per event index, the
        problems of that event.
    """
    if not isinstance(document, dict) or document.get("type") != "EPCISDocument":
        return [FieldError("/type", "an EPCISDocument is required (type must be 'EPCISDocument')")], {}
    doc_errors: list[FieldError] = []
    per_event: dict[int, list[FieldError]] = {}
    for err in schema_errors(document):
        idx = err.event_index
        if idx is None:
            doc_errors.append(err)
        else:
            per_event.setdefault(idx, []).append(err)
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(events, list):
        for i, event in enumerate(events):
            if isinstance(event, dict) and i not in per_event:
                found = vocabulary_errors(event, f"/epcisBody/eventList/{i}")
                if found:
                    per_event[i] = found
    return doc_errors, per_event
