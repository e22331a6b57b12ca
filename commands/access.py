"""Who may look at whose security history: the account itself, and its organisation's admins."""

from __future__ import annotations

from commands.services import Services
from ledger.errors import AdminRequired
from ledger.organisation import Organisation
from ledger.store import LedgerStore


def require_admin_over(services: Services, viewer: str, email: str) -> None:
    """Refuse unless `viewer` is `email` or an admin of the organisation `email` belongs to.

    The refusal is the same whether `email` has no account, belongs to another organisation or
    to the viewer's own, so asking tells nobody which addresses have accounts.
    """
    if viewer != email and not _admin_over(services.store, viewer, email):
        raise AdminRequired("only an admin of the account's organisation may look at it")


def _admin_over(store: LedgerStore, viewer: str, email: str) -> bool:
    """The target is looked up only for an admin (admins belong to the organisation they run),
    so a non-admin's question costs the same whatever address it names."""
    org = _organisation_run_by(store, viewer)
    if org is None:
        return False
    target = store.live_account(email)
    return target is not None and target.org_id == org.id


def require_admin_of(services: Services, viewer: str, slug: str) -> None:
    """Refuse unless `viewer` is an admin of the organisation `slug`. Only the viewer's own
    organisation is looked at, so the refusal and its cost are the same whether `slug` names
    another organisation or none at all."""
    if organisation_run_by(services, viewer) != slug:
        raise AdminRequired("only an admin of the organisation may see its members' compliance")


def organisation_run_by(services: Services, viewer: str) -> str | None:
    """The slug of the organisation `viewer` is an admin of, if any."""
    org = _organisation_run_by(services.store, viewer)
    return org.slug if org is not None else None


def _organisation_run_by(store: LedgerStore, viewer: str) -> Organisation | None:
    own = store.account(viewer)
    org = store.app.find_organisation(own.org_id)
    return org if org is not None and own.id in org.admins else None
