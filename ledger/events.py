"""The base of every ledger event: an immutable pydantic model on the eventsourcing library.

Every event records who acted (`actor_id`), from where (`ip`) and with what (`user_agent`) when
known. The IP address and user agent are personal data, so they are stored sealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from pydantic import AwareDatetime, BaseModel, ConfigDict

from ledger.keyring import Sealer

MAX_USER_AGENT_LENGTH = 1024


class LedgerEvent(BaseModel, CanMutateAggregate[UUID]):
    # defer_build: validators are built on first use, not at import (command-line start-up).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    originator_id: UUID
    originator_version: int
    timestamp: AwareDatetime
    actor_id: UUID | None = None
    ip: str | None = None  # sealed
    user_agent: str | None = None  # sealed


class LedgerCreatedEvent(LedgerEvent, CanInitAggregate[UUID]):
    originator_topic: str


@dataclass(frozen=True)
class Context:
    """Who is acting, from where. `actor_id` None means the account acts on itself."""

    actor_id: UUID | None = None
    ip: str | None = None
    user_agent: str | None = None

    def sealed_fields(self, sealer: Sealer, subject: UUID) -> dict[str, object]:
        """The context as event fields, sealed under the actor's own key (it is their data)."""
        actor = self.actor_id or subject
        return {
            "actor_id": actor,
            "ip": sealer.seal(actor, self.ip) if self.ip else None,
            "user_agent": (
                sealer.seal(actor, self.user_agent[:MAX_USER_AGENT_LENGTH])
                if self.user_agent
                else None
            ),
        }


@dataclass(frozen=True)
class Stamp:
    """The circumstances of one command: when, who and from where, and the sealer that keeps
    the personal parts of it (and any secret the command records) sealed."""

    at: datetime
    context: Context
    sealer: Sealer

    def context_fields(self, subject: UUID) -> dict[str, object]:
        return self.context.sealed_fields(self.sealer, subject)
