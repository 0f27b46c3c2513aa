"""The qB API's per-process torrent table reuses whole answers while nothing changed,
and never serves one older than the revision a request read."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.identity import EpisodeIdentity
from downloads.models import Job
from qbshim import table, torrents
from qbshim.table import TABLE
from tests.test_qbit_api import API, add, hash_of, info, magnet

pytestmark = pytest.mark.django_db


def episode(number: int) -> str:
    ident = EpisodeIdentity(
        site="s.to", slug="show", season=1, episode=number, language="German Dub"
    )
    return magnet(ident, f"Show.S01E{number:02d}.720p.WEB.H264.GERMAN-sto")


def maindata(client: Client, rid: int = 0) -> dict[str, Any]:
    response = client.get(f"{API}/sync/maindata", {"rid": rid})
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(response.content))
    return response.json()


def test_an_unchanged_table_answers_with_the_same_bytes(client: Client) -> None:
    add(client, episode(1))
    query = torrents.InfoQuery(category="tv-sonarr")
    assert torrents.info_json(query) is torrents.info_json(query)


def test_info_follows_a_job_update_after_a_reused_answer(client: Client) -> None:
    h = hash_of(episode(1))
    add(client, episode(1))
    assert [i["progress"] for i in info(client, category="tv-sonarr")] == [0]
    assert [i["progress"] for i in info(client, category="tv-sonarr")] == [0]
    Job.objects.update(status=Job.Status.DOWNLOADING, progress=0.25)
    [item] = info(client, category="tv-sonarr")
    assert (item["hash"], item["state"], item["progress"]) == (h, "downloading", 0.25)


def test_info_follows_adds_and_deletes_after_a_reused_answer(client: Client) -> None:
    add(client, episode(1))
    assert len(info(client)) == 1
    add(client, episode(2))
    assert len(info(client)) == 2
    client.post(f"{API}/torrents/delete", {"hashes": hash_of(episode(1)), "deleteFiles": "false"})
    assert [i["hash"] for i in info(client)] == [hash_of(episode(2))]


def test_each_query_gets_its_own_answer(client: Client) -> None:
    add(client, episode(1))
    add(client, episode(2), category="radarr")
    add(client, episode(3))
    Job.objects.filter(episode=3).update(status=Job.Status.COMPLETED, progress=1.0)
    names = [i["name"] for i in info(client, category="tv-sonarr")]
    assert names == [i["name"] for i in info(client, category="tv-sonarr")]
    assert len(names) == 2
    assert [i["category"] for i in info(client, category="radarr")] == ["radarr"]
    assert [i["state"] for i in info(client, filter="completed")] == ["stoppedUP"]
    by_name = [i["name"] for i in info(client, sort="name", reverse="true")]
    assert by_name == sorted(by_name, reverse=True) and len(by_name) == 3
    assert len(info(client, sort="name", limit="1", offset="-1")) == 1
    assert [i["hash"] for i in info(client, hashes=hash_of(episode(2)))] == [hash_of(episode(2))]


def test_full_maindata_follows_changes_after_a_reused_answer(client: Client) -> None:
    add(client, episode(1))
    h = hash_of(episode(1))
    first = maindata(client)
    first_rid = first["rid"]
    again = maindata(client)
    # Free disk space is live (other tests write meanwhile) and every answer has its
    # own rid; the rest is the same answer.
    assert again["rid"] > first["rid"]
    for answer in (first, again):
        assert answer["server_state"].pop("free_space_on_disk") >= 0
        answer.pop("rid")
    assert again == first
    assert first["torrents"][h]["progress"] == 0
    Job.objects.update(status=Job.Status.DOWNLOADING, progress=0.5)
    second = maindata(client)
    assert second["full_update"] is True and second["rid"] > first_rid
    assert second["torrents"][h]["progress"] == 0.5
    client.post(f"{API}/torrents/createCategory", {"category": "anime"})
    assert "anime" in maindata(client)["categories"]
    client.post(f"{API}/torrents/delete", {"hashes": h, "deleteFiles": "false"})
    assert maindata(client)["torrents"] == {}


def test_an_answer_from_a_superseded_snapshot_is_not_kept(client: Client) -> None:
    add(client, episode(1))
    old = TABLE.snapshot()
    Job.objects.update(progress=0.75)
    new = TABLE.snapshot()
    assert new is not old
    assert TABLE.body(old, "key", lambda: b"old") == b"old"
    assert TABLE.body(new, "key", lambda: b"new") == b"new"
    assert TABLE.body(new, "key", lambda: b"rendered again") == b"new"
    assert TABLE.body(old, "key", lambda: b"old again") == b"old again"


def test_answers_are_kept_within_the_budget(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table, "BODY_BUDGET", 10)
    snap = TABLE.snapshot()
    TABLE.body(snap, "a", lambda: b"a" * 6)
    TABLE.body(snap, "b", lambda: b"b" * 6)
    assert TABLE.body(snap, "b", lambda: b"again") == b"b" * 6
    assert TABLE.body(snap, "a", lambda: b"again") == b"again"
    # One answer larger than the budget is still kept: it is the one being polled.
    TABLE.body(snap, "big", lambda: b"x" * 100)
    assert TABLE.body(snap, "big", lambda: b"again") == b"x" * 100
