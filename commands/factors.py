"""Disabling a second factor, unless the organisation requires MFA and it is the last one."""

from __future__ import annotations

from commands.inputs import Actor, Email
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import require_step_up
from ledger.account import Factor


class DisableFactor(Actor):
    email: Email
    factor: Factor


@retry_on_conflict
def disable_factor(services: Services, cmd: DisableFactor) -> None:
    account = services.store.account(cmd.email)
    org = services.store.app.find_organisation(account.org_id)
    stamp = services.stamp(cmd)
    require_step_up(services, account, cmd, "disable_factor", stamp)
    account.disable_factor(cmd.factor, org.mfa_requirement() if org else None, stamp)
    services.save(account)
