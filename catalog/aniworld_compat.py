"""Make the `aniworld` package (5.3.0) safe to embed and point it at configured sites.

The package is a CLI first: importing it has process-wide side effects and it
hard-codes its hosts. Order of use, once per process:

    prepare_environment(data_dir / "aniworld")       # imports the package, contained
    install_routes(aniworld_base_url, sto_base_url)  # re-callable when settings change

`prepare_environment` neutralises the import: the package's `.env` and log file live
under `home`, `ANIWORLD_NO_AUTO_INSTALL=1` stops it from installing Chromium or
apt packages at run time, the ~70 `ANIWORLD_*` variables its `.env` loads and the
CA-bundle variables (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, `SSL_CERT_FILE`) it
sets are removed from `os.environ` again, and its logger stops writing to its own
file and stderr and propagates to ours. What remains: the package's module-level
constants read at import (naming template, a random browser User-Agent chosen per
process), a global warnings filter ignoring urllib3's InsecureRequestWarning, and
on a captcha page it still tries to start patchright (which fails without Chromium).

`install_routes` mounts transport adapters on `aniworld.config.GLOBAL_SESSION` and
on every session s.to's thread-local session factory hands out: requests to
`https://aniworld.to/...` and to the s.to hosts (serienstream.to/.cx, s.to) go to
the configured base URLs, and the response keeps the canonical URL (the package
compares hosts to decide whether a redirect left the site). Those sessions resolve
names with the system resolver instead of DNS-over-HTTPS (Cloudflare), and s.to's
hard-coded public IP fallback is refused. Hoster embed URLs come from the sites'
redirects, so hoster traffic goes wherever the site points it.

Every connection of those sessions goes through catalog.egress.tunnel
(catalog.egress.niquests_routes): the proxy is chosen for the host actually
contacted, after the base URL replaced the canonical host, and no local/private
address is contacted other than the configured base URLs and the allow-list
(catalog.egress.ssrf.site_policy). The environment's proxy variables are not read
by the sessions (`trust_env = False`): anibridge_site.config read them once. The
extractors that bypass the sessions are brought in too: bare `niquests.get` calls
(Doodstream, Megakino) go to the shared session, curl_cffi fetches (VOE, Vidara,
GUpload, MoflixClick) through catalog.curl_fetch (same proxy decision and check).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import pkgutil
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from niquests import Session
from niquests.adapters import BaseAdapter
from niquests.exceptions import ConnectionError as NiquestsConnectionError
from niquests.models import PreparedRequest, Response
from niquests.utils import create_resolver

from catalog import browserless
from catalog.egress import ssrf
from catalog.egress.niquests_routes import SchemeAdapters

ANIWORLD_ORIGIN = "https://aniworld.to"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The host the package itself requests first; s.to URLs are rewritten onto it.
STO_ORIGIN = "https://serienstream.to"

# Loggers whose levels the package changes on import.
_TOUCHED_LOGGERS = ("urllib3", "urllib3.connectionpool", "waitress.queue")
_SLUG = re.compile(r"^[A-Za-z0-9-]+$")

_lock = threading.Lock()
_prepared_home: Path | None = None
_routes: dict[str, str] = {}
_site_timeout: float | None = None
_sto_last_error = threading.local()


class RoutingError(NiquestsConnectionError):
    """A request the package wanted to send outside the configured sites."""


def prepare_environment(home: Path) -> None:
    """Import `aniworld` with its side effects contained under `home` (see module doc).

    Call before anything else imports the package. Further calls are no-ops."""
    global _prepared_home
    with _lock:
        if _prepared_home is not None:
            return
        if "aniworld" in sys.modules:
            raise RuntimeError(
                "the aniworld package was imported before prepare_environment(); "
                "call catalog.aniworld_compat.prepare_environment() first"
            )
        home = Path(home).resolve()
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        os.environ["ANIWORLD_INSTALL_FOLDER"] = str(home)
        os.environ["ANIWORLD_NO_AUTO_INSTALL"] = "1"
        os.environ["ANIWORLD_DOWNLOAD_PATH"] = str(home / "downloads")
        environ_before = dict(os.environ)
        levels_before = {name: logging.getLogger(name).level for name in _TOUCHED_LOGGERS}
        tempdir_before = tempfile.tempdir
        # The package truncates `<tempdir>/aniworld.log` on import: give it its own.
        tempfile.tempdir = str(home / "tmp")
        browserless.install()  # the image leaves out the browser driver the package imports
        try:
            importlib.import_module("aniworld")
        finally:
            tempfile.tempdir = tempdir_before
            _restore_environ(environ_before)
            for name, level in levels_before.items():
                logging.getLogger(name).setLevel(level)
        _detach_package_logger()
        _prepared_home = home


def _restore_environ(before: Mapping[str, str]) -> None:
    for key in [k for k in os.environ if k not in before]:
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _detach_package_logger() -> None:
    package_logger = logging.getLogger("aniworld")
    for handler in list(package_logger.handlers):
        package_logger.removeHandler(handler)
        handler.close()
    package_logger.propagate = True


def install_routes(
    aniworld_base_url: str, sto_base_url: str, site_timeout: float | None = None
) -> None:
    """Send the package's aniworld.to and s.to requests to these base URLs, each
    waiting at most `site_timeout` seconds (the package's own are 10-20 s per try);
    requests that name no timeout (hoster extractors) wait as long.

    Idempotent; calling again with other URLs reroutes every session at once."""
    global _site_timeout
    if _prepared_home is None:
        raise RuntimeError("call prepare_environment() before install_routes()")
    _site_timeout = site_timeout
    routes = {"aniworld": _base_url(aniworld_base_url), "sto": _base_url(sto_base_url)}
    from aniworld import config
    from aniworld.models.s_to import http as sto_http

    global _routes
    with _lock:
        # Replaced, not mutated: adapters in other threads read it without the lock.
        _routes = routes
        _route_session(config.GLOBAL_SESSION)
        config.GLOBAL_SESSION.timeout = site_timeout
        if not getattr(sto_http._session, "_anibridge_routed", False):
            sto_http._session = _routed_session_factory(sto_http._session)
        _route_bypassing_extractors()


def policy() -> ssrf.AddressPolicy:
    """The address check of the package's connections: site_policy() plus the routed
    base URLs (routes may be installed before settings name them, as tests do)."""
    return _policy_with_routes(ssrf.site_policy(), tuple(sorted(_routes.values())))


@lru_cache(maxsize=4)
def _policy_with_routes(base: ssrf.AddressPolicy, routes: tuple[str, ...]) -> ssrf.AddressPolicy:
    endpoints = set(base.endpoints)
    for url in routes:
        parts = urlsplit(url)
        endpoints.add(((parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[parts.scheme]))
    return dataclasses.replace(base, endpoints=frozenset(endpoints))


def _route_bypassing_extractors() -> None:
    """Extractors that bypass the routed sessions are sent our way: a bare
    `niquests.get` (Doodstream, Megakino) goes to the shared session, curl_cffi
    fetches (VOE first, Vidara, GUpload, MoflixClick) to catalog.curl_fetch."""
    import niquests
    from aniworld.extractors import provider
    from aniworld.extractors.provider import voe
    from curl_cffi import requests as curl_requests

    from catalog import curl_fetch

    for info in pkgutil.iter_modules(provider.__path__):
        module = importlib.import_module(f"{provider.__name__}.{info.name}")
        if getattr(module, "niquests", None) is niquests:
            module.niquests = _SharedSessionNiquests(niquests)  # type: ignore[attr-defined]
        if getattr(module, "requests", None) is curl_requests:
            module.requests = curl_fetch.CheckedCurlRequests(curl_requests)  # type: ignore[attr-defined]
    voe._voe_get = curl_fetch.voe_get


class _SharedSessionNiquests:
    """Stands in for the `niquests` module in an extractor: requests go through the
    package's routed session, everything else (exceptions, ...) is niquests'."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def get(self, url: str, **kwargs: Any) -> Any:
        from aniworld import config

        return config.GLOBAL_SESSION.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        from aniworld import config

        return config.GLOBAL_SESSION.post(url, **kwargs)


def _base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) base URL: {value!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _routed_session_factory(original: Callable[[], Session]) -> Callable[[], Session]:
    """Wrap s.to's per-thread session getter so every session it returns is routed,
    including sessions created before install_routes() and after a reset."""

    def session() -> Session:
        current = original()
        if not getattr(current, "_anibridge_routed", False):
            _route_session(current)
        return current

    session._anibridge_routed = True  # type: ignore[attr-defined]
    return session


def _route_session(session: Session) -> None:
    if getattr(session, "_anibridge_routed", False):
        return
    from aniworld import config

    # DNS over HTTPS would bypass the system resolver (and /etc/hosts, VPN DNS).
    replaced = [session.adapters.get("https://"), session.adapters.get("http://")]
    if session._own_resolver:
        session.resolver.close()
    session.resolver = create_resolver("system://")
    session._own_resolver = True
    session.trust_env = False
    plain = SchemeAdapters(policy)
    session.mount("https://", plain.for_url("https://"))
    session.mount("http://", plain.for_url("http://"))
    for adapter in replaced:
        if adapter is not None:
            adapter.close()
    _mount_host(session, "aniworld.to", _RoutingAdapter("aniworld"))
    for host in [*config.STO_DOMAINS, *config.STO_LEGACY_DOMAINS]:
        _mount_host(session, host, _RoutingAdapter("sto"))
    _mount_host(session, config.STO_IP, _RefusingAdapter(config.STO_IP))
    session._anibridge_routed = True  # type: ignore[attr-defined]


def _mount_host(session: Session, host: str, adapter: BaseAdapter) -> None:
    for scheme in ("https", "http"):
        for name in (host, f"www.{host}"):
            session.mount(f"{scheme}://{name}/", adapter)


class _RoutingAdapter(BaseAdapter):
    """Sends a request for a canonical host to the configured base URL instead."""

    def __init__(self, route: str) -> None:
        super().__init__()
        self.route = route
        self._inner = SchemeAdapters(policy)

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: int | float | None = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
        on_post_connection: Callable[[Any], None] | None = None,
        on_upload_body: Callable[[int, int | None, bool, bool], None] | None = None,
        on_early_response: Callable[[Response], None] | None = None,
        multiplexed: bool = False,
    ) -> Response:
        original = str(request.url)
        base = _routes.get(self.route)
        if base is None:
            raise RoutingError(f"no base URL configured for {self.route}", request=request)
        routed = request.copy()
        routed.url = _rebase(original, base)
        if routed.headers is not None:
            # s.to's IP fallback sets Host by hand; the target's own host must be sent.
            routed.headers.pop("Host", None)
        try:
            # The proxy is chosen for the routed URL's host, by the inner adapter.
            response = self._inner.for_url(str(routed.url)).send(
                routed,
                stream=stream,
                timeout=_capped(timeout),
                verify=verify,
                cert=cert,
                proxies={},
                on_post_connection=on_post_connection,
                on_upload_body=on_upload_body,
                on_early_response=on_early_response,
                multiplexed=False,
            )
        except Exception as exc:
            if self.route == "sto":
                _sto_last_error.text = f"{type(exc).__name__} from {routed.url}: {exc}"
            raise
        if self.route == "sto":
            failed = response.status_code is not None and response.status_code >= 400
            _sto_last_error.text = (
                f"HTTP {response.status_code} from {routed.url}" if failed else ""
            )
        # The package checks the host of `response.url` (redirect left the site?).
        response.url = original
        response.request = request
        return response

    def close(self) -> None:
        self._inner.close()


