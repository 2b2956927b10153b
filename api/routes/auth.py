"""Sign-In with Ethereum: a nonce, then a signed EIP-4361 message for a short-lived token."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import issue_token, verify_login
from api.deps import RolesDep, ServicesDep
from api.models import LoginCreate, NoncePublic, TokenPublic
from api.roles import require_member

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/nonce", response_model=NoncePublic)
def nonce(services: ServicesDep) -> NoncePublic:
    """A single-use nonce for the EIP-4361 message (valid for a few minutes)."""
    value, expires = services.nonces.issue()
    s = services.settings
    return NoncePublic(nonce=value, expiresAt=expires, domain=s.siwe_domain, chainId=s.chain_id)


@router.post(
    "/login",
    response_model=TokenPublic,
    responses={
        401: {"description": "Invalid sign-in"},
        403: {"description": "Not an active partner, an auditor or the admin of the consortium"},
    },
)
def login(body: LoginCreate, services: ServicesDep, roles: RolesDep) -> TokenPublic:
    """Verifies the signed message and returns a bearer token carrying the registry's roles.

    Only an active partner, an auditor or the admin of the PartnerRegistry signs in; anyone else
    (never admitted, or suspended) gets 403 and its nonce is spent all the same: a correctly signed
    message is redeemed once, whatever the answer, so it cannot be replayed after an admission or a
    reinstatement. The roles in the token are informative: every request asks the registry again.
    """
    s = services.settings
    address = verify_login(
        body.message, body.signature, domain=s.siwe_domain, chain_id=s.chain_id, nonces=services.nonces
    )
    held = [role.value for role in require_member(address, roles.standing(address)).roles]
    token, expires = issue_token(s.token_secret.get_secret_value().encode(), address, held, s.token_ttl_s)
    return TokenPublic(access_token=token, expires_at=expires, address=address, roles=held)
