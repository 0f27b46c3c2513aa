"""gunicorn's logger, with the size of spliced STRM bodies in the access log.

A media body the proxy splices (catalog.egress.splice) goes from socket to socket in the kernel,
so gunicorn counts only what it wrote itself: the first bytes. The front end leaves the
body in the WSGI environ; its `spliced` count is added to the logged size.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from catalog.egress.splice import ENVIRON_BODY


class AccessLogger(Logger):
    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        spliced = getattr(environ.get(ENVIRON_BODY), "spliced", 0)
        if spliced:
            total = (getattr(resp, "sent", None) or 0) + spliced
            atoms["b"], atoms["B"] = str(total), total
        return atoms
