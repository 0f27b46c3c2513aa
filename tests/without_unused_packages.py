"""A pytest plugin (`-p tests.without_unused_packages`) that makes the packages the image
leaves out unimportable, as if they were not installed: the `aniworld` package's browser
(patchright), its web UI (Flask and friends) and its terminal menu (npyscreen).

tests/test_image_packages.py runs the site and download tests with it loaded. Loading
it is what blocks them: import the names from tests.left_out instead.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

from tests.left_out import LEFT_OUT


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname.split(".", 1)[0] in LEFT_OUT:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


if any(name.split(".", 1)[0] in LEFT_OUT for name in sys.modules):
    raise RuntimeError("a left-out package was imported before the plugin was loaded")
sys.meta_path.insert(0, _NotInstalled())
