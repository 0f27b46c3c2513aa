"""Signatures for STRM URLs: the entry URL's identity signature and the proxy tokens.

The entry URL (`/strm/stream?site&slug&s&e&lang[&provider]&sig`) lives in a .strm
file for years, so its signature has no expiry. Every URI of a rewritten playlist
becomes `/strm/proxy/<token>/<name>.<ext>`; the token is signed too. A token carries
what the proxy needs to serve the resource without any server-side state: the
identity, the upstream URL, and the chain of locators from the entry playlist down,
to find the resource again after a re-resolve.

Three keys, one per purpose, so no value one of them makes can pass for another:
- the entry signature (`sig`): HMAC-SHA256 keyed from STRM_PROXY_SECRET;
- the apikey a .strm file holds with STRM_PROXY_AUTH=apikey: derived from
  STRM_PROXY_SECRET, so the file no longer holds the secret itself;
- proxy tokens: keyed from Django's SECRET_KEY *and* STRM_PROXY_SECRET. What a .strm
  file holds (a signature, an apikey, or, in files written before, the secret itself)
  is never enough to mint a token that sends the hoster's headers to a URL of one's choice.
Key rotation: a new STRM_PROXY_SECRET signs; former ones in STRM_PROXY_SECRET_FALLBACKS
still verify (entry URLs, apikeys and tokens) until the .strm files are rewritten.

Tokens expire after STRM_PROXY_TOKEN_TTL_SECONDS, and only their URL does: ffmpeg
never reloads a VOD playlist, so a token must keep working for a whole playback with
pauses (hours). Past its expiry a token decodes without the URL it carried; the
proxy then finds its resource again from the identity's current resolution by the
locator chain (strm.proxy), as after a re-resolve. A stolen token so stops naming an
upstream URL after the TTL, and playback goes on.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity

# ffmpeg's MAX_URL_SIZE is 4096 including scheme, host and file name; leave room.
MAX_TOKEN_CHARS = 3600
# 2: keyed with SECRET_KEY too, and an expiry ("x", Unix seconds) when a TTL is set.
_TOKEN_VERSION = 2
_SIGNATURE_BYTES = 32
# Inflated JSON of a valid token is a few KiB; more is a forged or broken token.
_MAX_INFLATED = 64 * 1024


class BadToken(ValueError):
    """A proxy token that is malformed, forged or tampered with."""


class TokenTooLarge(ValueError):
    """The token would not fit in a URL ffmpeg accepts."""


@dataclass(frozen=True)
class ProxyToken:
    """One proxied resource: whose it is, where it was, and how to find it again."""

    identity: EpisodeIdentity
    # From the entry playlist down to this resource; () is the entry resource itself.
    chain: tuple[Locator, ...]
    # The upstream URL when the token was made; None when it did not fit in the token.
    url: str | None
    # Which resolution `url` belongs to (see strm.resolved.Resolution.generation).
    generation: str
    playlist: bool


# --- keys ------------------------------------------------------------------------------


def _secrets() -> tuple[str, ...]:
    """The STRM secret that signs, then the former ones that still verify."""
    cfg = settings.CONFIG
    return (cfg.strm_proxy_secret or settings.SECRET_KEY, *cfg.strm_proxy_secret_fallbacks)


@lru_cache(maxsize=16)
def _derived_key(secret: str, purpose: str) -> bytes:
    # Keyed by the secret too: a changed STRM_PROXY_SECRET takes effect at once.
    return hmac.digest(secret.encode(), f"anibridge.strm.{purpose}".encode(), "sha256")


@lru_cache(maxsize=16)
def _token_key(server_key: str, secret: str) -> bytes:
    # SECRET_KEY never leaves the server; STRM_PROXY_SECRET may sit in old apikey .strm files.
    return hmac.digest(server_key.encode(), b"anibridge.strm.token\0" + secret.encode(), "sha256")


def _mac(key: bytes, message: bytes) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, without building an HMAC object per request.
    return hmac.digest(key, message, "sha256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the entry URL ---------------------------------------------------------------------


def canonical_identity(identity: EpisodeIdentity) -> bytes:
    """The bytes an entry signature covers: the normalised identity, unambiguous."""
    fields = (
        identity.site,
        identity.slug,
        str(identity.season),
        str(identity.episode),
        identity.language,
        identity.provider or "",
    )
    return "\x1f".join(fields).encode()


def sign_identity(identity: EpisodeIdentity, secret: str | None = None) -> str:
    """The entry signature, made with `secret` (default: the current STRM secret)."""
    key = _derived_key(secret or _secrets()[0], "stream")
    return _b64(_mac(key, canonical_identity(identity)))


def apikey(secret: str | None = None) -> str:
    """The apikey .strm files hold with STRM_PROXY_AUTH=apikey: derived, not the secret."""
    return _b64(_derived_key(secret or _secrets()[0], "apikey"))


def entry_authorized(identity: EpisodeIdentity, query: Mapping[str, str]) -> bool:
    """Whether an entry request may play `identity` under STRM_PROXY_AUTH."""
    mode = settings.CONFIG.strm_proxy_auth
    if mode == "none":
        return True
    if mode == "apikey":
        # An unset secret must not make an empty apikey valid.
        if not settings.CONFIG.strm_proxy_secret:
            return False
        given = query.get("apikey", "").encode()
        # The secret itself is what files written before derived apikeys hold.
        accepted = [value for secret in _secrets() for value in (apikey(secret), secret)]
    else:
        given = query.get("sig", "").encode()
        accepted = [sign_identity(identity, secret) for secret in _secrets()]
    # Every candidate compared, each in constant time: no early exit tells which matched.
    matches = [hmac.compare_digest(given, value.encode()) for value in accepted]
    return any(matches)


def generation_of(url: str) -> str:
    """A short fingerprint of a resolved URL: tokens made from it carry it."""
    return _b64(hashlib.sha256(url.encode()).digest()[:6])


# --- proxy tokens ----------------------------------------------------------------------


def encode_token(token: ProxyToken, *, now: float | None = None) -> str:
    """The signed, URL-safe form of `token`; drops the URL when it would not fit.

    Without its URL a token still works: the proxy finds the resource by walking
    the locator chain from the current resolution. Raises TokenTooLarge when even
    that does not fit. `now` (Unix time) is for tests.
    """
    ttl = settings.CONFIG.strm_proxy_token_ttl_seconds
    expires = int(time.time() if now is None else now) + ttl if ttl else None
    with contextlib.suppress(TokenTooLarge):  # a URL alone may be too long to carry
        text = _seal(_payload(token, expires, with_url=True))
        if len(text) <= MAX_TOKEN_CHARS:
            return text
    text = _seal(_payload(token, expires, with_url=False))
    if len(text) <= MAX_TOKEN_CHARS:
        return text
    raise TokenTooLarge(f"proxy token of {len(text)} characters (locator chain too long)")


def decode_token(text: str, *, now: float | None = None) -> ProxyToken:
    """The token behind `text`; BadToken unless it is intact and signed by us. An
    expired token comes back without its URL (see the module's docstring)."""
    if len(text) > MAX_TOKEN_CHARS + 64 or text.count(".") != 1:
        raise BadToken("malformed proxy token")
    body, signature = text.split(".")
    # Compared as text: base64 has spare bits, so two spellings could decode alike.
    server_key = settings.SECRET_KEY
    for secret in _secrets():  # the current key first: the others only while rotating
        expected = _b64(_mac(_token_key(server_key, secret), body.encode()))
        if hmac.compare_digest(signature.encode(), expected.encode()):
            break
    else:
        raise BadToken("proxy token signature does not match")
    try:
        payload = _inflate(_unb64(body))
        token = _from_payload(payload)
        expires = payload.get("x")
        if expires is not None and not isinstance(expires, int):
            raise ValueError("expiry must be a whole number")
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise BadToken(f"unreadable proxy token: {exc}") from None
    if expires is not None and (time.time() if now is None else now) > expires:
        return dataclasses.replace(token, url=None)
    return token


def _payload(token: ProxyToken, expires: int | None, *, with_url: bool) -> dict[str, object]:
    identity = token.identity
    payload: dict[str, object] = {
        "v": _TOKEN_VERSION,
        "i": [
            identity.site,
            identity.slug,
            identity.season,
            identity.episode,
            identity.language,
            identity.provider or "",
        ],
        "c": [locator.to_dict() for locator in token.chain],
        "g": token.generation,
        "p": 1 if token.playlist else 0,
    }
    if with_url and token.url is not None:
        payload["u"] = token.url
    if expires is not None:
        payload["x"] = expires
    return payload


def _seal(payload: dict[str, object]) -> str:
    packed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    if len(packed) > _MAX_INFLATED:
        # decode_token refuses it; better no URI than one that answers 403.
        raise TokenTooLarge(f"proxy token of {len(packed)} bytes before compression")
    # Raw deflate: no zlib header/trailer, every byte counts against MAX_TOKEN_CHARS.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = _b64(compressor.compress(packed) + compressor.flush())
    key = _token_key(settings.SECRET_KEY, _secrets()[0])
    return f"{body}.{_b64(_mac(key, body.encode()))}"


def _inflate(data: bytes) -> dict[str, object]:
    decompressor = zlib.decompressobj(-15)
    packed = decompressor.decompress(data, _MAX_INFLATED)
    if decompressor.unconsumed_tail:
        raise ValueError("token too large when inflated")
    payload = json.loads(packed)
    if not isinstance(payload, dict) or payload.get("v") != _TOKEN_VERSION:
        raise ValueError("unknown token version")
    return payload


def _from_payload(payload: Mapping[str, object]) -> ProxyToken:
    fields = payload["i"]
    if not isinstance(fields, list) or len(fields) != 6:
        raise ValueError("identity must have six fields")
    site, slug, season, episode, language, provider = fields
    identity = EpisodeIdentity(site, slug, season, episode, language, provider or None)
    chain = payload["c"]
    if not isinstance(chain, list) or not all(isinstance(item, dict) for item in chain):
        raise ValueError("chain must be a list of locators")
    url = payload.get("u")
    generation = payload["g"]
    if (url is not None and not isinstance(url, str)) or not isinstance(generation, str):
        raise ValueError("url and generation must be text")
    return ProxyToken(
        identity=identity,
        chain=tuple(Locator.from_dict(item) for item in chain),
        url=url,
        generation=generation,
        playlist=payload["p"] == 1,
    )
