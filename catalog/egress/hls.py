"""HLS playlists for the STRM proxy: sniff, decode, rewrite every URI, re-find resources.

Pure text in, text out: no I/O and no Django. The proxy fetches an upstream playlist,
lets this module replace each URI with a proxy URL built by its own ``wrap`` callback,
and serves the result. Tokenisation follows libavformat's HLS demuxer (the engine in
Jellyfin/Emby), so the URI we rewrite is exactly the URI ffmpeg would have fetched.

One file of ~800 lines on purpose: rewriting, master synthesis and re-finding all work
on the parser's private line model (spans of URIs inside tag lines, the per-line state
ffmpeg keeps); split, that model would become an API of its own. The walkers over
playlist trees live with their users (downloads.hls_tree, strm.proxy).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args
from urllib.parse import quote, urldefrag, urljoin, urlsplit

# Bounds on work per playlist: the body comes from an untrusted upstream.
MAX_PLAYLIST_BYTES = 16 * 1024 * 1024
MAX_LINES = 500_000
MAX_LINE_CHARS = 64 * 1024
MAX_URIS = 100_000
# How much of a body the caller should hand to looks_like_playlist().
SNIFF_BYTES = 1024

UriKind = Literal[
    "variant",
    "media",
    "iframe",
    "image",
    "segment",
    "key",
    "session-key",
    "map",
    "part",
    "preload-hint",
    "rendition-report",
    "steering",
    "session-data",
    "daterange-asset",
]
KINDS: frozenset[str] = frozenset(get_args(UriKind))

HEADER = "#EXTM3U"
_UTF8_BOM = b"\xef\xbb\xbf"
# av_isspace() minus the line breaks, which are gone by the time lines are parsed.
_WS = " \t\x0b\x0c"
_WS_BYTES = b" \t\x0b\x0c\r\n"
_PLAYLIST_CONTENT_TYPES = frozenset(
    {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl"}
)
_PLAYLIST_KINDS = frozenset({"variant", "media", "iframe", "image", "rendition-report"})
_OPAQUE_SCHEMES = ("data:", "skd:")
# Tag -> (kind, attributes that carry a URI). Every other tag is copied verbatim.
_URI_TAGS: dict[str, tuple[UriKind, tuple[str, ...]]] = {
    "EXT-X-KEY": ("key", ("URI",)),
    "EXT-X-SESSION-KEY": ("session-key", ("URI",)),
    "EXT-X-MAP": ("map", ("URI",)),
    "EXT-X-MEDIA": ("media", ("URI",)),
    "EXT-X-I-FRAME-STREAM-INF": ("iframe", ("URI",)),
    "EXT-X-IMAGE-STREAM-INF": ("image", ("URI",)),
    "EXT-X-SESSION-DATA": ("session-data", ("URI",)),
    "EXT-X-PART": ("part", ("URI",)),
    "EXT-X-PRELOAD-HINT": ("preload-hint", ("URI",)),
    "EXT-X-RENDITION-REPORT": ("rendition-report", ("URI",)),
    "EXT-X-CONTENT-STEERING": ("steering", ("SERVER-URI",)),
    "EXT-X-DATERANGE": ("daterange-asset", ("X-ASSET-URI", "X-ASSET-LIST")),
}
_MASTER_TAGS = frozenset(
    {"EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-IMAGE-STREAM-INF", "EXT-X-MEDIA"}
)
# What makes "the same resource" across a re-resolve, per kind (see find_equivalent).
_IDENTITY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "variant": ("RESOLUTION", "BANDWIDTH", "CODECS"),
    "iframe": ("RESOLUTION", "BANDWIDTH", "CODECS"),
    "image": ("RESOLUTION", "BANDWIDTH", "CODECS"),
    "media": ("TYPE", "GROUP-ID", "NAME", "LANGUAGE"),
    "key": ("KEYFORMAT",),
    "session-key": ("KEYFORMAT",),
    "session-data": ("DATA-ID", "LANGUAGE"),
    "daterange-asset": ("ID",),
    "preload-hint": ("TYPE",),
}
_SEQUENCED_KINDS = frozenset({"segment", "part", "preload-hint"})

# ffmpeg >= 7.1 (extension_picky) refuses a segment whose extension is not listed both
# in allowed_extensions and by the demuxer it detected. The mov demuxer lists mp4/m4a but
# not m4s, so fMP4 goes out as .mp4; mpegts accepts .ts.
_PLAIN_SEGMENT_EXTENSIONS = frozenset(
    {".ts", ".aac", ".ac3", ".eac3", ".mp3", ".mp4", ".m4a", ".vtt", ".webvtt"}
)
_FMP4_EXTENSIONS = frozenset({".mp4", ".m4a", ".ts"})
_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})

# ASCII digits only (int() would take any Unicode digit), and few enough that int() is cheap.
_DECIMAL = re.compile(r"[0-9]{1,19}")
_BYTERANGE = re.compile(r"([0-9]{1,19})(?:@([0-9]{1,19}))?")
_LEADING_FLOAT = re.compile(r"[0-9]{1,12}(?:\.[0-9]*)?|\.[0-9]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Reserved and unreserved URL characters stay as they are; anything else is encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


class PlaylistError(ValueError):
    """The body is not an HLS playlist, or one too malformed or too large to rewrite."""


@dataclass(frozen=True)
class ByteRange:
    """A sub-range of a resource; ``length`` None means "to the end"."""

    offset: int
    length: int | None

    def http_range(self) -> str:
        if self.length is None:
            return f"bytes={self.offset}-"
        return f"bytes={self.offset}-{self.offset + self.length - 1}"


@dataclass(frozen=True)
class Locator:
    """The part of a UriRef that identifies its resource across a re-resolve.

    Small enough to ride in a signed token: ``to_dict()`` is JSON-ready.
    """

    kind: UriKind
    position: int
    media_sequence: int | None = None
    part_index: int | None = None
    identity: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"k": self.kind, "p": self.position}
        if self.media_sequence is not None:
            data["s"] = self.media_sequence
        if self.part_index is not None:
            data["i"] = self.part_index
        if self.identity:
            data["a"] = [[name, value] for name, value in self.identity]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Locator:
        """Inverse of to_dict(); ValueError on anything it would not have produced."""
        kind = data.get("k")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"locator: unknown kind {kind!r}")
        identity = data.get("a", [])
        if not isinstance(identity, list) or not all(_is_str_pair(p) for p in identity):
            raise ValueError("locator: identity must be a list of [name, value] strings")
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
            position=_locator_int(data.get("p"), "p"),
            media_sequence=_optional_locator_int(data.get("s"), "s"),
            part_index=_optional_locator_int(data.get("i"), "i"),
            identity=tuple((name, value) for name, value in identity),
        )


@dataclass(frozen=True)
class UriRef:
    """One URI of a playlist, as the wrap callback and find_equivalent see it."""

    url: str  # absolute, resolved against the post-redirect playlist URL, no fragment
    kind: UriKind
    is_playlist: bool
    position: int  # index among the URIs of this kind in this playlist
    extension: str  # for the proxy path: ".m3u8", ".ts", ".mp4", ".key", ".json", ...
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    attribute: str | None = None  # the attribute that carried the URI; None for URI lines
    media_sequence: int | None = None  # segment: its number; key/map/part: segment it starts
    part_index: int | None = None  # parts and part hints: index within their segment
    byterange: ByteRange | None = None
    duration: float | None = None  # seconds, from EXTINF (segments) or DURATION (parts)

    @property
    def locator(self) -> Locator:
        return Locator(
            kind=self.kind,
            position=self.position,
            media_sequence=self.media_sequence,
            part_index=self.part_index,
            identity=_identity(self.kind, self.attributes),
        )


@dataclass(frozen=True)
class BandwidthEstimate:
    """Bits per second: ``peak`` for BANDWIDTH, ``average`` for AVERAGE-BANDWIDTH."""

    peak: int
    average: int


# --- sniffing and decoding -------------------------------------------------------------


def looks_like_playlist(head: bytes, content_type: str | None, url: str) -> bool:
    """Whether a body starting with ``head`` is an HLS playlist.

    Decided by the content alone (hosters serve playlists as text/plain or
    octet-stream from extensionless paths, and HTML error pages as anything); the
    declared type and the URL only decide when there is nothing to sniff (HEAD, empty).
    """
    text = head.removeprefix(_UTF8_BOM).lstrip(_WS_BYTES)
    if not text:
        return _declared_playlist(content_type, url)
    after_header = text[len(HEADER) : len(HEADER) + 1]
    return text.startswith(HEADER.encode()) and (not after_header or after_header in _WS_BYTES)


def decode_playlist(body: bytes) -> str:
    """Text of a playlist body: BOM gone, line breaks as ``\\n``.

    Invalid UTF-8 becomes U+FFFD (RFC 8216 requires UTF-8; replacing keeps the output
    encodable). Raises PlaylistError for anything that is not a playlist.
    """
    if len(body) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(f"playlist is larger than {MAX_PLAYLIST_BYTES} bytes")
    text = _normalise_newlines(body.removeprefix(_UTF8_BOM).decode("utf-8", errors="replace"))
    _body_lines(text)
    return text


def is_master(text: str) -> bool:
    """Whether the playlist lists variants or renditions (a multivariant playlist)."""
    return any(_tag_name(line.lstrip(_WS)) in _MASTER_TAGS for _, line in _body_lines(text))


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attr:
    name: str
    value: str
    start: int  # span of the raw value in its line, quotes included
    end: int


@dataclass(frozen=True)
class _Slot:
    ref: UriRef
    spans: tuple[tuple[int, int], ...]  # empty: the whole line is the URI


@dataclass(frozen=True)
class _Line:
    text: str
    slots: tuple[_Slot, ...] = ()


class _Parser:
    """Walks a playlist once, keeping the state that gives each URI its meaning."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.counts: dict[str, int] = {}
        self.total = 0
        self.media_sequence = 0  # number of the next segment
        self.seen_segment = False
        self.pending_variant: dict[str, str] | None = None
        self.pending_duration: str | None = None
        self.pending_byterange: str | None = None
        self.segment_range_end: int | None = None
        self.part_index = 0
        self.part_range_end: int | None = None
        self.has_map = False
        self.images_only = False

    def feed(self, number: int, raw: str) -> _Line:
        stripped = raw.strip(_WS)
        if not stripped:
            return _Line(raw)
        if stripped.startswith("#"):
            # ffmpeg would read an indented "#..." line as a URI, so indentation goes.
            text = raw.lstrip(_WS)
            return self._tag(number, text) if text.startswith("#EXT") else _Line(text)
        return self._uri_line(number, raw, stripped)

    def _tag(self, number: int, line: str) -> _Line:
        name = _tag_name(line)
        value = line[len(name) + 2 :] if line.startswith(f"#{name}:") else ""
        if name == "EXTINF":
            self.pending_duration = value
        elif name == "EXT-X-BYTERANGE":
            self.pending_byterange = value
        elif name == "EXT-X-MEDIA-SEQUENCE" and not self.seen_segment:
            self.media_sequence = _decimal(value, number, name)
        elif name == "EXT-X-STREAM-INF":
            self.pending_variant = _attribute_map(_parse_attributes(line, len(name) + 2))
        elif name == "EXT-X-IMAGES-ONLY":
            self.images_only = True
        spec = _URI_TAGS.get(name)
        if spec is None or not value:
            return _Line(line)
        kind, uri_attributes = spec
        attrs = _parse_attributes(line, len(name) + 2)
        slots = tuple(
            slot
            for attribute in uri_attributes
            if (slot := self._tag_slot(number, kind, attribute, attrs)) is not None
        )
        if kind == "map":
            self.has_map = True
        elif kind == "part":
            self.part_index += 1
        return _Line(line, slots)

    def _tag_slot(
        self, number: int, kind: UriKind, attribute: str, attrs: list[_Attr]
    ) -> _Slot | None:
        carriers = [a for a in attrs if a.name == attribute]
        if not carriers:
            return None
        # Duplicates: ffmpeg keeps the last one, so that is the URI; all get rewritten.
        reference = carriers[-1].value.strip(_WS)
        attributes = _attribute_map(attrs)
        if not reference or _is_opaque(reference):
            return None
        if kind in ("key", "session-key") and attributes.get("METHOD") == "NONE":
            return None
        ref = self._tag_ref(number, kind, attribute, reference, attributes)
        return _Slot(ref, tuple((a.start, a.end) for a in carriers))

    def _tag_ref(
        self,
        number: int,
        kind: UriKind,
        attribute: str,
        reference: str,
        attributes: dict[str, str],
    ) -> UriRef:
        url = self._resolve(number, reference)
        is_playlist = kind in _PLAYLIST_KINDS or attribute == "X-ASSET-URI"
        in_media = kind in ("key", "map", "part", "preload-hint")
        is_part = kind == "part" or (kind == "preload-hint" and attributes.get("TYPE") != "MAP")
        return UriRef(
            url=url,
            kind=kind,
            is_playlist=is_playlist,
            position=self._position(kind),
            extension=self._tag_extension(kind, url, is_playlist, attributes),
            attributes=MappingProxyType(attributes),
            attribute=attribute,
            media_sequence=self.media_sequence if in_media else None,
            part_index=self.part_index if is_part else None,
            byterange=self._tag_range(number, kind, attributes),
            duration=_leading_float(attributes.get("DURATION", "")) if kind == "part" else None,
        )

    def _uri_line(self, number: int, raw: str, reference: str) -> _Line:
        if self.pending_variant is None:
            return self._segment_line(number, raw, reference)
        attributes, self.pending_variant = self.pending_variant, None
        if _is_opaque(reference):
            return _Line(reference)  # nothing to fetch; only the padding goes
        ref = UriRef(
            url=self._resolve(number, reference),
            kind="variant",
            is_playlist=True,
            position=self._position("variant"),
            extension=".m3u8",
            attributes=MappingProxyType(attributes),
        )
        return _Line(raw, (_Slot(ref, ()),))

    def _segment_line(self, number: int, raw: str, reference: str) -> _Line:
        sequence = self.media_sequence
        self.media_sequence += 1
        self.seen_segment = True
        self.part_index = 0
        self.part_range_end = None
        duration_text, self.pending_duration = self.pending_duration, None
        byterange = self._segment_range(number)
        if _is_opaque(reference):
            return _Line(reference)  # nothing to fetch; only the padding goes
        url = self._resolve(number, reference)
        attributes: dict[str, str] = {}
        if duration_text is not None:
            attributes["DURATION"] = duration_text.split(",", 1)[0].strip(_WS)
        if byterange is not None:
            attributes["BYTERANGE"] = f"{byterange.length}@{byterange.offset}"
        ref = UriRef(
            url=url,
            kind="segment",
            is_playlist=False,
            position=self._position("segment"),
            extension=self._media_extension(url),
            attributes=MappingProxyType(attributes),
            media_sequence=sequence,
            byterange=byterange,
            duration=_leading_float(duration_text or ""),
        )
        return _Line(raw, (_Slot(ref, ()),))

    def _segment_range(self, number: int) -> ByteRange | None:
        text, self.pending_byterange = self.pending_byterange, None
        if text is None:
            # Like ffmpeg: a segment without a range restarts implicit offsets at 0.
            self.segment_range_end = None
            return None
        byterange = _parse_byterange(text, self.segment_range_end or 0, number)
        self.segment_range_end = byterange.offset + (byterange.length or 0)
        return byterange

    def _tag_range(
        self, number: int, kind: UriKind, attributes: dict[str, str]
    ) -> ByteRange | None:
        if kind == "map" and "BYTERANGE" in attributes:
            return _parse_byterange(attributes["BYTERANGE"], 0, number)
        if kind == "part":
            if "BYTERANGE" not in attributes:
                self.part_range_end = None
                return None
            byterange = _parse_byterange(attributes["BYTERANGE"], self.part_range_end or 0, number)
            self.part_range_end = byterange.offset + (byterange.length or 0)
            return byterange
        if kind == "preload-hint" and (
            "BYTERANGE-START" in attributes or "BYTERANGE-LENGTH" in attributes
        ):
            start = attributes.get("BYTERANGE-START", "0")
            length = attributes.get("BYTERANGE-LENGTH")
            return ByteRange(
                offset=_decimal(start, number, "BYTERANGE-START"),
                length=None if length is None else _decimal(length, number, "BYTERANGE-LENGTH"),
            )
        return None

    def _tag_extension(
        self, kind: UriKind, url: str, is_playlist: bool, attributes: dict[str, str]
    ) -> str:
        if is_playlist:
            return ".m3u8"
        if kind in ("key", "session-key"):
            return ".key"
        if kind in ("session-data", "steering", "daterange-asset"):
            return ".json"
        if kind == "map" or (kind == "preload-hint" and attributes.get("TYPE") == "MAP"):
            return _map_extension(url)
        return self._media_extension(url)

    def _media_extension(self, url: str) -> str:
        upstream = _path_extension(url)
        if self.images_only:
            return upstream if upstream in _IMAGE_EXTENSIONS else ".jpg"
        if self.has_map:
            return upstream if upstream in _FMP4_EXTENSIONS else ".mp4"
        return upstream if upstream in _PLAIN_SEGMENT_EXTENSIONS else ".ts"

    def _resolve(self, number: int, reference: str) -> str:
        encoded = quote(_LONE_PERCENT.sub("%25", reference), safe=_URL_SAFE)
        try:
            # The fragment is never sent upstream; dropping it keeps URLs comparable.
            return urldefrag(urljoin(self.base_url, encoded)).url
        except ValueError as exc:  # e.g. a broken [IPv6] host
            raise PlaylistError(f"line {number}: unusable URI {reference[:120]!r}") from exc

    def _position(self, kind: UriKind) -> int:
        self.total += 1
        if self.total > MAX_URIS:
            raise PlaylistError(f"playlist has more than {MAX_URIS} URIs")
        position = self.counts.get(kind, 0)
        self.counts[kind] = position + 1
        return position


