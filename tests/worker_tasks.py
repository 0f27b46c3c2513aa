"""Job handlers used only by the tests; worker processes load them with --include.

They go through the real machinery (claim, lease, progress, finish) of
downloads.tasks.run_job, only the work itself is a timed loop.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from downloads.models import Job
from downloads.tasks import JobContext, JobResult, register


@register("test-slotted", slotted=True)
@register("test-sleep")
def sleep_steps(job: Job, ctx: JobContext) -> JobResult:
    steps = int(job.options.get("steps", 5))
    delay = float(job.options.get("delay", 0.1))
    for i in range(steps):
        time.sleep(delay)
        ctx.report(
            progress=(i + 1) / steps, downloaded_bytes=(i + 1) * 1000, total_bytes=steps * 1000
        )
    out = Path(settings.CONFIG.download_dir) / f"{job.pk}.done"
    out.write_text(f"attempt {job.attempts}\n")
    return JobResult(result_path=str(out))


@register("test-fail")
def always_fails(job: Job, ctx: JobContext) -> JobResult:
    raise RuntimeError("the hoster said no\nsecond line is not shown")


@register("test-chatty")
def chatty(job: Job, ctx: JobContext) -> JobResult:
    """Writes its progress at every step, past the usual rate limit: a database write storm."""
    steps = int(job.options.get("steps", 10))
    delay = float(job.options.get("delay", 0.01))
    for i in range(steps):
        time.sleep(delay)
        ctx.report(force=True, progress=(i + 1) / steps, downloaded_bytes=(i + 1) * 1000)
    return JobResult(message=f"reported {steps} times")
