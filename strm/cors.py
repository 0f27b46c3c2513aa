"""CORS for the media URLs (`/strm/stream`, `/strm/proxy/...`), so browser players can use them.

Jellyfin's web client direct-plays a `.strm` with hls.js from Jellyfin's own origin:
every playlist, key and segment fetch is cross-origin, and a fetch with `Range` may be
preflighted. The settings are the original AniBridge's: `ANIBRIDGE_CORS_ORIGINS` (empty
or `*` any origin, a list those origins, `off`/`none` no CORS) and
`ANIBRIDGE_CORS_ALLOW_CREDENTIALS` (default true).

`*` never goes out together with credentials (browsers refuse that pair). With any
origin and credentials allowed, the request's Origin is echoed (with `Vary: Origin`):
these answers do not depend on cookies (signed URLs authorise them), so an echoed
origin discloses nothing that `*` would not, and a player that sends credentials
(Jellyfin web's `includeCorsCredentials`) still works.

Only the media URLs get CORS: the qBittorrent API, Torznab, the JSON API and the admin
answer browsers of other origins with nothing, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from strm.proxy import Reply

ALLOW_METHODS = "GET, HEAD"
ALLOW_HEADERS = "Range, If-Range, Origin"
EXPOSE_HEADERS = "Content-Length, Content-Range, Accept-Ranges"
# Chromium caps this at 2 hours; each segment URL is preflighted once anyway.
MAX_AGE_SECONDS = 7200


def enabled() -> bool:
    return bool(settings.CONFIG.cors_origins)


def response_headers(origin: str | None) -> dict[str, str]:
    """The CORS headers of an answer to a request that sent `origin` (None: no Origin)."""
    origins = settings.CONFIG.cors_origins
    if not origins:
        return {}
    any_origin = origins == ("*",)
    credentials = settings.CONFIG.cors_allow_credentials
    if any_origin and not credentials:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSE_HEADERS}
    # From here on the answer depends on the Origin: caches must keep them apart.
    headers = {"Vary": "Origin"}
    if origin is None or not _allowed(origin, origins):
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    if credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight(environ: Mapping[str, Any]) -> Reply | None:
    """The answer to an OPTIONS request (`environ`: WSGI's, or Django's request.META),
    or None when CORS is off (then OPTIONS is not allowed, as before)."""
    if not enabled():
        return None
    origin = environ.get("HTTP_ORIGIN")
    if origin is None or "HTTP_ACCESS_CONTROL_REQUEST_METHOD" not in environ:
        return Reply(204, {"Allow": f"{ALLOW_METHODS}, OPTIONS"})  # not a preflight
    headers = response_headers(origin)
    if "Access-Control-Allow-Origin" not in headers:
        body = f"origin {origin[:200]} is not in ANIBRIDGE_CORS_ORIGINS\n".encode()
        headers |= {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
        return Reply(403, headers, body)
    headers.pop("Access-Control-Expose-Headers", None)  # for actual answers only
    headers |= {
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
    }
    # Chromium asks before a public page may fetch from a private address (a Jellyfin
    # reached over the internet, AniBridge on the LAN): the allowed origin may.
    if environ.get("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK", "").lower() == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"
    return Reply(204, headers)


def _allowed(origin: str, origins: tuple[str, ...]) -> bool:
    if origin == "null":  # sandboxed frames and file: pages share it; never echoed
        return False
    return origins == ("*",) or origin.lower() in origins
