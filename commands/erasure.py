"""Erasure (right to be forgotten) without breaking the chain: crypto-shredding.

The account's data key is destroyed, so its e-mail, phone numbers, IP addresses and user agents
become unreadable in every past event, while the events (and so the hash chain) stay exactly
as recorded. Read models are rebuilt without the data; the erasure itself is recorded. Then
what the store's files still hold of the account in freed space is purged: the texts to every
number it ever enrolled, the read-model rows the rebuild replaced, its wrapped key.

Erasing an erased account again finishes what an interrupted erasure left undone.
"""

from __future__ import annotations

from eventsourcing.utils import resolve_topic

from commands.inputs import Actor, Email
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import identity
from ledger.account import Account
from ledger.errors import AccountNotFound, StoreBusy
from ledger.store import LedgerStore
from projections.catalogue import runner_for

ENROLMENTS = (Account.SmsEnrolmentStarted, Account.SmsEnrolmentConfirmed)


class EraseAccount(Actor):
    email: Email


@retry_on_conflict
def erase_account(services: Services, cmd: EraseAccount) -> None:
    store = services.store
    account = store.newest_account(cmd.email)
    if account is None:
        raise AccountNotFound(cmd.email)
    stamp = services.stamp(cmd)
    org = store.app.find_organisation(account.org_id)
    by_admin = org is not None and stamp.context.actor_id in org.admins
    account.erase(by_admin, stamp)
    store.database.truncate_wal()  # a reader in the way refuses the erasure before it starts
    phones = _numbers_ever_enrolled(store, account)  # while its key still opens them
    store.app.save(account)
    _forget_texts(services, phones)
    store.keyring.destroy(account.id)
    store.keyring.destroy(identity.unknown_account_id(store.keyring.lookup_hash(cmd.email)))
    runner = runner_for(store)
    runner.rebuild()
    tables = [table for projection in runner.projections for table in projection.tables]
    try:
        store.database.purge_freed_space([*tables, "sms_outbox", "ledger_data_keys"])
    except StoreBusy as busy:
        raise StoreBusy(
            f"{cmd.email} is erased, but what its data left in the store's freed space is not "
            f"purged yet: {busy.message}; run the erasure again once that reader has finished"
        ) from None


def _numbers_ever_enrolled(store: LedgerStore, account: Account) -> set[str]:
    """Every phone number the account was ever given, from its SMS enrolments: the account
    itself keeps only the current one and a pending one."""
    numbers = set()
    for stored in store.app.recorder.select_events(account.id):
        if issubclass(resolve_topic(stored.topic), ENROLMENTS):
            enrolment = store.app.mapper.to_domain_event(stored)
            assert isinstance(enrolment, ENROLMENTS)
            numbers.add(store.keyring.open(enrolment.phone))
    return {number for number in numbers if number}


def _forget_texts(services: Services, phones: set[str]) -> None:
    """The development outbox keeps texts in clear; those to the account's numbers go too."""
    with services.store.database.transaction() as tx:
        for phone in sorted(phones):
            tx.execute("DELETE FROM sms_outbox WHERE recipient = ?", (phone,))
