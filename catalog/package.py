"""The one door to the `aniworld` package: set it up once, then follow links and extract.

Everything that touches the package calls `ensure_package()` first; it imports the
package contained (see `catalog.aniworld_compat`) and routes its canonical hosts to
the configured base URLs. Routes are re-installed on every call, so a changed
`settings.CONFIG` (a test, a reload) takes effect at the next use and nothing that
re-routed the package behind our back can leave it pointing elsewhere.

Nothing here imports the package at module level: importing `catalog` stays light.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from catalog import aniworld_compat
from catalog.egress import sessions
from catalog.sites.base import NotOnSite, SiteError
from catalog.streams import ResolvedStream, ResolveError

log = logging.getLogger(__name__)

_lock = threading.Lock()
_prepared = False

# A site link may bounce within the site before it lands on the hoster.
MAX_REDIRECT_HOPS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def _extractor_options(provider: str) -> dict[str, Any]:
    if provider.lower() == "voe":
        # VOE's extractor retries with 2 s, then 4 s of sleep; the next hoster is a
        # better retry than waiting, so it gets one second chance only. It sets its own
        # timeout (30 s); the other extractors use the session's (see install_routes).
        return {"max_retries": 2, "timeout": settings.CONFIG.site_timeout_seconds}
    return {}


class HosterError(ResolveError):
    """One hoster could not give a stream; str() is the one-line reason."""


class ChallengePage(HosterError):
    """The site answered its hoster link with a captcha/Turnstile page, not a redirect."""


# What challenge pages (Cloudflare Turnstile, reCAPTCHA, hCaptcha) carry in their HTML.
_CHALLENGE_MARKERS = (
    "cf-turnstile",
    "challenges.cloudflare.com",
    "g-recaptcha",
    "h-captcha",
    "cf-chl-",
    "<title>just a moment",
)


def ensure_package() -> None:
    """Import the package (once per process) and route it to the configured sites."""
    global _prepared
    cfg = settings.CONFIG
    if not _prepared:
        with _lock:
            if not _prepared:
                aniworld_compat.prepare_environment(cfg.data_dir / "aniworld")
                _prepared = True
    aniworld_compat.install_routes(
        cfg.aniworld_base_url, cfg.sto_base_url, site_timeout=cfg.site_timeout_seconds
    )


def session() -> Any:
    """The package's shared, routed HTTP session (`aniworld.config.GLOBAL_SESSION`)."""
    ensure_package()
    from aniworld.config import GLOBAL_SESSION

    return GLOBAL_SESSION


def _extractor(provider: str) -> Callable[..., Any] | None:
    ensure_package()
    from aniworld.extractors import provider_functions

    extractor: Callable[..., Any] | None = provider_functions.get(
        f"get_direct_link_from_{provider.lower()}"
    )
    return extractor


def can_extract(provider: str) -> bool:
    """Whether the package has an extractor for this hoster (LoadX, Streamtape: no)."""
    return _extractor(provider) is not None


def canonical_provider(label: str) -> str:
    """The package's name for a hoster label a site prints ("Voe.SX" -> "VOE")."""
    ensure_package()
    from aniworld.models.common.provider_map import host_to_provider

    name: str | None = host_to_provider(label, require_extractor=False)
    return name or label.strip()


def page_status(url: str) -> int:
    """HTTP status of a site page (canonical URL, routed); SiteError when unreachable."""
    timeout = settings.CONFIG.provider_redirect_timeout_seconds
    try:
        response = session().get(url, timeout=timeout)
    except Exception as exc:
        raise SiteError(f"{_host(url)} is unreachable: {one_line(exc)}") from None
    return int(response.status_code or 0)


def raise_for_page(url: str, what: str) -> None:
    """Explain why a page gave nothing: NotOnSite for 404/410, SiteError otherwise."""
    status = page_status(url)
    if status in (404, 410):
        raise NotOnSite(f"{what} is not on the site (HTTP {status})")
    if status >= 400:
        raise SiteError(f"{what}: the site answered HTTP {status}; try again later")


def follow_site_link(link: str) -> str:
    """The hoster embed URL a site's redirect link (`/redirect/ID`, `/r?t=`) points to.

    Follows redirects only while they stay on the site, so the embed page itself is
    loaded once, by the extractor. Timeout and retries: PROVIDER_REDIRECT_*."""
    url = link
    for _ in range(MAX_REDIRECT_HOPS):
        status, location = _redirect_target(url)
        if status not in _REDIRECT_STATUSES:
            if status >= 400:
                raise HosterError(f"the site's hoster link answered HTTP {status}")
            raise HosterError("the site showed a page instead of redirecting to the hoster")
        if not location:
            raise HosterError(f"the site's redirect (HTTP {status}) has no Location")
        target = urljoin(url, location)
        if not _on_site(target):
            return target
        url = target
    raise HosterError(f"the site's hoster link redirects more than {MAX_REDIRECT_HOPS} times")


def _redirect_target(url: str) -> tuple[int, str]:
    cfg = settings.CONFIG
    attempts = cfg.provider_redirect_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            response = session().get(
                url, allow_redirects=False, timeout=cfg.provider_redirect_timeout_seconds
            )
        except Exception as exc:
            reason = f"{_host(url)} did not answer the hoster link: {one_line(exc)}"
        else:
            status = int(response.status_code or 0)
            if status not in _REDIRECT_STATUSES and _is_challenge(response):
                # Retrying answers the same page; the caller pauses this site's links.
                raise ChallengePage(
                    f"the site answered its hoster link with a challenge page (HTTP {status})"
                )
            if status < 500 and status != 429:
                return status, str(response.headers.get("Location") or "")
            reason = f"the site's hoster link answered HTTP {status}"
        if attempt < attempts:
            log.info("%s (attempt %d of %d); retrying", reason, attempt, attempts)
            time.sleep(min(0.25 * attempt, 1.0))
    raise HosterError(reason)


def _is_challenge(response: Any) -> bool:
    try:
        head = str(response.text or "")[:16384].lower()
    except Exception:  # an undecodable body is not a page at all
        return False
    return any(marker in head for marker in _CHALLENGE_MARKERS)


def _on_site(url: str) -> bool:
    """Whether a URL still belongs to AniWorld or s.to (canonical or configured origin)."""
    from aniworld import config

    canonical = {"aniworld.to", *config.STO_DOMAINS, *config.STO_LEGACY_DOMAINS}
    if _host(url) in canonical:
        return True
    # The configured host alone does not decide: a mirror may share it with hosters
    # (all fakes live on 127.0.0.1 in tests). The origin does.
    cfg = settings.CONFIG
    return any(_same_origin(url, base) for base in (cfg.aniworld_base_url, cfg.sto_base_url))


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def extract_stream(provider: str, embed_url: str, site: str) -> ResolvedStream:
    """The direct stream URL from a hoster embed page, via the package's extractor."""
    extractor = _extractor(provider)
    if extractor is None:
        raise HosterError("not supported")
    try:
        url = extractor(embed_url, **_extractor_options(provider))
    except Exception as exc:
        raise HosterError(one_line(exc)) from None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise HosterError(f"the extractor found no stream URL on {embed_url}")
    return ResolvedStream(
        url=url,
        provider=provider,
        site=site,
        headers=aniworld_compat.stream_headers(provider),
    )


def one_line(exc: BaseException, limit: int = 240) -> str:
    """An exception as one short line for a user (the package's messages run long).

    A refused address or a failed proxy deep inside the package's and urllib3's
    wrappers is what the user needs to read: that message wins."""
    text = sessions.reason(exc) or " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or url).lower().removeprefix("www.")
