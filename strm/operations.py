"""Operator actions on one mapping: re-resolve it now, and make its .strm file hold the
right URL (the fresh CDN URL in direct mode, our signed /strm/stream URL in proxy mode).

Used by `manage.py refresh_strm`, the admin, `/api/strm/refresh/` (through a task) and
the dead-link check. Files are only ever rewritten in place under DOWNLOAD_DIR: a
missing file is reported, not created (Sonarr may have moved it into the library).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from django.conf import settings

from catalog.identity import EpisodeIdentity
from catalog.streams import ResolveError
from strm import resolved
from strm.files import write_strm
from strm.models import StrmUrlMapping
from strm.resolved import Resolution
from strm.stream_urls import stream_url

log = logging.getLogger(__name__)


class FileState(StrEnum):
    REWRITTEN = "rewritten"
    UNCHANGED = "unchanged"
    MISSING = "missing (not created)"
    NOT_RECORDED = "not recorded"
    WOULD_REWRITE = "would be rewritten"
    REFUSED = "refused"


class FileRefused(Exception):
    """The recorded path is not a .strm file under DOWNLOAD_DIR; str() says why."""


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh or rewrite did; str() is the one line shown to the operator."""

    mapping_id: int
    label: str
    file: FileState | None = None  # None: failed before the file was looked at
    error: str = ""
    dry_run: bool = False
    resolution: Resolution | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def __str__(self) -> str:
        parts = [self.label + ":"]
        if self.dry_run:
            parts.append("would re-resolve;")
        elif self.resolution is not None:
            parts.append(f"resolved via {self.resolution.provider or '?'};")
        if self.file is not None and self.file is not FileState.REFUSED:
            parts.append(f".strm file {self.file}")
        if self.error:
            parts.append(f"failed: {self.error}")
        return " ".join(parts).rstrip(";")


def refresh_mapping(mapping: StrmUrlMapping, dry_run: bool = False) -> RefreshOutcome:
    """Resolve the episode anew (never the cached URL) and bring its .strm file up to date."""
    if dry_run:
        return _planned(mapping)
    try:
        identity = mapping.identity()
        # Invalidate first: a stored resolution, even a recent one, is what we replace.
        resolved.invalidate(identity)
        resolution = resolved.refresh(identity, stale=None)
    except (ResolveError, ValueError) as exc:
        return _failure(mapping, str(exc))
    return _sync_file(mapping, identity, resolution)


def rewrite_strm_file(mapping: StrmUrlMapping) -> RefreshOutcome:
    """Bring the .strm file up to date with the current resolution (resolving only if
    there is none; proxy mode needs none)."""
    try:
        identity = mapping.identity()
        resolution = None if _proxy_mode() else resolved.current(identity)
    except (ResolveError, ValueError) as exc:
        return _failure(mapping, str(exc))
    return _sync_file(mapping, identity, resolution)


def _planned(mapping: StrmUrlMapping) -> RefreshOutcome:
    try:
        state = _file_plan(mapping, mapping.identity())
    except (ValueError, FileRefused, OSError) as exc:
        return _failure(mapping, _one_line(exc), dry_run=True)
    return _outcome(mapping, state, dry_run=True)


def _sync_file(
    mapping: StrmUrlMapping, identity: EpisodeIdentity, resolution: Resolution | None
) -> RefreshOutcome:
    try:
        state = _write_if_changed(mapping, identity, resolution)
    except (FileRefused, ValueError, OSError) as exc:
        return _failure(mapping, _one_line(exc), resolution=resolution, file=FileState.REFUSED)
    outcome = _outcome(mapping, state, resolution=resolution)
    log.info("strm refresh: %s", outcome)
    return outcome


def _write_if_changed(
    mapping: StrmUrlMapping, identity: EpisodeIdentity, resolution: Resolution | None
) -> FileState:
    path = _strm_file(mapping)
    if path is None:
        return FileState.NOT_RECORDED
    if not path.is_file():
        return FileState.MISSING
    url = _wanted_url(identity, resolution)
    if path.read_text(encoding="utf-8", errors="replace") == url + "\n":
        return FileState.UNCHANGED
    write_strm(path.parent, path.stem, url)
    return FileState.REWRITTEN


def _file_plan(mapping: StrmUrlMapping, identity: EpisodeIdentity) -> FileState:
    """What a refresh would do to the file, touching nothing (direct mode always
    rewrites: a new resolution is a new URL)."""
    path = _strm_file(mapping)
    if path is None:
        return FileState.NOT_RECORDED
    if not path.is_file():
        return FileState.MISSING
    if not _proxy_mode():
        return FileState.WOULD_REWRITE
    current = path.read_text(encoding="utf-8", errors="replace")
    changed = current != stream_url(identity) + "\n"
    return FileState.WOULD_REWRITE if changed else FileState.UNCHANGED


def _wanted_url(identity: EpisodeIdentity, resolution: Resolution | None) -> str:
    if _proxy_mode():
        return stream_url(identity)
    if resolution is None:
        raise ValueError("direct mode needs a resolved URL to write")
    return resolution.url


def _strm_file(mapping: StrmUrlMapping) -> Path | None:
    """The real path of the mapping's .strm file; FileRefused unless it is under
    DOWNLOAD_DIR (after following symlinks) and named *.strm."""
    if not mapping.strm_path:
        return None
    recorded = Path(mapping.strm_path)
    root = settings.CONFIG.download_dir.resolve()
    real = recorded.resolve()
    if not recorded.is_absolute() or not real.is_relative_to(root):
        raise FileRefused(f"{mapping.strm_path} is outside DOWNLOAD_DIR ({root}); not touched")
    if real.suffix != ".strm":
        raise FileRefused(f"{mapping.strm_path} is not a .strm file; not touched")
    return real


def _proxy_mode() -> bool:
    return bool(settings.CONFIG.strm_proxy_mode == "proxy")


def _outcome(
    mapping: StrmUrlMapping,
    state: FileState,
    *,
    resolution: Resolution | None = None,
    dry_run: bool = False,
) -> RefreshOutcome:
    return RefreshOutcome(
        mapping.pk, mapping.episode_label, state, dry_run=dry_run, resolution=resolution
    )


def _failure(
    mapping: StrmUrlMapping,
    error: str,
    *,
    resolution: Resolution | None = None,
    file: FileState | None = None,
    dry_run: bool = False,
) -> RefreshOutcome:
    outcome = RefreshOutcome(
        mapping.pk,
        mapping.episode_label,
        file,
        error=_first_line(error),
        dry_run=dry_run,
        resolution=resolution,
    )
    log.warning("strm refresh of mapping %s: %s", mapping.pk, outcome)
    return outcome


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write {exc.filename or 'the .strm file'}: {exc.strerror}"
    return str(exc)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return (lines[0] if lines else "no detail")[:500]
