"""Which torrents an action touches, as qBittorrent 5.1 decides it: a missing `hashes`
is a 400, `hashes=` names none, only the literal `all` means every torrent; and an
explicit deleteFiles=false never deletes a file."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from catalog.identity import EpisodeIdentity
from qbshim.models import Category, ClientTask
from tests.test_qbit_api import API, add, finish, hash_of, info, magnet

pytestmark = pytest.mark.django_db

# Every action that takes `hashes`, with the other parameters qBittorrent requires.
ACTIONS: dict[str, dict[str, str]] = {
    "delete": {"deleteFiles": "false"},
    "stop": {},
    "pause": {},
    "start": {},
    "resume": {},
    "setCategory": {"category": "done"},
    "addTags": {"tags": "x"},
    "removeTags": {"tags": ""},
    "setShareLimits": {"ratioLimit": "-2", "seedingTimeLimit": "-2"},
    "setForceStart": {"value": "true"},
    "setSuperSeeding": {"value": "true"},
    "setAutoManagement": {"enable": "true"},
    "setDownloadLimit": {"limit": "0"},
    "setUploadLimit": {"limit": "0"},
    "toggleSequentialDownload": {},
    "toggleFirstLastPiecePrio": {},
    "recheck": {},
    "reannounce": {},
    "topPrio": {},
    "bottomPrio": {},
    "increasePrio": {},
    "decreasePrio": {},
}


def episode(number: int) -> str:
    ident = EpisodeIdentity("s.to", "show", 1, number, "German Dub")
    return magnet(ident, f"Show.S01E{number:02d}.720p.WEB.H264.GERMAN-sto")


@pytest.fixture
def three(client: Client) -> list[Path]:
    """Three finished torrents, each with its file in the download directory."""
    Category.objects.create(name="done")
    files = []
    for number in (1, 2, 3):
        add(client, episode(number))
        result = settings.CONFIG.download_dir / f"Show.S01E{number:02d}.mp4"
        finish(hash_of(episode(number)), result)
        files.append(result)
    # One stopped and tagged, two not: every action has something it could change.
    ClientTask.objects.filter(hash=hash_of(episode(1))).update(stopped=True, tags="keep")
    return files


def configure(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))


def rows() -> list[tuple[Any, ...]]:
    return sorted(ClientTask.objects.values_list("hash", "category", "tags", "stopped"))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_without_hashes_is_refused_and_touches_nothing(
    client: Client, three: list[Path], action: str
) -> None:
    before = rows()
    response = client.post(f"{API}/torrents/{action}", ACTIONS[action])
    assert response.status_code == 400
    assert response.content == b"Missing required parameters: hashes"
    assert rows() == before and all(f.exists() for f in three)


CHANGING = ("delete", "stop", "pause", "start", "resume", "setCategory", "addTags", "removeTags")


@pytest.mark.parametrize("action", CHANGING)
def test_empty_hashes_name_no_torrent(client: Client, three: list[Path], action: str) -> None:
    before = rows()
    response = client.post(f"{API}/torrents/{action}", {"hashes": "", **ACTIONS[action]})
    assert response.status_code == 200
    assert rows() == before and all(f.exists() for f in three)


def test_only_the_literal_all_means_every_torrent(client: Client, three: list[Path]) -> None:
    for spelling in ("ALL", "All", " all", "all|"):
        client.post(f"{API}/torrents/addTags", {"hashes": spelling, "tags": "wrong"})
    assert sorted(i["tags"] for i in info(client)) == ["", "", "keep"]
    client.post(f"{API}/torrents/addTags", {"hashes": "all", "tags": "seen"})
    assert sorted(i["tags"] for i in info(client)) == ["keep, seen", "seen", "seen"]
    client.post(f"{API}/torrents/setCategory", {"hashes": "all", "category": "done"})
    assert {i["category"] for i in info(client)} == {"done"}


def test_hashes_pick_their_torrents_only(client: Client, three: list[Path]) -> None:
    one, two = hash_of(episode(1)), hash_of(episode(2)).upper()  # any case, as qB
    client.post(f"{API}/torrents/addTags", {"hashes": f"{one}|{two}|{'f' * 40}", "tags": "t"})
    assert sorted(i["tags"] for i in info(client)) == ["", "keep, t", "t"]


def test_delete_needs_deletefiles_as_qbittorrent_does(client: Client, three: list[Path]) -> None:
    response = client.post(f"{API}/torrents/delete", {"hashes": "all"})
    assert (response.status_code, response.content) == (
        400,
        b"Missing required parameters: deleteFiles",
    )
    assert ClientTask.objects.count() == 3


def test_deletefiles_false_keeps_the_files_even_for_all(client: Client, three: list[Path]) -> None:
    assert settings.CONFIG.delete_files_on_torrent_delete is True  # the default
    client.post(f"{API}/torrents/delete", {"hashes": "all", "deleteFiles": "false"})
    assert ClientTask.objects.count() == 0
    assert all(f.exists() for f in three)


def test_delete_files_setting_false_keeps_files_whatever_the_client_asks(
    client: Client, three: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, delete_files_on_torrent_delete=False)
    client.post(f"{API}/torrents/delete", {"hashes": "all", "deleteFiles": "true"})
    assert ClientTask.objects.count() == 0
    assert all(f.exists() for f in three)


def test_deletefiles_true_removes_only_the_named_torrents_files(
    client: Client, three: list[Path]
) -> None:
    client.post(f"{API}/torrents/delete", {"hashes": hash_of(episode(2)), "deleteFiles": "True"})
    assert [f.exists() for f in three] == [True, False, True]


def test_the_removed_log_line_names_the_hash(
    client: Client, three: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qbshim.torrents")
    h = hash_of(episode(1))
    client.post(f"{API}/torrents/delete", {"hashes": h, "deleteFiles": "false"})
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("removed")]
    assert line.startswith(f"removed {h} (") and "None" not in line


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("torrents/add", {"savepath": "/etc"}),
        ("torrents/add", {"savepath": "../../outside"}),
        ("torrents/createCategory", {"category": "x", "savePath": "/var/tmp"}),
        ("torrents/editCategory", {"category": "done", "savePath": "../.."}),
    ],
)
def test_a_refused_save_path_does_not_reveal_the_download_directory(
    client: Client, path: str, form: dict[str, str]
) -> None:
    Category.objects.create(name="done")
    body = {"urls": episode(1), **form} if path == "torrents/add" else form
    response = client.post(f"{API}/{path}", body)
    assert response.status_code == 400
    text = response.content.decode()
    assert "outside the download directory" in text
    internal = str(settings.CONFIG.download_dir)
    assert internal not in text and str(Path(internal).resolve()) not in text


def test_a_refused_save_path_names_the_public_path_the_client_knows(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, qbit_public_save_path="/downloads")
    response = client.post(f"{API}/torrents/add", {"urls": episode(1), "savepath": "/etc"})
    assert response.status_code == 400 and b"(/downloads)" in response.content
    assert str(settings.CONFIG.download_dir).encode() not in response.content