def _parse(text: str, base_url: str) -> list[_Line]:
    _check_base_url(base_url)
    parser = _Parser(base_url)
    return [parser.feed(number, line) for number, line in _body_lines(text)]


def parse_uris(text: str, base_url: str) -> list[UriRef]:
    """Every URI the playlist references (except data:/skd:), in playlist order."""
    return [slot.ref for line in _parse(text, base_url) for slot in line.slots]


def _parse_attributes(line: str, pos: int) -> list[_Attr]:
    # Same tokenisation as libavformat's ff_parse_key_value: skip blanks and commas,
    # NAME runs to '=', a quoted value to the next quote (or the line end), an
    # unquoted one to a blank or comma; no '=' left ends the list.
    attrs: list[_Attr] = []
    end_of_line = len(line)
    while True:
        while pos < end_of_line and (line[pos] in _WS or line[pos] == ","):
            pos += 1
        equals = line.find("=", pos)
        if pos >= end_of_line or equals < 0:
            return attrs
        start = equals + 1
        if line.startswith('"', start):
            close = line.find('"', start + 1)
            end = end_of_line if close < 0 else close + 1
            value = line[start + 1 : end_of_line if close < 0 else close]
        else:
            end = start
            while end < end_of_line and line[end] not in _WS and line[end] != ",":
                end += 1
            value = line[start:end]
        attrs.append(_Attr(line[pos:equals], value, start, end))
        pos = end


