"""HTTP/1.1's message format as catalog.egress.connections speaks it (RFC 9112): a
request head built in one piece from values that cannot break its lines, a response
head split with str methods and refused, never repaired, when its framing or field
lines are not what the RFC allows. Limits and exception classes are http.client's."""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping

# http.client's limits: bytes per line, header lines per head.
MAX_LINE = 65536
MAX_HEADERS = 100

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 5.1)
# Control characters no response head may hold once its CRLFs are LFs: all but HTAB
# and LF, a bare CR included (RFC 9110 5.5, RFC 9112 2.2). Every other byte is a
# field-vchar or obs-text, as gunicorn accepts them from us (the head is latin-1).
_CONTROLS = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])
# The lines after the status line: `token ":" value`, or obs-fold continuations.
_FIELD_LINES = re.compile(r"[^\n]*(?:\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:|[ \t])[^\n]*)*")
_LINE_BREAKING = re.compile(r"[\r\n\x00]")
# What http.client refuses in a request target: controls and spaces.
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")


class ProtocolError(http.client.HTTPException):
    """The response breaks HTTP/1.1's rules for framing a message (RFC 9112)."""


def request_head(method: str, target: str, host: str, headers: Mapping[str, str]) -> bytes:
    """The request as sent, header names as given. Stored resolver headers and URLs are
    never trusted: a line break in them would start a header or request of their own."""
    if _NOT_IN_TARGET.search(target):
        raise http.client.InvalidURL(f"URL can't contain control characters. {target!r}")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"Invalid header name {name!r}")
        if _LINE_BREAKING.search(value):
            raise ValueError(f"Invalid header value {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def host_header(host: str, port: int, default_port: int) -> str:
    """As http.client sends it: IDNA-encoded, IPv6 in brackets, no default port."""
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if port == default_port else f"{host}:{port}"


def parse_head(head: str) -> tuple[str, int, str, dict[str, str]]:
    """(version, status, reason, headers by lower-case name) of a response head;
    ProtocolError (or another http.client exception) for anything RFC 9112 does not allow.
    Messages name a header, never its value: values may hold the CDN's tokens."""
    text = head.replace("\r\n", "\n")
    raw = text.encode("latin-1")
    # Whole-head checks first: one pass each in C, where a check per line cost twice as much.
    if len(raw.translate(None, _CONTROLS)) != len(raw):
        raise ProtocolError("control character or bare CR in the response head")
    lines = text.split("\n")
    status_line = lines[0]
    if len(status_line) > MAX_LINE:
        raise http.client.LineTooLong("status line")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise http.client.BadStatusLine(status_line[:80])
    if not parts[0].startswith("HTTP/1."):
        raise http.client.UnknownProtocol(parts[0][:20])
    code = parts[1]
    status = int(code) if len(code) == 3 and code.isascii() and code.isdigit() else 0
    if status < 100:
        raise http.client.BadStatusLine(status_line[:80])
    if len(lines) > MAX_HEADERS + 1:
        raise ProtocolError(f"got more than {MAX_HEADERS} headers")
    if not _FIELD_LINES.fullmatch(text):
        raise ProtocolError(_malformed(lines[1:]))
    headers: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line.startswith((" ", "\t")):  # obsolete line folding: more of the last value
            if not name:
                raise ProtocolError("folded line before the first header")
            headers[name] += " " + line.strip(" \t")
            continue
        field, _, value = line.partition(":")
        name = field.lower()
        value = value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return parts[0], status, parts[2].strip() if len(parts) > 2 else "", headers


def _malformed(lines: list[str]) -> str:
    """Which field line is not `token ":" value` (whitespace before the colon included,
    RFC 9112 5.1). Only its name-like start is quoted: the rest could be a value."""
    for line in lines:
        field, colon, _ = line.partition(":")
        if not line.startswith((" ", "\t")) and not (colon and _TOKEN.fullmatch(field)):
            start = _TOKEN.match(field)
            return f"malformed header line {start[0][:40] if start else ''!r}..."
    return "malformed header lines"


def tokens(value: str) -> set[str]:
    return {token.strip() for token in value.split(",")}


def transfer_coding(version: str, headers: Mapping[str, str]) -> str | None:
    """The final transfer coding ("chunked" or another), None without Transfer-Encoding.

    Refuses what RFC 9112 6.1 and 6.3 call faulty framing: Transfer-Encoding next to
    Content-Length (request smuggling, response splitting), in an HTTP/1.0 response,
    empty, or with chunked applied twice.
    """
    value = headers.get("transfer-encoding")
    if value is None:
        return None
    if "content-length" in headers:
        raise ProtocolError("both Transfer-Encoding and Content-Length")
    if version == "HTTP/1.0":
        raise ProtocolError("Transfer-Encoding in an HTTP/1.0 response")
    codings = [coding.strip().lower() for coding in value.split(",")]
    if not all(codings) or codings.count("chunked") > 1:
        raise ProtocolError(f"bad Transfer-Encoding {value[:80]!r}")
    return codings[-1]


def content_length(value: str | None) -> int | None:
    """The declared body size, if any. A list of one number repeated is that number
    (RFC 9110 8.6: repeated fields arrive so); anything else is a ProtocolError."""
    if value is None:
        return None
    sizes = tokens(value)
    size = sizes.pop()
    if sizes or not size.isascii() or not size.isdigit() or len(size) > 18:
        raise ProtocolError(f"bad Content-Length {value[:80]!r}")
    return int(size)
