"""Writing .strm files: one http(s) URL and a newline, replaced atomically."""

from __future__ import annotations

import os
import tempfile
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
    """Write `<directory>/<name>.strm` so a reader sees the old file or the new one, whole."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.strm"
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".strm-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(check_url(url) + "\n")
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
