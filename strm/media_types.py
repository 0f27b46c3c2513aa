"""The Content-Type of a media answer, chosen by us from its first bytes, never upstream's.

The proxy serves on the admin's origin. An upstream's `text/html` (a hoster's error
page, or a hostile CDN's `<script>`) passed through would be a page of ours, so the
type comes from the content (MPEG-TS sync bytes, MP4 boxes, AAC ADTS, ID3, ...), then
from the proxy path's extension (which we chose), and an upstream type only when it
is an inert media type. Keys are always application/octet-stream. Every answer also
carries `X-Content-Type-Options: nosniff` (strm.views.finish), so browsers keep to it.
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"
TS_PACKET = 188
# MP4 box types a fragment, an init section or a whole file starts with.
_MP4_BOXES = frozenset(
    {b"ftyp", b"styp", b"moof", b"moov", b"sidx", b"emsg", b"prft", b"free", b"skip", b"mdat"}
)
# The extensions of our proxy paths (catalog.egress.hls chooses them).
_BY_EXTENSION = {
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".m4s": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ac3": "audio/ac3",
    ".eac3": "audio/eac3",
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt",
    ".webvtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".key": OCTET_STREAM,
    ".json": "application/json",
}
# Declared types that no browser runs or renders as a document.
_INERT_PREFIXES = ("video/", "audio/")
_INERT = frozenset(
    {OCTET_STREAM, "binary/octet-stream", "application/mp4", "image/jpeg", "image/png", "text/vtt"}
)
_KEY_KINDS = frozenset({"key", "session-key"})


def choose(head: bytes, declared: str | None, kind: str | None, extension: str) -> str:
    """The type to send for a body starting with `head` (b"" for HEAD or unknown).

    `kind`: the playlist role of the resource (catalog.egress.hls kinds; None for the
    entry URL), `extension`: of our proxy path, `declared`: upstream's Content-Type.
    """
    if kind in _KEY_KINDS:
        return OCTET_STREAM
    sniffed = sniff(head)
    if sniffed is not None:
        return sniffed
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    essence = (declared or "").split(";", 1)[0].strip().lower()
    if essence.startswith(_INERT_PREFIXES) or essence in _INERT:
        return essence
    return OCTET_STREAM


def sniff(head: bytes) -> str | None:
    """The media type the first bytes show, or None when they show none we know."""
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "video/mp4"
    if head[:1] == b"\x47" and (len(head) <= TS_PACKET or head[TS_PACKET] == 0x47):
        return "video/mp2t"
    if head.startswith(b"ID3"):
        return "audio/aac"  # packed audio (HLS): an ID3 timestamp, then ADTS frames
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS sync word, layer 0
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # MPEG audio frame sync (MP3)
    if head.removeprefix(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
        return "text/vtt"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"  # EBML: Matroska/WebM
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
