"""qBittorrent's CSRF protection for the qB API and the original's JSON endpoints.

A state-changing request whose Origin (or, without one, Referer) names another host or
port than the request's Host is refused with 401, as qBittorrent's WebUI does. The
*arr apps and scripts send neither header, so they pass; a browser always sends Origin
with a cross-site form POST or fetch, so a page on another site cannot delete downloads
even when the API has no credentials. Behind a reverse proxy listed in
ANIBRIDGE_TRUSTED_PROXIES, X-Forwarded-Host is the request's host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from anibridge_site.login_guard import client_address, peer_is_trusted_proxy

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _host_port(netloc: str) -> tuple[str, int | None] | None:
    """(host, explicit port) of a host[:port]; None when it cannot be read."""
    try:
        parts = urlsplit("//" + netloc.strip())
        return (parts.hostname or "", parts.port)
    except ValueError:  # a port that is not a number, an unbalanced IPv6 bracket
        return None


def _source(value: str) -> tuple[str, int | None] | None:
    """(host, explicit port) of an Origin or Referer URL."""
    try:
        parts = urlsplit(value.strip())
        if not parts.scheme or not parts.netloc:
            return None  # "null" (sandboxed pages, file:) or garbage: not this site
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


def _target(request: HttpRequest) -> str:
    forwarded = request.META.get("HTTP_X_FORWARDED_HOST", "")
    if forwarded and peer_is_trusted_proxy(request):
        return str(forwarded).split(",")[0]
    # Without a Host header (HTTP/1.0) Django rebuilds one from the server's name and port.
    return str(request.META.get("HTTP_HOST") or request.get_host())


def is_cross_site(request: HttpRequest) -> bool:
    """Whether a browser sent this request from a page of another host or port.

    Ports are compared as written, like qBittorrent (browsers leave a default port out
    of both headers), so a TLS-terminating proxy that forwards plain HTTP still matches.
    """
    origin = request.META.get("HTTP_ORIGIN", "")
    referer = request.META.get("HTTP_REFERER", "")
    if not origin and not referer:
        return False  # API clients: qBittorrent lets them through too
    header, value = ("Origin", origin) if origin else ("Referer", referer)
    target = _target(request)
    source = _source(str(value))
    mismatch = source is None or source != _host_port(target)
    if mismatch:
        log.warning(
            "qB API: refused a cross-site %s %s from %s: %s %r does not match the host %r",
            request.method,
            request.path,
            client_address(request),
            header,
            str(value)[:200],
            target[:200],
        )
    return mismatch


def unauthorized() -> HttpResponse:
    return HttpResponse("Unauthorized", status=401, content_type="text/plain; charset=UTF-8")


def same_site_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Refuse state-changing requests from other sites (GET and HEAD change nothing)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in SAFE_METHODS and is_cross_site(request):
            return unauthorized()
        return view(request, *args, **kwargs)

    return wrapper
