"""The one place where outbox consumers are registered: the worker runs exactly these.

To add a consumer (docs/outbox.md): write it in ``cell/consumers/<name>.py`` as a
subclass of :class:`cell.consumers.base.Consumer`, and return an instance here.
"""

from __future__ import annotations

from cell.actions.app_events import responder
from cell.actions.files import FileContext
from cell.bootstrap import Services
from cell.compliance.retention import Retention
from cell.consumers.base import Consumer
from cell.consumers.delivery import Sender
from cell.consumers.events import Events
from cell.consumers.notifications import Notifications
from cell.consumers.previews import Previews
from cell.egress import Egress
from cell.worker.exports import ExportJobs
from cell.worker.periodic import PeriodicJob
from cell.worker.snooze_ends import SnoozeEnds


def consumers(services: Services) -> list[Consumer]:
    """Every consumer the ``worker`` role runs, built over this process's services."""
    return [
        Previews(FileContext(services.db, services.storage, services.redis, services.settings)),
        Notifications(services.db, services.redis, services.settings.notify, Egress(services.settings.egress),
                      after_commit=services.db.after_commit),
        Events(Sender(services.db, services.redis, Egress(services.settings.egress), services.settings.events,
                      responder(services.db, services.settings))),
    ]


def jobs(services: Services) -> list[PeriodicJob]:
    """Every periodic job the ``worker`` role runs (cell/worker/periodic.py)."""
    return [Retention(services.db, services.storage, services.settings.retention), ExportJobs(services),
            SnoozeEnds(services.db, services.settings.notify.snooze_poll_seconds)]
