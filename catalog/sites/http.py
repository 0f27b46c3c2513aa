"""Plain page fetches at the configured site URLs (indexes, search, Megakino).

These do not need the `aniworld` package, so building a title index never loads it.
Connections go through catalog.egress.sessions: the configured proxy, and no
local/private address other than the configured site URLs.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from catalog.egress import sessions, ssrf
from catalog.sites.base import NotOnSite, SiteError

# Sites answer browsers; a library's default User-Agent gets challenge pages.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

_local = threading.local()


def _session() -> requests.Session:
    # One pooled session per thread: probes run in threads and requests.Session is
    # not documented as thread-safe.
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = sessions.checked_session()
        current.headers["User-Agent"] = USER_AGENT
        _local.session = current
    return current


def fetch(url: str, *, method: str = "GET", **kwargs: Any) -> requests.Response:
    """A 2xx response for `url`; NotOnSite for 404/410, SiteError for anything else."""
    kwargs.setdefault("timeout", settings.CONFIG.site_timeout_seconds)
    host = urlsplit(url).netloc or url
    try:
        response = _session().request(method, url, **kwargs)
    except (ssrf.BlockedTarget, requests.RequestException) as exc:
        raise SiteError(sessions.failure(host, exc, "try again later")) from None
    if response.status_code in (404, 410):
        raise NotOnSite(f"{url} is not on the site (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise SiteError(f"{host} answered HTTP {response.status_code} for {url}; try again later")
    return response


def fetch_text(url: str, **kwargs: Any) -> str:
    return fetch(url, **kwargs).text


def fetch_json(url: str, **kwargs: Any) -> Any:
    response = fetch(url, **kwargs)
    try:
        return response.json()
    except ValueError:
        raise SiteError(f"{url} did not answer JSON") from None
