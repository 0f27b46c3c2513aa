"""RESOLUTION and CODECS for the synthetic master around a bare media playlist.

Jellyfin reads BANDWIDTH, RESOLUTION and CODECS from a master to choose direct play.
For a hoster that serves a single media playlist we make the master (strm.proxy), and
learn these once per episode and hoster: the first segment (with its init section,
decrypted with its AES-128 key) is fetched through our own upstream client (the
SSRF check, the hoster's headers) and described by ffprobe. The result is kept on the
StrmUrlMapping row and reused until another hoster serves the episode; a failed probe
is not tried again for this resolution (the master then has BANDWIDTH only).
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.cache import cache as django_cache
from django.utils import timezone

from catalog.egress import hls, ssrf, upstream
from catalog.egress.hls import UriRef
from catalog.identity import EpisodeIdentity
from strm import codec_strings
from strm.models import StrmUrlMapping
from strm.resolved import Resolution
from strm.resolved import _lookup as _lookup  # the mapping row of an identity

log = logging.getLogger(__name__)

# Enough for the parameter sets and the first frames of any segment; bounded memory.
PROBE_BYTES = 2 * 1024 * 1024
FFPROBE_TIMEOUT = 20.0
FAILURE_MEMORY_SECONDS = 3600
_AES_BLOCK = 16


@dataclass(frozen=True)
class StreamInfo:
    width: int | None = None
    height: int | None = None
    codecs: str = ""  # RFC 6381, "" when unknown

    @property
    def resolution(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


class ProbeFailed(Exception):
    """The first segment could not be fetched, decrypted or described; one line."""


def for_master(
    identity: EpisodeIdentity, text: str, media_url: str, resolution: Resolution
) -> StreamInfo | None:
    """What the master for `text` (a media playlist at `media_url`) should say, or None."""
    # SEAM (egress probe): catalog's availability probe may learn width/height/codecs
    # when it checks an episode; once it stores them, prefer those here over probing.
    rows = StrmUrlMapping.objects.filter(**_lookup(identity))
    row = rows.first()
    probed = row is not None and row.media_probed_at is not None
    if row is not None and probed and row.media_probed_provider == resolution.provider:
        return StreamInfo(row.media_width, row.media_height, row.media_codecs)
    failed_key = f"strm:probe-failed:{resolution.generation}"
    if _cache_get(failed_key):
        return None
    try:
        info = probe(text, media_url, resolution.headers)
    except ProbeFailed as exc:
        log.warning("strm: no RESOLUTION/CODECS for %s: %s", identity, exc)
        _cache_set(failed_key, FAILURE_MEMORY_SECONDS)
        return None
    rows.update(
        media_width=info.width,
        media_height=info.height,
        media_codecs=info.codecs,
        media_probed_provider=resolution.provider,
        media_probed_at=timezone.now(),
    )
    return info


def probe(text: str, media_url: str, headers: dict[str, str]) -> StreamInfo:
    """Describe the first segment of the media playlist `text`; ProbeFailed if we cannot."""
    try:
        refs = hls.parse_uris(text, media_url)
    except hls.PlaylistError as exc:
        raise ProbeFailed(str(exc)) from exc
    segment = next((ref for ref in refs if ref.kind == "segment"), None)
    if segment is None:
        raise ProbeFailed("the playlist has no segment")
    data = _fetch(segment, headers, PROBE_BYTES, ranged=True)
    key = _in_effect(refs, "key", segment)
    if key is not None:
        data = _decrypt(data, key, segment, headers)
    init = _in_effect(refs, "map", segment)
    if init is not None:
        data = _fetch(init, headers, PROBE_BYTES, ranged=True) + data
    streams = _ffprobe(data)
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    width = _positive(video.get("width")) if video else None
    height = _positive(video.get("height")) if video else None
    info = StreamInfo(width, height, codec_strings.codecs(streams))
    if info.resolution is None and not info.codecs:
        raise ProbeFailed("ffprobe found no audio or video stream")
    return info


def _in_effect(refs: list[UriRef], kind: str, segment: UriRef) -> UriRef | None:
    """The last key/map before `segment` (they come before the segments they apply to)."""
    found = None
    for ref in refs:
        if ref is segment:
            return found
        if ref.kind == kind:
            found = ref
    return found


def _fetch(ref: UriRef, headers: dict[str, str], limit: int, *, ranged: bool) -> bytes:
    """At most `limit` bytes of `ref` (of its byte range, if it has one)."""
    wanted = ref.byterange
    first = wanted.offset if wanted is not None else 0
    last = first + min(limit, (wanted.length if wanted else None) or limit) - 1
    asked = f"bytes={first}-{last}" if ranged or wanted is not None else None
    try:
        answer = upstream.open_url(ref.url, headers, range_header=asked)
    except (upstream.UpstreamError, ssrf.BlockedTarget) as exc:
        raise ProbeFailed(f"{ref.kind}: {exc}") from exc
    if answer.status not in (200, 206) or (answer.status == 200 and first > 0):
        answer.abort()
        raise ProbeFailed(f"{ref.kind}: upstream answered {answer.status}")
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in answer.chunks():
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except upstream.BodyInterrupted as exc:
        raise ProbeFailed(f"{ref.kind}: {exc}") from exc
    finally:
        answer.abort()  # a no-op when the body was read to its end
    return b"".join(parts)[: last - first + 1]


def _decrypt(data: bytes, key: UriRef, segment: UriRef, headers: dict[str, str]) -> bytes:
    method = key.attributes.get("METHOD", "").upper()
    if method != "AES-128":
        raise ProbeFailed(f"segments encrypted with {method or 'an unknown method'}")
    secret = _fetch(key, headers, 64, ranged=False)  # some CDNs refuse ranged keys
    if len(secret) != _AES_BLOCK:
        raise ProbeFailed(f"the AES-128 key has {len(secret)} bytes, not 16")
    iv_text = key.attributes.get("IV", "")
    try:
        if iv_text:
            iv = int(iv_text, 16).to_bytes(_AES_BLOCK, "big")
        else:  # RFC 8216 5.2: the media sequence number is the IV
            iv = (segment.media_sequence or 0).to_bytes(_AES_BLOCK, "big")
    except (ValueError, OverflowError) as exc:
        raise ProbeFailed(f"unusable IV {iv_text[:40]!r}") from exc
    whole = data[: len(data) - len(data) % _AES_BLOCK]  # a cut-off prefix decrypts too
    decryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor()
    return decryptor.update(whole) + decryptor.finalize()


def _ffprobe(data: bytes) -> list[dict[str, object]]:
    with tempfile.NamedTemporaryFile(prefix="anibridge-probe-", suffix=".bin") as fh:
        fh.write(data)
        fh.flush()
        command = ["ffprobe", "-v", "error", "-show_streams", "-show_data", "-of", "json"]
        try:
            result = subprocess.run(
                [*command, fh.name],
                capture_output=True,
                timeout=FFPROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProbeFailed(f"ffprobe did not run: {exc}") from exc
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise ProbeFailed(f"ffprobe: {message[-1] if message else result.returncode}")
    try:
        streams = json.loads(result.stdout).get("streams", [])
    except (ValueError, AttributeError) as exc:
        raise ProbeFailed(f"ffprobe printed no JSON: {exc}") from exc
    return [s for s in streams if isinstance(s, dict)]


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _cache_get(key: str) -> bool:
    try:
        return bool(django_cache.get(key))
    except Exception:  # Redis away: probe again rather than fail the playlist
        return False


def _cache_set(key: str, seconds: int) -> None:
    try:
        django_cache.set(key, True, seconds)
    except Exception as exc:
        log.debug("strm: probe failure not remembered: %s", exc)
