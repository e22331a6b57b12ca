"""Erasure (right to be forgotten) without breaking the chain: crypto-shredding.

The account's data key is destroyed, so its e-mail, phone numbers, IP addresses and user agents
become unreadable in every past event, while the events (and so the hash chain) stay exactly
as recorded. Read models are rebuilt without the data; the erasure itself is recorded.
"""

from __future__ import annotations

from commands.inputs import Actor, Email
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import identity
from ledger.errors import AccountNotFound
from projections.catalogue import runner_for


class EraseAccount(Actor):
    email: Email


@retry_on_conflict
def erase_account(services: Services, cmd: EraseAccount) -> None:
    store = services.store
    account = store.app.find_account(store.account_id(cmd.email))
    if account is None:
        raise AccountNotFound(cmd.email)
    stamp = services.stamp(cmd)
    org = store.app.find_organisation(account.org_id)
    by_admin = org is not None and stamp.context.actor_id in org.admins
    account.erase(by_admin, stamp)
    phones = [store.keyring.open(p) for p in account.known_phones()]
    store.app.save(account)
    _forget_texts(services, [p for p in phones if p])
    store.keyring.destroy(account.id)
    store.keyring.destroy(identity.unknown_account_id(store.keyring.lookup_hash(cmd.email)))
    runner_for(store).rebuild()


def _forget_texts(services: Services, phones: list[str]) -> None:
    """The development outbox keeps texts in clear; those to the erased numbers go too."""
    with services.store.database.transaction() as tx:
        for phone in phones:
            tx.execute("DELETE FROM sms_outbox WHERE recipient = ?", (phone,))
