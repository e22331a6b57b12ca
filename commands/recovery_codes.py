"""Regenerating recovery codes: a new set of ten replaces every earlier code."""

from __future__ import annotations

from commands.inputs import Actor, Email
from commands.services import Services


class RegenerateRecoveryCodes(Actor):
    email: Email


def regenerate_recovery_codes(services: Services, cmd: RegenerateRecoveryCodes) -> list[str]:
    account = services.store.account(cmd.email)
    codes = account.regenerate_recovery_codes(services.stamp(cmd))
    services.save(account)
    return codes
