"""Takes the place of `patchright` (a browser driver, ~140 MB with Node) when it is not
installed, which is how requirements/base.txt installs the `aniworld` package.

The package imports `patchright.sync_api.Error` when it loads and starts a browser only
to solve a captcha page; AniBridge never lets it (no browser in the image, and
ANIWORLD_NO_AUTO_INSTALL=1 keeps it from downloading one). Here the import works, and
a captcha fails that hoster with a reason that says so, so the next hoster is tried.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import NoReturn


class Error(Exception):
    """The exception type the package catches from the browser."""


class BrowserNotAvailable(Error):
    pass


def sync_playwright() -> NoReturn:
    raise BrowserNotAvailable(
        "the hoster showed a captcha page, and AniBridge runs no browser to solve it; "
        "the next hoster is tried"
    )


def _installed() -> bool:
    try:
        return importlib.util.find_spec("patchright") is not None
    except ImportError:
        return False


def install() -> None:
    """Register the stand-in as `patchright` unless the real package is installed."""
    if "patchright" in sys.modules or _installed():
        return
    package = ModuleType("patchright")
    package.__path__ = []  # a package, so `patchright.sync_api` imports resolve
    api = ModuleType("patchright.sync_api")
    api.Error = Error  # type: ignore[attr-defined]
    api.sync_playwright = sync_playwright  # type: ignore[attr-defined]
    package.sync_api = api  # type: ignore[attr-defined]
    sys.modules["patchright"] = package
    sys.modules["patchright.sync_api"] = api
