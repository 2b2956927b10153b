"""EIP-712 signatures (manifests, custody consents), recovered as the contract's ``ECDSA.recover``
would: a signature the contract would refuse is refused here first (400, nothing sent)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from eth_utils import to_checksum_address

from api.errors import SignatureProblem
from chain import eip712


def recover_typed(
    primary: str, domain: dict[str, Any], message: dict[str, Any], signature: str, pointer: str
) -> str:
    """The signer of an EIP-712 message, as the contract's ``ECDSA.recover`` would find it.

    Raises:
        SignatureProblem: not 65 bytes, v not 27/28, or s in the high half (the contract rejects those).
    """
    sig = bytes.fromhex(signature.removeprefix("0x"))
    if len(sig) != 65 or sig[64] not in (27, 28):
        raise SignatureProblem(
            "a signature is 65 bytes r‖s‖v with v 27 or 28",
            errors=[{"pointer": pointer, "detail": "malformed"}],
        )
    if int.from_bytes(sig[32:64], "big") > eip712.SECP256K1_HALF_N:
        raise SignatureProblem(
            "high-s signatures are not accepted", errors=[{"pointer": pointer, "detail": "high-s"}]
        )
    try:
        return str(Account._recover_hash(eip712.digest(primary, domain, message), signature=sig))
    except (BadSignature, KeyValidationError, ValueError) as exc:
        raise SignatureProblem(
            "the signature does not recover to any account",
            errors=[{"pointer": pointer, "detail": "invalid"}],
        ) from exc


def require_signer(recovered: str, expected: str, who: str, pointer: str) -> None:
    """Raises SignatureProblem unless ``recovered`` is ``expected`` (``who`` names the expected party)."""
    if to_checksum_address(recovered) != to_checksum_address(expected):
        raise SignatureProblem(
            f"the signature was not made by {who} {to_checksum_address(expected)}",
            errors=[{"pointer": pointer, "detail": f"recovers to {recovered}"}],
        )
