"""Signatures for STRM URLs: the entry URL's identity signature and the proxy tokens.

The entry URL (`/strm/stream?site&slug&s&e&lang[&provider]&sig`) lives in a .strm
file for years, so its signature has no expiry. Every URI of a rewritten playlist
becomes `/strm/proxy/<token>/<name>.<ext>`; the token is signed too and never
expires either (ffmpeg does not reload a VOD playlist, and a paused playback may
resume hours later). A token carries what the proxy needs to serve the resource
without any server-side state: the identity, the upstream URL, and the chain of
locators from the entry playlist down, to find the resource again after a re-resolve.

Keys are derived from STRM_PROXY_SECRET (Django's SECRET_KEY when it is unset), one
per purpose, so an identity signature can never pass as a token signature.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity

# ffmpeg's MAX_URL_SIZE is 4096 including scheme, host and file name; leave room.
MAX_TOKEN_CHARS = 3600
_TOKEN_VERSION = 1
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


def _secret() -> bytes:
    secret = settings.CONFIG.strm_proxy_secret or settings.SECRET_KEY
    return secret.encode()


def _key(purpose: str) -> bytes:
    return _derived_key(_secret(), purpose)


@lru_cache(maxsize=16)
def _derived_key(secret: bytes, purpose: str) -> bytes:
    # Keyed by the secret too: a changed STRM_PROXY_SECRET takes effect at once.
    return hmac.digest(secret, f"anibridge.strm.{purpose}".encode(), "sha256")


def _mac(purpose: str, message: bytes) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, without building an HMAC object per request.
    return hmac.digest(_key(purpose), message, "sha256")


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


def sign_identity(identity: EpisodeIdentity) -> str:
    return _b64(_mac("stream", canonical_identity(identity)))


def entry_authorized(identity: EpisodeIdentity, query: Mapping[str, str]) -> bool:
    """Whether an entry request may play `identity` under STRM_PROXY_AUTH."""
    mode = settings.CONFIG.strm_proxy_auth
    if mode == "none":
        return True
    if mode == "apikey":
        secret = settings.CONFIG.strm_proxy_secret
        # An unset secret must not make an empty apikey valid.
        return bool(secret) and hmac.compare_digest(
            query.get("apikey", "").encode(), secret.encode()
        )
    return hmac.compare_digest(query.get("sig", "").encode(), sign_identity(identity).encode())


def generation_of(url: str) -> str:
    """A short fingerprint of a resolved URL: tokens made from it carry it."""
    return _b64(hashlib.sha256(url.encode()).digest()[:6])


# --- proxy tokens ----------------------------------------------------------------------


def encode_token(token: ProxyToken) -> str:
    """The signed, URL-safe form of `token`; drops the URL when it would not fit.

    Without its URL a token still works: the proxy finds the resource by walking
    the locator chain from the current resolution. Raises TokenTooLarge when even
    that does not fit.
    """
    with contextlib.suppress(TokenTooLarge):  # a URL alone may be too long to carry
        text = _seal(_payload(token, with_url=True))
        if len(text) <= MAX_TOKEN_CHARS:
            return text
    text = _seal(_payload(token, with_url=False))
    if len(text) <= MAX_TOKEN_CHARS:
        return text
    raise TokenTooLarge(f"proxy token of {len(text)} characters (locator chain too long)")


def decode_token(text: str) -> ProxyToken:
    """The token behind `text`; BadToken unless it is intact and signed by us."""
    if len(text) > MAX_TOKEN_CHARS + 64 or text.count(".") != 1:
        raise BadToken("malformed proxy token")
    body, signature = text.split(".")
    # Compared as text: base64 has spare bits, so two spellings could decode alike.
    expected = _b64(_mac("token", body.encode()))
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise BadToken("proxy token signature does not match")
    try:
        return _from_payload(_inflate(_unb64(body)))
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise BadToken(f"unreadable proxy token: {exc}") from None


def _payload(token: ProxyToken, *, with_url: bool) -> dict[str, object]:
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
    return payload


def _seal(payload: dict[str, object]) -> str:
    packed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    if len(packed) > _MAX_INFLATED:
        # decode_token refuses it; better no URI than one that answers 403.
        raise TokenTooLarge(f"proxy token of {len(packed)} bytes before compression")
    # Raw deflate: no zlib header/trailer, every byte counts against MAX_TOKEN_CHARS.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = _b64(compressor.compress(packed) + compressor.flush())
    return f"{body}.{_b64(_mac('token', body.encode()))}"


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
