"""HTTP front ends of the STRM proxy: parse the request, call strm.proxy, render its reply.

`entry_reply` and `token_reply` decide every answer. Two front ends render them:
- the Django views below: URL names, the test client, a server other than gunicorn;
- `serve`, the plain WSGI callable anibridge_site/wsgi.py puts before Django. ffmpeg
  asks one proxy URL every few seconds per playback (segments, Range seeks), and
  Django's request cycle around these signed media URLs (request object, URL
  resolving, signals, response object) cost ~10% of serving a 2 MiB segment
  (bench/bench_strm_proxy.py) while doing nothing for them: no sessions, no CSRF, no
  templates. Paths it does not recognise exactly go to Django as before.
"""

from __future__ import annotations

import logging
import posixpath
import socket
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import TooManyFieldsSent
from django.db import connections
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    QueryDict,
    StreamingHttpResponse,
)

from anibridge_site.login_guard import forwarded_client
from catalog.egress import splice
from strm import activity, cors, proxy, public_url, signing
from strm.media_body import MediaBody
from strm.stream_urls import (
    PROXY_PATH,
    STREAM_PATH,
    hls_query,
    identity_from_query,
    loggable_path,
)

log = logging.getLogger(__name__)

_METHODS = ("GET", "HEAD")


def entry_reply(query: Mapping[str, str], client: proxy.ClientRequest) -> proxy.Reply:
    """The entry URL of a .strm file: `/strm/stream?site&slug&s&e&lang[&provider]&sig`."""
    if client.method not in _METHODS:
        return _not_allowed()
    try:
        identity = identity_from_query(query)
    except ValueError as exc:
        return _plain(400, f"bad stream URL: {exc}")
    if not signing.entry_authorized(identity, query):
        return _plain(403, "stream URL signature or apikey does not match; rewrite the .strm file")
    return activity.seen(identity, client, proxy.serve_entry(identity, client))


def token_reply(token: str, name: str, client: proxy.ClientRequest) -> proxy.Reply:
    """A URI of a rewritten playlist: `/strm/proxy/<token>/<name>.<ext>`."""
    if not token or not name:
        return _plain(404, "not a proxy URL of AniBridge: /strm/proxy/<token>/<name>")
    if client.method not in _METHODS:
        return _not_allowed()
    try:
        target = signing.decode_token(token)
    except signing.BadToken as exc:
        return _plain(403, str(exc))
    extension = posixpath.splitext(name)[1].lower()
    return activity.seen(target.identity, client, proxy.serve_token(target, client, extension))