def _attribute_map(attrs: Iterable[_Attr]) -> dict[str, str]:
    return {a.name: a.value for a in attrs}  # last wins, as in ffmpeg


def _tag_name(line: str) -> str:
    if not line.startswith("#"):
        return ""
    colon = line.find(":")
    return line[1:colon] if colon >= 0 else line[1:].rstrip(_WS)


# --- rewriting -------------------------------------------------------------------------


def rewrite_playlist(
    text: str,
    base_url: str,
    wrap: Callable[[UriRef], str],
    *,
    is_proxied: Callable[[str], bool] | None = None,
) -> str:
    """The playlist with every URI replaced by ``wrap(ref)``, ready to serve.

    ``base_url`` is the playlist's URL after redirects. Output starts with exactly
    ``#EXTM3U\\n`` and ends with a newline; lines without URIs are kept as they were.
    URIs that ``is_proxied`` recognises are made absolute but not wrapped again.
    """
    out = [HEADER]
    for line in _parse(text, base_url):
        out.append(_render(line, wrap, is_proxied) if line.slots else line.text)
    return "\n".join(out) + "\n"


def _render(
    line: _Line, wrap: Callable[[UriRef], str], is_proxied: Callable[[str], bool] | None
) -> str:
    replacements: list[tuple[int, int, str]] = []
    for slot in line.slots:
        ref = slot.ref
        target = ref.url if is_proxied is not None and is_proxied(ref.url) else wrap(ref)
        _check_target(target)
        if not slot.spans:
            return target
        replacements.extend((start, end, f'"{target}"') for start, end in slot.spans)
    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(replacements):
        pieces.append(line.text[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(line.text[cursor:])
    return "".join(pieces)


def _check_target(target: str) -> None:
    # A quote or line break from the callback would let it forge playlist lines.
    if not target or any(c in target for c in '"\r\n\x00'):
        raise ValueError(f"wrap() returned an unusable URL: {target[:120]!r}")


# --- single-variant master -------------------------------------------------------------


def estimate_bandwidth(
    media_text: str, segment_sizes: Mapping[int, int] | None = None
) -> BandwidthEstimate | None:
    """Bit rates of a media playlist from EXTINF durations and segment sizes.

    Sizes come from EXT-X-BYTERANGE lengths, else from ``segment_sizes`` (keyed by
    media sequence number, e.g. measured Content-Lengths). None when nothing is known.
    """
    total_bits = 0
    total_seconds = 0.0
    peak = 0.0
    for ref in parse_uris(media_text, "http://playlist.invalid/"):
        if ref.kind != "segment" or not ref.duration:
            continue
        size = _segment_size(ref, segment_sizes)
        if size is None:
            continue
        total_bits += size * 8
        total_seconds += ref.duration
        peak = max(peak, size * 8 / ref.duration)
    if total_seconds <= 0:
        return None
    return BandwidthEstimate(peak=math.ceil(peak), average=math.ceil(total_bits / total_seconds))


def synthesize_master(
    media_playlist_text: str,
    media_url: str,
    *,
    bandwidth: int,
    average_bandwidth: int | None = None,
    resolution: tuple[int, int] | None = None,
    codecs: str | None = None,
) -> str:
    """A one-variant master pointing at ``media_url`` (already wrapped).

    Jellyfin reads the bit rate from BANDWIDTH; a bare media playlist shows "0 kbps".
    """
    if is_master(media_playlist_text):
        raise PlaylistError("already a master playlist")
    if bandwidth <= 0 or (average_bandwidth is not None and average_bandwidth <= 0):
        raise ValueError("bandwidths must be positive")
    _check_target(media_url)
    attributes = [f"BANDWIDTH={bandwidth}"]
    if average_bandwidth is not None:
        attributes.append(f"AVERAGE-BANDWIDTH={average_bandwidth}")
    if resolution is not None:
        width, height = resolution
        if width <= 0 or height <= 0:
            raise ValueError("resolution must be positive")
        attributes.append(f"RESOLUTION={width}x{height}")
    if codecs:
        if any(c in codecs for c in '"\r\n'):
            raise ValueError(f"unusable CODECS {codecs!r}")
        attributes.append(f'CODECS="{codecs}"')
    lines = [HEADER]
    # The tag applies to the whole presentation, so it belongs in the master too.
    if any(
        line.strip(_WS) == "#EXT-X-INDEPENDENT-SEGMENTS"
        for _, line in _body_lines(media_playlist_text)
    ):
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), media_url]
    return "\n".join(lines) + "\n"


