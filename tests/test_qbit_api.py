"""The qBittorrent WebUI API as Sonarr, Radarr and the qbittorrent-api client call it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from anibridge_site import config
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads.models import Job
from qbshim.models import Category, ClientTask

pytestmark = pytest.mark.django_db

API = "/api/v2"
KAIJU = EpisodeIdentity(
    site="aniworld.to", slug="kaiju-no-8", season=1, episode=5, language="German Dub"
)
RELEASE = "Kaiju.No.8.S01E05.1080p.WEB.H264.GERMAN-aniworld"


def magnet(identity: EpisodeIdentity = KAIJU, name: str = RELEASE, mode: str = "download") -> str:
    return build_magnet(identity, name, mode=mode)  # type: ignore[arg-type]


def hash_of(uri: str) -> str:
    return uri.split("btih:")[1].split("&")[0]


@pytest.fixture
def with_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run a test with other configuration values (same DATA_DIR)."""

    def apply(**values: str) -> None:
        env = {"DATA_DIR": str(settings.CONFIG.data_dir), **values}
        monkeypatch.setattr(settings, "CONFIG", config.load(env, env_file=Path("/nonexistent")))

    yield apply


def add(client: Client, uri: str, **form: str) -> Any:
    return client.post(f"{API}/torrents/add", {"urls": uri, "category": "tv-sonarr", **form})


def info(client: Client, **query: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/torrents/info", query)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    return response.json()


def finish(task_hash: str, result: Path) -> None:
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(b"\0" * 2048)
    job = ClientTask.objects.get(hash=task_hash).job
    assert job is not None
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.COMPLETED,
        progress=1.0,
        result_path=str(result),
        total_bytes=2048,
        downloaded_bytes=2048,
        finished_at=timezone.now(),
    )


def test_sonarr_test_button_sequence_without_credentials(client: Client) -> None:
    anonymous = Client()
    assert anonymous.get(f"{API}/app/webapiVersion").content == b"2.11.4"
    login = client.post(f"{API}/auth/login", {"username": "", "password": ""})
    assert login.content == b"Ok." and "SID" in login.cookies
    assert client.get(f"{API}/app/webapiVersion").status_code == 200
    prefs = client.get(f"{API}/app/preferences").json()
    assert Path(prefs["save_path"]).is_absolute()
    assert prefs["queueing_enabled"] is True and prefs["dht"] is True
    assert isinstance(prefs["max_ratio_act"], int)
    assert client.get(f"{API}/torrents/categories").json() == {}
    assert (
        client.post(
            f"{API}/torrents/createCategory", {"category": "tv-sonarr", "savePath": ""}
        ).status_code
        == 200
    )
    assert "tv-sonarr" in client.get(f"{API}/torrents/categories").json()
    assert info(client, category="tv-sonarr") == []


def test_credentials_when_configured(client: Client, with_config: Any) -> None:
    with_config(QBIT_USERNAME="sonarr", QBIT_PASSWORD="s3cret")
    assert client.get(f"{API}/app/webapiVersion").status_code == 403  # never 404 or 401
    assert client.get(f"{API}/torrents/info").status_code == 403
    assert (
        client.post(f"{API}/auth/login", {"username": "sonarr", "password": "nope"}).content
        == b"Fails."
    )
    login = client.post(f"{API}/auth/login", {"username": "sonarr", "password": "s3cret"})
    assert login.content == b"Ok."
    assert client.get(f"{API}/torrents/info").status_code == 200
    basic = base64.b64encode(b"sonarr:s3cret").decode()
    assert (
        Client().get(f"{API}/torrents/info", HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    )
    wrong = base64.b64encode(b"sonarr:x").decode()
    assert (
        Client().get(f"{API}/torrents/info", HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 403
    )
    forged = Client()
    forged.cookies["SID"] = "anibridge"
    assert forged.get(f"{API}/torrents/info").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "torrents/add",
        "torrents/delete",
        "torrents/createCategory",
        "auth/login",
        "torrents/stop",
        "torrents/start",
        "torrents/setCategory",
    ],
)
def test_post_only_endpoints_refuse_get(client: Client, path: str) -> None:
    assert client.get(f"{API}/{path}").status_code == 405


