"""Magnet links that carry an episode identity, readable by the original AniBridge and back.

The format is the original's (app/utils/magnet.py in Zzackllack/AniBridge), field for
field and in the same order:

    magnet:?xt=urn:btih:<40 hex>&dn=<release name>&aw_slug=<slug>&aw_s=<season>
        &aw_e=<episode>&aw_lang=<language>&aw_site=<site>[&aw_mode=strm][&aw_provider=<hoster>]

The prefix is `sto_` for s.to and `aw_` for aniworld.to and megakino (megakino is told
apart by `aw_site=megakino`). The info hash is the original's too: SHA-1 of
"slug|season|episode|language", with "|strm" appended for the STRM variant, so a magnet
Sonarr grabbed from the original keeps its hash (qBittorrent and Sonarr key on it).
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote_plus

from catalog import registry
from catalog.identity import (
    MAX_EPISODE,
    MAX_SEASON,
    EpisodeIdentity,
    normalize_language,
    normalize_provider,
    normalize_site,
    validate_slug,
)

Mode = Literal["download", "strm"]

MAX_VALUE_BYTES = 2048
# dn becomes a file name (plus an extension; at most 255 bytes on common filesystems)
# and a 255-character column; catalog.naming builds names of at most 240 characters.
MAX_NAME_BYTES = 240
MAX_MAGNET_CHARS = 16 * 1024
MAX_FIELDS = 64

_SCHEME = "magnet:?"
_BTIH = "urn:btih:"
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
# Unpadded: 32 base32 characters are exactly 160 bits. b32decode would also take
# '=' padding and hand back fewer than 20 bytes, i.e. a hash Sonarr never polls for.
_BASE32_32 = re.compile(r"[A-Za-z2-7]{32}")
_DIGITS = re.compile(r"[0-9]+")


class MagnetError(ValueError):
    """A magnet AniBridge cannot use; the message says what is wrong with it."""


@dataclass(frozen=True)
class ParsedMagnet:
    """What a magnet says: the info hash (lowercase hex), release name, episode and mode."""

    hash: str
    name: str
    identity: EpisodeIdentity
    mode: Mode


def site_prefix(site: str) -> str:
    """The field prefix the original used for a site: "sto" for s.to, "aw" otherwise."""
    return registry.info(site).magnet_prefix


def prefixes() -> tuple[str, ...]:
    """Every registered site's field prefix ("aw", "sto")."""
    return tuple(dict.fromkeys(s.magnet_prefix for s in registry.all_sites()))


def _default_site(prefix: str) -> str:
    """The site a magnet without `<prefix>_site` means: the first one with that prefix."""
    return next(s.name for s in registry.all_sites() if s.magnet_prefix == prefix)


def info_hash(identity: EpisodeIdentity, mode: Mode = "download") -> str:
    """The deterministic btih (40 lowercase hex) the original computed for this release."""
    payload = f"{identity.slug}|{identity.season}|{identity.episode}|{identity.language}"
    if mode == "strm":
        payload += "|strm"
    return hashlib.sha1(payload.encode("utf-8"), usedforsecurity=False).hexdigest()


def build_magnet(identity: EpisodeIdentity, name: str, mode: Mode = "download") -> str:
    """The magnet for one release; `name` becomes `dn` and must be usable as a file name."""
    _check_mode_value(mode)
    _check_name(name)
    prefix = site_prefix(identity.site)
    fields: list[tuple[str, str]] = [
        ("dn", name),
        (f"{prefix}_slug", identity.slug),
        (f"{prefix}_s", str(identity.season)),
        (f"{prefix}_e", str(identity.episode)),
        (f"{prefix}_lang", identity.language),
        (f"{prefix}_site", identity.site),
    ]
    if mode == "strm":
        fields.append((f"{prefix}_mode", "strm"))
    if identity.provider:
        fields.append((f"{prefix}_provider", identity.provider))
    # Prowlarr and qBittorrent expect a literal "urn:btih:", so ':' stays unescaped there.
    parts = [f"xt={quote_plus(_BTIH + info_hash(identity, mode), safe=':')}"]
    parts += [f"{key}={quote_plus(value)}" for key, value in fields]
    return _SCHEME + "&".join(parts)


def parse_magnet(uri: str) -> ParsedMagnet:
    """Read a magnet built here or by the original; MagnetError says what is wrong otherwise."""
    fields = _fields(uri)
    prefix = _prefix(fields)
    return ParsedMagnet(
        hash=_btih(fields),
        name=_name(fields),
        identity=_identity(fields, prefix),
        mode=_mode(fields, prefix),
    )


def btih_to_hex(value: str) -> str:
    """A btih as 40 lowercase hex; accepts 40 hex or 32 base32 characters (as Sonarr does)."""
    if len(value) == 40:
        if not _HEX40.fullmatch(value):
            raise MagnetError(f"btih {value!r} is not valid hex")
        return value.lower()
    if len(value) == 32:
        if not _BASE32_32.fullmatch(value):
            raise MagnetError(f"btih {value!r} is not valid base32")
        try:
            return base64.b32decode(value, casefold=True).hex()
        except ValueError as error:
            raise MagnetError(f"btih {value!r} is not valid base32") from error
    raise MagnetError(
        f"btih has the wrong length ({len(value)} characters; "
        "expected 40 hex or 32 base32 characters)"
    )


# --- reading --------------------------------------------------------------------------