def client_request(
    method: str,
    query: Mapping[str, str],
    range_header: str | None,
    if_range: str | None,
    sink: socket.socket | None = None,
    base_url: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> proxy.ClientRequest:
    return proxy.ClientRequest(
        method=method,
        range=range_header,
        if_range=if_range,
        hls_query=hls_query(query),
        sink=sink,
        base_url=base_url,
        peer=forwarded_client(meta or {}),
        agent=(meta or {}).get("HTTP_USER_AGENT", ""),
    )


def answer(
    token: str | None,
    name: str,
    query: Mapping[str, str],
    client: proxy.ClientRequest,
    environ: Mapping[str, Any],
) -> proxy.Reply:
    """Either front end's answer on a proxy path (`token` None: the entry URL; "": a
    malformed proxy path); `environ`: WSGI's, or Django's request.META."""
    if client.method == "OPTIONS":
        return cors.preflight(environ) or _not_allowed()
    return entry_reply(query, client) if token is None else token_reply(token, name, client)


def finish(reply: proxy.Reply, environ: Mapping[str, Any]) -> proxy.Reply:
    """What every answer of ours carries: CORS for browser players (strm.cors), and no
    content sniffing: these answers come from the admin's origin, with upstream bytes."""
    reply.headers["X-Content-Type-Options"] = "nosniff"
    for header, value in cors.response_headers(environ.get("HTTP_ORIGIN")).items():
        reply.headers.setdefault(header, value)
    return reply


# --- Django ---------------------------------------------------------------------------


def stream(request: HttpRequest) -> HttpResponseBase:
    query = request.GET.dict()
    reply = answer(None, "", query, _client(request, query), request.META)
    return _render(finish(reply, request.META))


def proxied(request: HttpRequest, rest: str) -> HttpResponseBase:
    """Every path under /strm/proxy/: a malformed one gets its 404 here, not Django's."""
    token, name = _token_and_name(rest)
    query = request.GET.dict()
    try:
        reply = answer(token, name, query, _client(request, query), request.META)
    except Exception:  # Django would log the path: the token in it holds the CDN's URL
        log.exception("strm: internal error serving %s", loggable_path(request.path))
        reply = _plain(500, "internal error in the STRM proxy; see the AniBridge log")
    response = _render(finish(reply, request.META))
    if response.status_code >= 400:
        log.warning("strm: %s for %s", response.status_code, loggable_path(request.path))
        response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag
    return response


def _client(request: HttpRequest, query: Mapping[str, str]) -> proxy.ClientRequest:
    return client_request(
        request.method or "GET",
        query,
        request.headers.get("Range"),
        request.headers.get("If-Range"),
        splice.client_socket(request.META),
        public_url.request_base(request.META),
        request.META,
    )


def _render(reply: proxy.Reply) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(reply.body, bytes):
        response = HttpResponse(reply.body, status=reply.status)
    else:
        response = StreamingHttpResponse(reply.body, status=reply.status)
        release_database()
    for name, value in reply.headers.items():
        response[name] = value
    return response


# --- plain WSGI -----------------------------------------------------------------------


def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """The answer to a proxy URL, or None for any other path (then Django's)."""
    path = environ.get("PATH_INFO", "")
    if path == STREAM_PATH:
        token = name = ""
    elif path.startswith(PROXY_PATH + "/"):
        # Malformed ones too: Django's 404 would log the path, token and all.
        token, name = _token_and_name(path[len(PROXY_PATH) + 1 :])
    else:
        return None
    try:
        # As Django's request.GET would have them: UTF-8, the last of repeated names.
        query = QueryDict(environ.get("QUERY_STRING", "").encode("iso-8859-1")).dict()
        client = client_request(
            environ.get("REQUEST_METHOD", "GET"),
            query,
            environ.get("HTTP_RANGE"),
            environ.get("HTTP_IF_RANGE"),
            splice.client_socket(environ),
            public_url.request_base(environ),
            environ,
        )
        reply = answer(None if path == STREAM_PATH else token, name, query, client, environ)
    except TooManyFieldsSent as exc:  # Django answers 400 to that too
        reply = _plain(400, str(exc))
    except Exception:  # as Django would: a 500 and a logged traceback, the worker lives on
        log.exception("strm: internal error serving %s", loggable_path(path))
        reply = _plain(500, "internal error in the STRM proxy; see the AniBridge log")
    finally:
        # Request greenlets do not live on to reuse a connection: close what was opened.
        release_database()
    reply = finish(reply, environ)
    status = f"{reply.status} {_phrase(reply.status)}"
    start_response(status, list(reply.headers.items()))
    if isinstance(reply.body, MediaBody):
        environ[splice.ENVIRON_BODY] = reply.body
    return [reply.body] if isinstance(reply.body, bytes) else reply.body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# --- both -----------------------------------------------------------------------------


def _token_and_name(rest: str) -> tuple[str, str]:
    """Token and file name of a proxy path after `/strm/proxy/`; ("", "") if malformed."""
    token, _, name = rest.partition("/")
    if not token or not name or "/" in name or not rest.isascii():
        return "", ""
    return token, name


def release_database() -> None:
    """A stream may last hours: it must not hold a database connection all along."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # a test's transaction is not ours to end
            connection.close()


def _not_allowed() -> proxy.Reply:
    reply = _plain(405, "only GET and HEAD are allowed here")
    reply.headers["Allow"] = ", ".join(_METHODS) + (", OPTIONS" if cors.enabled() else "")
    return reply


def _plain(status: int, message: str) -> proxy.Reply:
    body = (message + "\n").encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
    return proxy.Reply(status, headers, body)
