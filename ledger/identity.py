"""Stable aggregate ids: an organisation's from its slug, an account's from its e-mail.

An account id is derived from a keyed hash of the e-mail, so the e-mail itself is never
stored in clear and cannot be recovered from the id without the master key. An address that
belonged to an erased account may open a new, unrelated one: each account of an address has a
generation (0 for its first), taken in order, so that the newest is found by trying them in
turn (ledger.store). An erased account keeps its stream, and its id, for good.
"""

from __future__ import annotations

from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1f3c7e-5d0b-4f5e-9a54-0d3f3b8f2a10")


def organisation_id(slug: str) -> UUID:
    return uuid5(_NAMESPACE, f"org:{slug}")


def account_id(email_lookup_hash: str, generation: int = 0) -> UUID:
    """The id of the address's `generation`th account (the first keeps the id it always had)."""
    suffix = f":{generation}" if generation else ""
    return uuid5(_NAMESPACE, f"account:{email_lookup_hash}{suffix}")


def unknown_account_id(email_lookup_hash: str) -> UUID:
    """The stream of sign-in attempts for an e-mail address that has no account."""
    return uuid5(_NAMESPACE, f"unknown-account:{email_lookup_hash}")


def sso_identity_id(subject_lookup_hash: str) -> UUID:
    """The stream that binds an identity at an OpenID provider (issuer, subject) to an account."""
    return uuid5(_NAMESPACE, f"sso-identity:{subject_lookup_hash}")


def sign_in_source_id(source_lookup_hash: str) -> UUID:
    """The stream of failed sign-ins from one source address (see ledger.sign_in_source)."""
    return uuid5(_NAMESPACE, f"sign-in-source:{source_lookup_hash}")


def sms_code_requests_id(email_lookup_hash: str) -> UUID:
    """The stream of requests to text a sign-in code to an address (ledger.sms_code_requests)."""
    return uuid5(_NAMESPACE, f"sms-code-requests:{email_lookup_hash}")


def sso_domain_id(domain: str) -> UUID:
    """The stream saying which organisation signs in an e-mail domain's people."""
    return uuid5(_NAMESPACE, f"sso-domain:{domain}")


def session_stream_id(account_id: UUID, session_id: str) -> UUID:
    """A session's stream: named by its account and id, as its token is (ledger.session)."""
    return uuid5(_NAMESPACE, f"session:{account_id}:{session_id}")
