"""Bad input is told in words naming what was wrong, never in pydantic's own phrases."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field, StringConstraints, ValidationError

from commands.inputs import ClientId, CommandInput, Password, validation_message


class Example(CommandInput):
    password: Password
    client_id: ClientId = "flero"
    ip: Annotated[str, StringConstraints(min_length=1)] = "x"
    method: Literal["password", "sso"] = "password"
    grace_days: Annotated[int, Field(ge=0, le=365)] = 7


def said(**fields: object) -> str:
    with pytest.raises(ValidationError) as raised:
        Example(**fields)  # type: ignore[arg-type]
    return validation_message(raised.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short"}, "the password must be at least 8 characters"),
        ({"password": "x" * 1025}, "the password must be at most 1024 characters"),
        ({}, "the password is required"),
        ({"password": "long enough", "client_id": ""}, "the client id must not be empty"),
        (
            {"password": "long enough", "client_id": "a b"},
            "the client id may only hold printable ASCII characters, without spaces",
        ),
        ({"password": "long enough", "ip": ""}, "the IP address must not be empty"),
        ({"password": "long enough", "method": "x"}, "the method must be 'password' or 'sso'"),
        ({"password": "long enough", "grace_days": 400}, "the grace days must be at most 365"),
        ({"password": "long enough", "grace_days": "x"}, "the grace days must be a whole number"),
        ({"password": "long enough", "other": 1}, "the other is not accepted here"),
    ],
)
def test_each_broken_constraint_is_a_sentence_naming_the_field(
    fields: dict[str, object], message: str
) -> None:
    assert said(**fields) == message


def test_our_own_validators_keep_their_message_which_names_the_value() -> None:
    from commands.inputs import Actor

    with pytest.raises(ValidationError) as raised:
        Actor(ip="999.1.1.1")

    assert validation_message(raised.value) == "ip: '999.1.1.1' is not an IPv4 or IPv6 address"
