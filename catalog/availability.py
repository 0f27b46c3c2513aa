"""What a Torznab search knows of each episode's availability: cached results at once, the rest
probed by the Celery workers until the request's deadline.

A search does not wait for a site that fails: episodes of a site whose circuit is open
(catalog.breaker: the site, or its hoster links) are not probed and answer from the
cache, and the wait ends for an episode as soon as the site failed its probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from catalog import breaker, probe
from catalog.identity import EpisodeIdentity
from catalog.models import EpisodeAvailability, availability_is_fresh
from catalog.sites.guarded import hosters_circuit
from catalog.tasks import enqueue_probe

__all__ = ["Known", "availability_by_deadline"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class Known(NamedTuple):
    """What a search needs of one EpisodeAvailability row (read without building models:
    a season is ~100 rows, and model instances were a third of a cached search)."""

    language: str
    available: bool
    height: int | None
    vcodec: str
    checked_at: datetime | None


_KNOWN_FIELDS = ("site", "slug", "season", "episode", *Known._fields)


def _known(identities: Iterable[EpisodeIdentity]) -> dict[EpisodeIdentity, Known]:
    """Fresh cached results for `identities`, read in one query."""
    wanted = {(i.site, i.slug, i.season, i.episode, i.language): i for i in identities}
    if not wanted:
        return {}
    fresh_after = timezone.now() - timedelta(hours=settings.CONFIG.availability_ttl_hours)
    rows = EpisodeAvailability.objects.filter(
        checked_at__gt=fresh_after,
        site__in={k[0] for k in wanted},
        slug__in={k[1] for k in wanted},
        season__in={k[2] for k in wanted},
        episode__in={k[3] for k in wanted},
        language__in={k[4] for k in wanted},
    ).values_list(*_KNOWN_FIELDS)
    found = {}
    for site, slug, season, episode, *fields in rows:
        known = Known(*fields)
        identity = wanted.get((site, slug, season, episode, known.language))
        if identity is not None:
            found[identity] = known
    return found


def _aged_negatives(found: dict[EpisodeIdentity, Known]) -> list[EpisodeIdentity]:
    """Cached results no longer fresh by EpisodeAvailability's rule: negative results
    older than AVAILABILITY_UNAVAILABLE_TTL_HOURS (a dub may have come out or a hoster
    recovered; `_known` reads no older positive ones)."""
    ttl = settings.CONFIG.availability_ttl_hours
    return [
        i
        for i, row in found.items()
        if row.checked_at is not None
        and not availability_is_fresh(row.available, row.checked_at, ttl)
    ]


def _paused(sites: Iterable[str]) -> set[str]:
    """The sites a probe cannot get through now: the site or its hoster links cooling down."""
    return {
        site
        for site in sites
        if breaker.state(site).is_open or breaker.state(hosters_circuit(site)).is_open
    }


def availability_by_deadline(
    identities: list[EpisodeIdentity], deadline_seconds: float
) -> dict[EpisodeIdentity, Known]:
    """Cached results at once; the rest probed by workers until the deadline."""
    found = _known(identities)
    missing = [i for i in identities if i not in found]
    aged = _aged_negatives(found)
    if not missing and not aged:
        return found  # all cached: no probe to queue, nothing to ask Redis
    paused = _paused({i.site for i in (*missing, *aged)})
    if paused:
        log.info("torznab: %s cooling down; answering from the cache", ", ".join(sorted(paused)))
        missing = [i for i in missing if i.site not in paused]
    try:
        for identity in missing:
            enqueue_probe(identity)
        for identity in aged:
            if identity.site not in paused:
                enqueue_probe(identity)  # answered as unavailable now, probed for next time
    except (RedisError, OperationalError) as exc:
        # Probes are queued through Redis: without it nobody probes these, and waiting
        # would only hold Sonarr until the deadline. Answer with what is cached.
        log.warning("torznab: cannot queue probes, Redis is unreachable (%s)", exc)
        return found
    deadline = time.monotonic() + deadline_seconds
    failed: set[EpisodeIdentity] = set()
    while missing and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)  # cooperative under the gevent workers
        newly = _known(missing)
        found.update(newly)
        missing = [i for i in missing if i not in newly]
        failed |= _failed(missing)
        missing = [i for i in missing if i not in failed]
    if failed:
        log.info("torznab: the site failed %d probe(s); left out this time", len(failed))
    if missing:
        log.info(
            "torznab: %d of %d episode(s) not probed within %.0fs; they finish in the background",
            len(missing),
            len(identities),
            deadline_seconds,
        )
    return found


def _failed(missing: list[EpisodeIdentity]) -> set[EpisodeIdentity]:
    try:
        return probe.recently_failed(missing)
    except RedisError:
        return set()  # cannot tell: keep waiting until the deadline
