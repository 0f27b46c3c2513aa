"""What the STRM proxy streams back for a media resource: the upstream body as the WSGI
response iterable (cut to a byte range when upstream ignored the client's Range), and
the Range header parsing that decides that range."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Generator, Iterator

from catalog.egress import upstream

log = logging.getLogger(__name__)


class MediaBody:
    """An upstream body as the WSGI iterable; closing it early closes the upstream socket.

    With a `sink` (the client's socket), the first item is what was read already: the
    web server sends it after the response head; then the rest goes from socket to
    socket in the kernel (catalog.egress.splice) and the iteration ends. gunicorn sends nothing
    after the last item when the response has a Content-Length, which it has here.
    """

    def __init__(
        self,
        answer: upstream.Upstream,
        *,
        skip: int = 0,
        length: int | None = None,
        label: str,
        sink: socket.socket | None = None,
    ) -> None:
        self._answer = answer
        self._label = label  # for the log
        self._splicing = sink is not None
        self._chunks: Generator[bytes] = (
            self._spliced(sink) if sink is not None else answer.chunks()
        )
        self._skip = skip
        self._left = length
        self.sent = 0
        self.spliced = 0  # of `sent`: the bytes the web server did not write itself

    def __iter__(self) -> Iterator[bytes]:
        return self

    def _spliced(self, sink: socket.socket) -> Generator[bytes]:
        yield self._answer.take_buffered()  # even if empty: the head must go out first
        spliced = self._answer.splice_rest(sink)
        self.sent += spliced
        self.spliced = spliced
        log.debug("strm: %s: %d bytes spliced", self._label, spliced)

    def __next__(self) -> bytes:
        while True:
            if self._left == 0:
                self.close()
                raise StopIteration
            try:
                chunk = next(self._chunks)
            except upstream.BodyInterrupted as exc:
                # Raising makes the web server drop the client connection: a short body
                # on a kept-alive connection would leave the client waiting.
                log.warning(
                    "strm: %s: upstream cut off after %d bytes: %s", self._label, self.sent, exc
                )
                raise
            if self._skip:
                dropped = min(self._skip, len(chunk))
                self._skip -= dropped
                chunk = chunk[dropped:]
            if self._left is not None:
                chunk = chunk[: self._left]
                self._left -= len(chunk)
            if chunk or self._splicing:
                self.sent += len(chunk)
                return chunk

    def close(self) -> None:
        """Called by the web server when the response ends or the client went away."""
        self._chunks.close()
        self._answer.abort()  # no-op after a complete read (the connection went back)


UNSATISFIABLE = (-1, -1)
# RFC 9110 14.1.2: the unit is case-insensitive, positions are ASCII digits, and there
# is no whitespace inside a range; a header that is not exactly this is ignored.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
# Beyond any size; int() refuses strings of more than 4300 digits.
_BEYOND = 10**18


def _position(digits: str) -> int:
    return int(digits) if len(digits) < 19 else _BEYOND


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single byte range over `size` bytes, UNSATISFIABLE, or None
    when the header is not one range we understand (then the whole body is right)."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = _position(last_text)
        return UNSATISFIABLE if suffix == 0 or size == 0 else (max(0, size - suffix), size - 1)
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None  # invalid: RFC 9110 says ignore the header
    if first >= size:
        return UNSATISFIABLE
    return first, size - 1 if not last_text else min(_position(last_text), size - 1)
