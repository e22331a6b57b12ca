"""Who may look at whose security history: the account itself, and its organisation's admins."""

from __future__ import annotations

from commands.services import Services
from ledger.errors import AdminRequired


def require_admin_over(services: Services, viewer: str, email: str) -> None:
    """Refuse unless `viewer` is `email` or an admin of the organisation `email` belongs to."""
    if viewer == email:
        return
    target = services.store.account(email)
    org = services.store.app.find_organisation(target.org_id)
    if org is None or services.store.account_id(viewer) not in org.admins:
        raise AdminRequired("only an admin of the account's organisation may look at it")
