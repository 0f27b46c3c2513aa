"""GET /torznab/api: parse, call torznab.search, render Torznab XML."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from torznab import feed
from torznab.params import TorznabError, parse
from torznab.search import run as run_search

log = logging.getLogger(__name__)

RSS_TYPE = "application/rss+xml; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"


def _error(exc: TorznabError) -> HttpResponse:
    # Sonarr and Prowlarr read <error> from a 200 answer ("Invalid API Key" etc.);
    # malformed parameters get 400 so generic clients notice too.
    status = 200 if exc.code < 200 else (500 if exc.code >= 900 else 400)
    return HttpResponse(feed.error(exc.code, exc.description), status=status, content_type=XML_TYPE)


def _check_key(request: HttpRequest) -> None:
    expected = settings.CONFIG.indexer_api_key
    if not expected:
        return
    given = request.GET.get("apikey", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise TorznabError(100, "Invalid API Key")


@require_GET
def api(request: HttpRequest) -> HttpResponse:
    cfg = settings.CONFIG
    try:
        _check_key(request)
        query = parse(request.GET)
        if query.function == "caps":
            body = feed.caps(cfg.indexer_name, cfg.torznab_cat_anime, cfg.torznab_cat_movie)
            return HttpResponse(body, content_type=XML_TYPE)
        items = run_search(query)
    except TorznabError as exc:
        log.info("torznab %s: error %d %s", request.GET.get("t", ""), exc.code, exc.description)
        return _error(exc)
    except Exception:
        log.exception("torznab search failed for %s", request.GET.urlencode()[:300])
        return _error(TorznabError(900, "Unknown error: the search failed, see AniBridge's log"))
    return HttpResponse(
        feed.rss(items, cfg.indexer_name, request.build_absolute_uri()), content_type=RSS_TYPE
    )
