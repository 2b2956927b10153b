"""A cold-chain journey as EPCIS 2.0 documents: two ingredients transformed into a finished item, the
item packed onto a pallet, the pallet shipped with temperature readings and received. Used by the
demo, the benchmarks and the tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chain.gs1 import check_digit

CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"tc": "https://tracechain.example/epcis/"},
]


def gtin(company: str, item: str) -> str:
    body = ("0" + company + item)[-13:]
    return body + check_digit(body)


def gln(company: str, location: str) -> str:
    """A 13-digit GLN: the company prefix, the location reference, the check digit (its brand owner is
    the member holding ``company``, docs/security.md §4.1)."""
    body = company + location.zfill(12 - len(company))
    return body + check_digit(body)


def sscc(company: str, serial: int) -> str:
    body = ("0" + company + str(serial).zfill(16 - len(company)))[:17]
    return body + check_digit(body)


@dataclass(frozen=True)
class Journey:
    """The identifiers of one journey and its documents."""

    item: str  # Digital Link of the finished item (01/10/21)
    inputs: list[str]
    pallet: str
    documents: list[dict[str, Any]]

    @property
    def item_path(self) -> str:
        return self.item.removeprefix("https://id.gs1.org")


def _serial(tag: str) -> int:
    """A pallet serial derived from the tag, the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "big") % 10**9


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T00:00:00.000Z",
        "epcisBody": {"eventList": events},
    }


def _event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        **fields,
    }


def journey(
    tag: str = "A1", *, start: datetime | None = None, readings: int = 10, temps: list[float] | None = None
) -> Journey:
    """A journey whose item history has 4 own events and 4 + `readings` pallet events."""
    t = start or datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    farm = "https://id.gs1.org/414/" + gln("4012345", "1")
    plant = "https://id.gs1.org/414/" + gln("4012345", "2")
    store = "https://id.gs1.org/414/" + gln("0614141", "3")
    inputs = [f"https://id.gs1.org/01/{gtin('4012345', '10001')}/21/{tag}-in{i}" for i in (1, 2)]
    item = f"https://id.gs1.org/01/{gtin('4012345', '20002')}/10/LOT-{tag}/21/{tag}-001"
    pallet = f"https://id.gs1.org/00/{sscc('4012345', _serial(tag))}"
    upstream: list[dict[str, Any]] = []
    for i, inp in enumerate(inputs):
        base = t + timedelta(minutes=i)
        upstream += [
            _event(
                "ObjectEvent",
                base,
                epcList=[inp],
                action="ADD",
                bizStep="commissioning",
                disposition="active",
                readPoint={"id": farm},
                bizLocation={"id": farm},
            ),
            _event(
                "ObjectEvent",
                base + timedelta(hours=1),
                epcList=[inp],
                action="OBSERVE",
                bizStep="inspecting",
                readPoint={"id": farm},
                sensorElementList=[
                    {
                        "sensorMetadata": {
                            "time": (base + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
                        },
                        "sensorReport": [{"type": "Temperature", "value": 4.0 + i, "uom": "CEL"}],
                    }
                ],
            ),
            _event(
                "ObjectEvent",
                base + timedelta(hours=2),
                epcList=[inp],
                action="OBSERVE",
                bizStep="shipping",
                disposition="in_transit",
                readPoint={"id": farm},
            ),
        ]
    t2 = t + timedelta(hours=6)
    own = [
        _event(
            "TransformationEvent",
            t2,
            inputEPCList=inputs,
            outputEPCList=[item],
            bizStep="commissioning",
            disposition="active",
            readPoint={"id": plant},
            bizLocation={"id": plant},
            ilmd={"tc:bestBeforeDate": "2024-06-01"},
        ),
        _event(
            "ObjectEvent",
            t2 + timedelta(minutes=10),
            epcList=[item],
            action="OBSERVE",
            bizStep="inspecting",
            disposition="conformant",
            readPoint={"id": plant},
            certificationInfo="https://tracechain.example/certificates/organic-2024",
        ),
        _event(
            "ObjectEvent",
            t2 + timedelta(minutes=20),
            epcList=[item],
            action="OBSERVE",
            bizStep="packing",
            readPoint={"id": plant},
        ),
        _event(
            "AggregationEvent",
            t2 + timedelta(minutes=30),
            parentID=pallet,
            childEPCs=[item],
            action="ADD",
            bizStep="packing",
            disposition="in_progress",
            readPoint={"id": plant},
        ),
    ]
    t3 = t2 + timedelta(hours=1)
    temps = temps or [4.0 + (i % 3) * 0.5 for i in range(readings)]
    trip = [
        _event(
            "ObjectEvent",
            t3,
            epcList=[pallet],
            action="OBSERVE",
            bizStep="departing",
            disposition="in_transit",
            readPoint={"id": plant},
        )
    ]
    for i, temp in enumerate(temps):
        at = t3 + timedelta(minutes=30 * (i + 1))
        trip.append(
            _event(
                "ObjectEvent",
                at,
                epcList=[pallet],
                action="OBSERVE",
                bizStep="transporting",
                disposition="in_transit",
                readPoint={"id": plant},
                sensorElementList=[
                    {
                        "sensorMetadata": {"time": at.isoformat().replace("+00:00", "Z")},
                        "sensorReport": [{"type": "Temperature", "value": temp, "uom": "CEL"}],
                    }
                ],
            )
        )
    end = t3 + timedelta(minutes=30 * (len(temps) + 1))
    trip += [
        _event(
            "ObjectEvent",
            end,
            epcList=[pallet],
            action="OBSERVE",
            bizStep="arriving",
            readPoint={"id": store},
        ),
        _event(
            "ObjectEvent",
            end + timedelta(minutes=15),
            epcList=[pallet],
            action="OBSERVE",
            bizStep="receiving",
            disposition="in_progress",
            readPoint={"id": store},
            bizLocation={"id": store},
        ),
    ]
    return Journey(
        item=item, inputs=inputs, pallet=pallet, documents=[document(upstream), document(own), document(trip)]
    )


def bulk_document(n: int, tag: str = "B") -> dict[str, Any]:
    """One document of `n` distinct ObjectEvents (for capture throughput)."""
    t = datetime(2024, 1, 1, tzinfo=UTC)
    g = gtin("4012345", "30003")
    loc = "https://id.gs1.org/414/" + gln("4012345", "1")
    return document(
        [
            _event(
                "ObjectEvent",
                t + timedelta(seconds=i),
                epcList=[f"https://id.gs1.org/01/{g}/21/{tag}{i}"],
                action="OBSERVE",
                bizStep="shipping",
                disposition="in_transit",
                readPoint={"id": loc},
            )
            for i in range(n)
        ]
    )
