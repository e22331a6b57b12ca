"""What every command works with: the store, the injected clock, and saving what it decided."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate

from commands.inputs import Actor
from ledger.clock import Clock
from ledger.errors import AccountNotFound, VerificationDenied
from ledger.events import Context, Stamp
from ledger.sms_gateway import SmsGateway, configured_gateway
from ledger.store import LedgerStore
from projections.catalogue import runner_for

if TYPE_CHECKING:
    from ledger.identity_provider import IdentityProviders

log = logging.getLogger(__name__)


@dataclass
class Services:
    store: LedgerStore
    clock: Clock
    gateway: SmsGateway | None = field(default=None)
    identity_providers: IdentityProviders | None = field(default=None)
    # The log position of the last event this process recorded: a query given it (--after)
    # reads a replica only once its read models have reached it (read-your-writes).
    position: int = 0

    def now(self) -> datetime:
        return self.clock.now()

    def sms_gateway(self) -> SmsGateway:
        if self.gateway is None:
            self.gateway = configured_gateway(self.store.database)
        return self.gateway

    def providers(self) -> IdentityProviders:
        """OpenID providers' keys and endpoints, cached process-wide (imported on first use:
        the HTTP and JOSE libraries cost every other command start-up time)."""
        if self.identity_providers is None:
            from ledger.identity_provider import DEFAULT_PROVIDERS

            self.identity_providers = DEFAULT_PROVIDERS
        return self.identity_providers

    def stamp(self, actor: Actor) -> Stamp:
        """Now, the acting account (which must exist), its IP and user agent, for the events."""
        actor_id = None
        if actor.actor is not None:
            actor_id = self.store.account_id(actor.actor)
            if self.store.app.find_account(actor_id) is None:
                raise AccountNotFound(actor.actor)
        return self.stamp_for(Context(actor_id=actor_id, ip=actor.ip, user_agent=actor.user_agent))

    def stamp_for(self, context: Context) -> Stamp:
        """Now, in this context, sealed with the store's key ring."""
        return Stamp(at=self.now(), context=context, sealer=self.store.keyring)

    @contextmanager
    def recording(self, *aggregates: Aggregate) -> Iterator[None]:
        """Save what the aggregates recorded: on success, and when a refused verification
        attempt was recorded (it must be kept). Any other refusal saves nothing."""
        try:
            yield
        except VerificationDenied:
            self.save(*aggregates)
            raise
        self.save(*aggregates)

    def save(self, *aggregates: Aggregate) -> int:
        """Record what the aggregates decided; returns the position of the last event."""
        recordings = self.store.app.save(*aggregates)
        if self.store.location.kind == "sqlite":
            # The embedded store has no projection worker: read models follow in-process.
            # What was saved is recorded whatever happens next: read models that cannot
            # follow now (a full disk) follow with the next command or query.
            try:
                runner_for(self.store).catch_up_all()
            except sqlite3.Error as error:
                log.warning("recorded; the read models will catch up later (%s)", error)
        if recordings:
            self.position = recordings[-1].notification.id
        return recordings[-1].notification.id if recordings else 0
