"""Where Sonarr's save paths land inside DOWNLOAD_DIR, and where it is told files live."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from django.conf import settings

from downloads.storage import download_root

# The save_path columns (Category, ClientTask, Job) hold this many characters.
MAX_SAVE_PATH = 1024


class PathRefused(ValueError):
    """A save path outside the download directory (or one no column can hold)."""


def _public_root() -> PurePosixPath | None:
    raw = settings.CONFIG.qbit_public_save_path
    return PurePosixPath(raw.rstrip("/") or "/") if raw else None


def public(path: str | Path) -> str:
    """The path as the *arr client sees it (QBIT_PUBLIC_SAVE_PATH replaces DOWNLOAD_DIR)."""
    root, pub = download_root(), _public_root()
    p = Path(path)
    if pub is None or not p.is_relative_to(root):
        return str(p)
    return str(pub.joinpath(p.relative_to(root)))


def internal_save_path(requested: str) -> Path:
    """A client's save path mapped into DOWNLOAD_DIR; anything that escapes it is refused."""
    root, pub = download_root(), _public_root()
    requested = requested.strip()
    if not requested:
        return root
    if "\x00" in requested:
        raise PathRefused("save path contains a NUL byte")
    candidate = PurePosixPath(requested)
    if pub is not None and candidate.is_absolute() and candidate.is_relative_to(pub):
        candidate = PurePosixPath(root).joinpath(candidate.relative_to(pub))
    path = (
        (root / candidate).resolve() if not candidate.is_absolute() else Path(candidate).resolve()
    )
    if not path.is_relative_to(root):
        # The public path is what the client knows; the internal one is not its business.
        where = f" ({pub})" if pub is not None else ""
        raise PathRefused(
            f"save path {requested[:200]!r} is outside the download directory{where}; "
            "use a path under the save_path that app/preferences reports"
        )
    if len(str(path)) > MAX_SAVE_PATH:
        raise PathRefused(f"save path is longer than {MAX_SAVE_PATH} characters")
    return path
