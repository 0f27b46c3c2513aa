"""curl_cffi fetches of the `aniworld` package's extractors, under our egress rules.

Some extractors fetch hoster pages with curl_cffi (a browser's TLS fingerprint passes
the hosters' Cloudflare gates): VOE first (then its niquests session), Vidara,
GUpload and MoflixClick only. libcurl reads the proxy environment itself and
resolves and redirects on its own, so here it is told: the proxy chosen by
catalog.egress.proxies (or none: NOPROXY=*), the address checked by catalog.egress.ssrf
and pinned (CURLOPT_RESOLVE), redirects followed one hop at a time, each checked
again, and the connected address checked once more. catalog.aniworld_compat puts
`CheckedCurlRequests` in place of those modules' `curl_cffi.requests`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin, urlsplit

from catalog.egress import proxies, ssrf, tunnel

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def request(method: str, url: str, *, session: Any = None, **kwargs: Any) -> Any:
    """curl_cffi's request under the module doc's rules (in `session`, whose cookies it
    keeps, or a session of its own); the final response."""
    from curl_cffi import requests as curl_requests

    from catalog import aniworld_compat

    policy = aniworld_compat.policy()
    follow = kwargs.pop("allow_redirects", True) is not False
    own = session is None
    if own:
        session = curl_requests.Session()
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            ssrf.check_url(url)
            route = _route(url, policy)
            # Per request, the session's libcurl options are the only way to pin these.
            session.curl_options = route.pop("curl_options")
            response = session.request(method, url, allow_redirects=False, **kwargs, **route)
            _check_connected(url, response, policy)
            location = response.headers.get("Location")
            if not follow or response.status_code not in _REDIRECTS or not location:
                return response
            url = urljoin(url, location)
            if response.status_code in (301, 302, 303) and method.upper() != "HEAD":
                method = "GET"  # as browsers do; the body is not sent again
                kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
    finally:
        if own:
            session.close()
    raise ValueError(f"{urlsplit(url).netloc}: more than {MAX_REDIRECTS} redirects")


def get(url: str, **kwargs: Any) -> Any:
    return request("GET", url, **kwargs)


def voe_get(url: str, headers: dict[str, str], timeout: float) -> tuple[str, str, int]:
    """What the package's VOE `_voe_get` returns: (text, final URL, status)."""
    from aniworld import config

    try:
        response = get(url, headers=headers, impersonate="chrome124", timeout=timeout)
        return response.text, str(response.url), int(response.status_code)
    except (ssrf.BlockedTarget, tunnel.ProxyError):
        raise
    except ImportError:
        pass
    except Exception as exc:
        log.debug("VOE curl_cffi fetch failed (%s); using the package's session", exc)
    answer = config.GLOBAL_SESSION.get(url, headers=headers, timeout=timeout)
    return answer.text, str(answer.url), int(answer.status_code or 0)


class CheckedCurlRequests:
    """Stands in for `curl_cffi.requests` in an extractor module: `get` and
    `Session().get` go through `get` above, everything else is curl_cffi's."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    @staticmethod
    def get(url: str, **kwargs: Any) -> Any:
        return request("GET", url, **kwargs)

    @staticmethod
    def post(url: str, **kwargs: Any) -> Any:
        return request("POST", url, **kwargs)

    @staticmethod
    def request(method: str, url: str, **kwargs: Any) -> Any:
        return request(method, url, **kwargs)

    @staticmethod
    def Session(**defaults: Any) -> _Session:  # curl_cffi.requests.Session's name
        return _Session(defaults)


class _Session:
    """A curl_cffi Session (its cookies kept) whose requests go through `request`."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        from curl_cffi import requests as curl_requests

        self._session = curl_requests.Session(**defaults)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return request(method, url, session=self._session, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()


def _route(url: str, policy: ssrf.AddressPolicy) -> dict[str, Any]:
    """curl_cffi options that pin the checked address and the chosen proxy."""
    from curl_cffi import CurlOpt

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    proxy = proxies.proxy_for(parts.scheme, host, port)
    if proxy is not None:
        target = tunnel.checked_target(host, port, proxy, policy)
        pinned = [f"{host}:{port}:{_bracket(target)}"] if target != host.lower() else []
        # socks5://: resolved and checked here, and pinned
        return {"proxy": proxy.url, "curl_options": {CurlOpt.RESOLVE: pinned} if pinned else {}}
    address = ssrf.resolve_checked(host, port, policy)[0][1][0]
    return {
        "curl_options": {
            CurlOpt.NOPROXY: "*",  # not the environment's proxy: the decision above
            CurlOpt.RESOLVE: [f"{host}:{port}:{_bracket(str(address))}"],
        }
    }


def _check_connected(url: str, response: Any, policy: ssrf.AddressPolicy) -> None:
    """The address libcurl really connected to (not checked through a proxy)."""
    parts = urlsplit(url)
    if proxies.proxy_for_url(url) is not None:
        return
    connected = str(getattr(response, "primary_ip", "") or "")
    host, port = parts.hostname or "", parts.port or _DEFAULT_PORTS[parts.scheme]
    if not connected or policy.endpoint_listed(host, port):
        return
    try:
        address = ssrf.parse_address(connected)
    except ValueError:
        return
    if not policy.allows(host, address):
        raise ssrf.BlockedTarget(f"upstream {host} connected to refused address {connected}")


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address
