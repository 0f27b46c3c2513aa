"""A small real filesystem (tmpfs) for a process the tests start, to fill up for real.

The process runs in its own mount namespace (`unshare`; with a user namespace when we
are not root, so no privileges are needed) where a tmpfs of `size` is mounted over a
directory; everything else looks as usual to it. The test reaches the tmpfs through
/proc/<pid>/root/<directory>, and the namespace, tmpfs included, goes with the process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MOUNT_THEN_RUN = 'mount -t tmpfs -o "size=$1" tmpfs "$2" && shift 2 && exec "$@"'


def tmpfs_wrapper(directory: Path, size: str) -> tuple[str, ...]:
    """The command prefix that runs a command with a `size` tmpfs over `directory`."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("unshare (util-linux) is needed: apt-get install util-linux")
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    return (unshare, "--mount", *user, "sh", "-c", MOUNT_THEN_RUN, "sh", size, str(directory))


def seen_from_outside(pid: int, directory: Path) -> Path:
    """`directory` as the process with `pid` sees it: its tmpfs, from this process."""
    return Path(f"/proc/{pid}/root") / directory.relative_to("/")
