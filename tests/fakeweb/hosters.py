"""Fake hosters, each serving its embed page in the form aniworld 5.3.0's extractor
(`aniworld.extractors.provider.<name>`) parses, and each handing out a fresh CDN
URL per page load (token policy: see cdn.py).

- VOE      `/e/<code>`: `<script type="application/json">"…"</script>` holding
           {"source": URL} in VOE's obfuscation (`encode_voe` inverts the package's
           `decode_voe_string`).
- Vidmoly  `/embed-<code>.html`: jwplayer setup with `file:"….m3u8"`.
- Vidoza   `/embed-<code>.html`: `sourcesCode: [{ src: "….mp4" }]`.
- Filemoon `/e/<code>` + `/api/videos/<code>`: Byse API, AES-256-GCM encrypted
           {"sources": [...]}; the embed page also carries a plain `sources` line.
- Doodstream `/e/<code>` -> `$.get('…/pass_md5/…')` + `token=…`; `/pass_md5/…`
           answers the CDN base the extractor appends 10 random characters to.

No page contains anything the package treats as a captcha or challenge.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.fakeweb.links import HosterLink, LinkTable
from tests.fakeweb.server import (
    FakeServer,
    Request,
    Response,
    Traffic,
    html_response,
    json_response,
    not_found,
    text_response,
)

if TYPE_CHECKING:
    from tests.fakeweb.cdn import FakeCdn

# The Referer aniworld's PROVIDER_HEADERS_D sends for each hoster's media; a CDN
# token bound to a Referer is bound to this value.
HOSTER_REFERERS: dict[str, str | None] = {
    "VOE": "https://voe.sx/",
    "Vidmoly": "https://vidmoly.biz",
    "Filemoon": "https://filemoon.to",
    "Doodstream": "https://dood.li/",
    "Vidoza": None,
}

_VOE_JUNK = ("@$", "^^", "~@", "%?", "*~", "!!", "#&")


def _rot13(text: str) -> str:
    out = []
    for c in text:
        if "A" <= c <= "Z":
            c = chr((ord(c) - 65 + 13) % 26 + 65)
        elif "a" <= c <= "z":
            c = chr((ord(c) - 97 + 13) % 26 + 97)
        out.append(c)
    return "".join(out)


def encode_voe(value: object) -> str:
    """Inverse of aniworld's `decode_voe_string`: base64, reverse, shift +3, base64,
    sprinkle junk markers, ROT13."""
    inner = base64.b64encode(json.dumps(value).encode()).decode()[::-1]
    shifted = "".join(chr(ord(c) + 3) for c in inner)
    outer = base64.b64encode(shifted.encode()).decode()
    sprinkled = "".join(
        ch + (_VOE_JUNK[i % len(_VOE_JUNK)] if i % 7 == 6 else "") for i, ch in enumerate(outer)
    )
    return _rot13(sprinkled)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encrypt_byse_playback(value: object) -> dict[str, object]:
    """The `playback` object of Filemoon's Byse API for a JSON `value`."""
    parts = [os.urandom(16), os.urandom(16)]
    iv = os.urandom(12)
    payload = AESGCM(b"".join(parts)).encrypt(iv, json.dumps(value).encode(), None)
    return {
        "algorithm": "AES-256-GCM",
        "key_parts": [_b64url(p) for p in parts],
        "iv": _b64url(iv),
        "payload": _b64url(payload),
    }


class FakeHoster(FakeServer):
    hoster = ""

    def __init__(
        self, name: str, traffic: Traffic, links: LinkTable, cdn: FakeCdn, *, verbose: bool = False
    ) -> None:
        super().__init__(name, traffic, verbose=verbose)
        self.links = links
        self.cdn = cdn

    def link(self, code: str) -> HosterLink | None:
        link = self.links.by_code.get(code)
        return link if link is not None and link.hoster == self.hoster else None

    def stream_url(self, link: HosterLink, request: Request) -> str:
        return self.cdn.issue(link.media, request.headers, HOSTER_REFERERS[self.hoster])