def test_add_creates_task_and_job_and_enqueues_after_commit(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    uri = magnet()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert add(client, uri).content == b"Ok."
    assert len(callbacks) == 1
    task = ClientTask.objects.select_related("job").get(hash=hash_of(uri))
    assert task.name == RELEASE and task.category == "tv-sonarr"
    assert task.job is not None and task.job.status == Job.Status.QUEUED and task.job.celery_task_id
    assert (task.slug, task.season, task.episode, task.language) == (
        "kaiju-no-8",
        1,
        5,
        "German Dub",
    )
    [item] = info(client)
    assert item["hash"] == hash_of(uri) and item["state"] == "queuedDL" and item["eta"] == 8640000
    assert client.get(f"{API}/torrents/properties", {"hash": item["hash"]}).status_code == 200


def test_adding_the_same_hash_twice_is_idempotent(client: Client) -> None:
    add(client, magnet())
    add(client, magnet())
    assert ClientTask.objects.count() == 1 and Job.objects.count() == 1


def test_base32_hash_in_the_magnet_is_keyed_as_hex(client: Client) -> None:
    uri = magnet()
    hex_hash = hash_of(uri)
    b32 = base64.b32encode(bytes.fromhex(hex_hash)).decode()
    assert add(client, uri.replace(hex_hash, b32)).content == b"Ok."
    assert ClientTask.objects.get().hash == hex_hash


def test_stopped_add_stays_queued_until_start(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        add(client, magnet(), stopped="True")  # C#'s Convert.ToString(bool)
    assert callbacks == []
    assert info(client)[0]["state"] == "stoppedDL"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert (
            client.post(f"{API}/torrents/start", {"hashes": hash_of(magnet())}).status_code == 200
        )
    assert len(callbacks) == 1
    assert info(client)[0]["state"] == "queuedDL"


def test_grab_poll_import_remove_flow(client: Client) -> None:
    uri = magnet()
    add(client, uri)
    h = hash_of(uri)
    Job.objects.filter(client_task__hash=h).update(
        status=Job.Status.DOWNLOADING,
        progress=0.5,
        downloaded_bytes=1024,
        total_bytes=2048,
        speed=512.0,
        eta=2,
    )
    [item] = info(client, category="tv-sonarr")
    assert (item["state"], item["progress"], item["dlspeed"], item["eta"]) == (
        "downloading",
        0.5,
        512,
        2,
    )
    result = settings.CONFIG.download_dir / f"{RELEASE}.mp4"
    finish(h, result)
    [item] = info(client, category="tv-sonarr")
    assert item["state"] == "stoppedUP" and item["progress"] == 1
    assert item["ratio_limit"] == 0 and item["ratio"] == 0 and item["seeding_time_limit"] == 0
    assert item["content_path"] == str(result) and item["content_path"] != item["save_path"]
    [file] = client.get(f"{API}/torrents/files", {"hash": h}).json()
    assert file["name"] == result.name and file["progress"] == 1
    props = client.get(f"{API}/torrents/properties", {"hash": h}).json()
    assert props["save_path"] == item["save_path"]
    # Sonarr imported (moved) the file, then removes the item with deleteFiles=False.
    assert (
        client.post(f"{API}/torrents/delete", {"hashes": h, "deleteFiles": "False"}).status_code
        == 200
    )
    assert info(client) == []
    assert client.get(f"{API}/torrents/properties", {"hash": h}).status_code == 404


def test_delete_with_files_removes_the_result(client: Client) -> None:
    uri = magnet()
    add(client, uri)
    result = settings.CONFIG.download_dir / f"{RELEASE}.mp4"
    finish(hash_of(uri), result)
    client.post(f"{API}/torrents/delete", {"hashes": hash_of(uri), "deleteFiles": "true"})
    assert not result.exists()


def test_delete_never_touches_files_outside_the_download_dir(
    client: Client, tmp_path: Path
) -> None:
    uri = magnet()
    add(client, uri)
    outside = tmp_path / "precious.mp4"
    finish(hash_of(uri), outside)
    client.post(f"{API}/torrents/delete", {"hashes": "all", "deleteFiles": "true"})
    assert outside.exists() and ClientTask.objects.count() == 0


def test_failed_job_is_an_error_state_with_its_reason_kept(client: Client) -> None:
    add(client, magnet())
    Job.objects.update(
        status=Job.Status.FAILED, message="no hoster worked: VOE 403, Filemoon timeout"
    )
    [item] = info(client)
    assert item["state"] == "error"
    assert item["anibridge_message"] == "no hoster worked: VOE 403, Filemoon timeout"


@pytest.mark.parametrize(
    "bad",
    [
        "not a magnet",
        "magnet:?dn=x",
        "magnet:?xt=urn:btih:zzzz&dn=x&aw_slug=a&aw_s=1&aw_e=1&aw_lang=German+Dub",
        magnet().replace("aw_s=1", "aw_s=one"),
        magnet().replace("dn=Kaiju", "dn=../../etc/Kaiju"),
        "magnet:?xt=urn:btih:" + "a" * 40 + "&dn=" + "x" * 5000,
    ],
)
def test_malformed_magnets_fail_and_write_nothing(client: Client, bad: str) -> None:
    response = add(client, bad)
    assert response.status_code == 200 and response.content == b"Fails."
    assert ClientTask.objects.count() == 0 and Job.objects.count() == 0


def test_one_bad_magnet_in_a_batch_adds_none(client: Client) -> None:
    good = magnet()
    response = add(client, f"{good}\nmagnet:?xt=urn:btih:nothex")
    assert response.content == b"Fails."
    assert ClientTask.objects.count() == 0


def test_torrent_file_upload_is_refused(client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"{API}/torrents/add", {"torrents": SimpleUploadedFile("x.torrent", b"d4:infoe")}
    )
    assert response.content == b"Fails." and ClientTask.objects.count() == 0


def test_huge_form_body_is_refused_cleanly(client: Client) -> None:
    response = client.post(
        f"{API}/torrents/add", {"urls": magnet(), "tags": "t" * (3 * 1024 * 1024)}
    )
    assert response.status_code == 400
    assert ClientTask.objects.count() == 0


def test_multipart_body_as_sonarr_sends_long_fields(client: Client) -> None:
    # Django's test client posts multipart by default: the same path as Sonarr's long fields.
    response = client.post(
        f"{API}/torrents/add", {"urls": magnet(), "category": "tv-sonarr", "paused": "False"}
    )
    assert response.content == b"Ok."
    assert info(client)[0]["category"] == "tv-sonarr"


def test_savepath_outside_the_download_dir_is_refused(client: Client) -> None:
    response = add(client, magnet(), savepath="/etc")
    assert response.status_code == 400 and b"outside the download directory" in response.content
    assert (
        client.post(
            f"{API}/torrents/createCategory", {"category": "x", "savePath": "../../"}
        ).status_code
        == 400
    )
    assert client.post(f"{API}/torrents/createCategory", {"category": "../x"}).status_code == 400
    assert Category.objects.count() == 0


def test_public_save_path_is_what_sonarr_sees(client: Client, with_config: Any) -> None:
    with_config(QBIT_PUBLIC_SAVE_PATH="/downloads")
    assert client.get(f"{API}/app/preferences").json()["save_path"] == "/downloads"
    client.post(f"{API}/torrents/createCategory", {"category": "tv", "savePath": "/downloads/tv"})
    assert client.get(f"{API}/torrents/categories").json()["tv"]["savePath"] == "/downloads/tv"
    add(client, magnet(), category="tv")
    [item] = info(client)
    assert item["save_path"] == "/downloads/tv"
    assert ClientTask.objects.get().save_path == str(settings.CONFIG.download_dir / "tv")


def test_categories_persist_edit_and_remove(client: Client) -> None:
    client.post(f"{API}/torrents/createCategory", {"category": "radarr"})
    assert client.post(f"{API}/torrents/createCategory", {"category": "radarr"}).status_code == 409
    assert (
        client.post(
            f"{API}/torrents/editCategory", {"category": "radarr", "savePath": "movies"}
        ).status_code
        == 200
    )
    assert Category.objects.get(name="radarr").save_path.endswith("/movies")
    client.post(f"{API}/torrents/removeCategories", {"categories": "radarr\nnope"})
    assert not Category.objects.exists()


def test_info_filters_sort_and_paging(client: Client) -> None:
    uris = [
        magnet(
            EpisodeIdentity(site="s.to", slug="show", season=1, episode=e, language="German Dub"),
            f"Show.S01E0{e}.720p.WEB.H264.GERMAN-sto",
        )
        for e in (1, 2, 3)
    ]
    for uri in uris:
        add(client, uri)
    Job.objects.filter(episode=2).update(status=Job.Status.COMPLETED, progress=1.0)
    assert [i["name"] for i in info(client, filter="completed")] == [
        "Show.S01E02.720p.WEB.H264.GERMAN-sto"
    ]
    names = [i["name"] for i in info(client, sort="name", reverse="true")]
    assert names == sorted(names, reverse=True)
    page1 = info(client, sort="name", limit="2", offset="0")
    page2 = info(client, sort="name", limit="2", offset="2")
    assert (
        len(page1) == 2
        and len(page2) == 1
        and {i["hash"] for i in page1}.isdisjoint(i["hash"] for i in page2)
    )
    assert len(info(client, hashes=f"{hash_of(uris[0])}|{hash_of(uris[1])}")) == 2
    # As qBittorrent: an unknown filter selects everything, a limit that is no number is 0.
    assert len(info(client, filter="bogus")) == 3
    assert len(info(client, limit="ten")) == 3


def test_set_category_tags_and_stop(client: Client) -> None:
    uri = magnet()
    add(client, uri)
    h = hash_of(uri)
    client.post(f"{API}/torrents/createCategory", {"category": "done"})
    assert (
        client.post(f"{API}/torrents/setCategory", {"hashes": h, "category": "done"}).status_code
        == 200
    )
    assert (
        client.post(f"{API}/torrents/setCategory", {"hashes": h, "category": "missing"}).status_code
        == 409
    )
    client.post(f"{API}/torrents/addTags", {"hashes": h, "tags": "a,b"})
    client.post(f"{API}/torrents/removeTags", {"hashes": h, "tags": "a"})
    client.post(f"{API}/torrents/stop", {"hashes": "all"})
    [item] = info(client)
    assert (item["category"], item["tags"], item["state"]) == ("done", "b", "stoppedDL")
    assert client.get(f"{API}/torrents/tags").json() == ["b"]
    for action in ("setShareLimits", "setForceStart", "topPrio"):
        assert (
            client.post(f"{API}/torrents/{action}", {"hashes": h, "value": "True"}).status_code
            == 200
        )


def test_sync_maindata_sends_deltas_by_rid(client: Client) -> None:
    first = client.get(f"{API}/sync/maindata", {"rid": 0}).json()
    assert first["full_update"] is True and first["torrents"] == {} and first["rid"] > 0
    uri = magnet()
    add(client, uri)
    h = hash_of(uri)
    second = client.get(f"{API}/sync/maindata", {"rid": first["rid"]}).json()
    assert "full_update" not in second and second["rid"] > first["rid"]
    assert second["torrents"][h]["state"] == "queuedDL"
    assert "tv-sonarr" in second["categories"]
    Job.objects.update(status=Job.Status.DOWNLOADING, progress=0.25)
    third = client.get(f"{API}/sync/maindata", {"rid": second["rid"]}).json()
    delta = third["torrents"][h]
    assert (delta["progress"], delta["state"]) == (0.25, "downloading")
    assert "name" not in delta and "hash" not in delta  # only what changed
    client.post(f"{API}/torrents/delete", {"hashes": h, "deleteFiles": "false"})
    fourth = client.get(f"{API}/sync/maindata", {"rid": third["rid"]}).json()
    assert fourth["torrents_removed"] == [h]
    unknown = client.get(f"{API}/sync/maindata", {"rid": 99999}).json()
    assert unknown["full_update"] is True


def test_transfer_info_and_versions(client: Client) -> None:
    assert client.get(f"{API}/app/version").content == b"v5.1.4"
    assert client.get(f"{API}/transfer/info").json()["connection_status"] == "connected"
    assert client.get(f"{API}/app/buildInfo").json()["bitness"] == 64