# --- re-finding a resource after a re-resolve -------------------------------------------


def find_equivalent(old: UriRef | Locator, fresh_text: str, fresh_base_url: str) -> UriRef | None:
    """The resource in a freshly fetched playlist that ``old`` pointed at, or None.

    Segments, parts and hints: same media sequence number (and part index). Keys and
    maps: the one in effect for the same segment. Variants and renditions: same
    identity attributes (nearest position on ties), else same position.
    """
    wanted = old.locator if isinstance(old, UriRef) else old
    candidates = [ref for ref in parse_uris(fresh_text, fresh_base_url) if ref.kind == wanted.kind]
    if wanted.kind in _SEQUENCED_KINDS:
        return _same_sequence(wanted, candidates)
    if wanted.kind in ("key", "map") and wanted.media_sequence is not None:
        return _in_effect_at(wanted, candidates)
    return _same_identity(wanted, candidates)


def _same_sequence(wanted: Locator, candidates: list[UriRef]) -> UriRef | None:
    # No positional fallback: another segment would decode as corrupt frames.
    for ref in candidates:
        if (
            ref.media_sequence == wanted.media_sequence
            and ref.part_index == wanted.part_index
            and _identity(ref.kind, ref.attributes) == wanted.identity
        ):
            return ref
    return None


