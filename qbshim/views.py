"""qBittorrent WebUI API v2 as Sonarr and Radarr use it (emulating qBittorrent 5.1.x).

Views parse parameters, call qbshim.torrents / qbshim.sync and render qB's answers:
`Ok.`/`Fails.` text, JSON, 200 with an empty body for actions, 404/409 where qB does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from qbshim import sync, torrents
from qbshim.auth import (
    SID_COOKIE,
    SID_MAX_AGE,
    auth_required,
    credentials_match,
    is_configured_user,
    new_sid,
    qb_auth,
)
from qbshim.models import Category, ClientTask
from qbshim.params import BadParams, QbParams
from qbshim.paths import PathRefused, internal_save_path, public
from qbshim.state import content_name, torrent_info

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


def endpoint(methods: tuple[str, ...] = ("GET", "POST")) -> Callable[[View], View]:
    """qB API view: CSRF-exempt (cookie + SameSite like qB), auth, methods, bad params -> 400."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return view(request, QbParams(request), *args, **kwargs)
            except (BadParams, PathRefused) as exc:
                log.info("qB API %s refused: %s", request.path, exc)
                return _text(str(exc), status=400)

        guarded = qb_auth(require_http_methods(list(methods))(wrapper))
        return csrf_exempt(guarded)

    return decorator


post_only = endpoint(("POST",))


# --- auth --------------------------------------------------------------------------


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> HttpResponse:
    try:
        params = QbParams(request)
    except BadParams as exc:  # login is not an endpoint(): it answers before auth
        log.info("qB API login refused: %s", exc)
        return _text(str(exc), status=400)
    username = params.text("username")
    if auth_required() and not credentials_match(username, params.text("password")):
        # A name that is not the configured user may be a password typed into the
        # wrong field: it is not repeated in the log.
        who = repr(username) if is_configured_user(username) else "an unknown user"
        log.warning("qB API login failed for %s", who)
        return _text("Fails.")
    response = _text("Ok.")
    sid = new_sid() if auth_required() else "anibridge"
    response.set_cookie(SID_COOKIE, sid, max_age=SID_MAX_AGE, httponly=True, samesite="Strict")
    return response


@csrf_exempt
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    response = _text("")
    response.delete_cookie(SID_COOKIE)
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
    try:
        query = torrents.InfoQuery(
            filter_name=params.text("filter", "all"),
            category=params.text("category") if params.has("category") else None,
            tag=params.text("tag") or None,
            hashes=_hash_filter(params),
            sort=params.text("sort"),
            reverse=params.flag("reverse"),
            limit=params.integer("limit"),
            offset=params.integer("offset"),
        )
    except ValueError as exc:
        raise BadParams(str(exc)) from None
    return HttpResponse(torrents.info_json(query), content_type="application/json")


def _hash_filter(params: QbParams) -> tuple[str, ...] | None:
    """torrents/info's `hashes`; None (every torrent) when absent or `all`."""
    hashes = params.hashes() if params.has("hashes") else None
    return None if hashes is None else tuple(hashes)


def _one_task(params: QbParams) -> ClientTask | None:
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
    info = torrent_info(task)
    return _json(
        {
            "hash": task.hash,
            "infohash_v1": task.hash,
            "infohash_v2": "",
            "name": task.name,
            "save_path": info["save_path"],
            "download_path": "",
            "creation_date": info["added_on"],
            "addition_date": info["added_on"],
            "completion_date": info["completion_on"],
            "comment": f"AniBridge {task}",
            "created_by": "AniBridge",
            "is_private": False,
            "piece_size": 0,
            "pieces_have": 1 if info["state"] == "stoppedUP" else 0,
            "pieces_num": 1,
            "total_size": info["size"],
            "total_downloaded": info["downloaded"],
            "total_downloaded_session": info["downloaded"],
            "total_uploaded": 0,
            "total_uploaded_session": 0,
            "total_wasted": 0,
            "dl_speed": info["dlspeed"],
            "dl_speed_avg": info["dlspeed"],
            "up_speed": 0,
            "up_speed_avg": 0,
            "dl_limit": -1,
            "up_limit": -1,
            "eta": info["eta"],
            "time_elapsed": 0,
            "seeding_time": 0,
            "share_ratio": 0,
            "nb_connections": 0,
            "nb_connections_limit": 0,
            "peers": 0,
            "peers_total": 0,
            "seeds": 0,
            "seeds_total": 0,
            "reannounce": 0,
            "last_seen": info["seen_complete"],
            "popularity": 0,
        }
    )


@endpoint()
def torrents_files(request: HttpRequest, params: QbParams) -> HttpResponse:
    task = _one_task(params)
    if task is None:
        return _not_found()
    info = torrent_info(task)
    done = info["state"] == "stoppedUP"
    return _json(
        [
            {
                "index": 0,
                "name": content_name(task),
                "size": info["size"],
                "progress": info["progress"],
                "priority": 1,
                "is_seed": done,
                "piece_range": [0, 0],
                "availability": 1 if done else -1,
            }
        ]
    )


@endpoint()
def torrents_trackers(request: HttpRequest, params: QbParams) -> HttpResponse:
    return _json([]) if _one_task(params) else _not_found()


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
    delete_files = (
        params.flag("deleteFiles", default=False) or settings.CONFIG.delete_files_on_torrent_delete
    )
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
    try:
        torrents.set_category(params.hashes(), params.text("category"))
    except ValueError as exc:
        return _text(str(exc), status=409)
    return _text("")


@post_only
def torrents_accept(request: HttpRequest, params: QbParams) -> HttpResponse:
    """Calls with no meaning here (share limits, force start...): accepted, as qB does."""
    return _text("")


@post_only
def torrents_top_prio(request: HttpRequest, params: QbParams) -> HttpResponse:
    # qB answers 409 when queueing is disabled; ours is always on, so priorities "work".
    return _text("")


@post_only
def torrents_add_tags(request: HttpRequest, params: QbParams) -> HttpResponse:
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
    body, snap = sync.maindata(params.integer("rid", 0) or 0)
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
