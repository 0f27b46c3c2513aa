"""The WSGI application gunicorn serves: Django, and the STRM proxy's URLs without middleware."""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anibridge_site.settings")

_site = get_wsgi_application()

from strm.stream_urls import PROXY_PATH, STREAM_PATH  # noqa: E402 - needs the apps loaded


class _WithoutMiddleware(WSGIHandler):
    """Django as usual (signals, URL resolving, 500 handling) but with no middleware.

    For the STRM proxy's entry and proxy URLs only: ffmpeg asks one every few seconds
    per playback (segments, Range seeks), and the settings' middleware (sessions, CSRF,
    auth, messages, static files, browser security headers) does nothing for these
    signed media URLs yet cost ~0.1 ms CPU each, ~10% of serving a 2 MiB segment
    (bench/bench_strm_proxy.py).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        # What Django's own load_middleware leaves for an empty MIDDLEWARE setting.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]


_proxy = _WithoutMiddleware()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    proxied = path == STREAM_PATH or path.startswith(PROXY_PATH + "/")
    return (_proxy if proxied else _site)(environ, start_response)