def _fields(uri: str) -> dict[str, list[str]]:
    """The query fields of a magnet URI, each with all its values, size-checked."""
    if not isinstance(uri, str):
        raise MagnetError(f"magnet must be text, got {type(uri).__name__}")
    if len(uri) > MAX_MAGNET_CHARS:
        raise MagnetError(f"magnet is too long ({len(uri)} characters, at most {MAX_MAGNET_CHARS})")
    if not uri[: len(_SCHEME)].lower() == _SCHEME:
        raise MagnetError("not a magnet URI: expected it to start with 'magnet:?'")
    try:
        pairs = parse_qsl(
            uri[len(_SCHEME) :],
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as error:
        raise MagnetError("magnet has percent-escapes that are not valid UTF-8") from error
    except ValueError as error:
        raise MagnetError(f"magnet has too many fields (at most {MAX_FIELDS})") from error
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        _check_size(key, value)
        fields.setdefault(key, []).append(value)
    return fields


def _check_size(key: str, value: str) -> None:
    for label, text in (("field name", key), (key or "field", value)):
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_VALUE_BYTES:
            raise MagnetError(f"{label} is too long ({size} bytes, at most {MAX_VALUE_BYTES})")


def _single(fields: dict[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    if values is None:
        return None
    if len(values) > 1:
        raise MagnetError(f"field {key} appears {len(values)} times; expected once")
    _check_text(key, values[0])
    return values[0]


def _required(fields: dict[str, list[str]], key: str, meaning: str) -> str:
    value = _single(fields, key)
    if value is None:
        raise MagnetError(f"missing {key} ({meaning}): not an AniBridge magnet")
    if not value.strip():
        raise MagnetError(f"{key} ({meaning}) is empty")
    return value


def _check_text(key: str, value: str) -> None:
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise MagnetError(f"{key} contains control characters")


def _prefix(fields: dict[str, list[str]]) -> str:
    """Which field set the magnet uses; the original defaulted to aw_ when there is none."""
    used = {prefix for prefix in prefixes() for key in fields if key.startswith(f"{prefix}_")}
    if len(used) > 1:
        raise MagnetError("magnet mixes aw_ and sto_ fields; expected one set")
    return used.pop() if used else "aw"


def _btih(fields: dict[str, list[str]]) -> str:
    topics = fields.get("xt")
    if not topics:
        raise MagnetError("missing xt: expected xt=urn:btih:<info hash>")
    btihs = [topic for topic in topics if topic[: len(_BTIH)].lower() == _BTIH]
    if not btihs:
        raise MagnetError(f"xt {topics[0][:60]!r} is not a BitTorrent info hash (urn:btih:...)")
    hashes = {btih_to_hex(topic[len(_BTIH) :]) for topic in btihs}
    if len(hashes) > 1:
        raise MagnetError("magnet has more than one different urn:btih value")
    return hashes.pop()


def _name(fields: dict[str, list[str]]) -> str:
    name = _required(fields, "dn", "release name")
    _check_name(name)
    return name


def _number(fields: dict[str, list[str]], key: str, meaning: str, maximum: int) -> int:
    value = _required(fields, key, meaning)
    if not _DIGITS.fullmatch(value):
        raise MagnetError(f"{key} ({meaning}) is not a number: {value[:40]!r}")
    number = int(value[:12])
    if len(value) > 12 or number > maximum:
        raise MagnetError(f"{key} ({meaning}) {value[:12]} is out of range (0..{maximum})")
    return number


def _identity(fields: dict[str, list[str]], prefix: str) -> EpisodeIdentity:
    slug = _required(fields, f"{prefix}_slug", "series slug")
    season = _number(fields, f"{prefix}_s", "season", MAX_SEASON)
    episode = _number(fields, f"{prefix}_e", "episode", MAX_EPISODE)
    language = _required(fields, f"{prefix}_lang", "language")
    site = _single(fields, f"{prefix}_site") or _default_site(prefix)
    provider = _single(fields, f"{prefix}_provider")
    for key, check in (
        (f"{prefix}_slug", lambda: validate_slug(slug)),
        (f"{prefix}_lang", lambda: normalize_language(language)),
        (f"{prefix}_site", lambda: normalize_site(site)),
        (f"{prefix}_provider", lambda: normalize_provider(provider)),
    ):
        try:
            check()
        except ValueError as error:
            raise MagnetError(f"{key}: {error}") from error
    try:
        return EpisodeIdentity(site, slug, season, episode, language, provider)
    except ValueError as error:
        raise MagnetError(str(error)) from error


def _mode(fields: dict[str, list[str]], prefix: str) -> Mode:
    value = (_single(fields, f"{prefix}_mode") or "").strip().lower()
    if value in ("", "download"):
        return "download"
    if value == "strm":
        return "strm"
    raise MagnetError(f"{prefix}_mode {value[:40]!r} is unknown; expected 'strm' or nothing")


# --- checks shared by building and reading --------------------------------------------


def _check_mode_value(mode: str) -> None:
    if mode not in ("download", "strm"):
        raise MagnetError(f"mode {mode!r} is unknown; expected 'download' or 'strm'")


def _check_name(name: str) -> None:
    """dn becomes a file/folder name on disk, so it may not walk out of the download dir."""
    if not isinstance(name, str) or not name.strip():
        raise MagnetError("dn (release name) is empty")
    _check_text("dn (release name)", name)
    if "/" in name or "\\" in name or ".." in name:
        raise MagnetError(f"dn (release name) {name[:80]!r} contains a path separator or '..'")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise MagnetError(f"dn (release name) is too long ({size} bytes, at most {MAX_NAME_BYTES})")
