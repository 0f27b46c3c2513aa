"""Read a resolved stream through catalog.egress the way the STRM proxy would: can it be
played, and what is it (resolution, bit rate, codecs)?

An HLS master says it in its best variant's attributes: then nothing else is fetched.
What the playlists leave open is read from the media: the first segment (with its key
and init section) put into a local playlist for ffprobe, or the first bytes of a
progressive file. A stream is unplayable only when the proxy could not play it either:
its address is refused, it answers an error, or it is no playlist and no media.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from catalog import local_hls, media_info
from catalog.egress import fetch, hls, upstream
from catalog.egress.fetch import FetchFailed, Playlist
from catalog.media_info import StreamInfo
from catalog.streams import ResolvedStream

log = logging.getLogger(__name__)

# Enough for ffprobe to find the streams of a progressive file whose index comes first.
PROGRESSIVE_PROBE_BYTES = 2 * 1024 * 1024
# A first segment bigger than this is not read for its codecs.
SEGMENT_PROBE_BYTES = 32 * 1024 * 1024


class Unplayable(Exception):
    """The stream cannot be played; str() is one line naming why (and any refused address)."""


def read_stream(stream: ResolvedStream) -> StreamInfo:
    """What the stream is; Unplayable when the proxy could not play it."""
    headers = dict(stream.headers)
    try:
        answer = fetch.open_url(stream.url, headers, range_header="bytes=0-")
        head = answer.read_head(hls.SNIFF_BYTES)
        if hls.looks_like_playlist(head, answer.header("Content-Type"), answer.url):
            return _hls(_entry_playlist(answer, stream.url, headers), headers)
        if fetch.looks_like_html(head):
            answer.abort()
            raise Unplayable(f"{fetch.host(answer.url)} sent an HTML page instead of media")
        return _progressive(answer)
    except FetchFailed as exc:
        raise Unplayable(str(exc)) from exc
    except upstream.UpstreamError as exc:
        raise Unplayable(str(exc)) from exc


def _entry_playlist(answer: upstream.Upstream, url: str, headers: dict[str, str]) -> Playlist:
    if answer.status == 206 and not fetch.is_whole(answer):
        answer.abort()
        return fetch.fetch_playlist(url, headers)
    try:
        return Playlist(answer.url, fetch.read_playlist(answer))
    except (fetch.NotAPlaylist, hls.PlaylistError) as exc:
        raise Unplayable(f"unusable playlist from {fetch.host(answer.url)}: {exc}") from exc


def _hls(playlist: Playlist, headers: dict[str, str]) -> StreamInfo:
    try:
        refs = hls.parse_uris(playlist.text, playlist.url)
    except hls.PlaylistError as exc:
        raise Unplayable(f"unusable playlist from {fetch.host(playlist.url)}: {exc}") from exc
    if not hls.is_master(playlist.text):
        return _from_media(playlist, headers, StreamInfo())
    variant = media_info.best_variant(refs)
    if variant is None:
        raise Unplayable(f"the master playlist from {fetch.host(playlist.url)} lists no variant")
    said = media_info.variant_info(variant.attributes)
    if said.complete:
        return said
    return _from_media(fetch.fetch_playlist(variant.url, headers), headers, said)


def _from_media(playlist: Playlist, headers: dict[str, str], said: StreamInfo) -> StreamInfo:
    """`said` completed from the first segment of a media playlist."""
    try:
        refs = hls.parse_uris(playlist.text, playlist.url)
        wanted = local_hls.resources(refs, segments=1)
    except (hls.PlaylistError, local_hls.UnsupportedStream) as exc:
        log.info("probe: %s: not reading its media: %s", fetch.host(playlist.url), exc)
        return said
    segment = next((ref for ref in wanted if ref.kind == "segment"), None)
    if segment is None:
        raise Unplayable(f"the media playlist from {fetch.host(playlist.url)} has no segment")
    with tempfile.TemporaryDirectory(prefix="anibridge-probe-") as workdir:
        try:
            for ref in wanted:
                _fetch(ref, headers, Path(workdir) / local_hls.local_name(ref))
        except fetch.AddressRefused as exc:
            raise Unplayable(str(exc)) from exc
        except FetchFailed as exc:  # the proxy would re-resolve: not a reason to say "no"
            log.info("probe: first segment of %s not read: %s", fetch.host(playlist.url), exc)
            return said
        local = Path(workdir) / "probe.m3u8"
        local.write_text(local_hls.local_playlist(playlist.text, playlist.url, segments=1))
        found = media_info.ffprobe(local, local_hls.FFMPEG_INPUT_OPTIONS)
        size = (Path(workdir) / local_hls.local_name(segment)).stat().st_size
    measured = _segment_bandwidth(playlist.text, size, segment)
    return said.merged(found).merged(StreamInfo(bandwidth=measured))


def _segment_bandwidth(text: str, first_size: int, first: hls.UriRef) -> int | None:
    estimate = hls.estimate_bandwidth(text)  # exact when the playlist has byte ranges
    if estimate is not None and estimate.peak > 0:
        return estimate.peak
    if first.duration:
        return round(first_size * 8 / first.duration)
    return None


def _fetch(ref: hls.UriRef, headers: dict[str, str], path: Path) -> None:
    limit = SEGMENT_PROBE_BYTES if ref.kind == "segment" else fetch.MAX_SMALL_BYTES
    path.write_bytes(fetch.fetch_small(ref.url, headers, ref.byterange, limit=limit))


def _progressive(answer: upstream.Upstream) -> StreamInfo:
    """What the first bytes of a progressive file say (nothing when its index is at the end)."""
    total = _total_size(answer)
    pieces = []  # chunks() starts with the head already read
    size = 0
    try:
        if not answer.is_encoded():
            for chunk in answer.chunks():
                pieces.append(chunk)
                size += len(chunk)
                if size >= PROGRESSIVE_PROBE_BYTES:
                    break
    except upstream.BodyInterrupted as exc:
        log.info("probe: %s: reading its first bytes failed: %s", fetch.host(answer.url), exc)
    finally:
        answer.abort()
    found = media_info.ffprobe("pipe:0", stdin=b"".join(pieces)[:PROGRESSIVE_PROBE_BYTES])
    if total and found.duration:
        return found.merged(StreamInfo(bandwidth=round(total * 8 / found.duration)))
    return found


def _total_size(answer: upstream.Upstream) -> int | None:
    found = fetch.content_range(answer)
    if found is not None:
        return found[2]
    return answer.content_length() if answer.status == 200 else None
