"""Writing .strm files (strm.files): readable by a media server running as another
user, i.e. created like the downloads, honouring the umask; replaced atomically."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from strm.files import write_strm
from tests.processes import REPO

URL = "http://anibridge:8000/strm/stream?site=aniworld.to&s=1&e=1"


def write_under_umask(umask: int, directory: Path) -> int:
    """The mode of a .strm file written by a process with `umask` (a process of its own:
    the umask is per process and this one runs other threads)."""
    code = (
        "import os, sys; from pathlib import Path; from strm.files import write_strm;"
        f"os.umask({umask}); p = write_strm(Path(sys.argv[1]), 'ep', {URL!r});"
        "print(oct(os.stat(p).st_mode & 0o777))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(result.stdout.strip(), 8)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o027, 0o640)])
def test_strm_files_are_created_like_downloads_under_the_umask(
    tmp_path: Path, umask: int, mode: int
) -> None:
    assert write_under_umask(umask, tmp_path / oct(umask)) == mode


def test_rewriting_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    first = write_strm(tmp_path, "Show.S01E01", URL)
    inode = first.stat().st_ino
    second = write_strm(tmp_path, "Show.S01E01", URL + "&lang=German+Dub")
    assert second == first and second.read_text() == URL + "&lang=German+Dub\n"
    assert second.stat().st_ino != inode  # a new file renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Show.S01E01.strm"]
    assert stat.S_ISREG(second.stat().st_mode)


def test_a_bad_url_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="single http"):
        write_strm(tmp_path, "Show.S01E01", "file:///etc/passwd")
    assert list(tmp_path.iterdir()) == []