def _capped(timeout: Any) -> Any:
    """`timeout` (seconds, a (connect, read) pair or None) no longer than _site_timeout."""
    limit = _site_timeout
    if limit is None:
        return timeout
    if timeout is None:
        return limit
    if isinstance(timeout, int | float):
        return min(timeout, limit)
    if isinstance(timeout, tuple):
        return tuple(min(t, limit) if isinstance(t, int | float) else limit for t in timeout)
    return timeout


class _RefusingAdapter(BaseAdapter):
    """s.to's last-resort public IP: never contacted, so nothing leaves the configured hosts."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: int | float | None = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
        on_post_connection: Callable[[Any], None] | None = None,
        on_upload_body: Callable[[int, int | None, bool, bool], None] | None = None,
        on_early_response: Callable[[Response], None] | None = None,
        multiplexed: bool = False,
    ) -> Response:
        # The package raises the *last* error it saw, which is this one: carry the
        # configured site's real answer along so the message stays useful.
        last = getattr(_sto_last_error, "text", "")
        detail = f"; last answer from the configured s.to: {last}" if last else ""
        raise RoutingError(
            f"s.to fallback to the public IP {self.host} is disabled by AniBridge{detail}",
            request=request,
        )

    def close(self) -> None:
        pass


def stream_headers(provider: str) -> dict[str, str]:
    """Headers to fetch a stream URL resolved through `provider` in this process with.

    Hosters bind their links to the resolver's User-Agent (the package picks a random
    one per process) and check the Referer, so store these with the URL and send them
    from every process that fetches it. Hop-by-hop and encoding headers are left to
    the caller."""
    if _prepared_home is None:
        raise RuntimeError("call prepare_environment() before stream_headers()")
    from aniworld import config

    headers = {"User-Agent": str(config.DEFAULT_USER_AGENT)}
    headers.update(config.PROVIDER_HEADERS_D.get(provider, {}))
    for name in ("Connection", "Accept-Encoding"):
        headers.pop(name, None)
    return headers


def _rebase(url: str, base: str) -> str:
    parts = urlsplit(url)
    target = urlsplit(base)
    return urlunsplit(
        (target.scheme, target.netloc, target.path + (parts.path or "/"), parts.query, "")
    )


# -- canonical URLs the package accepts ---------------------------------------------


def aniworld_url(slug: str, season: int | None = None, episode: int | None = None) -> str:
    """`https://aniworld.to/anime/stream/<slug>[/staffel-N[/episode-M]]`; season 0 is
    the films: `/filme[/film-M]`."""
    url = f"{ANIWORLD_ORIGIN}/anime/stream/{_checked_slug(slug)}"
    if season is None:
        _no_episode_without_season(episode)
        return url
    url += "/filme" if season == 0 else f"/staffel-{int(season)}"
    if episode is None:
        return url
    return url + (f"/film-{int(episode)}" if season == 0 else f"/episode-{int(episode)}")


def sto_url(slug: str, season: int | None = None, episode: int | None = None) -> str:
    """`https://serienstream.to/serie/<slug>[/staffel-N[/episode-M]]`."""
    url = f"{STO_ORIGIN}/serie/{_checked_slug(slug)}"
    if season is None:
        _no_episode_without_season(episode)
        return url
    url += f"/staffel-{int(season)}"
    return url if episode is None else url + f"/episode-{int(episode)}"


def package_url(site: str, slug: str, season: int | None = None, episode: int | None = None) -> str:
    """The package URL for a site key ("aniworld.to" or "s.to")."""
    if site == "aniworld.to":
        return aniworld_url(slug, season, episode)
    if site == "s.to":
        return sto_url(slug, season, episode)
    raise ValueError(f"the aniworld package does not handle site {site!r}")


def _checked_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValueError(f"not a site slug (letters, digits, '-'): {slug!r}")
    return slug


def _no_episode_without_season(episode: int | None) -> None:
    if episode is not None:
        raise ValueError("an episode needs a season")
