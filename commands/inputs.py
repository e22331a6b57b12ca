"""Validated input types shared by the commands. Bad input never reaches an aggregate."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from ledger import recovery_codes
from ledger.addresses import plain_ip
from ledger.events import MAX_USER_AGENT_LENGTH

_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_NAME = re.compile(r"^[\w.-]{1,64}$")


def _email(value: str) -> str:
    normalised = value.strip().lower()
    if len(normalised) > 254 or not _EMAIL.fullmatch(normalised):
        raise ValueError(f"{value!r} is not a valid e-mail address")
    return normalised


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid slug (lower-case letters, digits and dashes, up to 64)"
        )
    return value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return value


def _phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        number = None
    if (
        number is None
        or not value.strip().startswith("+")
        or not phonenumbers.is_valid_number(number)
    ):
        raise ValueError(f"{value!r} is not a valid phone number in E.164 form (e.g. +14155550123)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _label(value: str) -> str:
    label = value.strip()
    if not 1 <= len(label) <= 64 or not label.isprintable():
        raise ValueError("a name must be 1-64 printable characters")
    return label


def _six_digits(value: str) -> str:
    digits = value.replace(" ", "")
    if not re.fullmatch(r"[0-9]{6}", digits):
        raise ValueError(f"{value!r} is not a 6-digit code")
    return digits


def _recovery_code(value: str) -> str:
    if not recovery_codes.is_well_formed(value):
        raise ValueError("a recovery code looks like xxxx-xxxx-xxxx (letters and digits)")
    return recovery_codes.normalise(value)


def _ip(value: str) -> str:
    if "%" in value:  # an IPv6 zone id names a local interface, never a client
        raise ValueError(f"{value[:64]!r} has a zone id; give the address alone")
    try:
        return plain_ip(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


def _user_agent(value: str) -> str:
    """Kept, but bounded: an oversized User-Agent is cut, never a reason to refuse."""
    printable = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return printable[:MAX_USER_AGENT_LENGTH]


def _issuer(value: str) -> str:
    """An OpenID issuer: https, or http on this machine's loopback (a provider under test)."""
    url = urlsplit(value)
    loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
    if not (
        len(value) <= 512
        and url.hostname
        and not url.query
        and not url.fragment
        and not url.username
        and (url.scheme == "https" or (url.scheme == "http" and loopback))
    ):
        raise ValueError(f"{value!r} is not an issuer URL (https://..., without query)")
    return value


def _domain(value: str) -> str:
    """An e-mail domain, as the part of an address after the @ (lower case)."""
    domain = value.strip().lower()
    if not _EMAIL.fullmatch(f"x@{domain}"):
        raise ValueError(f"{value!r} is not an e-mail domain (e.g. acme.test)")
    return domain


def _compact_token(value: str) -> str:
    token = value.strip()
    if len(token) > 16 * 1024 or not _COMPACT_JWS.fullmatch(token):
        raise ValueError("that is not an ID token (three base64url parts joined by dots)")
    return token


_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")

Email = Annotated[str, AfterValidator(_email)]
Slug = Annotated[str, AfterValidator(_slug)]
Name = Annotated[str, AfterValidator(_name)]
Label = Annotated[str, AfterValidator(_label)]
PhoneE164 = Annotated[str, AfterValidator(_phone)]
SixDigitCode = Annotated[str, AfterValidator(_six_digits)]
RecoveryCode = Annotated[str, AfterValidator(_recovery_code)]
IpAddress = Annotated[str, AfterValidator(_ip)]
UserAgent = Annotated[str, AfterValidator(_user_agent)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
IssuerUrl = Annotated[str, AfterValidator(_issuer)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[!-~]+$")]
IdToken = Annotated[str, AfterValidator(_compact_token)]
Domain = Annotated[str, AfterValidator(_domain)]


class CommandInput(BaseModel):
    """Base of every command's input: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(CommandInput):
    """Who acts and from where; recorded on every event the command produces."""

    actor: Email | None = None
    ip: IpAddress | None = None
    user_agent: UserAgent | None = None
    # The session the change comes from (the web's); its own step-up proof is what counts.
    # None from the command line, which acts for the account's owner or an operator.
    acting_session: Name | None = None


def validation_message(error: ValidationError, *, naming_the_field: bool = True) -> str:
    """The first problem with some input, in words: `phone: '+1' is not a valid ...` from our
    own validators; pydantic's constraints said again (`the password must be at least 8
    characters`, never `String should have at least 8 characters`)."""
    first = error.errors()[0]
    fields = [str(part) for part in first["loc"] if isinstance(part, str)]
    name = fields[-1] if fields and naming_the_field else ""
    said = constraint_in_words(FIELD_WORDS.get(name, name.replace("_", " ")) or "value", first)
    if said is not None:
        return said
    where = ".".join(str(part) for part in first["loc"]) if naming_the_field else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


FIELD_WORDS = {
    "ip": "IP address",
    "idp": "identity provider's name",
    "mfa_mode": "MFA mode",
    "pinned_keys": "JWKS file",
    "user_agent": "User-Agent",
}
READABLE_PATTERNS = {r"^[!-~]+$": "may only hold printable ASCII characters, without spaces"}


def constraint_in_words(field: str, problem: ErrorDetails) -> str | None:
    """A broken constraint as a sentence naming the field; None for our validators' own
    messages (already sentences) and anything unforeseen."""
    kind, limits = problem["type"], problem.get("ctx") or {}
    the = f"the {field}"
    if kind == "string_too_short":
        least = limits.get("min_length", 1)
        return (
            f"{the} must not be empty"
            if least <= 1
            else f"{the} must be at least {least} characters"
        )
    if kind == "string_too_long":
        return f"{the} must be at most {limits.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        pattern = str(limits.get("pattern"))
        return f"{the} {READABLE_PATTERNS.get(pattern, 'is not in the form expected')}"
    if kind == "missing":
        return f"{the} is required"
    if kind == "extra_forbidden":
        return f"{the} is not accepted here"
    if kind == "literal_error":
        return f"{the} must be {limits.get('expected')}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = limits.get("ge", limits.get("le"))
        return f"{the} must be {'at least' if kind == 'greater_than_equal' else 'at most'} {bound}"
    if kind in ("int_parsing", "int_type"):
        return f"{the} must be a whole number"
    return None


def parse_email(value: str) -> str:
    """Validate one e-mail address outside a command (queries)."""
    return TypeAdapter(Email).validate_python(value)


def parse_phone(value: str) -> str:
    return TypeAdapter(PhoneE164).validate_python(value)


def parse_slug(value: str) -> str:
    """Validate an organisation's slug outside a command (queries)."""
    return TypeAdapter(Slug).validate_python(value)
