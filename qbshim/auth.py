"""qBittorrent's login: a SID cookie, or HTTP Basic/Bearer credentials, when
QBIT_USERNAME/QBIT_PASSWORD are set. Without them every call is allowed, like the
original. The SID is a signed token, so it survives restarts and works on every web
process without shared session state."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

SID_COOKIE = "SID"
SID_MAX_AGE = 60 * 60 * 24 * 30
_SALT = "anibridge.qbshim.sid"


def auth_required() -> bool:
    return bool(settings.CONFIG.qbit_username)


def is_configured_user(username: str) -> bool:
    return hmac.compare_digest(username.encode(), settings.CONFIG.qbit_username.encode())


def credentials_match(username: str, password: str) -> bool:
    cfg = settings.CONFIG
    user_ok = hmac.compare_digest(username.encode(), cfg.qbit_username.encode())
    pass_ok = hmac.compare_digest(password.encode(), cfg.qbit_password.encode())
    return user_ok and pass_ok


def new_sid() -> str:
    return signing.TimestampSigner(salt=_SALT).sign(settings.CONFIG.qbit_username)


def _sid_valid(sid: str) -> bool:
    try:
        user = signing.TimestampSigner(salt=_SALT).unsign(sid, max_age=SID_MAX_AGE)
    except signing.BadSignature:
        return False
    return hmac.compare_digest(user.encode(), settings.CONFIG.qbit_username.encode())


def _header_valid(header: str) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, sep, password = decoded.partition(":")
        return bool(sep) and credentials_match(username, password)
    if scheme.lower() == "bearer":
        token = value.strip()
        return _sid_valid(token) or hmac.compare_digest(
            token.encode(), settings.CONFIG.qbit_password.encode()
        )
    return False


def is_authenticated(request: HttpRequest) -> bool:
    if not auth_required():
        return True
    sid = request.COOKIES.get(SID_COOKIE)
    if sid and _sid_valid(sid):
        return True
    header = request.headers.get("Authorization", "")
    return bool(header) and _header_valid(header)


def forbidden() -> HttpResponse:
    return HttpResponse("Forbidden", status=403, content_type="text/plain; charset=UTF-8")


def qb_auth(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """403 without a valid session, as qBittorrent answers (Sonarr logs in again once)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_authenticated(request):
            return forbidden()
        return view(request, *args, **kwargs)

    return wrapper