def _in_effect_at(wanted: Locator, candidates: list[UriRef]) -> UriRef | None:
    assert wanted.media_sequence is not None
    in_effect = None
    for ref in candidates:
        if ref.media_sequence is None or ref.media_sequence > wanted.media_sequence:
            continue
        if _identity(ref.kind, ref.attributes) == wanted.identity:
            in_effect = ref  # a later tag replaces an earlier one
    return in_effect


def _same_identity(wanted: Locator, candidates: list[UriRef]) -> UriRef | None:
    same = [ref for ref in candidates if _identity(ref.kind, ref.attributes) == wanted.identity]
    if same:
        return min(same, key=lambda ref: abs(ref.position - wanted.position))
    if 0 <= wanted.position < len(candidates):
        return candidates[wanted.position]
    return None


def _identity(kind: str, attributes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    names = _IDENTITY_ATTRIBUTES.get(kind, ())
    values = dict(attributes)
    if kind in ("key", "session-key"):
        values.setdefault("KEYFORMAT", "identity")  # the RFC's implicit default
    return tuple((name, values[name]) for name in names if name in values)


# --- small helpers ---------------------------------------------------------------------


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _body_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) after the #EXTM3U header; PlaylistError if there is none."""
    if len(text) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(f"playlist is larger than {MAX_PLAYLIST_BYTES} characters")
    # ffmpeg ends a line at NUL, so a NUL could smuggle a line past our parser.
    if "\x00" in text:
        raise PlaylistError("playlist contains NUL characters")
    if _SURROGATE.search(text):
        raise PlaylistError("playlist contains unpaired surrogates (not decoded UTF-8)")
    lines = _normalise_newlines(text.removeprefix("\ufeff")).split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise PlaylistError(f"playlist has more than {MAX_LINES} lines")
    first = next((i for i, line in enumerate(lines) if line.strip(_WS)), None)
    if first is None or lines[first].strip(_WS) != HEADER:
        raise PlaylistError("not an HLS playlist: the first line is not #EXTM3U")
    body = [(number, line) for number, line in enumerate(lines[first + 1 :], start=first + 2)]
    for number, line in body:
        if len(line) > MAX_LINE_CHARS:
            raise PlaylistError(f"line {number} is longer than {MAX_LINE_CHARS} characters")
    return body


