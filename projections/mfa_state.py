"""Read model: each account's current MFA state, as the Security tab shows it (`mfa status`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, stored_instant
from ledger.database import Row, Transaction
from projections.framework import Handler, Projection
from projections.phone import mask_phone

# With no factor left, recovery codes are void (the account forgets them too).
_CLEAR_RECOVERY_WITHOUT_FACTOR = (
    "recovery_remaining = CASE WHEN totp_enabled OR sms_enabled "
    "THEN recovery_remaining ELSE 0 END, "
    "recovery_generated_at = CASE WHEN totp_enabled OR sms_enabled "
    "THEN recovery_generated_at ELSE NULL END"
)


class MfaStateProjection(Projection):
    name = "mfa_state"
    tables = ("rm_mfa_state",)

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Account.Created: self.created,
            Account.TotpEnrolmentConfirmed: self.totp_enabled,
            Account.TotpDisabled: self.totp_disabled,
            Account.SmsEnrolmentConfirmed: self.sms_enabled,
            Account.SmsDisabled: self.sms_disabled,
            Account.RecoveryCodesGenerated: self.recovery_codes_generated,
            Account.RecoveryCodeUsed: self.recovery_code_used,
            Account.LoginSucceeded: self.signed_in,
        }

    def created(self, event: Account.Created, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_mfa_state (account_id, totp_enabled, sms_enabled, recovery_remaining) "
            "VALUES (?, FALSE, FALSE, 0)",
            (str(event.originator_id),),
        )

    def totp_enabled(self, event: Account.TotpEnrolmentConfirmed, _: int, tx: Transaction) -> None:
        tx.execute(
            "UPDATE rm_mfa_state SET totp_enabled = TRUE, totp_enrolled_at = ? "
            "WHERE account_id = ?",
            (stored_instant(event.timestamp), str(event.originator_id)),
        )

    def totp_disabled(self, event: Account.TotpDisabled, _: int, tx: Transaction) -> None:
        self._disable(tx, event.originator_id, "totp_enabled = FALSE, totp_enrolled_at = NULL")

    def sms_enabled(self, event: Account.SmsEnrolmentConfirmed, _: int, tx: Transaction) -> None:
        tx.execute(
            "UPDATE rm_mfa_state SET sms_enabled = TRUE, sms_phone_masked = ? WHERE account_id = ?",
            (mask_phone(self.unseal(event.phone)), str(event.originator_id)),
        )

    def sms_disabled(self, event: Account.SmsDisabled, _: int, tx: Transaction) -> None:
        self._disable(tx, event.originator_id, "sms_enabled = FALSE, sms_phone_masked = NULL")

    def recovery_codes_generated(
        self, event: Account.RecoveryCodesGenerated, _: int, tx: Transaction
    ) -> None:
        tx.execute(
            "UPDATE rm_mfa_state SET recovery_remaining = ?, recovery_generated_at = ? "
            "WHERE account_id = ?",
            (len(event.hashes), stored_instant(event.timestamp), str(event.originator_id)),
        )

    def signed_in(self, event: Account.LoginSucceeded, position: int, tx: Transaction) -> None:
        if event.recovery_code_hash is not None:  # a recovery code spent to sign in
            self.recovery_code_used(event, position, tx)

    def recovery_code_used(
        self, event: Account.RecoveryCodeUsed | Account.LoginSucceeded, _: int, tx: Transaction
    ) -> None:
        tx.execute(
            "UPDATE rm_mfa_state SET recovery_remaining = recovery_remaining - 1 "
            "WHERE account_id = ?",
            (str(event.originator_id),),
        )

    @staticmethod
    def _disable(tx: Transaction, account_id: object, assignments: str) -> None:
        tx.execute(
            f"UPDATE rm_mfa_state SET {assignments} WHERE account_id = ?",  # noqa: S608
            (str(account_id),),
        )
        tx.execute(
            f"UPDATE rm_mfa_state SET {_CLEAR_RECOVERY_WITHOUT_FACTOR} WHERE account_id = ?",  # noqa: S608
            (str(account_id),),
        )


MFA_STATUS = (
    "SELECT m.totp_enabled, m.totp_enrolled_at, m.sms_enabled, m.sms_phone_masked, "
    "m.recovery_remaining, m.recovery_generated_at, o.requires_mfa "
    "FROM rm_mfa_state m "
    "JOIN rm_accounts a ON a.account_id = m.account_id "
    "JOIN rm_organisations o ON o.org_id = a.org_id "
    "WHERE m.account_id = ?"
)


def mfa_status(tx: Transaction, account_id: UUID) -> dict[str, Any] | None:
    """The `mfa status` document, or None for an unknown account."""
    row = tx.fetchone(MFA_STATUS, (str(account_id),))
    return None if row is None else mfa_document(row)


def mfa_document(row: Row) -> dict[str, Any]:
    """The `mfa status` document from a row of MFA_STATUS."""
    totp_on, totp_at, sms_on, phone, remaining, generated_at, org_requires = row
    return {
        "totp": {"enabled": bool(totp_on), "enrolled_at": totp_at and display_instant(totp_at)},
        "sms": {"enabled": bool(sms_on), "phone": phone},
        "recovery_codes": {
            "remaining": remaining,
            "generated_at": generated_at and display_instant(generated_at),
        },
        "org_requires_mfa": bool(org_requires),
    }
