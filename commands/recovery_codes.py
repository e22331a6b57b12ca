"""Recovery codes: regenerating the set (every earlier code stops working), spending one."""

from __future__ import annotations

from commands.inputs import Actor, Email, RecoveryCode
from commands.retry import retry_on_conflict
from commands.services import Services


class RegenerateRecoveryCodes(Actor):
    email: Email
    fresh_factor_required: bool = False  # a browser session must prove a factor first


@retry_on_conflict
def regenerate_recovery_codes(services: Services, cmd: RegenerateRecoveryCodes) -> list[str]:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    if cmd.fresh_factor_required:
        account.require_fresh_factor(stamp.at)
    codes = account.regenerate_recovery_codes(stamp)
    services.save(account)
    return codes


class UseRecoveryCode(Actor):
    email: Email
    code: RecoveryCode


@retry_on_conflict
def use_recovery_code(services: Services, cmd: UseRecoveryCode) -> int:
    """Spend one code; returns how many remain."""
    account = services.store.account(cmd.email)
    with services.recording(account):
        account.use_recovery_code(cmd.code, services.stamp(cmd))
    return len(account.recovery_hashes)
