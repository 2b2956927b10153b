"""EPCIS 2.0 sensor events of telemetry batches (ObjectEvent with sensorElementList).

One event per (batch, device): what = the shipment, when = the batch window, where = the last
position, sensor data = one sensorElement with a Temperature (CEL) and a RelativeHumidity (P1,
percent) report per reading, each with its time. The event ID is the CBV 2.0 hash-based ID
(ni:///sha-256;…?ver=CBV2.0, chain/epcis_hash.py), so the same batch always produces the same ID.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

from chain.epcis_hash import CBV, GS1_VOC, VERSION
from chain.identifiers import EPCIS_CONTEXT, device_uri, shipment_uri


@functools.lru_cache(maxsize=4096)  # a batch repeats each reading's second many times
def iso(ts: int | float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def sensor_event(
    shipment_id: bytes, device: bytes, readings: list[tuple[int, int, int, int, int]], root: bytes
) -> dict[str, Any]:
    """An ObjectEvent of one device's `readings` = [(timestamp, temperature, humidity, lat, lon)].

    Temperatures are centi-°C and humidity centi-% on the wire; EPCIS gets °C (CEL) and % (P1).
    """
    last = readings[-1]
    reports: list[dict[str, Any]] = []
    for ts, temp, hum, _lat, _lon in readings:
        t = iso(ts)
        reports.append({"type": "Temperature", "value": temp / 100, "uom": "CEL", "time": t})
        reports.append({"type": "RelativeHumidity", "value": hum / 100, "uom": "P1", "time": t})
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": iso(last[0]),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [shipment_uri(shipment_id)],
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "disposition": "in_transit",
        "readPoint": {"id": f"geo:{last[3] / 1e6:.6f},{last[4] / 1e6:.6f}"},
        "sensorElementList": [
            {
                "sensorMetadata": {
                    "deviceID": device_uri(device),
                    "startTime": iso(readings[0][0]),
                    "endTime": iso(last[0]),
                    "rawData": f"urn:tracechain:telemetry-batch:0x{root.hex()}",
                },
                "sensorReport": reports,
            }
        ],
    }
    event["eventID"] = _sensor_event_id(event, readings)
    return event


def _decimal(centi: int) -> str:
    """A centi-unit integer as the CBV canonical number of its value (5.12, -0.17, 50)."""
    whole, frac = divmod(abs(centi), 100)
    sign = "-" if centi < 0 else ""
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def _sensor_event_id(event: dict[str, Any], readings: list[tuple[int, int, int, int, int]]) -> str:
    """The CBV 2.0 hash ID of a `sensor_event`, its pre-hash string written out for this one shape.

    Hand-written because the generic canonicaliser (chain/epcis_hash.py) walks every field of
    every report and was most of the cost of sealing a batch; tests/oracles/telemetry/test_epcis_ids.py
    checks that both give the same ID for random batches.
    """
    meta = event["sensorElementList"][0]["sensorMetadata"]
    reports = []
    for ts, temp, hum, _lat, _lon in readings:
        t = iso(ts)
        reports.append(f"sensorReporttype={GS1_VOC}Temperaturetime={t}value={_decimal(temp)}uom=CEL")
        reports.append(f"sensorReporttype={GS1_VOC}RelativeHumiditytime={t}value={_decimal(hum)}uom=P1")
    reports.sort()
    pre = (
        f"eventType=ObjectEventeventTime={event['eventTime']}eventTimeZoneOffset=+00:00"
        f"epcListepc={event['epcList'][0]}action=OBSERVE"
        f"bizStep={CBV}BizStep-sensor_reportingdisposition={CBV}Disp-in_transit"
        f"readPointid={event['readPoint']['id']}"
        f"sensorElementsensorMetadatastartTime={meta['startTime']}endTime={meta['endTime']}"
        f"deviceID={meta['deviceID']}rawData={meta['rawData']}" + "".join(reports)
    )
    return f"ni:///sha-256;{hashlib.sha256(pre.encode()).hexdigest()}?ver={VERSION}"


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """An EPCISDocument wrapping `events`."""
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": iso(datetime.now(UTC).timestamp()),
        "epcisBody": {"eventList": events},
    }
