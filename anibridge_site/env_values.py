"""Reading one environment variable at a time, strictly: each reader method parses one
kind of value (number, flag, URL, networks, origins, proxy, database URL...) and turns
a bad one into a one-line ConfigError that names the variable and what it accepts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

__all__ = ["ConfigError", "IPNetwork", "Reader", "proxy_name"]

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
PROXY_SCHEMES = ("http", "socks5", "socks5h")


class ConfigError(ImproperlyConfigured):
    """A setting has a value we cannot use; the message is one line for the user."""


class Reader:
    """Reads one variable at a time and turns a bad value into a one-line ConfigError."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def _get(self, name: str, default: str) -> str:
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return default
        return raw.strip()

    def _parse(self, name: str, default: str, accepts: str, parse: Callable[[str], T]) -> T:
        raw = self._get(name, default)
        try:
            return parse(raw)
        except (ValueError, TypeError):
            raise ConfigError(
                f"Invalid configuration: {name}={raw!r} is not valid; it accepts {accepts}."
            ) from None

    def text(self, name: str, default: str = "") -> str:
        return self._get(name, default)

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        upper = f" and <= {maximum}" if maximum is not None else ""

        def parse(raw: str) -> int:
            value = int(raw)
            if value < minimum or (maximum is not None and value > maximum):
                raise ValueError(raw)
            return value

        return self._parse(name, str(default), f"a whole number >= {minimum}{upper}", parse)

    def number(
        self, name: str, default: float, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        upper = f" and <= {maximum:g}" if maximum is not None else ""

        def parse(raw: str) -> float:
            value = float(raw)
            if value != value or value < minimum or (maximum is not None and value > maximum):
                raise ValueError(raw)
            return value

        return self._parse(name, repr(default), f"a number >= {minimum:g}{upper}", parse)

    def flag(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)

        return self._parse(
            name, "true" if default else "false", "true/false (also 1/0, yes/no, on/off)", parse
        )

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(raw: str) -> str:
            low = raw.lower()
            for choice in choices:
                if choice.lower() == low:
                    return choice
            raise ValueError(raw)

        return self._parse(name, default, "one of " + ", ".join(choices), parse)

    def url(self, name: str, default: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
        def parse(raw: str) -> str:
            if raw == "":
                return raw
            parts = urlsplit(raw)
            if parts.scheme not in schemes or not parts.hostname:
                raise ValueError(raw)
            return raw.rstrip("/")

        accepts = "an absolute URL starting with " + " or ".join(f"{s}://" for s in schemes)
        return self._parse(name, default, accepts, parse)

    def items(
        self, name: str, default: str, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        def parse(raw: str) -> tuple[str, ...]:
            items = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
            if allowed is not None:
                lowered = {a.lower(): a for a in allowed}
                if not items or any(i.lower() not in lowered for i in items):
                    raise ValueError(raw)
                items = tuple(lowered[i.lower()] for i in items)
            return items

        accepts = "a comma-separated list" + (f" of {', '.join(allowed)}" if allowed else "")
        return self._parse(name, default, accepts, parse)

    def networks(self, name: str, default: str) -> tuple[IPNetwork, ...]:
        def parse(raw: str) -> tuple[IPNetwork, ...]:
            items = (p.strip() for p in raw.split(","))
            return tuple(ipaddress.ip_network(item, strict=False) for item in items if item)

        return self._parse(
            name, default, "a comma-separated list of IP addresses or networks", parse
        )

    def origins(self, name: str, default: str) -> tuple[str, ...]:
        """The original AniBridge's ANIBRIDGE_CORS_ORIGINS: empty or `*` = any origin
        ("*",), `off`/`none` = no CORS (), else a list of `scheme://host[:port]`."""

        def parse(raw: str) -> tuple[str, ...]:
            if raw == "*":
                return ("*",)
            if raw.lower() in ("off", "none"):
                return ()
            return tuple(dict.fromkeys(_origin(p) for p in raw.split(",") if p.strip()))

        return self._parse(
            name,
            default,
            "*, off, none or a comma-separated list of origins like https://host:8096",
            parse,
        )

    def proxy(self, name: str) -> str:
        """A proxy URL from `name` or its lower-case twin (which wins, as in curl and
        requests); a bare `host:port` means http://, as in curl."""
        name = proxy_name(self.values, name)

        def parse(raw: str) -> str:
            if raw == "":
                return raw
            url = raw if "://" in raw else f"http://{raw}"
            parts = urlsplit(url)
            if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
                raise ValueError(raw)
            parts.port  # noqa: B018 - raises ValueError for a bad port
            return url.rstrip("/")

        return self._parse(
            name,
            "",
            "a proxy URL: http://host:port, socks5://host:port or socks5h://host:port "
            "(user:password@ before the host if it needs a login)",
            parse,
        )

    def time_zone(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            # POSIX lets TZ name a zone file (":/usr/share/zoneinfo/Europe/Berlin").
            zone = raw.removeprefix(":").removeprefix("/usr/share/zoneinfo/")
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(raw) from None
            return zone

        return self._parse(name, default, "a time zone name such as Europe/Berlin or UTC", parse)

    def database_url(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            engine = environ.Env.db_url_config(raw).get("ENGINE", "")
            if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
                raise ValueError(raw)
            return raw

        return self._parse(
            name,
            default,
            "sqlite:////absolute/path.sqlite3 or postgres://user:pass@host:5432/db",
            parse,
        )


def _origin(text: str) -> str:
    """A browser origin as browsers send it: lower-case scheme and host, no path."""
    parts = urlsplit(text.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ValueError(text)
    default_port = 443 if parts.scheme == "https" else 80
    port = f":{parts.port}" if parts.port not in (None, default_port) else ""
    host = parts.hostname.lower()
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def proxy_name(values: Mapping[str, str], name: str) -> str:
    """`name`, or its lower-case twin when that is set (it wins, as in curl and requests)."""
    lower = name.lower()
    return lower if (values.get(lower) or "").strip() else name
