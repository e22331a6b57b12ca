"""Signing in through the organisation's OpenID provider, after the browser flow.

The web layer runs the Authorization Code flow and hands over the ID token it got; this finds
whose sign-in it claims to be and runs the ordinary sign-in with it, which verifies the token
and records the attempt on that account (success or not). The claims are only read here to
choose the account: one already bound to the token's (issuer, subject), else the address the
token names; the sign-in itself then proves or refuses every claim.
"""

from __future__ import annotations

from commands.inputs import parse_email
from commands.login import Login, log_in, sso_identity_of
from commands.services import Services
from ledger import identity
from ledger.errors import LoginDenied
from ledger.id_tokens import unverified_claims
from ledger.organisation import Organisation
from ledger.sign_in import NewSession

NOT_FOR_US = "that sign-in did not come back from your organisation's identity provider"


def sign_in_with_id_token(
    services: Services,
    id_token: str,
    nonce: str,
    *,
    ip: str | None,
    user_agent: str | None,
    peer_ip: str | None = None,
    totp: str | None = None,
    recovery_code: str | None = None,
) -> NewSession:
    """A session for whoever the verified token names; LoginDenied otherwise. A Flero second
    factor, when the organisation wants one too, comes with the same token."""
    email = _claimed_account_email(services, id_token)
    if email is None:
        raise LoginDenied("invalid_id_token", NOT_FOR_US)
    command = Login(
        email=email,
        method="sso",
        id_token=id_token,
        nonce=nonce,
        ip=ip,
        user_agent=user_agent,
        peer_ip=peer_ip,
        totp=totp,
        recovery_code=recovery_code,
    )
    return log_in(services, command)


def organisation_signing_in(
    services: Services, org: str | None = None, email: str | None = None
) -> Organisation | None:
    """The organisation to send a visitor's "Sign in with SSO" to: by its slug, or by the
    organisation that claimed the e-mail address's domain. None for anything else, alike."""
    if org is not None:
        return services.store.app.find_organisation(identity.organisation_id(org))
    try:
        domain = parse_email(email or "").rpartition("@")[2]
    except ValueError:
        return None
    claim = services.store.app.find_sso_domain(identity.sso_domain_id(domain))
    if claim is None or claim.org_id is None:
        return None
    return services.store.app.find_organisation(claim.org_id)


def _claimed_account_email(services: Services, id_token: str) -> str | None:
    claims = unverified_claims(id_token)
    issuer, subject = claims.get("iss"), claims.get("sub")
    if isinstance(issuer, str) and isinstance(subject, str):
        bound = sso_identity_of(services, issuer, subject)
        account = services.store.app.find_account(bound.account_id) if bound else None
        if account is not None and not account.erased:
            return services.store.keyring.open(account.email)
    try:
        return parse_email(str(claims.get("email", "")))
    except ValueError:
        return None
