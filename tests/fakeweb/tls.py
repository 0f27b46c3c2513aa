"""An HTTPS origin on 127.0.0.1 for tests, with a certificate from tests/tls_helpers.py
(a client that trusts its CA through SSL_CERT_FILE verifies the server)."""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.fakeweb.server import FakeServer, Request, Response, Traffic


class TlsOrigin(FakeServer):
    """An HTTPS origin on 127.0.0.1 answering every GET with `body`."""

    def __init__(self, cert: Path, key: Path, body: bytes, traffic: Traffic | None = None) -> None:
        super().__init__("tls-origin", traffic or Traffic())
        self.body = body
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def handle(self, request: Request) -> Response:
        return Response(200, self.body, "video/mp2t")
