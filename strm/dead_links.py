"""Dead-link detection: probe stored resolved URLs and tell expiry, blocking and outages apart.

A failing URL is not always dead. What each answer means and what we do:
- 2xx: alive;
- 404/410: gone -> re-resolve now (and rewrite the .strm file);
- 403: usually an expired token -> one re-resolve; if the fresh URL is refused too the
  CDN blocks us (geo/IP, wrong VPN exit): mark it blocked and leave it alone a while;
- 429: rate limited -> back off, re-resolving would only make it worse;
- 451: legally blocked -> mark it and back off for a day; a new URL won't help;
- 5xx, connection errors, timeouts: transient -> fail_count+1, retried next run;
- an address the SSRF guard refuses: not contacted, recorded like a failure.

Each mapping is checked at most once per run: one probe, and after a re-resolve one
probe of the fresh URL. Probes go through catalog.egress.upstream (SSRF check on every hop,
connect/read timeouts) with the headers the resolver stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from catalog.egress import ssrf, upstream
from strm import operations, resolved
from strm.models import StrmUrlMapping

log = logging.getLogger(__name__)

GONE = frozenset({404, 410})
FORBIDDEN = 403
RATE_LIMITED = 429
LEGALLY_BLOCKED = 451
# How long a mapping is left alone after each kind of refusal.
BACKOFF: dict[int, timedelta] = {
    FORBIDDEN: timedelta(hours=6),
    RATE_LIMITED: timedelta(hours=1),
    LEGALLY_BLOCKED: timedelta(hours=24),
}
# Transient failures jump the queue next run, but only this often in a row: a CDN that
# is down for days must not crowd out the other mappings.
QUICK_RETRIES = 5


class Verdict(StrEnum):
    ALIVE = "alive"
    GONE = "gone"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate limited"
    LEGALLY_BLOCKED = "unavailable for legal reasons"
    TRANSIENT = "transient failure"
    NOT_CONTACTED = "not contacted"


@dataclass(frozen=True)
class Probe:
    """One upstream answer: its status, or why there was none."""

    status: int | None
    error: str = ""
    blocked: bool = False  # the SSRF guard refused the address: nothing was sent

    @property
    def verdict(self) -> Verdict:
        if self.blocked:
            return Verdict.NOT_CONTACTED
        if self.status is None:
            return Verdict.TRANSIENT
        if 200 <= self.status < 300:
            return Verdict.ALIVE
        if self.status in GONE:
            return Verdict.GONE
        if self.status == FORBIDDEN:
            return Verdict.FORBIDDEN
        if self.status == RATE_LIMITED:
            return Verdict.RATE_LIMITED
        if self.status == LEGALLY_BLOCKED:
            return Verdict.LEGALLY_BLOCKED
        return Verdict.TRANSIENT

    def describe(self) -> str:
        return f"{self.status}" if self.status is not None else self.error


def probe(url: str, headers: dict[str, str]) -> Probe:
    """HEAD, then a one-byte GET when HEAD gets anything but 2xx: some CDNs refuse HEAD
    (405, even 403) for URLs that play fine."""
    try:
        status = _status(url, headers, "HEAD", None)
        if not 200 <= status < 300:
            status = _status(url, headers, "GET", "bytes=0-0")
    except ssrf.BlockedTarget as exc:
        return Probe(None, str(exc), blocked=True)
    except upstream.UpstreamError as exc:
        return Probe(None, str(exc) or type(exc).__name__)
    return Probe(status)


def _status(url: str, headers: dict[str, str], method: str, range_header: str | None) -> int:
    answer = upstream.open_url(url, headers, method=method, range_header=range_header)
    answer.abort()  # only the status matters; never hand unread bytes to the pool
    return answer.status


def due_mappings(batch: int, now: datetime | None = None) -> QuerySet[StrmUrlMapping]:
    """The next mappings to check: recent failures first, then the ones checked longest
    ago; never one that is backing off."""
    now = now or timezone.now()
    backing_off = Q()
    for status, pause in BACKOFF.items():
        backing_off |= Q(last_status=status, last_checked_at__gt=now - pause, fail_count__gt=0)
    retry_first = Case(
        When(fail_count__range=(1, QUICK_RETRIES), then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    # A row without a URL is due only when re-resolving it failed lately (purged or
    # never played ones resolve on their next playback).
    nothing_to_do = Q(resolved_url="") & ~Q(fail_count__range=(1, QUICK_RETRIES))
    return (
        StrmUrlMapping.objects.exclude(nothing_to_do)
        .exclude(backing_off)
        .annotate(retry_first=retry_first)
        .order_by("retry_first", F("last_checked_at").asc(nulls_first=True), "pk")[:batch]
    )


def check_mapping(mapping: StrmUrlMapping) -> str:
    """Probe one mapping, act on the answer, store the result; returns a one-line report."""
    identity = mapping.identity()
    if not mapping.resolved_url:
        # The last re-resolve failed and took the dead URL with it: try again.
        return _repair(mapping, "not resolved since it failed", mapping.last_status)
    first = probe(mapping.resolved_url, dict(mapping.resolved_headers or {}))
    verdict = first.verdict
    if verdict is Verdict.ALIVE and first.status is not None:
        resolved.record_success(identity, first.status)
        return f"{mapping.episode_label}: alive ({first.status})"
    if verdict in (Verdict.GONE, Verdict.FORBIDDEN):
        return _repair(mapping, f"{verdict} ({first.status})", first.status)
    note = _failure_note(first)
    resolved.record_failure(identity, first.status, note)
    return f"{mapping.episode_label}: {note}"


def _failure_note(answer: Probe) -> str:
    """Why the answer is a failure and when the mapping is looked at again."""
    verdict = answer.verdict
    if verdict in (Verdict.RATE_LIMITED, Verdict.LEGALLY_BLOCKED):
        return (
            f"{verdict} ({answer.status}): not re-resolved, checked again {_pause(answer.status)}"
        )
    if verdict is Verdict.GONE:
        return f"{verdict} ({answer.status}): re-resolved again next run"
    if verdict is Verdict.FORBIDDEN:
        return f"{verdict} ({answer.status}): checked again {_pause(answer.status)}"
    if verdict is Verdict.NOT_CONTACTED:
        return f"{verdict}: {answer.error}"
    return f"{Verdict.TRANSIENT} ({answer.describe()}): checked again next run"


def _pause(status: int | None) -> str:
    pause = BACKOFF.get(status or 0)
    return "next run" if pause is None else f"in {pause.total_seconds() / 3600:g} h"


def _repair(mapping: StrmUrlMapping, why: str, status: int | None) -> str:
    """Re-resolve a gone or refused URL (`status`) and probe the fresh one once."""
    identity = mapping.identity()
    label = mapping.episode_label
    outcome = operations.refresh_mapping(mapping)
    if outcome.resolution is None:
        note = f"{why}, re-resolving failed, checked again {_pause(status)}: {outcome.error}"
        resolved.record_failure(identity, status, note)
        return f"{label}: {note}"
    fresh = outcome.resolution
    second = probe(fresh.url, fresh.headers)
    via = f"{why}, re-resolved via {fresh.provider or '?'}"
    if second.verdict is Verdict.ALIVE and second.status is not None:
        resolved.record_success(identity, second.status)
        return f"{label}: {via}: alive ({second.status})"
    if status == FORBIDDEN and second.status == FORBIDDEN:
        note = f"{via}, refused again (403): blocked (geo/IP?), checked again {_pause(FORBIDDEN)}"
    else:
        note = f"{via}, fresh URL failed: {_failure_note(second)}"
    resolved.record_failure(identity, second.status, note)
    return f"{label}: {note}"


def check_due(batch: int, budget_seconds: float) -> list[str]:
    """Check up to `batch` due mappings, starting no new check after `budget_seconds`."""
    deadline = time.monotonic() + budget_seconds
    reports: list[str] = []
    for mapping in list(due_mappings(batch)):
        if time.monotonic() > deadline:
            log.warning("strm dead-link check: time budget used up after %d", len(reports))
            break
        try:
            report = check_mapping(mapping)
        except Exception as exc:  # one odd row must not stop the others
            log.exception("strm dead-link check of mapping %s failed", mapping.pk)
            report = f"{mapping.episode_label}: check failed: {exc}"
            _record_broken(mapping, report)
        log.info("strm dead-link check: %s", report)
        reports.append(report)
    return reports


def _record_broken(mapping: StrmUrlMapping, error: str) -> None:
    # By primary key: the row may hold values no EpisodeIdentity accepts.
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        last_error=error[:2000], last_checked_at=timezone.now(), fail_count=F("fail_count") + 1
    )
