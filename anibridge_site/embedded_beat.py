"""`celery worker --embed-beat`: the periodic-task scheduler as a thread of the worker.

Celery's own `-B` forks a separate beat process; on a single machine a thread costs no
extra interpreter and dies and comes back with its worker. Run it in one worker only
(several embedded schedulers would send every periodic task several times).
"""

from __future__ import annotations

import logging
from typing import Any

import click
from celery import Celery, bootsteps

log = logging.getLogger(__name__)

OPTION = "--embed-beat"


class EmbeddedBeat(bootsteps.StartStopStep):
    label = "EmbeddedBeat"
    conditional = True

    def __init__(self, worker: Any, embed_beat: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(embed_beat)
        self.service: Any = None
        super().__init__(worker, **kwargs)

    def start(self, worker: Any) -> None:
        from celery.beat import EmbeddedService

        self.service = EmbeddedService(worker.app, thread=True)
        self.service.start()
        log.info("beat: scheduler running inside this worker")

    def stop(self, worker: Any) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


def install(app: Celery) -> None:
    app.user_options["worker"].add(
        click.Option(
            [OPTION],
            is_flag=True,
            default=False,
            help="Run the beat scheduler as a thread of this worker (one machine).",
        )
    )
    app.steps["worker"].add(EmbeddedBeat)
