"""The admin's password checks under the same failed-login bans as the qB API.

The authentication backend counts every failed password check that comes with a
request (the admin login form, HTTP Basic on /api/jobs/ and /api/strm/) and refuses to
check passwords at all from a banned address. The login page itself answers a banned
address with 403 and how long the ban lasts, instead of a form that could never work.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.contrib import admin
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from anibridge_site.login_guard import GUARD, client_address

log = logging.getLogger(__name__)


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None:  # a management command, not a client: nothing to ban
            return super().authenticate(request, username, password, **kwargs)
        address = client_address(request)
        if GUARD.banned_for(address):
            log.warning("admin login refused from %s: address banned", address)
            raise PermissionDenied("address banned")  # stops every backend
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            count = GUARD.failed(address)
            log.warning("admin login failed from %s (failure %d)", address, count)
        else:
            GUARD.succeeded(address)
        return user


def login(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
    """/admin/login/: Django's page, or 403 for a banned address."""
    left = GUARD.banned_for(client_address(request))
    if left:
        minutes = math.ceil(left / 60)
        return HttpResponse(
            f"Too many failed logins from your address; try again in {minutes} minute(s).",
            status=403,
            content_type="text/plain; charset=UTF-8",
        )
    return admin.site.login(request, **kwargs)
