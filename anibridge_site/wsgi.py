"""The WSGI application gunicorn serves: the STRM proxy's URLs first (strm.views.serve,
without Django's request cycle), then Django for everything else."""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anibridge_site.settings")

_site = get_wsgi_application()

from strm.views import serve as _serve_proxy  # noqa: E402 - needs the apps loaded


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    served = _serve_proxy(environ, start_response)
    return served if served is not None else _site(environ, start_response)
