"""qBittorrent's login: a SID cookie, or HTTP Basic credentials, when QBIT_USERNAME/
QBIT_PASSWORD are set. Without them every call is allowed, like the original.

Sessions are rows (ApiSession), so every web process sees them and a logout ends one
everywhere. Like qBittorrent, the cookie is a session cookie and a session ends after
QBIT_SESSION_TIMEOUT_SECONDS without a request (WebUI\\SessionTimeout, 3600 s); it also
ends when QBIT_USERNAME or QBIT_PASSWORD change. Wrong credentials, in the login form
or a Basic header, count towards a ban (anibridge_site.login_guard).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from anibridge_site.login_guard import GUARD, client_address
from qbshim.models import ApiSession

SID_COOKIE = "SID"
# last_seen is written at most this often per session: the idle timeout is an hour,
# and a write per poll would be one per request.
TOUCH_SECONDS = 60
MAX_SID_LENGTH = 128


def auth_required() -> bool:
    return bool(settings.CONFIG.qbit_username)


def is_configured_user(username: str) -> bool:
    return hmac.compare_digest(username.encode(), settings.CONFIG.qbit_username.encode())


def credentials_match(username: str, password: str) -> bool:
    cfg = settings.CONFIG
    user_ok = hmac.compare_digest(username.encode(), cfg.qbit_username.encode())
    pass_ok = hmac.compare_digest(password.encode(), cfg.qbit_password.encode())
    return user_ok and pass_ok


def _fingerprint() -> str:
    """Changes whenever the configured credentials do (keyed: it is stored)."""
    cfg = settings.CONFIG
    message = f"{cfg.qbit_username}\0{cfg.qbit_password}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _key_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _timeout() -> timedelta:
    return timedelta(seconds=settings.CONFIG.qbit_session_timeout_seconds)


def new_sid() -> str:
    """Open a session and return its cookie value."""
    now = timezone.now()
    ApiSession.objects.filter(last_seen__lt=now - _timeout()).delete()
    sid = secrets.token_urlsafe(32)
    ApiSession.objects.create(key_hash=_key_hash(sid), credentials=_fingerprint(), last_seen=now)
    return sid


def end_session(sid: str) -> bool:
    """Logout: the SID stops working on every process. False when it was not open."""
    deleted, _ = ApiSession.objects.filter(key_hash=_key_hash(sid[:MAX_SID_LENGTH])).delete()
    return bool(deleted)


def _sid_valid(sid: str) -> bool:
    if not sid or len(sid) > MAX_SID_LENGTH:
        return False
    key = _key_hash(sid)
    row = ApiSession.objects.filter(key_hash=key).values_list("credentials", "last_seen").first()
    if row is None:
        return False
    credentials, last_seen = row
    now = timezone.now()
    if not hmac.compare_digest(credentials, _fingerprint()) or last_seen < now - _timeout():
        ApiSession.objects.filter(key_hash=key).delete()
        return False
    if (now - last_seen).total_seconds() >= TOUCH_SECONDS:
        ApiSession.objects.filter(key_hash=key).update(last_seen=now)
    return True


def _basic_valid(request: HttpRequest, value: str) -> bool:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return False  # not a credential at all: no guess to count
    address = client_address(request)
    if GUARD.banned_for(address):
        return False
    if credentials_match(username, password):
        GUARD.succeeded(address)
        return True
    GUARD.failed(address)
    return False


def _header_valid(request: HttpRequest, header: str) -> bool:
    """Basic user:password, or Bearer <SID>. A Bearer token is only ever a session:
    the password alone, without the user name, opens nothing."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return _basic_valid(request, value)
    if scheme.lower() == "bearer":
        return _sid_valid(value.strip())
    return False


def has_session(request: HttpRequest) -> bool:
    return _sid_valid(request.COOKIES.get(SID_COOKIE) or "")


def is_authenticated(request: HttpRequest) -> bool:
    if not auth_required():
        return True
    if has_session(request):
        return True
    header = request.headers.get("Authorization", "")
    return bool(header) and _header_valid(request, header)


def forbidden(message: str = "Forbidden") -> HttpResponse:
    return HttpResponse(message, status=403, content_type="text/plain; charset=UTF-8")


def qb_auth(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """403 without a valid session, as qBittorrent answers (Sonarr logs in again once)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_authenticated(request):
            return forbidden()
        return view(request, *args, **kwargs)

    return wrapper
