"""Workspace membership changes, recorded on the member's account."""

from __future__ import annotations

from commands.inputs import Actor, Email, Name
from commands.retry import retry_on_conflict
from commands.services import Services


class GrantWorkspace(Actor):
    email: Email
    workspace: Name
    role: Name


class RevokeWorkspace(Actor):
    email: Email
    workspace: Name


@retry_on_conflict
def grant_workspace(services: Services, cmd: GrantWorkspace) -> None:
    account = services.store.account(cmd.email)
    account.grant_workspace(cmd.workspace, cmd.role, services.stamp(cmd))
    services.save(account)


@retry_on_conflict
def revoke_workspace(services: Services, cmd: RevokeWorkspace) -> None:
    account = services.store.account(cmd.email)
    account.revoke_workspace(cmd.workspace, services.stamp(cmd))
    services.save(account)
