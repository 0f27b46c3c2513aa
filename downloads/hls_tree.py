"""Which media playlists an HLS download reads: the master's best variant, and its audio
rendition when the audio comes separately (EXT-X-MEDIA with a URI); each found again by
its locator in a fresh resolution's master, as the proxy re-finds a resource."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalog import media_info
from catalog.egress import fetch, hls
from catalog.egress.fetch import Playlist
from catalog.egress.hls import Locator, UriRef
from downloads import storage
from downloads.source import DownloadFailed

PLAN = "plan.json"
VIDEO = "video"
AUDIO = "audio"


@dataclass(frozen=True)
class Track:
    """One media playlist to download; its pieces go to the directory `name`."""

    name: str
    locator: Locator | None  # where it is in the master; None: the entry is this playlist
    media: Playlist
    attributes: dict[str, str]  # of its EXT-X-STREAM-INF / EXT-X-MEDIA tag


Chosen = dict[str, Locator | None]


def choose(
    entry: Playlist, fetch_playlist: Callable[[str], Playlist], saved: Chosen | None
) -> list[Track]:
    """The tracks of `entry`: those in `saved` (an earlier choice) or the best ones.
    Raises catalog.egress.fetch.FetchFailed, DownloadFailed."""
    if not hls.is_master(entry.text):
        return [Track(VIDEO, None, entry, {})]
    refs = parse(entry)
    if saved is not None:
        picked = {name: _again(locator, entry) for name, locator in saved.items() if locator}
        if VIDEO not in picked:
            raise DownloadFailed("the stream has a master playlist now; it had none before")
    else:
        variant = media_info.best_variant(refs)
        if variant is None:
            raise DownloadFailed(
                f"the master playlist from {fetch.host(entry.url)} lists no variant"
            )
        picked = {VIDEO: variant}
        audio = _audio_rendition(refs, variant)
        if audio is not None:
            picked[AUDIO] = audio
    tracks = []
    for name, ref in picked.items():
        media = fetch_playlist(ref.url)
        if hls.is_master(media.text):
            raise DownloadFailed(f"{fetch.host(media.url)}: a master playlist inside a master")
        tracks.append(Track(name, ref.locator, media, dict(ref.attributes)))
    return tracks


def _again(locator: Locator, entry: Playlist) -> UriRef:
    try:
        found = hls.find_equivalent(locator, entry.text, entry.url)
    except hls.PlaylistError as exc:
        raise DownloadFailed(f"unusable playlist from {fetch.host(entry.url)}: {exc}") from exc
    if found is None:
        raise DownloadFailed(f"the {locator.kind} this download started with is gone")
    return found


def _audio_rendition(refs: list[UriRef], variant: UriRef) -> UriRef | None:
    """The variant's audio when it is a rendition of its own: the default one of its group."""
    group = variant.attributes.get("AUDIO")
    renditions = [
        ref
        for ref in refs
        if ref.kind == "media"
        and ref.attributes.get("TYPE") == "AUDIO"
        and ref.attributes.get("GROUP-ID") == group
    ]
    if not group or not renditions:
        return None  # no group, or its renditions have no URI: the audio is in the variant
    return next((r for r in renditions if r.attributes.get("DEFAULT") == "YES"), renditions[0])


def parse(playlist: Playlist) -> list[UriRef]:
    try:
        return hls.parse_uris(playlist.text, playlist.url)
    except hls.PlaylistError as exc:
        raise DownloadFailed(f"unusable playlist from {fetch.host(playlist.url)}: {exc}") from exc


def save(workdir: Path, provider: str, tracks: list[Track]) -> None:
    """Remember the choice, so that the job's next run continues the same tracks."""
    chosen = {t.name: t.locator.to_dict() if t.locator else None for t in tracks}
    with storage.writing():
        (workdir / PLAN).write_text(json.dumps({"provider": provider, "tracks": chosen}))


def saved(workdir: Path, provider: str) -> Chosen | None:
    """What an earlier run of the job chose, if it fetched from the same hoster."""
    try:
        plan = json.loads((workdir / PLAN).read_text())
        if plan.get("provider") != provider:
            return None
        return {
            str(name): Locator.from_dict(value) if value else None
            for name, value in dict(plan["tracks"]).items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def chosen(tracks: list[Track]) -> Chosen:
    return {track.name: track.locator for track in tracks}
