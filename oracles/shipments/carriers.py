"""Carriers: who sent a webhook, and which shipments it may report on.

Authentication (`CarrierAuth.authenticate`) is over `signed_payload(timestamp, body)` =
`<X-Tracechain-Timestamp>.<raw body>`, before the body is parsed:

- the timestamp (unix seconds) must be within `tolerance_s` (ORACLE_WEBHOOK_TOLERANCE_S, 300 s)
  of the oracle's clock; being signed, it cannot be refreshed on a captured request;
- `X-Tracechain-Signature: sha256=<hex HMAC-SHA256>` with the shared secret of the carrier named
  in the path (ORACLE_CARRIER_SECRETS), or
  `X-Tracechain-Signer-Signature: 0x<65-byte EIP-191 signature>` by an active partner holding
  CARRIER_ROLE (when the path names an address, the signer must be that address).

The binding (`check_carrier`): an HMAC carrier acts for the account configured for its name
(ORACLE_CARRIER_ACCOUNTS), a signer for its own address; it may report only on shipments whose
carrier or current custodian is that account (rule `carrier-of-shipment`, 403 otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from pydantic import SecretStr

from chain.eip712 import SECP256K1_HALF_N
from chain.exceptions import ChainUnavailable
from oracles.shipments.chain import ShipmentChain, ShipmentParties
from oracles.shipments.milestones import ShipmentError, ShipmentsUnavailable

SIGNATURE_HEADER = "X-Tracechain-Signature"
SIGNER_HEADER = "X-Tracechain-Signer-Signature"
TIMESTAMP_HEADER = "X-Tracechain-Timestamp"
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
CARRIER_RULE = "carrier-of-shipment"


class Unauthorized(ShipmentError):
    """No timestamp, one outside the window, or no valid HMAC or carrier signature of it and the body."""

    status = 401
    title = "Unauthorized"


@dataclass(frozen=True)
class CarrierIdentity:
    """Who sent an authenticated webhook.

    Attributes:
        name: labels its events and its replays: the HMAC carrier's name, or the signer's address.
        account: the account it acts for on chain: the one configured for the HMAC carrier's name
            (ORACLE_CARRIER_ACCOUNTS), or the signer itself.
    """

    name: str
    account: str


class Forbidden(ShipmentError):
    """An authenticated carrier reporting on a shipment its account neither carries nor holds."""

    status = 403
    title = "Not the shipment's carrier"

    def __init__(self, who: CarrierIdentity, shipment_id: bytes) -> None:
        self.shipment_id = "0x" + shipment_id.hex()
        self.who = who
        acting = who.name if who.name == who.account else f"{who.name} ({who.account})"
        super().__init__(
            f"{acting} neither carries nor holds shipment {self.shipment_id}: a carrier reports "
            f"milestones and geofences only of the shipments it carries or holds ({CARRIER_RULE})"
        )

    def members(self) -> dict[str, Any]:
        return {"shipmentId": self.shipment_id, "rule": CARRIER_RULE, "account": self.who.account}


class CarrierAuth:
    """Checks a request's timestamp and its HMAC (per-carrier secret) or carrier signature (registry).

    Args:
        secrets: each HMAC carrier's shared secret, by name.
        accounts: the account each HMAC carrier acts for, by name; every name in `secrets` needs one.
        chain: the registry, for signers' roles and standing.
        tolerance_s: how far the signed timestamp may be from `clock`, either way.
        clock: the current time in seconds.

    Raises:
        ValueError: a secret without an account.
    """

    def __init__(
        self,
        secrets: Mapping[str, SecretStr],
        accounts: Mapping[str, str],
        chain: ShipmentChain,
        tolerance_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unbound = sorted(set(secrets) - set(accounts))
        if unbound:
            raise ValueError(f"carriers without an account: {', '.join(unbound)}")
        self._secrets = {k: v.get_secret_value().encode() for k, v in secrets.items()}
        self._accounts = dict(accounts)
        self.chain = chain
        self.tolerance_s = tolerance_s
        self.clock = clock

    def authenticate(self, carrier: str, body: bytes, headers: Mapping[str, str]) -> CarrierIdentity:
        """Who sent `body`: an HMAC carrier and its account, or a carrier signer.

        Raises:
            Unauthorized: no timestamp, one outside the window, or neither signature valid.
            ShipmentsUnavailable: a signature could not be checked against the registry.
        """
        stamp = self._fresh_timestamp(headers.get(TIMESTAMP_HEADER.lower()))
        payload = signed_payload(stamp, body)
        mac = headers.get(SIGNATURE_HEADER.lower())
        if mac is not None:
            secret = self._secrets.get(carrier)
            if secret is None or not check_hmac(secret, payload, mac):
                raise Unauthorized("bad or unknown HMAC signature")
            return CarrierIdentity(carrier, self._accounts[carrier])
        sig = headers.get(SIGNER_HEADER.lower())
        if sig is None:
            raise Unauthorized(f"send {SIGNATURE_HEADER} or {SIGNER_HEADER}")
        signer = recover_signer(payload, sig)
        if signer is None:
            raise Unauthorized("bad carrier signature")
        if carrier.startswith("0x") and carrier.lower() != signer.lower():
            raise Unauthorized("the signature is not by the carrier in the path")
        try:
            if not self.chain.is_active_carrier(signer):
                raise Unauthorized(f"{signer} is not an active carrier")
        except ChainUnavailable:
            raise ShipmentsUnavailable("the registry is unavailable: retry later") from None
        return CarrierIdentity(signer, signer)

    def _fresh_timestamp(self, header: str | None) -> str:
        if header is None:
            raise Unauthorized(f"send {TIMESTAMP_HEADER} (unix seconds, signed with the body)")
        stamp = header.strip()
        if not TIMESTAMP.match(stamp):
            raise Unauthorized(f"{TIMESTAMP_HEADER} is not unix seconds")
        skew = int(stamp) - self.clock()
        if abs(skew) > self.tolerance_s:
            when = "ahead of" if skew > 0 else "behind"
            raise Unauthorized(
                f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {when} the oracle's clock "
                f"(at most {self.tolerance_s} s): sign the request again with the current time"
            )
        return stamp


def signed_payload(timestamp: str, body: bytes) -> bytes:
    """What a carrier signs, by HMAC or EIP-191: the `X-Tracechain-Timestamp` value, a dot, the raw body."""
    return timestamp.encode("ascii") + b"." + body


def check_hmac(secret: bytes, payload: bytes, header: str) -> bool:
    """`header` is `sha256=<hex of HMAC-SHA256(secret, payload)>` (compared in constant time)."""
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(secret, payload, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def recover_signer(payload: bytes, header: str) -> str | None:
    """The address that signed `payload` (EIP-191 personal message); None if malformed or high-s."""
    try:
        sig = bytes.fromhex(header.strip().removeprefix("0x"))
    except ValueError:
        return None
    if (
        len(sig) != 65
        or int.from_bytes(sig[32:64], "big") > SECP256K1_HALF_N
        or sig[64] not in (0, 1, 27, 28)
    ):
        return None
    try:
        return str(Account.recover_message(encode_defunct(primitive=payload), signature=sig))
    except (BadSignature, KeyValidationError, ValueError):  # r, s or v that recover to no key
        return None


def check_carrier(who: CarrierIdentity, shipment_id: bytes, parties: ShipmentParties) -> None:
    """The binding of a carrier to its shipments: its account must be the shipment's carrier or
    current custodian (a later leg's carrier holds it after a hand-over).

    Raises:
        Forbidden: it is neither.
    """
    if who.account.lower() not in (parties.carrier.lower(), parties.custodian.lower()):
        raise Forbidden(who, shipment_id)
