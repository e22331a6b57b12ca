"""Who meets the organisation's MFA requirement, at any instant: the compliance report.

Straight from the ledger, like `state --as-of`: the organisation and each member's account are
replayed to the versions current at the instant asked, and judged by the very rule sign-in
applies (ledger.mfa_requirement). So "who was non-compliant on 1 October?" has an answer, and
the same answer whenever it is asked. The directory read model only says who might be a
member; the ledger decides whether they were one then.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger import identity
from ledger.account import Account
from ledger.clock import format_instant
from ledger.errors import NotYetCreated, OrganisationNotFound
from ledger.mfa_requirement import MfaRequirement
from ledger.organisation import Organisation
from ledger.private_files import open_private
from ledger.store import LedgerStore
from projections.catalogue import read_models_of
from projections.export_files import csv_cell
from projections.forensics import replayed_to

COLUMNS = (
    "email",
    "factors",
    "sms_only",
    "recovery_codes_remaining",
    "last_sign_in",
    "deadline",
    "status",
)


@dataclass(frozen=True)
class ComplianceReport:
    org: str
    as_of: str
    requirement: MfaRequirement | None
    members: list[dict[str, Any]]  # one row each, by e-mail address (COLUMNS)


def compliance_report(store: LedgerStore, slug: str, at: datetime) -> ComplianceReport:
    """The organisation's requirement at `at`, and every member then with where they stood."""
    org = _organisation_at(store, slug, at)
    requirement = org.mfa_requirement()
    members = []
    for account_id, email in _possible_members(store, org.id):
        account = _account_at(store, account_id, at)
        if account is None or account.erased or account.org_id != org.id:
            continue
        members.append(_member_row(email, account, requirement, at))
    members.sort(key=lambda row: str(row["email"]))
    return ComplianceReport(slug, format_instant(at), requirement, members)


def member_compliance(store: LedgerStore, email: str, at: datetime) -> dict[str, Any]:
    """Where one account stands now, which factors count, and why any enabled factor may not
    be disabled (`disable_refused`: factor → reason): what the Security tab tells its owner."""
    account = store.account(email)
    org = store.app.find_organisation(account.org_id)
    requirement = org.mfa_requirement() if org else None
    methods = requirement.methods if requirement else None
    refused = {f: account.refusal_to_disable(f, requirement) for f in account.enabled_factors}
    reasons = {factor: error.message for factor, error in refused.items() if error is not None}
    return _member_row(email, account, requirement, at) | {
        "methods": methods,
        "disable_refused": reasons,
    }


def _member_row(
    email: str, account: Account, requirement: MfaRequirement | None, at: datetime
) -> dict[str, Any]:
    standing = account.mfa_compliance(requirement, at)
    factors = account.enabled_factors
    last = account.last_signed_in_at
    return {
        "email": email,
        "factors": factors,
        "sms_only": factors == ["sms"],
        "recovery_codes_remaining": len(account.recovery_hashes),
        "last_sign_in": format_instant(last) if last else None,
        "deadline": format_instant(standing.deadline) if standing.deadline else None,
        "status": standing.status,
    }


def _organisation_at(store: LedgerStore, slug: str, at: datetime) -> Organisation:
    org_id = identity.organisation_id(slug)
    org = replayed_to(store, org_id, at)
    if org is None:
        if store.app.find_organisation(org_id) is None:
            raise OrganisationNotFound(slug)
        raise NotYetCreated(f"organisation {slug!r} did not exist at {format_instant(at)}")
    assert isinstance(org, Organisation)
    return org


def _account_at(store: LedgerStore, account_id: UUID, at: datetime) -> Account | None:
    account = replayed_to(store, account_id, at)
    assert account is None or isinstance(account, Account)
    return account


def _possible_members(store: LedgerStore, org_id: UUID) -> list[tuple[UUID, str]]:
    with read_models_of(store).transaction() as tx:
        rows = tx.fetchall(
            "SELECT account_id, email FROM rm_accounts WHERE org_id = ?", (str(org_id),)
        )
    return [(UUID(str(account_id)), str(email)) for account_id, email in rows]


def write_csv(report: ComplianceReport, path: Path) -> int:
    """The members as CSV (a header, then a row each; factors joined by "+"), into a new
    file only its owner can read. Returns how many members it holds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for member in report.members:
        cells = {
            **member,
            "factors": "+".join(member["factors"]),
            "sms_only": "yes" if member["sms_only"] else "no",
        }
        writer.writerow([csv_cell(cells[column]) for column in COLUMNS])
    with open_private(path) as file:
        file.write(out.getvalue().encode())
    return len(report.members)
