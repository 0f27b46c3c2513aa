"""Local disk trouble while downloading: told apart from hoster failures.

A full DOWNLOAD_DIR (or a quota, a read-only remount, an I/O error) is not the hoster's
fault: trying the next hoster would only fill the disk again. Writes under DOWNLOAD_DIR
go through `writing()`, which turns such an OSError into LocalStorageError; the job
fails at once with the free space in the message and is retried later (downloads.tasks).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

MB = 1024 * 1024
_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_LOCAL = _SPACE | {errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EMFILE}
# What ffmpeg prints for the errnos above (it reports them only as text).
_FFMPEG_SPACE = ("No space left on device", "Disk quota exceeded")


class LocalStorageError(Exception):
    """Writing under DOWNLOAD_DIR failed; str() is the one-line message for the user."""


def download_dir() -> Path:
    return Path(settings.CONFIG.download_dir)


def download_root() -> Path:
    """DOWNLOAD_DIR with links resolved: what paths are checked against."""
    return download_dir().resolve()


def inside_download_dir(path: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(download_root())


def free_bytes(path: Path | None = None) -> int:
    return shutil.disk_usage(path or download_dir()).free


def no_space() -> LocalStorageError:
    where = download_dir()
    try:
        free = f"{free_bytes(where) // MB} MB free"
    except OSError as exc:
        free = f"free space unknown ({exc.strerror})"
    return LocalStorageError(f"No space left on DOWNLOAD_DIR ({where}): {free}")


def storage_error(exc: OSError) -> LocalStorageError | None:
    """The LocalStorageError an OSError from a local file operation means, if any."""
    if exc.errno in _SPACE:
        return no_space()
    if exc.errno in _LOCAL:
        reason = exc.strerror or str(exc)
        return LocalStorageError(f"Cannot write to DOWNLOAD_DIR ({download_dir()}): {reason}")
    return None


@contextmanager
def writing() -> Iterator[None]:
    """Around local file operations only (never around network reads)."""
    try:
        yield
    except OSError as exc:
        error = storage_error(exc)
        if error is None:
            raise
        raise error from exc


def ffmpeg_storage_error(stderr: str) -> LocalStorageError | None:
    if any(text in stderr for text in _FFMPEG_SPACE):
        return no_space()
    return None
