"""The fake CDN: real media behind expiring, optionally header-bound tokens.

URLs look like `/t/<token>/<resource>` with <resource> a path from media.py, so a
playlist's relative URIs (segments, `enc.key`, `init.mp4`) carry the token too.
`dood/<anything>` serves the progressive MP4 (Doodstream appends random characters).

Answers: 403 for an unknown or expired token and for a request whose User-Agent or
Referer differs from what the token is bound to; otherwise the file with
Range/HEAD/If-Range (see server.file_response).

Knobs (also reset by FakeWeb.reset()):
- `token_lifetime`: seconds a token issued by a hoster stays valid (None: forever);
- `bind_user_agent` / `bind_referer`: tokens issued by hosters are bound to the
  User-Agent of the request that obtained the link / to the hoster's own Referer
  (the one aniworld's PROVIDER_HEADERS_D sends for it);
- `sign(resource, ...)` issues a token directly; `expire_tokens()` expires all;
- fault knobs from server.FakeServer; here they match the resource path, e.g.
  `cdn.fail_next("hls/ts/360p/seg1.ts", status=403)`;
- `quirks`: playlist quirks of real CDNs to serve (see quirks.py);
- `redirect_resources(pattern, location)`: resources matching the fnmatch `pattern`
  answer 302 to `location` (a stream or one segment leading somewhere else).
"""

from __future__ import annotations

import fnmatch
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tests.fakeweb import quirks
from tests.fakeweb.media import MediaSet
from tests.fakeweb.server import FakeServer, Request, Response, Traffic, file_response, redirect

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".key": "application/octet-stream",
}


@dataclass
class Token:
    expires_at: float | None
    user_agent: str | None
    referer: str | None


class FakeCdn(FakeServer):
    def __init__(self, traffic: Traffic, media: MediaSet, *, verbose: bool = False) -> None:
        super().__init__("cdn", traffic, verbose=verbose)
        self.media = media
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self.reset_config()

    def reset_config(self) -> None:
        self.token_lifetime: float | None = None
        self.bind_user_agent = False
        self.bind_referer = False
        self.quirks: frozenset[str] = frozenset()
        self.redirects: list[tuple[str, str]] = []
        self.clear_faults()

    def redirect_resources(self, pattern: str, location: str) -> None:
        self.redirects.append((pattern, location))

    def sign(
        self,
        resource: str,
        *,
        user_agent: str | None = None,
        referer: str | None = None,
        lifetime: float | None = None,
    ) -> str:
        """A URL for `resource` with a fresh token (bound to the given header values)."""
        token = secrets.token_hex(12)
        expires_at = None if lifetime is None else time.monotonic() + lifetime
        with self._lock:
            self._tokens[token] = Token(expires_at, user_agent, referer)
        return self.url(f"/t/{token}/{resource}")

    def issue(self, resource: str, request_headers: Mapping[str, str], referer: str | None) -> str:
        """What a hoster calls: a URL under the current lifetime/binding policy."""
        return self.sign(
            resource,
            user_agent=request_headers.get("user-agent", "") if self.bind_user_agent else None,
            referer=referer if self.bind_referer else None,
            lifetime=self.token_lifetime,
        )

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def fault_key(self, path: str) -> str:
        return _split(path)[1]

    def handle(self, request: Request) -> Response:
        token_id, resource = _split(request.path)
        with self._lock:
            token = self._tokens.get(token_id)
        if token is None:
            return _forbidden("unknown token")
        if token.expires_at is not None and time.monotonic() >= token.expires_at:
            return _forbidden("token expired")
        if token.user_agent is not None and request.header("User-Agent") != token.user_agent:
            return _forbidden("User-Agent does not match the token")
        if token.referer is not None and _norm(request.header("Referer")) != _norm(token.referer):
            return _forbidden("Referer does not match the token")
        for pattern, location in self.redirects:
            if fnmatch.fnmatchcase(resource, pattern):
                return redirect(location)
        if resource.startswith("dood/"):
            resource = "mp4/video.mp4"
        if self.quirks:
            found = quirks.resource_for(resource, self.quirks, self.media.root)
            if isinstance(found, Response):
                return found
            resource = found
        path = self.media.path(resource)
        if path is None:
            return Response(404, b"no such file", "text/plain")
        if self.quirks and path.suffix == ".m3u8":
            body = quirks.playlist_body(path.read_bytes(), self.quirks)
            return quirks.playlist_response(request, body, self.quirks)
        return file_response(
            request, path, CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        )


def _split(path: str) -> tuple[str, str]:
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[0] == "" and parts[1] == "t":
        return parts[2], parts[3]
    return "", path.lstrip("/")


def _norm(value: str | None) -> str:
    return (value or "").rstrip("/")


def _forbidden(reason: str) -> Response:
    return Response(403, reason.encode(), "text/plain; charset=utf-8")
