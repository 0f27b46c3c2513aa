"""Job recovery wired into the Celery worker: requeue the jobs a worker that died on this
host left running, when a worker starts; send again the jobs whose messages the broker
lost, whenever a worker reconnects to it (downloads.ledger explains both).

Loaded by anibridge_site.celery before Django is set up: nothing here imports models at
module level.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from celery.signals import worker_ready

log = logging.getLogger(__name__)


@worker_ready.connect
def _recover_orphans(sender: Any = None, **_: Any) -> None:
    from downloads import ledger

    recovered = ledger.recover_orphans_on_this_host()
    if recovered:
        log.info("requeued %d job(s) left running by a worker that died on this host", recovered)


class ResendUnsentJobs(bootsteps.StartStopStep):
    """A consumer step: Celery starts it again after every reconnection to the broker,
    which is when a restarted Redis may have lost queued messages (downloads.ledger).

    Not at the first connection: nothing was lost from this worker's point of view,
    and beat's periodic sweep covers jobs that were never sent. Every worker start
    scanning the queued jobs would only add duplicate deliveries.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.connections = 0

    def start(self, parent: Any) -> None:
        from downloads import ledger

        self.connections += 1
        if self.connections == 1:
            return
        try:
            sent = ledger.resend_unsent()
        except Exception as exc:  # never keep the worker from consuming; beat tries again
            log.warning("could not check for jobs the broker lost: %s", exc)
            return
        if sent:
            log.info("sent %d queued job(s) again that the broker had lost", sent)
