"""The ways a site, hoster or SkyHook fails, by name, armed on a fake server's path:

- "404", "500": that status (a text body);
- "timeout": no answer for `stall_seconds` (longer than the client's timeout);
- "reset": the connection is reset (TCP RST) instead of an answer;
- "html": a 200 HTML page of the wrong kind (a maintenance page; where JSON was
  expected, HTML instead);
- "empty": a 200 with an empty body;
- "truncated": the headers promise the whole body, half of it comes, then the
  connection closes.

None of them carries what the aniworld package takes for a captcha (it would try to
start a browser).
"""

from __future__ import annotations

from tests.fakeweb.server import FakeServer, Response, html_response

FAULTS = ("404", "500", "timeout", "reset", "html", "empty", "truncated")

MAINTENANCE_PAGE = (
    '<!doctype html>\n<html lang="de"><head><meta charset="utf-8"><title>Wartungsarbeiten'
    "</title></head>\n<body><h1>Wir sind gleich zurück</h1><p>Die Seite wird gerade "
    "gewartet. Bitte versuche es in ein paar Minuten erneut.</p></body></html>\n"
)


def arm(
    server: FakeServer,
    pattern: str,
    fault: str,
    *,
    json: bool = False,
    stall_seconds: float = 5.0,
    count: int = 1000,
) -> None:
    """Make the next `count` requests for `pattern` fail with `fault` (see the module doc).
    `json`: the path normally answers JSON (for the content type of "empty")."""
    if fault in ("404", "500"):
        server.fail_next(pattern, status=int(fault), count=count)
    elif fault == "timeout":
        server.stall_next(pattern, seconds=stall_seconds, count=count)
    elif fault == "reset":
        server.reset_next(pattern, count=count)
    elif fault == "html":
        server.respond_next(pattern, html_response(MAINTENANCE_PAGE), count=count)
    elif fault == "empty":
        kind = "application/json" if json else "text/html; charset=utf-8"
        server.respond_next(pattern, Response(200, b"", kind), count=count)
    elif fault == "truncated":
        server.truncate_next(pattern, count=count)
    else:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
