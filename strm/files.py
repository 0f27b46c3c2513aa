"""Writing .strm files: one http(s) URL and a newline, replaced atomically."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c in url for c in "\r\n\t ")
    ):
        raise ValueError(f"not a single http(s) URL for a .strm file: {url[:120]!r}")
    return url


def write_strm(directory: Path, name: str, url: str) -> Path:
    """Write `<directory>/<name>.strm` so a reader sees the old file or the new one, whole.

    Created like any file of ours (the downloads too): mode 0666 less the umask, so a
    media server running as another user can read it (0644 under the usual 022).
    tempfile.mkstemp would make it 0600.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.strm"
    data = (check_url(url) + "\n").encode()
    temp, fd = _create_temp(directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def _create_temp(directory: Path) -> tuple[Path, int]:
    """A new, empty file beside the target (O_EXCL: never someone else's)."""
    while True:
        temp = directory / f".strm-{secrets.token_hex(8)}.tmp"
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