def _code(path: str, prefix: str, suffix: str = "") -> str:
    if not path.startswith(prefix) or not path.endswith(suffix):
        return ""
    return path[len(prefix) : len(path) - len(suffix)]


class Voe(FakeHoster):
    hoster = "VOE"

    def handle(self, request: Request) -> Response:
        link = self.link(_code(request.path, "/e/"))
        if link is None:
            return not_found("File not found")
        payload = encode_voe({"source": self.stream_url(link, request), "title": link.slug})
        return html_response(
            "<!DOCTYPE html><html><head><title>VOE | Content</title></head><body>\n"
            '<div id="voe-player"></div>\n'
            f'<script type="application/json">"{payload}"</script>\n'
            "<script>var player = null;</script>\n</body></html>\n"
        )


class Vidmoly(FakeHoster):
    hoster = "Vidmoly"

    def handle(self, request: Request) -> Response:
        link = self.link(_code(request.path, "/embed-", ".html"))
        if link is None:
            return not_found("File was deleted")
        url = self.stream_url(link, request)
        return html_response(
            "<html><head><title>Vidmoly</title></head><body>\n"
            '<div id="vplayer"></div>\n'
            '<script type="text/javascript">\n'
            'jwplayer("vplayer").setup({\n'
            f'  sources: [{{file:"{url}"}}],\n'
            f'  image: "{request.base_url}/thumbs/{link.code}.jpg",\n'
            '  width: "100%"\n});\n'
            "</script>\n</body></html>\n"
        )


class Vidoza(FakeHoster):
    hoster = "Vidoza"

    def handle(self, request: Request) -> Response:
        link = self.link(_code(request.path, "/embed-", ".html"))
        if link is None:
            return not_found("File was deleted")
        url = self.stream_url(link, request)
        return html_response(
            "<html><head><title>Vidoza</title></head><body>\n"
            '<video id="player" class="video-js"></video>\n'
            "<script>\n"
            "var pData = {\n"
            f'  sourcesCode: [{{ src: "{url}", type: "video/mp4", label:"SD", res:"360"}}],\n'
            f'  poster: "{request.base_url}/thumbs/{link.code}.jpg"\n'
            "};\n</script>\n</body></html>\n"
        )


class Filemoon(FakeHoster):
    hoster = "Filemoon"

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/api/videos/"):
            link = self.link(_code(request.path, "/api/videos/"))
            if link is None:
                return json_response({"error": "not found"}, 404)
            sources = {"sources": [{"url": self.stream_url(link, request), "height": 360}]}
            return json_response(
                {"code": link.code, "title": link.slug, "playback": encrypt_byse_playback(sources)}
            )
        link = self.link(_code(request.path, "/e/"))
        if link is None:
            return not_found("File not found")
        url = self.stream_url(link, request)
        return html_response(
            "<html><head><title>Filemoon</title></head><body>\n"
            '<div id="player"></div>\n'
            f'<script>var player = {{ sources: [{{file:"{url}"}}] }};</script>\n'
            "</body></html>\n"
        )


class Doodstream(FakeHoster):
    hoster = "Doodstream"

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/pass_md5/"):
            link = self.link(request.path.rsplit("/", 1)[-1])
            if link is None:
                return not_found()
            return text_response(self.stream_url(link, request))
        link = self.link(_code(request.path, "/e/"))
        if link is None:
            return not_found("Video not found")
        pass_md5 = f"{request.base_url}/pass_md5/{secrets.token_hex(8)}/{link.code}"
        return html_response(
            "<html><head><title>DoodStream</title></head><body>\n"
            '<div id="video_player"></div>\n<script>\n'
            f"$.get('{pass_md5}', function(data) {{ dsplayer.src(data + makePlay()); }});\n"
            "function makePlay() {\n"
            '  return randomString(10) + "?token=c4f9a2e7b1d3&expiry=" + Date.now();\n'
            "}\n</script>\n</body></html>\n"
        )
