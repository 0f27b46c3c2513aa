"""VOE embed pages fetched the way the `aniworld` package does, under our egress rules.

The package fetches VOE with curl_cffi (a browser's TLS fingerprint passes VOE's
Cloudflare gate) and falls back to its niquests session. libcurl reads the proxy
environment itself and resolves and redirects on its own, so here it is told: the
proxy chosen by catalog.egress.proxies (or none: NOPROXY=*), the address checked by
catalog.egress.ssrf and pinned (CURLOPT_RESOLVE), redirects followed one hop at a
time, each checked again, and the connected address checked once more.
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


def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[str, str, int]:
    """(text, final URL, status) of a VOE page, as the package's `_voe_get` returns."""
    from aniworld import config

    from catalog import aniworld_compat

    try:
        return _fetch_with_curl(url, headers, timeout, aniworld_compat.policy())
    except (ssrf.BlockedTarget, tunnel.ProxyError):
        raise
    except ImportError:
        pass
    except Exception as exc:
        log.debug("VOE curl_cffi fetch failed (%s); using the package's session", exc)
    response = config.GLOBAL_SESSION.get(url, headers=headers, timeout=timeout)
    return response.text, str(response.url), int(response.status_code or 0)


def _fetch_with_curl(
    url: str, headers: dict[str, str], timeout: float, policy: ssrf.AddressPolicy
) -> tuple[str, str, int]:
    from curl_cffi import requests as curl_requests

    for _hop in range(MAX_REDIRECTS + 1):
        ssrf.check_url(url)
        response = curl_requests.get(url, **_options(url, headers, timeout, policy))
        _check_connected(url, response, policy)
        location = response.headers.get("Location")
        if response.status_code not in _REDIRECTS or not location:
            return response.text, url, int(response.status_code)
        url = urljoin(url, location)
    raise ValueError(f"VOE page redirects more than {MAX_REDIRECTS} times")


def _options(
    url: str, headers: dict[str, str], timeout: float, policy: ssrf.AddressPolicy
) -> dict[str, Any]:
    from curl_cffi import CurlOpt

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    options: dict[str, Any] = {
        "headers": headers,
        "impersonate": "chrome124",
        "allow_redirects": False,
        "timeout": timeout,
    }
    proxy = proxies.proxy_for(parts.scheme, host, port)
    if proxy is not None:
        target = tunnel.checked_target(host, port, proxy, policy)
        options["proxy"] = proxy.url
        if target != host.lower():  # socks5://: resolved and checked here
            options["curl_options"] = {CurlOpt.RESOLVE: [f"{host}:{port}:{_bracket(target)}"]}
        return options
    address = ssrf.resolve_checked(host, port, policy)[0][1][0]
    options["curl_options"] = {
        CurlOpt.NOPROXY: "*",  # not the environment's proxy: the decision above
        CurlOpt.RESOLVE: [f"{host}:{port}:{_bracket(str(address))}"],
    }
    return options


def _check_connected(url: str, response: Any, policy: ssrf.AddressPolicy) -> None:
    """The address libcurl really connected to (the proxy's, when there is one)."""
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
