"""GET /torznab/api: parse, call torznab.search, render Torznab XML."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
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


def _params(request: HttpRequest) -> QueryDict:
    try:
        return request.GET
    except TooManyFieldsSent:
        # Django would answer with its HTML 400 page; a Torznab client reads <error>.
        raise TorznabError(201, "Incorrect parameter: too many parameters") from None


def _check_key(params: QueryDict) -> None:
    expected = settings.CONFIG.indexer_api_key
    if not expected:
        return
    given = params.get("apikey", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise TorznabError(100, "Invalid API Key")


def _loggable(params: QueryDict) -> str:
    """The parameters for a log line, without the API key."""
    return urlencode([(k, v) for k, v in params.items() if k.lower() != "apikey"])[:300]


def _self_link(request: HttpRequest, params: QueryDict) -> str:
    """The feed's atom:link: relative (the Host header is the client's to choose, and
    no *arr app reads the link), and without the API key (feeds get saved and shared)."""
    query = urlencode([(k, v) for k, v in params.lists() if k.lower() != "apikey"], doseq=True)
    return request.path + (f"?{query}" if query else "")


@require_GET
def api(request: HttpRequest) -> HttpResponse:
    cfg = settings.CONFIG
    params: QueryDict = QueryDict()  # for the log lines when reading them fails
    try:
        params = _params(request)
        _check_key(params)
        query = parse(params)
        if query.function == "caps":
            body = feed.caps(cfg.indexer_name, cfg.torznab_cat_anime, cfg.torznab_cat_movie)
            return HttpResponse(body, content_type=XML_TYPE)
        items = run_search(query)
    except TorznabError as exc:
        log.info("torznab %s: error %d %s", params.get("t", "")[:40], exc.code, exc.description)
        return _error(exc)
    except Exception:
        log.exception("torznab search failed for %s", _loggable(params))
        return _error(TorznabError(900, "Unknown error: the search failed, see AniBridge's log"))
    return HttpResponse(
        feed.rss(items, cfg.indexer_name, _self_link(request, params)), content_type=RSS_TYPE
    )
