"""Recovery codes: regenerating the set (every earlier code stops working), spending one."""

from __future__ import annotations

from commands.inputs import Actor, Email, RecoveryCode
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import acting_session, require_step_up, with_session


class RegenerateRecoveryCodes(Actor):
    email: Email


@retry_on_conflict
def regenerate_recovery_codes(services: Services, cmd: RegenerateRecoveryCodes) -> list[str]:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    require_step_up(services, account, cmd, "regenerate_recovery_codes", stamp)
    codes = account.regenerate_recovery_codes(stamp)
    services.save(account)
    return codes


class UseRecoveryCode(Actor):
    email: Email
    code: RecoveryCode


@retry_on_conflict
def use_recovery_code(services: Services, cmd: UseRecoveryCode) -> int:
    """Spend one code (from a session, it proves a factor there); returns how many remain."""
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    session = acting_session(services, account, cmd, stamp)
    with services.recording(*with_session(account, session)):
        account.use_recovery_code(cmd.code, stamp)
        if session is not None:
            session.prove_factor("recovery_code", stamp)
    return len(account.recovery_hashes)
