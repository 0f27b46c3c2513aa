"""qBittorrent WebUI API v2 as Sonarr and Radarr use it (emulating qBittorrent 5.1.x).

Views parse parameters, call qbshim.torrents / qbshim.sync and render qB's answers:
`Ok.`/`Fails.` text, JSON, 200 with an empty body for actions, 404/409 where qB does.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from anibridge_site.login_guard import BANNED_MESSAGE, GUARD, client_address
from qbshim import details, sync, torrents
from qbshim.auth import (
    SID_COOKIE,
    auth_required,
    credentials_match,
    end_session,
    forbidden,
    has_session,
    is_authenticated,
    is_configured_user,
    new_sid,
    qb_auth,
)
from qbshim.models import Category, ClientTask
from qbshim.origin import same_site_only
from qbshim.params import BadParams, QbParams
from qbshim.paths import PathRefused, internal_save_path, public

log = logging.getLogger(__name__)

APP_VERSION = "v5.1.4"
WEBAPI_VERSION = "2.11.4"

View = Callable[..., HttpResponseBase]


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=UTF-8")


def _json(data: Any) -> JsonResponse:
    return JsonResponse(data, safe=False)


def _json_parts(parts: list[bytes]) -> HttpResponse:
    """JSON sent as the given parts. Django would join them (and compute the length by
    joining again): copies of megabytes per request that the parts avoid."""
    response = HttpResponse(content_type="application/json")
    for part in parts:
        response.write(part)
    response["Content-Length"] = str(sum(len(p) for p in parts))
    return response


def _method_not_allowed(methods: tuple[str, ...]) -> HttpResponse:
    """qBittorrent's answer to a method an endpoint does not take."""
    response = _text("Method Not Allowed", status=405)
    response["Allow"] = ", ".join(methods)
    return response


