"""What a client reads from AniBridge, field by field, against qBittorrent 5.1.4.

Each test pins one difference found by comparing the JSON with the real qBittorrent
(and its source): tracker rows, sizes, the conventions for unknown values, missing
parameters, and sync/maindata. Where a user's client would talk to us, the real
qbittorrent-api client does, over HTTP.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import quote

import pytest
import qbittorrentapi
from django.test import Client
from django.utils import timezone

from catalog.identity import EpisodeIdentity
from downloads.models import Job
from qbshim.models import ClientTask
from qbshim.table import TABLE
from tests.test_qbit_api import API, RELEASE, add, hash_of, info, magnet

# Keys of a torrent in torrents/info (qBittorrent 5.1, serialize_torrent.h).
TORRENT_KEYS = {
    "hash", "infohash_v1", "infohash_v2", "name", "magnet_uri", "size", "progress",
    "dlspeed", "upspeed", "priority", "num_seeds", "num_complete", "num_leechs",
    "num_incomplete", "ratio", "popularity", "eta", "state", "seq_dl", "f_l_piece_prio",
    "category", "tags", "super_seeding", "force_start", "save_path", "download_path",
    "content_path", "root_path", "added_on", "completion_on", "tracker", "trackers_count",
    "dl_limit", "up_limit", "downloaded", "uploaded", "downloaded_session",
    "uploaded_session", "amount_left", "completed", "max_ratio", "max_seeding_time",
    "max_inactive_seeding_time", "ratio_limit", "seeding_time_limit",
    "inactive_seeding_time_limit", "seen_complete", "last_activity", "total_size",
    "auto_tmm", "time_active", "seeding_time", "availability", "reannounce", "comment",
    "private", "has_metadata",
}  # fmt: skip
# server_state in sync/maindata (qBittorrent 5.1, synccontroller.cpp).
SERVER_STATE_KEYS = {
    "alltime_dl", "alltime_ul", "average_time_queue", "connection_status", "dht_nodes",
    "dl_info_data", "dl_info_speed", "dl_rate_limit", "free_space_on_disk", "global_ratio",
    "last_external_address_v4", "last_external_address_v6", "queued_io_jobs", "queueing",
    "read_cache_hits", "read_cache_overload", "refresh_interval", "total_buffers_size",
    "total_peer_connections", "total_queued_size", "total_wasted_session", "up_info_data",
    "up_info_speed", "up_rate_limit", "use_alt_speed_limits", "use_subcategories",
    "write_cache_overload",
}  # fmt: skip
UNKNOWN_ETA = 8640000


def episode(number: int) -> str:
    ident = EpisodeIdentity("s.to", "show", 1, number, "German Dub")
    return magnet(ident, f"Show.S01E{number:02d}.720p.WEB.H264.GERMAN-sto")


def job_of(uri: str) -> Any:
    return Job.objects.filter(client_task__hash=hash_of(uri))


def one(client: Client) -> dict[str, Any]:
    [item] = info(client)
    return item


def qb_client(live_server: Any) -> qbittorrentapi.Client:
    host, port = live_server.url.removeprefix("http://").split(":")
    qb = qbittorrentapi.Client(
        host=host, port=int(port), username="", password="", REQUESTS_ARGS={"timeout": 10}
    )
    qb.auth_log_in()
    return qb


# --- fields of a torrent --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_torrent_has_every_qbittorrent_key_and_only_anibridge_message_besides(
    client: Client,
) -> None:
    add(client, magnet())
    item = one(client)
    assert set(item) - TORRENT_KEYS == {"anibridge_message"}
    assert set(item) >= TORRENT_KEYS


@pytest.mark.django_db
def test_size_is_minus_one_until_known_then_the_expected_size(client: Client) -> None:
    add(client, magnet())
    job_of(magnet()).update(status=Job.Status.DOWNLOADING, progress=0.1, downloaded_bytes=4096)
    item = one(client)
    assert (item["size"], item["total_size"], item["amount_left"]) == (-1, -1, -1)
    assert item["has_metadata"] is False and item["private"] is None
    h = hash_of(magnet())
    assert client.get(f"{API}/torrents/files", {"hash": h}).json() == []
    assert client.get(f"{API}/torrents/properties", {"hash": h}).json()["total_size"] == -1
    job_of(magnet()).update(total_bytes=16384)  # the probe or the first response told it
    item = one(client)
    assert (item["size"], item["total_size"], item["amount_left"]) == (16384, 16384, 12288)
    assert (item["downloaded"], item["has_metadata"]) == (4096, True)
    [file] = client.get(f"{API}/torrents/files", {"hash": h}).json()
    assert file["size"] == 16384
    assert "&xl=16384" in item["magnet_uri"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "eta", "expected"),
    [
        (Job.Status.QUEUED, None, UNKNOWN_ETA),
        (Job.Status.STOPPED, None, UNKNOWN_ETA),
        (Job.Status.DOWNLOADING, None, UNKNOWN_ETA),
        (Job.Status.DOWNLOADING, 42, 42),
        (Job.Status.COMPLETED, None, UNKNOWN_ETA),
        (Job.Status.FAILED, 7, UNKNOWN_ETA),
    ],
)
def test_eta_without_an_estimate_is_8640000(
    client: Client, status: str, eta: int | None, expected: int
) -> None:
    add(client, magnet())
    job_of(magnet()).update(status=status, eta=eta)
    assert one(client)["eta"] == expected


@pytest.mark.django_db
def test_unlimited_rates_are_0_in_info_and_minus_1_in_properties(client: Client) -> None:
    add(client, magnet())
    item = one(client)
    assert (item["dl_limit"], item["up_limit"]) == (0, 0)
    props = client.get(f"{API}/torrents/properties", {"hash": hash_of(magnet())}).json()
    assert (props["dl_limit"], props["up_limit"]) == (-1, -1)


@pytest.mark.django_db
def test_availability_is_minus_one_unless_downloading(client: Client) -> None:
    add(client, magnet())
    seen = {}
    for status in (Job.Status.QUEUED, Job.Status.DOWNLOADING, Job.Status.COMPLETED):
        job_of(magnet()).update(status=status)
        seen[status] = one(client)["availability"]
    assert seen == {"queued": -1, "downloading": 1, "completed": -1}


@pytest.mark.django_db
def test_root_path_is_empty_for_a_single_file(client: Client) -> None:
    add(client, magnet())
    job_of(magnet()).update(status=Job.Status.COMPLETED, result_path="/x/Kaiju.mkv")
    item = one(client)
    assert item["root_path"] == "" and item["content_path"].endswith("Kaiju.mkv")


@pytest.mark.django_db
def test_priority_is_the_queue_position_of_unfinished_torrents(client: Client) -> None:
    uris = [episode(n) for n in (1, 2, 3)]
    for uri in uris:
        add(client, uri)
    by_hash = {i["hash"]: i["priority"] for i in info(client)}
    assert [by_hash[hash_of(u)] for u in uris] == [1, 2, 3]
    job_of(uris[0]).update(status=Job.Status.COMPLETED)
    by_hash = {i["hash"]: i["priority"] for i in info(client)}
    assert [by_hash[hash_of(u)] for u in uris] == [0, 1, 2]


@pytest.mark.django_db
def test_magnet_uri_is_rebuilt_as_qbittorrent_does(client: Client) -> None:
    add(client, magnet())
    item = one(client)
    assert item["magnet_uri"] == f"magnet:?xt=urn:btih:{item['hash']}&dn={quote(RELEASE)}"
    assert "aw_slug" in ClientTask.objects.get().magnet  # the original stays with the task


@pytest.mark.django_db
def test_completion_reports_stopped_up_with_the_seed_limit_reached(client: Client) -> None:
    add(client, magnet())
    job_of(magnet()).update(status=Job.Status.COMPLETED, total_bytes=10, finished_at=timezone.now())
    item = one(client)
    assert (item["state"], item["progress"], item["ratio_limit"], item["ratio"]) == (
        "stoppedUP",
        1,
        0,
        0,
    )
    assert (item["amount_left"], item["priority"], item["seeding_time_limit"]) == (0, 0, 0)


# --- trackers -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_trackers_list_dht_pex_and_lsd_like_qbittorrent(live_server: Any) -> None:
    qb = qb_client(live_server)
    qb.torrents_add(urls=magnet())
    rows = qb.torrents_trackers(torrent_hash=hash_of(magnet()))
    assert [(r.url, r.status, r.tier) for r in rows] == [
        ("** [DHT] **", 2, -1),  # working: app/preferences reports dht on
        ("** [PeX] **", 0, -1),  # disabled: pex and lsd are off there
        ("** [LSD] **", 0, -1),
    ]
    assert all(
        (r.num_peers, r.num_seeds, r.num_leeches, r.num_downloaded, r.msg) == (0, 0, 0, 0, "")
        for r in rows
    )
    prefs = qb.app_preferences()
    assert (prefs.dht, prefs.pex, prefs.lsd) == (True, False, False)
    assert qb.sync_maindata(rid=0).trackers == {}


# --- missing and odd parameters -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["torrents/properties", "torrents/files", "torrents/trackers"])
def test_a_missing_hash_is_a_400_and_an_unknown_one_a_404(client: Client, path: str) -> None:
    response = client.get(f"{API}/{path}")
    assert (response.status_code, response.content) == (
        400,
        b"Missing required parameters: hash",
    )
    assert client.get(f"{API}/{path}", {"hash": "f" * 40}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["torrents/delete", "torrents/add", "torrents/stop", "auth/login", "auth/logout"]
)
def test_a_get_on_a_post_endpoint_is_qbittorrents_405(client: Client, path: str) -> None:
    response = client.get(f"{API}/{path}")
    assert (response.status_code, response.content) == (405, b"Method Not Allowed")
    assert response["Content-Type"].startswith("text/plain") and response["Allow"] == "POST"


@pytest.mark.django_db
def test_an_unknown_filter_is_ignored_and_a_bad_sort_refused(client: Client) -> None:
    add(client, magnet())
    assert len(info(client, filter="no-such-filter")) == 1
    response = client.get(f"{API}/torrents/info", {"sort": "no-such-column"})
    assert (response.status_code, response.content) == (400, b"'sort' parameter is invalid")


@pytest.mark.django_db
@pytest.mark.parametrize("rid", ["abc", "", "1.5", "9" * 5000])
def test_a_rid_that_is_no_number_counts_as_0(client: Client, rid: str) -> None:
    response = client.get(f"{API}/sync/maindata", {"rid": rid})
    assert response.status_code == 200 and response.json()["full_update"] is True


# --- sync/maindata --------------------------------------------------------------------------------


def maindata(client: Client, rid: int = 0) -> dict[str, Any]:
    response = client.get(f"{API}/sync/maindata", {"rid": rid})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_every_answer_has_a_new_rid(client: Client) -> None:
    add(client, magnet())
    first = maindata(client)
    rids = [first["rid"]]
    for _ in range(3):  # nothing changes in between
        rids.append(maindata(client, rids[-1])["rid"])
    assert rids == sorted(set(rids)) and len(rids) == 4


@pytest.mark.django_db
def test_server_state_has_qbittorrents_keys_and_deltas_only_changed_ones(
    client: Client,
) -> None:
    add(client, magnet())
    full = maindata(client)
    assert set(full["server_state"]) == SERVER_STATE_KEYS
    assert full["server_state"]["global_ratio"] == "-"
    job_of(magnet()).update(status=Job.Status.DOWNLOADING, speed=2048.0, downloaded_bytes=1)
    delta = maindata(client, full["rid"])
    changed = delta["server_state"]
    assert changed["dl_info_speed"] == 2048 and changed["dl_info_data"] == 1
    assert set(changed) <= {"dl_info_speed", "dl_info_data", "alltime_dl", "free_space_on_disk"}
    quiet = maindata(client, delta["rid"])
    assert set(quiet) <= {"rid", "server_state"}
    assert set(quiet.get("server_state", {})) <= {"free_space_on_disk"}


@pytest.mark.django_db
def test_a_delta_carries_only_the_changed_fields_even_from_another_process(
    client: Client,
) -> None:
    uris = [episode(1), episode(2)]
    for uri in uris:
        add(client, uri)
    full = maindata(client)
    job_of(uris[1]).update(status=Job.Status.DOWNLOADING, progress=0.5, downloaded_bytes=10)
    TABLE.clear()  # this process now knows nothing of the revision the client has
    delta = maindata(client, full["rid"])
    assert set(delta["torrents"]) == {hash_of(uris[1])}
    fields = delta["torrents"][hash_of(uris[1])]
    assert fields.keys() >= {"state", "progress", "downloaded", "availability"}
    assert not fields.keys() & {"name", "hash", "magnet_uri", "save_path", "category"}


@pytest.mark.django_db
def test_anibridge_message_travels_beside_the_standard_fields(client: Client) -> None:
    add(client, magnet())
    full = maindata(client)
    job_of(magnet()).update(status=Job.Status.FAILED, message="VOE: 403")
    delta = maindata(client, full["rid"])
    fields = delta["torrents"][hash_of(magnet())]
    assert fields["anibridge_message"] == "VOE: 403" and fields["state"] == "error"
    assert set(full["torrents"][hash_of(magnet())]) >= TORRENT_KEYS


@pytest.mark.django_db(transaction=True)
def test_a_clients_merged_deltas_equal_the_torrent_list(live_server: Any) -> None:
    """What qbittorrent-api's maindata.delta() user ends up with, after adds, progress,
    a category, a completion and a removal, with rids served by "other processes"."""
    qb = qb_client(live_server)
    state: dict[str, dict[str, Any]] = {}

    def poll() -> None:
        data: dict[str, Any] = json.loads(json.dumps(qb.sync.maindata.delta()))
        if data.get("full_update"):
            state.clear()
        for h, fields in data.get("torrents", {}).items():
            state.setdefault(h, {}).update(fields)
        for h in data.get("torrents_removed", []):
            state.pop(h, None)

    uris = [episode(n) for n in (1, 2, 3)]
    poll()
    qb.torrents_add(urls="\n".join(uris), category="tv")
    poll()
    job_of(uris[0]).update(status=Job.Status.DOWNLOADING, progress=0.3, total_bytes=99)
    TABLE.clear()
    poll()
    job_of(uris[0]).update(status=Job.Status.COMPLETED, progress=1.0)
    qb.torrents_set_category(category="", torrent_hashes=hash_of(uris[1]))
    poll()
    TABLE.clear()
    qb.torrents_delete(delete_files=False, torrent_hashes=hash_of(uris[2]))
    job_of(uris[1]).update(status=Job.Status.DOWNLOADING, eta=5)
    poll()
    assert hash_of(uris[2]) not in state
    qb.torrents_add(urls=uris[2])  # grabbed again: a torrent the client saw removed
    job_of(uris[2]).update(progress=0.1)
    TABLE.clear()
    poll()
    # The raw list (qbittorrent-api renames a key or two in its own torrent objects).
    raw = urllib.request.urlopen(f"{live_server.url}{API}/torrents/info", timeout=10).read()
    expected = {t["hash"]: t for t in json.loads(raw)}
    assert set(state) == set(expected) == {hash_of(u) for u in uris}
    volatile = {"last_activity", "free_space_on_disk"}
    for h, torrent in expected.items():
        assert {k: v for k, v in state[h].items() if k not in volatile} == {
            k: v for k, v in torrent.items() if k not in volatile
        }
