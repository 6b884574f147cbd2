"""The consumer API (docs/outbox.md): subclass :class:`Consumer`, register it in
:mod:`cell.worker.registry`, and the worker delivers every outbox event to it.

Guarantees, for each consumer name:

- every event numbered after the consumer's committed position is delivered,
  **in position order** (hence in commit order, and in order per conversation);
- **at least once**: a batch is handed to :meth:`Consumer.handle` inside a
  transaction that also advances the position; if ``handle`` raises, or the
  process dies before the commit, the same batch comes again (after a backoff).
  Writes ``handle`` makes on ``conn`` commit or roll back with the position, so
  a consumer that only writes to the cell's database is effectively exactly once;
- one runner at a time per name (a PostgreSQL advisory lock), so several worker
  processes may run side by side as hot standbys;
- pruning never deletes an event an active or stalled consumer has not
  committed, until the consumer is stalled (no progress for
  ``outbox.stall_seconds``) *and* more than ``outbox.skip_after_events`` behind:
  then it is marked ``skipped``; when it runs again, :meth:`Consumer.resync` is
  called and it continues from the head.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cell.domain.audience import Audience
from cell.store.db import Conn


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox event, as a consumer sees it."""

    position: int
    workspace_id: str
    audience: Audience
    event_type: str
    payload: dict[str, Any]


class Consumer(ABC):
    """A named, durable reader of the outbox. One instance per worker process."""

    name: str
    """Stable and unique: the key of the persisted position (``outbox_consumers.name``)."""
    start: Literal["latest", "earliest"] = "latest"
    """Where a consumer seen for the first time begins: after the newest numbered event, or at
    the oldest one still kept."""
    batch_size: int = 200
    linger_seconds: float = 0.0
    """After being woken with less than a full batch waiting, how long to wait for more events
    before reading them: fewer, larger batches (cheaper per event) for that much added latency."""

    @abstractmethod
    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        """Handle a batch (position order, never empty). Raise to have it delivered again.

        ``conn`` is inside the transaction that commits the new position: use it
        for writes that must happen exactly when the position advances.
        """

    def committed(self) -> None:
        """Called (in the runner's task) after each batch's transaction committed: wake what
        must see its writes (the relay, a sender). Must not block; the default does nothing."""
        return None

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Background loops the worker runs beside this consumer, by task name (each restarted
        with backoff if it crashes; cancelled when the worker stops). The default: none. They
        run in every worker process, standbys included, so they must be safe side by side."""
        return {}

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        """The consumer was skipped: events in ``(skipped_after, resumed_at]`` may be gone.

        Rebuild whatever state was derived from them from the tables (the source of
        truth). Runs in the transaction that marks the consumer active again at
        ``resumed_at``. The default does nothing (a consumer whose missed work may be lost).
        """
        return None
