"""Resolve an episode to a direct stream URL, trying hosters in order until one works.

Order: the identity's preferred hoster, then PROVIDER_ORDER, then whatever else the
site lists that the `aniworld` package can extract. The language is checked before
any hoster is tried. Every attempt is logged with the identity; every failure
leaves a one-line reason in `NoHosterWorked.attempts`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable

from django.conf import settings

from catalog import package
from catalog.breaker import CircuitOpen
from catalog.identity import EpisodeIdentity
from catalog.sites import get_site
from catalog.sites.base import HosterLinks, Site
from catalog.sites.packaged import episode_label
from catalog.streams import LanguageNotOffered, NoHosterWorked, ResolvedStream, ResolveError

log = logging.getLogger(__name__)

NOT_SUPPORTED = "not supported"


def resolve_stream(identity: EpisodeIdentity, exclude: Collection[str] = ()) -> ResolvedStream:
    """A working stream for the episode; hosters named in `exclude` are not tried.

    Raises LanguageNotOffered (naming what is offered), NoHosterWorked (with one
    reason per hoster), NotOnSite or SiteError (see catalog.sites.base)."""
    site = get_site(identity.site)
    return resolve_from_links(site, identity, site.hoster_links(identity), exclude)


def resolve_hoster(identity: EpisodeIdentity, provider: str) -> ResolvedStream:
    """A fresh stream from `provider` alone: a download that lost its CDN token goes on
    with the same encode (another hoster's segments would not fit). Raises as
    `resolve_stream` does."""
    site = get_site(identity.site)
    links = site.hoster_links(identity)
    hosters = hosters_for_language(identity, links)
    others = [name for name in hosters if name.lower() != provider.lower()]
    return resolve_from_links(site, dataclasses.replace(identity, provider=provider), links, others)


def resolve_from_links(
    site: Site, identity: EpisodeIdentity, links: HosterLinks, exclude: Collection[str] = ()
) -> ResolvedStream:
    """`resolve_stream` on hoster links already read from the episode page."""
    hosters = hosters_for_language(identity, links)
    if identity.provider and identity.provider.lower() not in {h.lower() for h in hosters}:
        log.info(
            "%s: preferred hoster %s is not listed; trying the others", identity, identity.provider
        )
    skipped = {name.lower() for name in exclude}
    attempts: list[tuple[str, str]] = []
    for provider in hoster_order(hosters, identity.provider, settings.CONFIG.provider_order):
        if provider.lower() in skipped:
            continue
        if not package.can_extract(provider):
            log.info("%s: skipping %s: %s", identity, provider, NOT_SUPPORTED)
            attempts.append((provider, NOT_SUPPORTED))
            continue
        log.info("%s: trying %s", identity, provider)
        try:
            stream = site.resolve_link(provider, hosters[provider])
        except CircuitOpen:
            raise  # the site's hoster links are paused: the next hoster would be too
        except ResolveError as exc:
            reason = str(exc)
        except Exception as exc:  # a hoster's odd answer must not stop the fallback
            log.exception("%s: %s failed unexpectedly", identity, provider)
            reason = package.one_line(exc)
        else:
            log.info("%s: resolved via %s", identity, provider)
            return stream
        log.warning("%s: %s failed: %s", identity, provider, reason)
        attempts.append((provider, reason))
    raise NoHosterWorked(str(identity), attempts)


def hosters_for_language(identity: EpisodeIdentity, links: HosterLinks) -> dict[str, str]:
    """Hoster -> link in the identity's language; LanguageNotOffered if there are none."""
    hosters = links.get(identity.language)
    if not hosters:
        episode = episode_label(identity.site, identity.slug, identity.season, identity.episode)
        raise LanguageNotOffered(
            episode, identity.language, [lang for lang in links if links[lang]]
        )
    return hosters


def hoster_order(
    listed: Iterable[str], preferred: str | None, configured: Iterable[str]
) -> list[str]:
    """The listed hosters, preferred first, then in configured order, then the rest.

    Names match case-insensitively ("voe" = "VOE"); the site's spelling is kept."""
    by_key = {name.lower(): name for name in listed}
    order: list[str] = []
    for name in [preferred or "", *configured, *by_key.values()]:
        found = by_key.get(name.lower())
        if found is not None and found not in order:
            order.append(found)
    return order