def _allowing(methods: tuple[str, ...]) -> Callable[[View], View]:
    allowed = (*methods, "HEAD") if "GET" in methods else methods

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                return _method_not_allowed(allowed)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def endpoint(methods: tuple[str, ...] = ("GET", "POST")) -> Callable[[View], View]:
    """qB API view, checked in qBittorrent's order: cross-site origin (401), session
    (403), method (405), parameters (400, one line of text)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return view(request, QbParams(request), *args, **kwargs)
            except (BadParams, PathRefused) as exc:
                log.info("qB API %s refused: %s", request.path, exc)
                return _text(str(exc), status=400)

        guarded = same_site_only(qb_auth(_allowing(methods)(wrapper)))
        # Django's cookie+token CSRF does not fit API clients; same_site_only is qB's own.
        return csrf_exempt(guarded)

    return decorator


post_only = endpoint(("POST",))


# --- auth --------------------------------------------------------------------------


def _session_cookie(response: HttpResponse, sid: str) -> None:
    # A session cookie (no Max-Age), as qBittorrent 5.1 sets it; the server ends the
    # session after QBIT_SESSION_TIMEOUT_SECONDS idle or on logout.
    response.set_cookie(SID_COOKIE, sid, httponly=True, samesite="Strict")


@csrf_exempt
@same_site_only
@_allowing(("POST",))
def login(request: HttpRequest) -> HttpResponse:
    try:
        params = QbParams(request)
    except BadParams as exc:  # login is not an endpoint(): it answers before auth
        log.info("qB API login refused: %s", exc)
        return _text(str(exc), status=400)
    response = _text("Ok.")
    if not auth_required():
        _session_cookie(response, secrets.token_urlsafe(32))
        return response
    if has_session(request):
        # qBittorrent: a client that has a session is logged in. (Its Basic header is
        # not checked here: Sonarr sends the form's credentials there too, and a wrong
        # password would count twice.)
        return response
    address = client_address(request)
    username = params.text("username")
    # A name that is not the configured user may be a password typed into the wrong
    # field: it is not repeated in the log.
    who = repr(username[:100]) if is_configured_user(username) else "an unknown user"
    if GUARD.banned_for(address):
        log.warning("qB API login refused for %s from %s: address banned", who, address)
        return forbidden(BANNED_MESSAGE)
    if not credentials_match(username, params.text("password")):
        count = GUARD.failed(address)
        log.warning("qB API login failed for %s from %s (failure %d)", who, address, count)
        return _text("Fails.")
    GUARD.succeeded(address)
    _session_cookie(response, new_sid())
    return response


@csrf_exempt
@same_site_only
@_allowing(("POST",))
def logout(request: HttpRequest) -> HttpResponse:
    if not is_authenticated(request):
        return forbidden()  # qBittorrent: logout is for clients with a session
    sid = request.COOKIES.get(SID_COOKIE)
    if sid and auth_required():
        end_session(sid)
    response = _text("")
    response.delete_cookie(SID_COOKIE, samesite="Strict")
    return response


# --- app ---------------------------------------------------------------------------


@endpoint()
def webapi_version(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _text(WEBAPI_VERSION)


@endpoint()
def app_version(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _text(APP_VERSION)


@endpoint()
def build_info(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _json(
        {
            "qt": "6.7.3",
            "libtorrent": "2.0.11.0",
            "boost": "1.86.0",
            "openssl": "3.4.1",
            "zlib": "1.3.1",
            "bitness": 64,
            "platform": "linux",
        }
    )


@endpoint()
def preferences(request: HttpRequest, params: QbParams) -> HttpResponse:
    cfg = settings.CONFIG
    return _json(
        {
            "save_path": public(internal_save_path("")),
            "temp_path_enabled": False,
            "max_ratio_enabled": False,
            "max_ratio": -1,
            "max_seeding_time_enabled": False,
            "max_seeding_time": -1,
            "max_inactive_seeding_time_enabled": False,
            "max_inactive_seeding_time": -1,
            "max_ratio_act": 0,
            "queueing_enabled": True,
            "max_active_downloads": cfg.max_concurrency,
            "max_active_torrents": cfg.max_concurrency,
            "max_active_uploads": 0,
            "dht": True,
            "pex": False,
            "lsd": False,
            "dl_limit": cfg.download_rate_limit_bytes_per_sec,
            "up_limit": 0,
            "web_ui_username": cfg.qbit_username,
            "create_subfolder_enabled": False,
            "torrent_content_layout": "Original",
            "auto_tmm_enabled": False,
        }
    )


@post_only
def set_preferences(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _text("")  # accepted and ignored: our settings come from the environment


@endpoint()
def default_save_path(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _text(public(internal_save_path("")))


# --- torrents ----------------------------------------------------------------------


@endpoint()
def torrents_info(request: HttpRequest, params: QbParams) -> HttpResponse:
    # Like qBittorrent: an unknown filter selects everything, and a limit or offset
    # that is not a number counts as 0.
    query = torrents.InfoQuery(
        filter_name=params.text("filter", "all"),
        category=params.text("category") if params.has("category") else None,
        tag=params.text("tag") or None,
        hashes=params.hash_filter(),
        sort=params.text("sort"),
        reverse=params.flag("reverse"),
        limit=params.loose_integer("limit"),
        offset=params.loose_integer("offset"),
    )
    try:
        return HttpResponse(torrents.info_json(query), content_type="application/json")
    except ValueError as exc:
        raise BadParams(str(exc)) from None


def _one_task(params: QbParams) -> ClientTask | None:
    params.require("hash")
    return (
        ClientTask.objects.select_related("job")
        .filter(hash=params.text("hash").strip().lower())
        .first()
    )


def _not_found() -> HttpResponse:
    return _text("Not Found", status=404)


@endpoint()
def torrents_properties(request: HttpRequest, params: QbParams) -> HttpResponse:
    task = _one_task(params)
    if task is None:
        return _not_found()  # Sonarr's "is it loaded yet" probe right after add
    return _json(details.properties(task))


@endpoint()
def torrents_files(request: HttpRequest, params: QbParams) -> HttpResponse:
    task = _one_task(params)
    return _not_found() if task is None else _json(details.files(task))


@endpoint()
def torrents_trackers(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _json(details.trackers()) if _one_task(params) else _not_found()


@post_only
def torrents_add(request: HttpRequest, params: QbParams) -> HttpResponse:
    if params.files:
        log.info(
            "qB API torrents/add refused a .torrent upload: only AniBridge magnets can be added"
        )
        return _text("Fails.", status=415)
    try:
        torrents.add_magnets(
            urls=params.text("urls"),
            category=params.text("category"),
            stopped=params.flag("stopped") or params.flag("paused"),
            savepath=params.text("savepath"),
            tags=params.text("tags"),
        )
    except torrents.AddRefused as exc:
        # qBittorrent answers a magnet it cannot add with 200 "Fails."; Sonarr and
        # qbittorrent-api both read the body. The reason goes to the log.
        log.warning("qB API torrents/add refused: %s", exc)
        return _text("Fails.")
    return _text("Ok.")


@post_only
def torrents_delete(request: HttpRequest, params: QbParams) -> HttpResponse:
    params.require("hashes", "deleteFiles")
    # DELETE_FILES_ON_TORRENT_DELETE allows what deleteFiles=true asks for; it never
    # turns a deleteFiles=false (Sonarr after moving a completed file) into a deletion.
    delete_files = params.flag("deleteFiles") and settings.CONFIG.delete_files_on_torrent_delete
    torrents.delete(params.hashes(), delete_files)
    return _text("")


@post_only
def torrents_stop(request: HttpRequest, params: QbParams) -> HttpResponse:
    torrents.stop(params.hashes())
    return _text("")


@post_only
def torrents_start(request: HttpRequest, params: QbParams) -> HttpResponse:
    torrents.start(params.hashes())
    return _text("")


@post_only
def torrents_set_category(request: HttpRequest, params: QbParams) -> HttpResponse:
    params.require("hashes", "category")
    try:
        torrents.set_category(params.hashes(), params.text("category"))
    except ValueError as exc:
        return _text(str(exc), status=409)
    return _text("")


@post_only
def torrents_accept(request: HttpRequest, params: QbParams) -> HttpResponse:
    """Calls with no meaning here (share limits, force start...): accepted, as qB does,
    once they name their torrents."""
    params.hashes()
    return _text("")


@post_only
def torrents_top_prio(request: HttpRequest, params: QbParams) -> HttpResponse:
    # qB answers 409 when queueing is disabled; ours is always on, so priorities "work".
    params.hashes()
    return _text("")


@post_only
def torrents_add_tags(request: HttpRequest, params: QbParams) -> HttpResponse:
    params.require("hashes", "tags")
    torrents.add_tags(params.hashes(), params.text("tags"))
    return _text("")


@post_only
def torrents_remove_tags(request: HttpRequest, params: QbParams) -> HttpResponse:
    torrents.remove_tags(params.hashes(), params.text("tags"))
    return _text("")


@endpoint()
def torrents_tags(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _json(torrents.all_tags())


@post_only
def tags_noop(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _text("")  # tags exist while a torrent carries them


# --- categories --------------------------------------------------------------------


@endpoint()
def categories(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _json(
        {
            c.name: {"name": c.name, "savePath": public(c.save_path) if c.save_path else ""}
            for c in Category.objects.all()
        }
    )


def _category_fields(params: QbParams) -> tuple[str, str]:
    name = params.text("category").strip()
    try:
        torrents.check_category_name(name)
    except ValueError as exc:
        raise BadParams(str(exc)) from None
    save_path = params.text("savePath").strip()
    internal = str(internal_save_path(save_path)) if save_path else ""
    return name, internal


@post_only
def create_category(request: HttpRequest, params: QbParams) -> HttpResponse:
    name, save_path = _category_fields(params)
    _, created = Category.objects.get_or_create(name=name, defaults={"save_path": save_path})
    if not created:
        return _text("Category already exists", status=409)
    return _text("")


@post_only
def edit_category(request: HttpRequest, params: QbParams) -> HttpResponse:
    name, save_path = _category_fields(params)
    if not Category.objects.filter(name=name).update(save_path=save_path):
        return _text("Category does not exist", status=409)
    return _text("")


@post_only
def remove_categories(request: HttpRequest, params: QbParams) -> HttpResponse:
    names = [n.strip() for n in params.text("categories").split("\n") if n.strip()]
    Category.objects.filter(name__in=names).delete()
    ClientTask.objects.filter(category__in=names).update(category="")
    return _text("")


# --- sync and transfer -------------------------------------------------------------


@endpoint()
def sync_maindata(request: HttpRequest, params: QbParams) -> HttpResponse:
    body, snap = sync.maindata(params.loose_integer("rid"))
    return _json_parts(sync.encode(body, snap))


@endpoint()
def transfer_info(request: HttpRequest, params: QbParams) -> HttpResponse:
    state = sync.current_server_state()
    keys = (
        "dl_info_speed",
        "dl_info_data",
        "up_info_speed",
        "up_info_data",
        "dl_rate_limit",
        "up_rate_limit",
        "dht_nodes",
        "connection_status",
    )
    return _json({k: state[k] for k in keys})
