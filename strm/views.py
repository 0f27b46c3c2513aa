"""HTTP views of the STRM proxy: parse the request, call strm.proxy, render its reply."""

from __future__ import annotations

import posixpath

from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from strm import proxy, signing, splice
from strm.stream_urls import identity_from_query


@require_http_methods(["GET", "HEAD"])
def stream(request: HttpRequest) -> HttpResponseBase:
    """The entry URL of a .strm file: `/strm/stream?site&slug&s&e&lang[&provider]&sig`."""
    query = request.GET.dict()
    try:
        identity = identity_from_query(query)
    except ValueError as exc:
        return _plain(400, f"bad stream URL: {exc}")
    if not signing.entry_authorized(identity, query):
        return _plain(403, "stream URL signature or apikey does not match; rewrite the .strm file")
    return _render(proxy.serve_entry(identity, _client(request)))


@require_http_methods(["GET", "HEAD"])
def proxied(request: HttpRequest, token: str, name: str) -> HttpResponseBase:
    """A URI of a rewritten playlist: `/strm/proxy/<token>/<name>.<ext>`."""
    try:
        target = signing.decode_token(token)
    except signing.BadToken as exc:
        return _plain(403, str(exc))
    extension = posixpath.splitext(name)[1].lower()
    return _render(proxy.serve_token(target, _client(request), extension))


def _client(request: HttpRequest) -> proxy.ClientRequest:
    return proxy.ClientRequest(
        method=request.method or "GET",
        range=request.headers.get("Range"),
        if_range=request.headers.get("If-Range"),
        hls_query=proxy.hls_query(request.GET.dict()),
        sink=splice.client_socket(request.META),
    )


def _render(reply: proxy.Reply) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(reply.body, bytes):
        response = HttpResponse(reply.body, status=reply.status)
    else:
        response = StreamingHttpResponse(reply.body, status=reply.status)
        _release_database()
    for name, value in reply.headers.items():
        response[name] = value
    return response


def _release_database() -> None:
    """A stream may last hours: it must not hold a database connection all along."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # a test's transaction is not ours to end
            connection.close()


def _plain(status: int, message: str) -> HttpResponse:
    body = (message + "\n").encode()
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Content-Length"] = str(len(body))  # served without CommonMiddleware (wsgi.py)
    return response
