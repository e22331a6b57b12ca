"""Read model: who is who. Accounts with e-mail and organisation; organisations with policy."""

from __future__ import annotations

from typing import Any

from ledger.account import Account
from ledger.database import Transaction
from ledger.organisation import Organisation
from projections.framework import Handler, Projection


class DirectoryProjection(Projection):
    name = "directory"
    tables = ("rm_accounts", "rm_organisations")

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Account.Created: self.account_created,
            Organisation.Created: self.organisation_created,
            Organisation.MfaRequirementChanged: self.mfa_requirement_changed,
            Organisation.SsoConfigured: self.sso_configured,
        }

    def account_created(self, event: Account.Created, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_accounts (account_id, org_id, email) VALUES (?, ?, ?)",
            (str(event.originator_id), str(event.org_id), self.unseal(event.email)),
        )

    def organisation_created(self, event: Organisation.Created, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_organisations (org_id, slug, requires_mfa, sso_enforced) "
            "VALUES (?, ?, FALSE, FALSE)",
            (str(event.originator_id), event.slug),
        )

    def mfa_requirement_changed(
        self, event: Organisation.MfaRequirementChanged, _: int, tx: Transaction
    ) -> None:
        tx.execute(
            "UPDATE rm_organisations SET requires_mfa = ? WHERE org_id = ?",
            (event.required, str(event.originator_id)),
        )

    def sso_configured(self, event: Organisation.SsoConfigured, _: int, tx: Transaction) -> None:
        tx.execute(
            "UPDATE rm_organisations SET sso_idp = ?, sso_mfa_mode = ?, sso_enforced = ? "
            "WHERE org_id = ?",
            (event.idp, event.mfa_mode, event.enforced, str(event.originator_id)),
        )
