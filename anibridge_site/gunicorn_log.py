"""gunicorn's logger, with the size of spliced STRM bodies in the access log.

A media body the proxy splices (catalog.egress.splice) goes from socket to socket in the kernel,
so gunicorn counts only what it wrote itself: the first bytes. The front end leaves the
body in the WSGI environ; its `spliced` count is added to the logged size. The path of a
STRM proxy URL is logged with its token as a digest: the token holds the CDN's URL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from catalog.egress.splice import ENVIRON_BODY
from strm.stream_urls import loggable_path


class AccessLogger(Logger):
    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["U"] = loggable_path(atoms.get("U", ""))
        spliced = getattr(environ.get(ENVIRON_BODY), "spliced", 0)
        if spliced:
            total = (getattr(resp, "sent", None) or 0) + spliced
            atoms["b"], atoms["B"] = str(total), total
        return atoms
