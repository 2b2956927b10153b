"""CBV 2.0 hash-based event IDs against the published reference vectors."""

from __future__ import annotations

from api.epcis.hashid import format_number, format_time, hash_event_id, pre_hash_string
from chain.gs1 import canonical_key, epc_urn_to_digital_link

CTX = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"example": "https://ns.example.com/epcis/"},
]


def test_hash_id_with_event_level_extensions_matches_reference() -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "recordTime": "2020-03-04T11:00:30.999+01:00",
        "epcList": [
            "urn:epc:id:sscc:4012345.0000000333",
            "urn:epc:id:sscc:4012345.0000000111",
            "urn:epc:id:sscc:4012345.0000000222",
        ],
        "action": "OBSERVE",
        "bizStep": "departing",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.987"},
        "example:myField1": {"example:mySubField1": "2", "example:mySubField2": "5"},
        "example:myField2": "0",
        "example:myField3": {"example:mySubField3": ["3", "1"]},
    }
    assert hash_event_id(event, CTX) == (
        "ni:///sha-256;6ae96341e0acc6d7a261364751f60e68278a81cdf51da0abb6b4e617014e39d7?ver=CBV2.0"
    )


def test_hash_id_with_sensor_reports_matches_reference() -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2020-04-01T15:00:00+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
        "sensorElementList": [
            {
                "sensorMetadata": {
                    "deviceID": "urn:epc:id:giai:4000001.111",
                    "deviceMetadata": "https://id.gs1.org/8004/4000001111",
                },
                "sensorReport": [
                    {"type": "Temperature", "value": 26, "sDev": 0.1, "uom": "CEL"},
                    {"type": "AbsoluteHumidity", "value": 12.1, "uom": "A93"},
                    {
                        "type": "Dimensionless",
                        "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                        "value": 0.05,
                        "uom": "C35",
                    },
                    {
                        "type": "Dimensionless",
                        "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                        "value": 0.18,
                        "uom": "C35",
                    },
                ],
            }
        ],
    }
    assert hash_event_id(event, CTX) == (
        "ni:///sha-256;271565c346ae2fb28c4583c4dca4ab4772d465eb4e0b6e548d77d8b49377d95c?ver=CBV2.0"
    )


def test_hash_id_with_transactions_sources_and_readpoint_extension_matches_reference() -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:0614141.011111.987"],
        "action": "OBSERVE",
        "bizStep": "departing",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.0", "example:myField1": "AB-12"},
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"}],
        "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
        "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
        "example:userExt": "CD-34",
    }
    assert hash_event_id(event, CTX) == (
        "ni:///sha-256;3ae14c02c4bdc220cc31942cf804f6845eb8dec96ba6483391c92a9b165f9329?ver=CBV2.0"
    )


def test_pre_hash_of_gs1_example_first_event_matches_reference() -> None:
    event = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
        "eventTime": "2005-04-03T20:33:31.116000-06:00",
        "eventTimeZoneOffset": "-06:00",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
        "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}],
    }
    assert pre_hash_string(event, CTX) == (
        "eventType=ObjectEventeventTime=2005-04-04T02:33:31.116ZeventTimeZoneOffset=-06:00"
        "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
        "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingdisposition=https://ref.gs1.org/cbv/Disp-"
        "in_transitreadPointid=https://id.gs1.org/414/0614141073467/254/1234bizTransactionListtype=https://ref."
        "gs1.org/cbv/BTT-pobizTransaction=http://transaction.acme.com/po/12345678"
    )


def test_hash_id_ignores_field_order_record_time_and_event_id() -> None:
    a = {
        "type": "ObjectEvent",
        "eventTime": "2024-01-01T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2", "urn:epc:id:sgtin:0614141.107346.1"],
        "action": "OBSERVE",
    }
    b = {
        "action": "OBSERVE",
        "epcList": list(reversed(a["epcList"])),
        "eventTimeZoneOffset": "+00:00",
        "eventTime": "2024-01-01T11:00:00.000+01:00",
        "type": "ObjectEvent",
        "recordTime": "2024-02-02T00:00:00Z",
        "eventID": "urn:uuid:5a4f9d0e-0000-4000-8000-000000000000",
    }
    assert hash_event_id(a) == hash_event_id(b)
    assert hash_event_id(a) != hash_event_id({**a, "action": "ADD"})


def test_time_and_number_canonical_forms() -> None:
    assert format_time("2023-01-18T11:04:03.1415Z") == "2023-01-18T11:04:03.142Z"
    assert format_time("2023-01-18T12:04:03+01:00") == "2023-01-18T11:04:03.000Z"
    assert [format_number(v) for v in (1.0, 0.3434, 26, 200.50, 1e-7)] == [
        "1",
        "0.3434",
        "26",
        "200.5",
        "0.0000001",
    ]


def test_epc_urns_become_canonical_digital_links() -> None:
    assert epc_urn_to_digital_link("urn:epc:id:sgtin:0614141.107346.2017") == (
        "https://id.gs1.org/01/10614141073464/21/2017"
    )
    assert epc_urn_to_digital_link("urn:epc:class:lgtin:4012345.012345.998877") == (
        "https://id.gs1.org/01/04012345123456/10/998877"
    )
    assert canonical_key("https://example.com/01/9506000134352/10/L1/21/S1?x=1") == (
        "https://id.gs1.org/01/09506000134352/21/S1"
    )
