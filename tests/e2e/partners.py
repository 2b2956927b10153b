"""The parties of the end-to-end stories, acting on the running stack (tests/e2e/stack.py) only
through what we ship: partners through the API (and the CLI where it exists), devices over MQTT,
the carrier system through its HMAC-signed webhook.

Each partner step (`PartnerClient`) is one method: today most are HTTP calls to the API with the
transaction signed locally (as a wallet would); when the partner CLI (`tracechain login`,
`tracechain shipment ...`) lands, each method switches to its command in that one place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

from oracles.simulator import TOPIC, Publisher
from oracles.telemetry import codec
from tests.e2e.stack import Stack, eventually, send_raw

# ---------------------------------------------------------------------------------------- parties


@dataclass
class Party:
    """A partner: its keystore name (for the CLI) and its key as its wallet holds it."""

    key_name: str
    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)


class PartnerClient:
    """One partner's session with the API. Each method is one step a partner takes; see the module
    docstring for which of them go over HTTP and which through the CLI."""

    def __init__(self, stack: Stack, party: Party) -> None:
        self.stack, self.party = stack, party
        self.http = httpx.Client(base_url=stack.api_url, timeout=30)
        self.login()

    def close(self) -> None:
        self.http.close()

    # -------------------------------------------------------------- sign-in

    def login(self) -> None:
        """EIP-4361 sign-in (HTTP /auth/nonce and /auth/login); the bearer token for the next calls.
        To switch: `tracechain login --key NAME`."""
        nonce = self._ok(self.http.get("/auth/nonce"))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        message = "\n".join(
            [
                f"{nonce['domain']} wants you to sign in with your Ethereum account:",
                self.party.address,
                "",
                "Sign in to Tracechain.",
                "",
                f"URI: https://{nonce['domain']}",
                "Version: 1",
                f"Chain ID: {nonce['chainId']}",
                f"Nonce: {nonce['nonce']}",
                f"Issued At: {now}",
            ]
        )
        signed = self.party.account.sign_message(encode_defunct(text=message))
        token = self._ok(
            self.http.post(
                "/auth/login", json={"message": message, "signature": signed.signature.to_0x_hex()}
            )
        )
        self.http.headers["Authorization"] = f"Bearer {token['access_token']}"

    # -------------------------------------------------------------- shipments

    def create_shipment(self, manifest: dict[str, Any], tmp: Path) -> str:
        """`tracechain sign manifest` (CLI) with the supplier's keystore, then the signed manifest
        relayed with HTTP POST /shipments; waits until the API shows it. To switch: `tracechain
        shipment new`."""
        path = tmp / f"manifest-{manifest['shipmentId'][2:10]}.json"
        path.write_text(json.dumps(manifest))
        signed = json.loads(self.stack.cli("sign", "manifest", str(path), "--key", self.party.key_name))
        assert signed["manifest"] == manifest
        relayed = self._ok(self.http.post("/shipments", json=signed), 202)  # exactly what it printed
        sid = str(relayed["shipment_id"])
        self.wait_state(sid, "Created")
        return sid

    def show(self, sid: str) -> dict[str, Any]:
        """HTTP GET /shipments/{id}. To switch: `tracechain shipment show ID --json`."""
        return dict(self._ok(self.http.get(f"/shipments/{sid}")))

    def wait_state(self, sid: str, state: str, timeout: float = 60) -> dict[str, Any]:
        """The shipment as the API shows it once it reports ``state`` (the indexer caught up)."""

        def probe() -> dict[str, Any] | None:
            r = self.http.get(f"/shipments/{sid}")
            if r.status_code == 404:
                return None
            shown = self._ok(r)
            return shown if shown["state"] == state else None

        return eventually(probe, f"shipment {sid[:10]} {state} in the API", timeout)

    def fund(self, sid: str) -> None:
        """The buyer's approve and fund, signed locally and relayed with HTTP POST …/fund.
        To switch: `tracechain shipment fund ID`."""
        approve = self._ok(self.http.get(f"/shipments/{sid}/unsigned/approve"))
        fund = self._ok(self.http.get(f"/shipments/{sid}/unsigned/fund"))
        raws = [self._sign(approve), self._sign(fund, nonce=approve["nonce"] + 1, gas=fund["gas"] or 200_000)]
        self._relayed(sid, self.http.post(f"/shipments/{sid}/fund", json={"transactions": raws}))
        self.wait_state(sid, "Funded")

    def hand_over(self, sid: str, to: PartnerClient) -> None:
        """This custodian hands over to ``to``, which consents (EIP-712 typed data from the API,
        signed in its wallet); relayed with HTTP POST …/custody. To switch: `tracechain shipment
        hand-over ID --to ADDRESS` (and the consent command on the other side)."""
        until = self.stack.chain_time() + 3_600
        asked = to._ok(
            to.http.get(
                f"/shipments/{sid}/custody/consent",
                params={"to": to.party.address, "deadline": until, "sender": self.party.address},
            )
        )
        assert asked["signer"] == to.party.address
        consent = to.party.account.sign_message(encode_typed_data(full_message=asked["typed_data"]))
        signature = consent.signature.to_0x_hex()
        params = {"to": to.party.address, "deadline": until, "consent": signature}
        template = self._ok(self.http.get(f"/shipments/{sid}/unsigned/hand-over", params=params))
        body = {
            "consent": {"to": to.party.address, "deadline": until, "signature": signature},
            "transaction": self._sign(template),
        }
        self._relayed(sid, self.http.post(f"/shipments/{sid}/custody", json=body))

    def dispute(self, sid: str, reason: str, evidence: list[str]) -> None:
        """The buyer's dispute, signed locally and relayed with HTTP POST …/dispute (slice
        `disputes`). To switch: `tracechain shipment dispute ID --reason … --evidence …`."""
        template = self._ok(
            self.http.get(
                f"/shipments/{sid}/unsigned/dispute", params={"reason": reason, "evidence": evidence}
            )
        )
        self._relayed(
            sid, self.http.post(f"/shipments/{sid}/dispute", json={"transaction": self._sign(template)})
        )

    def resolve(self, sid: str, to_buyer: int) -> None:
        """The arbiter's ruling, signed locally and relayed with HTTP POST …/resolution (slice
        `disputes`). To switch: `tracechain shipment resolve ID --to-buyer N`."""
        template = self._ok(
            self.http.get(f"/shipments/{sid}/unsigned/resolve", params={"to_buyer": to_buyer})
        )
        self._relayed(
            sid, self.http.post(f"/shipments/{sid}/resolution", json={"transaction": self._sign(template)})
        )

    def withdraw(self, token: str) -> None:
        """Withdraws what the escrow owes this partner in ``token``: HTTP POST /payments/withdraw when
        the API has it (slice `client`), else the partner's own signed ``withdraw`` sent to the node.
        To switch: `tracechain shipment withdraw`."""
        if "/payments/withdraw" in self.stack_paths():
            template = self._ok(self.http.get("/payments/unsigned/withdraw", params={"token": token}))
            r = self.http.post("/payments/withdraw", json={"transaction": self._sign(template)})
            assert r.status_code in (200, 202), r.text
            eventually(lambda: self.stack.owed(self.party.address) == 0, "the withdrawal mined")
        else:
            send_raw(
                self.stack, self.party.account, self.stack.escrow.withdraw(token, sender=self.party.address)
            )

    def stack_paths(self) -> set[str]:
        return set(self._ok(self.http.get("/openapi.json"))["paths"])

    # -------------------------------------------------------------- plumbing

    def _sign(self, template: dict[str, Any], **override: Any) -> str:
        """A transaction template from GET …/unsigned/… signed as is by this partner's wallet."""
        tx = {
            "chainId": template["chainId"],
            "nonce": template["nonce"],
            "to": template["to"],
            "value": template["value"],
            "data": template["data"],
            "gas": template["gas"] or 300_000,
            "maxFeePerGas": template["maxFeePerGas"],
            "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
            **override,
        }
        return self.party.account.sign_transaction(tx).raw_transaction.to_0x_hex()

    def _relayed(self, sid: str, response: httpx.Response) -> None:
        """Waits until every relayed transaction is mined (HTTP GET …/transactions/{hash})."""
        body = self._ok(response, 202)
        for tx in body["transactions"]:

            def mined(tx_hash: str = tx["tx_hash"]) -> str | None:
                state = self._ok(self.http.get(f"/shipments/{sid}/transactions/{tx_hash}"))["state"]
                assert state != "reverted", f"{body['action']} reverted"
                return state if state == "mined" else None

            eventually(mined, f"{body['action']} mined")

    @staticmethod
    def _ok(response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
        return response.json()


# ---------------------------------------------------------------------------------------- devices


class Device:
    """A tracking device: its own key, signing readings (EIP-712) and publishing them over MQTT with
    QoS 1 on `tracechain/telemetry/<shipment>/<device>`, as a real tracker does."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.key = os.urandom(32)
        self.address = codec.to_checksum(codec.address_of(self.key))
        self.counter = time.time_ns() // 1_000_000

    def publish(self, sid: str, temperatures_centi: list[int], timestamp: int) -> None:
        """One signed reading per temperature, a second apart from ``timestamp`` (device clock)."""
        from chain import eip712

        domain = eip712.domain_separator(31337, self.stack.escrow.address)
        shipment = bytes.fromhex(sid[2:])
        device = codec.address_of(self.key)
        publisher = Publisher("127.0.0.1", self.stack.mqtt_port, f"e2e-device-{self.address[2:10]}")
        try:
            for i, temperature in enumerate(temperatures_centi):
                self.counter += 1
                reading = codec.Reading(
                    device, self.counter, timestamp + i, shipment, temperature, 5_000, 52_520_000, 13_405_000
                )
                signed = codec.sign(reading, self.key, domain)
                topic = TOPIC.format(shipment=shipment.hex(), device=device.hex())
                publisher.publish(topic, codec.encode(signed))
            assert publisher.wait_acked(10), "the broker did not acknowledge the readings"
        finally:
            publisher.close()


# ---------------------------------------------------------------------------------------- carriers


def carrier_webhook(stack: Stack, system: str, sid: str, kind: str = "arrived") -> dict[str, Any]:
    """The carrier system's milestone webhook: a JSON event, HMAC-SHA256 signed with its shared
    secret over `<timestamp>.<body>`, POSTed to the shipment oracle."""
    body = json.dumps(
        {
            "eventId": f"e2e-{uuid.uuid4()}",
            "shipmentId": sid,
            "type": kind,
            "time": datetime.now(UTC).isoformat(),
            "location": {"latitude": 48.137, "longitude": 11.575},
        }
    ).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(stack.carrier_secrets[system].encode(), stamp.encode() + b"." + body, hashlib.sha256)
    r = httpx.post(
        f"{stack.webhook_url}/webhooks/{system}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Tracechain-Timestamp": stamp,
            "X-Tracechain-Signature": f"sha256={mac.hexdigest()}",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())
