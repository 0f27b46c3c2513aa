"""The URLs a media server sees: the signed entry URL in a .strm file and its parsing,
and the proxy URLs that rewritten playlists point to."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings

from catalog.identity import MAX_EPISODE, MAX_SEASON, EpisodeIdentity
from strm import signing
from strm.signing import ProxyToken, encode_token

STREAM_PATH = "/strm/stream"
PROXY_PATH = "/strm/proxy"
# LL-HLS blocking-reload parameters: passed on to upstream playlist requests.
_LL_HLS_PARAMS = frozenset({"_HLS_msn", "_HLS_part", "_HLS_skip"})
_NAME_JUNK = re.compile(r"[^A-Za-z0-9_-]+")


def stream_url(identity: EpisodeIdentity) -> str:
    """The URL a .strm file holds for `identity`: stable, signed per STRM_PROXY_AUTH."""
    base = settings.CONFIG.strm_public_base_url
    if not base:
        raise ValueError("STRM_PUBLIC_BASE_URL is not set: the media server cannot reach us")
    params = {
        "site": identity.site,
        "slug": identity.slug,
        "s": str(identity.season),
        "e": str(identity.episode),
        "lang": identity.language,
    }
    if identity.provider:
        params["provider"] = identity.provider
    auth = settings.CONFIG.strm_proxy_auth
    if auth == "token":
        params["sig"] = signing.sign_identity(identity)
    elif auth == "apikey":
        params["apikey"] = signing.apikey()  # derived: the file never holds the secret
    return f"{base}{STREAM_PATH}?{urlencode(params)}"


def proxy_prefix(base: str | None = None) -> str:
    """What every rewritten playlist URI starts with: under `base` (the URL the client
    reached us at, see strm.public_url) or STRM_PUBLIC_BASE_URL (relative when unset)."""
    return (settings.CONFIG.strm_public_base_url if base is None else base) + PROXY_PATH


def proxy_url(token: ProxyToken, name: str, public: str | None) -> str:
    return f"{proxy_prefix(public)}/{encode_token(token)}/{name}"


def proxy_file_name(url: str, kind: str, extension: str) -> str:
    """`<name><ext>` for a proxy path: the upstream stem, our extension (ffmpeg checks it)."""
    stem = posixpath.splitext(posixpath.basename(urlsplit(url).path))[0]
    stem = _NAME_JUNK.sub("-", stem).strip("-")[:40]
    return (stem or kind) + extension


def with_query(url: str, extra: tuple[tuple[str, str], ...]) -> str:
    """`url` with the `extra` query parameters, replacing any of the same name."""
    if not extra:
        return url
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in dict(extra)
    ]
    return urlunsplit(parts._replace(query=urlencode([*query, *extra])))


def hls_query(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The LL-HLS parameters among a client's query parameters."""
    return tuple((k, v) for k, v in sorted(params.items()) if k in _LL_HLS_PARAMS)


def identity_from_query(query: Mapping[str, str]) -> EpisodeIdentity:
    """The identity an entry request names; ValueError saying what is wrong."""
    missing = [name for name in ("site", "slug", "s", "e", "lang") if not query.get(name)]
    if missing:
        raise ValueError(f"missing query parameter(s): {', '.join(missing)}")
    return EpisodeIdentity(
        site=query["site"],
        slug=query["slug"],
        season=_number(query["s"], "s", MAX_SEASON),
        episode=_number(query["e"], "e", MAX_EPISODE),
        language=query["lang"],
        provider=query.get("provider") or None,
    )


def _number(text: str, name: str, maximum: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        raise ValueError(f"{name}={text[:20]!r} is not a number from 0 to {maximum}")
    return int(text)


def loggable_path(path: str) -> str:
    """`path` for a log line: a proxy token (it holds the CDN's URL and token) becomes a
    short digest, which still tells two tokens apart."""
    if not path.startswith(PROXY_PATH + "/"):
        return path[:300]
    token, slash, rest = path[len(PROXY_PATH) + 1 :].partition("/")
    digest = hashlib.sha256(token.encode(errors="replace")).hexdigest()[:12]
    return f"{PROXY_PATH}/<token {digest}>{slash}{rest[:100]}"
