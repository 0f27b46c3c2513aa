"""A media playlist's bit rate measured from a few of its segments' sizes, for the
single-variant master the proxy puts around a bare media playlist (Jellyfin shows the
bit rate it reads from BANDWIDTH). Kept in the cache per resolution for a day."""

from __future__ import annotations

import contextlib

from catalog.egress import fetch, hls, ssrf, upstream
from catalog.egress.hls import BandwidthEstimate, UriRef
from catalog.softcache import soft_get, soft_set
from strm.resolved import Resolution

# Segments whose size is measured.
SIZE_SAMPLES = 3
BANDWIDTH_CACHE_SECONDS = 24 * 3600


def measured(text: str, base_url: str, resolution: Resolution) -> BandwidthEstimate | None:
    """The bit rates of media playlist `text`, from the sizes of SIZE_SAMPLES segments
    spread over it; None when no size could be measured."""
    key = f"strm:bandwidth:{resolution.generation}"
    cached = soft_get(key)
    if isinstance(cached, tuple) and len(cached) == 2:
        return BandwidthEstimate(peak=cached[0], average=cached[1])
    segments = [ref for ref in hls.parse_uris(text, base_url) if ref.kind == "segment"]
    sizes: dict[int, int] = {}
    for ref in _spread(segments, SIZE_SAMPLES):
        size = _resource_size(ref.url, resolution)
        if size is not None and ref.media_sequence is not None:
            sizes[ref.media_sequence] = size
    estimate = hls.estimate_bandwidth(text, sizes)
    if estimate is not None:
        soft_set(key, (estimate.peak, estimate.average), BANDWIDTH_CACHE_SECONDS)
    return estimate


def _spread(items: list[UriRef], count: int) -> list[UriRef]:
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _resource_size(url: str, resolution: Resolution) -> int | None:
    try:
        answer = upstream.open_url(url, resolution.headers, range_header="bytes=0-0")
    except (upstream.UpstreamError, ssrf.BlockedTarget):
        return None
    if answer.status == 206:
        content_range = fetch.content_range(answer)
        size = None if content_range is None else content_range[2]
        with contextlib.suppress(upstream.UpstreamError):
            answer.read_decoded(16)  # the one byte; the connection can be reused
    else:
        size = answer.content_length() if answer.status == 200 else None
    answer.abort()  # a no-op when the body was read
    return size