def _declared_playlist(content_type: str | None, url: str) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _PLAYLIST_CONTENT_TYPES:
        return True
    try:
        return _path_extension(url) in (".m3u8", ".m3u")
    except ValueError:
        return False


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must be an absolute http(s) URL, got {base_url!r}")


def _is_opaque(reference: str) -> bool:
    # data: carries the resource itself, skd: is a FairPlay key id: nothing to fetch.
    return reference[:5].lower().startswith(_OPAQUE_SCHEMES)


def _path_extension(url: str) -> str:
    return posixpath.splitext(urlsplit(url).path)[1].lower()


def _map_extension(url: str) -> str:
    upstream = _path_extension(url)
    return upstream if upstream in _FMP4_EXTENSIONS else ".mp4"


def _decimal(text: str, number: int, what: str) -> int:
    value = text.strip(_WS)
    if not _DECIMAL.fullmatch(value):
        raise PlaylistError(f"line {number}: {what} is not a decimal integer: {value[:40]!r}")
    return int(value)


def _parse_byterange(text: str, implicit_offset: int, number: int) -> ByteRange:
    match = _BYTERANGE.fullmatch(text.strip(_WS))
    if match is None:
        raise PlaylistError(f"line {number}: malformed byte range {text[:40]!r}")
    length, offset = match.groups()
    return ByteRange(offset=implicit_offset if offset is None else int(offset), length=int(length))


def _leading_float(text: str) -> float | None:
    match = _LEADING_FLOAT.match(text.strip(_WS))
    return float(match.group()) if match else None


def _segment_size(ref: UriRef, segment_sizes: Mapping[int, int] | None) -> int | None:
    if ref.byterange is not None and ref.byterange.length is not None:
        return ref.byterange.length
    if segment_sizes is None or ref.media_sequence is None:
        return None
    return segment_sizes.get(ref.media_sequence)


def _is_str_pair(item: object) -> bool:
    return isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)


def _locator_int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"locator: {key} must be a non-negative integer")
    return value


def _optional_locator_int(value: object, key: str) -> int | None:
    return None if value is None else _locator_int(value, key)
