"""The fake outside world, and the real `aniworld` package routed onto it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from catalog import aniworld_compat
from tests.fakeweb import FakeWeb
from tests.fakeweb import catalog_data as data
from tests.fakeweb.links import HosterLink

REPO = Path(__file__).resolve().parent.parent

# Requests (path patterns) one resolution makes at the hoster: the package follows
# the site's redirect to the embed page (GET #1), then the extractor fetches its own.
HOSTER_REQUESTS = {
    "VOE": {"/e/{code}": 2},
    "Vidmoly": {"/embed-{code}.html": 2},
    "Vidoza": {"/embed-{code}.html": 2},
    "Filemoon": {"/e/{code}": 1, "/api/videos/{code}": 1},
    "Doodstream": {"/e/{code}": 2, "/pass_md5/*/{code}": 1},
}
STREAM_FORMAT = {
    "VOE": "hls",
    "Vidmoly": "hls",
    "Filemoon": "hls",
    "Vidoza": "mov,mp4,m4a,3gp,3g2,mj2",
    "Doodstream": "mov,mp4,m4a,3gp,3g2,mj2",
}


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def ffprobe(url: str, *args: str) -> dict[str, Any]:
    cmd = ["ffprobe", "-v", "error", *args, "-of", "json"]
    cmd += ["-show_entries", "format=format_name:stream=codec_type,codec_name", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def decode(url: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", url, "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def video_frame_hashes(url: str) -> list[str]:
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", url, "-map", "0:v:0", "-f", "framemd5", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


def assert_hoster_traffic(web: FakeWeb, link: HosterLink) -> None:
    expected = HOSTER_REQUESTS[link.hoster]
    for pattern, n in expected.items():
        assert web.counts.total(link.server, pattern.format(code=link.code)) == n, pattern
    assert web.counts.total(link.server) == sum(expected.values())


def assert_playable(web: FakeWeb, stream_url: str, hoster: str) -> None:
    assert stream_url.startswith(web.urls["cdn"] + "/t/")
    probe = ffprobe(stream_url)
    assert probe["format"]["format_name"] == STREAM_FORMAT[hoster]
    kinds = {(s["codec_type"], s["codec_name"]) for s in probe["streams"]}
    assert kinds == {("video", "h264"), ("audio", "aac")}


# -- the real package against the fakes ---------------------------------------------


@pytest.mark.parametrize("hoster", list(HOSTER_REQUESTS))
def test_aniworld_series_to_stream_url_through_each_hoster(
    aniworld_web: FakeWeb, hoster: str
) -> None:
    from aniworld import AniworldSeries

    series = AniworldSeries(aniworld_compat.aniworld_url("kaiju-academy"))
    assert series.title == "Kaiju Academy"
    season = next(s for s in series.seasons if s.season_number == 1)
    episode = season.episodes[0]
    assert episode.url == aniworld_compat.aniworld_url("kaiju-academy", 1, 1)
    assert episode.title_de == "Der erste Schultag"
    episode.selected_language = "German Sub"
    episode.selected_provider = hoster
    assert set(episode.available_providers()) == set(data.HOSTERS)

    link = aniworld_web.links.find(data.ANIWORLD, "kaiju-academy", 1, 1, "German Sub", hoster)
    assert episode.redirect_url == f"https://aniworld.to/redirect/{link.redirect_id}"
    assert episode.provider_url == aniworld_web.embed_url(link)
    stream_url = episode.stream_url

    counts = aniworld_web.counts
    assert counts["aniworld"] == {
        "/anime/stream/kaiju-academy": 1,
        "/anime/stream/kaiju-academy/staffel-1": 1,
        "/anime/stream/kaiju-academy/staffel-1/episode-1": 1,
        f"/redirect/{link.redirect_id}": 1,
    }
    assert_hoster_traffic(aniworld_web, link)
    assert counts["sto"] == {}
    assert counts["cdn"] == {}
    assert_playable(aniworld_web, stream_url, hoster)
    assert counts.total("cdn") >= 1


@pytest.mark.parametrize("hoster", list(HOSTER_REQUESTS))
def test_sto_series_to_stream_url_through_each_hoster(aniworld_web: FakeWeb, hoster: str) -> None:
    from aniworld import SerienstreamSeries

    series = SerienstreamSeries(aniworld_compat.sto_url("the-quiet-harbor"))
    assert series.title == "The Quiet Harbor"
    assert [s.season_number for s in series.seasons] == [1, 2]
    season = series.seasons[0]
    assert season.episode_languages[2] == ("German Dub", "English Dub")
    episode = season.episodes[1]
    assert episode.url == aniworld_compat.sto_url("the-quiet-harbor", 1, 2)
    episode.selected_language = "English Dub"
    episode.selected_provider = hoster
    assert (episode.title_de, episode.title_en) == ("Nebel", "Fog")

    link = aniworld_web.links.find(data.STO, "the-quiet-harbor", 1, 2, "English Dub", hoster)
    assert episode.provider_url == aniworld_web.embed_url(link)
    stream_url = episode.stream_url

    assert aniworld_web.counts["sto"] == {
        "/serie/the-quiet-harbor": 1,
        "/serie/the-quiet-harbor/staffel-1": 1,
        "/serie/the-quiet-harbor/staffel-1/episode-2": 1,
        "/r": 1,
    }
    assert aniworld_web.counts["aniworld"] == {}
    assert_hoster_traffic(aniworld_web, link)
    assert_playable(aniworld_web, stream_url, hoster)


def test_aniworld_films_are_a_season_of_their_own(aniworld_web: FakeWeb) -> None:
    from aniworld import AniworldEpisode, AniworldSeries

    series = AniworldSeries(aniworld_compat.aniworld_url("kaiju-academy"))
    assert series.has_movies and series.season_count == 2
    films = series.seasons[-1]
    assert films.are_movies and films.season_number == 0
    assert [(e.episode_number, e.title_en) for e in films.episodes] == [
        (1, "Kaiju Academy the Movie: Red Tide"),
        (2, "Kaiju Academy: Beach Episode"),
    ]
    film = AniworldEpisode(
        aniworld_compat.aniworld_url("kaiju-academy", 0, 2),
        selected_language="German Dub",
        selected_provider="VOE",
    )
    assert film.is_movie
    assert_playable(aniworld_web, film.stream_url, "VOE")


def test_aniworld_languages_follow_the_catalogue(aniworld_web: FakeWeb) -> None:
    from aniworld import AniworldEpisode

    episode = AniworldEpisode(aniworld_compat.aniworld_url("star-drifters", 1, 3))
    assert episode.provider_link("German Dub", "VOE") is None
    assert episode.available_providers("German Sub") == ("VOE", "Filemoon")
    only_voe = AniworldEpisode(aniworld_compat.aniworld_url("kaiju-academy", 2, 2))
    assert only_voe.available_providers("German Dub") == ("VOE",)


def test_byterange_playlist_is_served_to_the_package(aniworld_web: FakeWeb) -> None:
    from aniworld import AniworldEpisode

    episode = AniworldEpisode(
        aniworld_compat.aniworld_url("moonlit-blade", 1, 1),
        selected_language="German Dub",
        selected_provider="VOE",
    )
    url = episode.stream_url
    assert url.endswith("/hls/byterange/master.m3u8")
    assert decode(url).returncode == 0


def test_sto_ip_fallback_is_refused_with_the_sites_answer(aniworld_web: FakeWeb) -> None:
    from aniworld import SerienstreamSeries

    aniworld_web.sto.fail_next("/serie/nordlicht", status=404, count=100)
    with pytest.raises(aniworld_compat.RoutingError) as failure:
        _ = SerienstreamSeries(aniworld_compat.sto_url("nordlicht")).title
    message = str(failure.value)
    assert "186.2.175.5" in message and "disabled" in message
    assert f"HTTP 404 from {aniworld_web.urls['sto']}/serie/nordlicht" in message
    # serienstream.to and .cx, two attempts each, all answered by the configured site.
    assert aniworld_web.counts["sto"] == {"/serie/nordlicht": 4}


def test_routes_follow_a_new_base_url_and_keep_canonical_urls(aniworld_web: FakeWeb) -> None:
    from aniworld.config import GLOBAL_SESSION

    with FakeWeb(aniworld_web.media.root.parent) as mirror:
        aniworld_compat.install_routes(mirror.urls["aniworld"], mirror.urls["sto"])
        try:
            response = GLOBAL_SESSION.get("https://aniworld.to/animes-alphabet?x=1")
            assert response.status_code == 200
            assert response.url == "https://aniworld.to/animes-alphabet?x=1"
            assert mirror.counts["aniworld"] == {"/animes-alphabet": 1}
            assert aniworld_web.counts["aniworld"] == {}
        finally:
            aniworld_compat.install_routes(aniworld_web.urls["aniworld"], aniworld_web.urls["sto"])
    GLOBAL_SESSION.get("https://www.aniworld.to/animes-alphabet")
    assert aniworld_web.counts["aniworld"] == {"/animes-alphabet": 1}


def test_package_urls_are_canonical() -> None:
    assert aniworld_compat.package_url("aniworld.to", "a-b") == (
        "https://aniworld.to/anime/stream/a-b"
    )
    assert aniworld_compat.aniworld_url("a", 2, 5) == (
        "https://aniworld.to/anime/stream/a/staffel-2/episode-5"
    )
    assert aniworld_compat.aniworld_url("a", 0) == "https://aniworld.to/anime/stream/a/filme"
    assert aniworld_compat.aniworld_url("a", 0, 3) == (
        "https://aniworld.to/anime/stream/a/filme/film-3"
    )
    assert aniworld_compat.package_url("s.to", "x", 1, 2) == (
        "https://serienstream.to/serie/x/staffel-1/episode-2"
    )
    for bad in ("../x", "a/b", "", "a?b"):
        with pytest.raises(ValueError, match="slug"):
            aniworld_compat.aniworld_url(bad)
    with pytest.raises(ValueError, match="season"):
        aniworld_compat.sto_url("x", None, 1)
    with pytest.raises(ValueError, match="megakino"):
        aniworld_compat.package_url("megakino", "x")


def test_prepare_environment_contains_the_package_import(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, logging, os, sys
        from pathlib import Path
        before = dict(os.environ)
        from catalog import aniworld_compat
        aniworld_compat.prepare_environment(Path(sys.argv[1]))
        import aniworld.config
        after = dict(os.environ)
        print(json.dumps({
            "added": sorted(set(after) - set(before)),
            "changed": sorted(k for k in before if after.get(k) != before[k]),
            "handlers": len(logging.getLogger("aniworld").handlers),
            "urllib3_level": logging.getLogger("urllib3").level,
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIWORLD_")}
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    env["TMPDIR"] = str(tmp_path / "systmp")
    env["HOME"] = str(tmp_path / "userhome")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    (tmp_path / "systmp").mkdir()
    home = tmp_path / "pkghome"
    result = subprocess.run(
        [sys.executable, "-c", script, str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["added"] == [
        "ANIWORLD_DOWNLOAD_PATH",
        "ANIWORLD_INSTALL_FOLDER",
        "ANIWORLD_NO_AUTO_INSTALL",
    ]
    assert report["changed"] == []
    assert report["handlers"] == 0
    assert report["urllib3_level"] == 0
    assert (home / ".env").is_file()
    assert (home / "tmp" / "aniworld.log").is_file()
    assert not (tmp_path / "systmp" / "aniworld.log").exists()
    assert not (tmp_path / "userhome" / ".aniworld").exists()


# -- the CDN ---------------------------------------------------------------------------


def test_cdn_serves_ranges_head_and_416(fakeweb: FakeWeb) -> None:
    url = fakeweb.cdn.sign("mp4/video.mp4")
    size = fakeweb.media.progressive.stat().st_size
    content = fakeweb.media.progressive.read_bytes()

    status, headers, body = fetch(url, "HEAD")
    assert (status, headers["content-length"], body) == (200, str(size), b"")
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "video/mp4"

    status, headers, body = fetch(url, headers={"Range": "bytes=100-199"})
    assert (status, headers["content-range"], body) == (
        206,
        f"bytes 100-199/{size}",
        content[100:200],
    )
    status, headers, body = fetch(url, headers={"Range": "bytes=-10"})
    assert (status, headers["content-range"], body) == (
        206,
        f"bytes {size - 10}-{size - 1}/{size}",
        content[-10:],
    )
    status, headers, body = fetch(url, headers={"Range": "bytes=0-"})
    assert (status, headers["content-length"]) == (206, str(size))
    status, headers, body = fetch(url, headers={"Range": f"bytes={size}-"})
    assert (status, headers["content-range"], body) == (416, f"bytes */{size}", b"")
    status, _, body = fetch(url, headers={"Range": "bytes=0-1,5-6"})
    assert (status, len(body)) == (200, size)
    status, _, body = fetch(url, headers={"Range": "bytes=NaN-NaN"})
    assert (status, len(body)) == (200, size)
    status, _, body = fetch(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert (status, len(body)) == (200, size)


def test_cdn_tokens_expire(fakeweb: FakeWeb) -> None:
    short = fakeweb.cdn.sign("hls/ts/master.m3u8", lifetime=0.05)
    hour = fakeweb.cdn.sign("hls/ts/master.m3u8", lifetime=3600)
    forever = fakeweb.cdn.sign("hls/ts/master.m3u8")
    time.sleep(0.1)
    assert fetch(short)[0] == 403
    assert fetch(hour)[0] == 200
    assert fetch(forever)[0] == 200
    fakeweb.cdn.expire_tokens()
    status, _, body = fetch(forever)
    assert (status, body) == (403, b"token expired")
    assert fetch(fakeweb.url("cdn", "/t/nonsense/hls/ts/master.m3u8"))[0] == 403


def test_cdn_binds_tokens_to_user_agent_and_referer(fakeweb: FakeWeb) -> None:
    url = fakeweb.cdn.sign("mp4/video.mp4", user_agent="UA/1", referer="https://voe.sx/")
    good = {"User-Agent": "UA/1", "Referer": "https://voe.sx/"}
    assert fetch(url, "HEAD", good)[0] == 200
    assert fetch(url, "HEAD", {**good, "User-Agent": "Lavf/59"})[0] == 403
    assert fetch(url, "HEAD", {"User-Agent": "UA/1"})[0] == 403


@pytest.mark.parametrize("hoster", list(HOSTER_REQUESTS))
def test_bound_hoster_links_play_with_the_stream_headers(
    aniworld_web: FakeWeb, hoster: str
) -> None:
    from aniworld import AniworldEpisode

    aniworld_web.cdn.bind_user_agent = True
    aniworld_web.cdn.bind_referer = True
    episode = AniworldEpisode(
        aniworld_compat.aniworld_url("kaiju-academy", 1, 2),
        selected_language="German Dub",
        selected_provider=hoster,
    )
    url = episode.stream_url
    headers = aniworld_compat.stream_headers(hoster)
    assert fetch(url, "HEAD", headers)[0] == 200
    assert fetch(url, "HEAD", {**headers, "User-Agent": "Lavf/59.27.100"})[0] == 403


def test_cdn_hls_variants_decode_to_the_source_frames(fakeweb: FakeWeb) -> None:
    source = video_frame_hashes(str(fakeweb.media.source("180p")))
    assert len(source) == 150
    for kind in ("aes", "fmp4", "byterange"):
        assert video_frame_hashes(fakeweb.cdn.sign(f"hls/{kind}/180p/index.m3u8")) == source
    aes = fakeweb.cdn.sign("hls/aes/master.m3u8")
    result = decode(aes)
    assert result.returncode == 0, result.stderr
    assert fakeweb.counts.total("cdn", "*/hls/aes/360p/enc.key") == 1
    playlist = fetch(fakeweb.cdn.sign("hls/aes/360p/index.m3u8"))[2].decode()
    assert '#EXT-X-KEY:METHOD=AES-128,URI="enc.key"' in playlist
    playlist = fetch(fakeweb.cdn.sign("hls/fmp4/360p/index.m3u8"))[2].decode()
    assert '#EXT-X-MAP:URI="init.mp4"' in playlist
    playlist = fetch(fakeweb.cdn.sign("hls/byterange/360p/index.m3u8"))[2].decode()
    assert "#EXT-X-BYTERANGE:" in playlist


def test_fault_knobs_fail_stall_and_drop(fakeweb: FakeWeb) -> None:
    url = fakeweb.cdn.sign("hls/ts/360p/seg0.ts")
    size = fakeweb.media.root.joinpath("hls/ts/360p/seg0.ts").stat().st_size
    fakeweb.cdn.fail_next("hls/ts/360p/seg0.ts", status=503, count=2)
    assert [fetch(url)[0] for _ in range(3)] == [503, 503, 200]

    fakeweb.cdn.stall_next("hls/ts/*", seconds=0.3)
    started = time.monotonic()
    assert fetch(url)[0] == 200
    assert time.monotonic() - started >= 0.3

    fakeweb.cdn.stall_next("hls/ts/360p/seg0.ts", seconds=0.2, after_bytes=100)
    started = time.monotonic()
    assert len(fetch(url)[2]) == size
    assert time.monotonic() - started >= 0.2

    fakeweb.cdn.drop_next("hls/ts/360p/seg0.ts", after_bytes=1000)
    with pytest.raises(http.client.IncompleteRead) as short:
        fetch(url)
    assert len(short.value.partial) == 1000
    assert len(fetch(url)[2]) == size
    assert fakeweb.counts.total("cdn", "*/seg0.ts") == 7


def test_counts_ignore_the_query_and_reset(fakeweb: FakeWeb) -> None:
    fetch(fakeweb.url("sto", "/api/search/suggest?term=a"))
    fetch(fakeweb.url("sto", "/api/search/suggest?term=b"))
    assert fakeweb.counts.count("sto", "/api/search/suggest") == 2
    assert [r.query for r in fakeweb.counts.requests("sto")] == ["term=a", "term=b"]
    fakeweb.counts.reset()
    assert fakeweb.counts["sto"] == {}


# -- indexes, SkyHook, megakino ----------------------------------------------------


def test_alphabet_pages_and_sto_suggest(fakeweb: FakeWeb) -> None:
    body = fetch(fakeweb.url("aniworld", "/animes-alphabet"))[2].decode()
    assert (
        '<a href="/anime/stream/moonlit-blade" data-alternative-title="Tsukiyo no Yaiba">'
        "Moonlit Blade</a>" in body
    )
    assert body.count('href="/anime/stream/') == len(data.ANIME)
    body = fetch(fakeweb.url("sto", "/serien?by=alpha"))[2].decode()
    assert '<a href="/serie/nordlicht" data-alternative-title="">Nordlicht</a>' in body
    status, headers, raw = fetch(fakeweb.url("sto", "/api/search/suggest?term=Hafen"))
    assert (status, headers["content-type"]) == (200, "application/json")
    assert json.loads(raw)["shows"] == [
        {"name": "The Quiet Harbor", "url": "/serie/the-quiet-harbor"}
    ]
    assert json.loads(fetch(fakeweb.url("sto", "/api/search/suggest?term=zzz"))[2])["shows"] == []


def test_skyhook_show_has_absolute_numbers_and_specials(fakeweb: FakeWeb) -> None:
    status, _, raw = fetch(fakeweb.url("skyhook", "/v1/tvdb/shows/en/900001"))
    show = json.loads(raw)
    assert (status, show["tvdbId"], show["title"]) == (200, 900001, "Kaiju Academy")
    regular = [
        (e["seasonNumber"], e["episodeNumber"], e["absoluteEpisodeNumber"])
        for e in show["episodes"]
        if e["seasonNumber"] > 0
    ]
    assert regular == [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 4), (2, 2, 5)]
    specials = [e for e in show["episodes"] if e["seasonNumber"] == 0]
    assert [(e["episodeNumber"], e["title"]) for e in specials] == [
        (1, "Beach Episode"),
        (2, "The Movie: Red Tide"),
        (3, "Recap: Year One"),
    ]
    assert all("absoluteEpisodeNumber" not in e and e["airDate"] for e in specials)
    hits = json.loads(fetch(fakeweb.url("skyhook", "/v1/tvdb/search/en/?term=kaijuu"))[2])
    assert [h["tvdbId"] for h in hits] == [900001]
    assert fetch(fakeweb.url("skyhook", "/v1/tvdb/shows/en/1"))[0] == 404


def test_megakino_sitemaps_lead_to_pages_with_hoster_iframes(aniworld_web: FakeWeb) -> None:
    from aniworld.extractors import provider_functions

    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    # Our own fake's XML: nothing to defuse.
    index = ET.fromstring(fetch(aniworld_web.url("megakino", "/sitemap.xml"))[2])
    pages = []
    for loc in index.findall("sm:sitemap/sm:loc", ns):
        child = ET.fromstring(fetch(str(loc.text))[2])
        pages += [str(u.text) for u in child.findall("sm:url/sm:loc", ns)]
    base = aniworld_web.urls["megakino"]
    assert pages == [f"{base}/films/101-iron-orchard.html", f"{base}/serials/202-glass-rivers.html"]

    film = fetch(pages[0])[2].decode()
    voe = aniworld_web.links.find("megakino", "iron-orchard", 1, 1, "German Dub", "VOE")
    assert f'<iframe src="{aniworld_web.embed_url(voe)}"' in film
    assert "<span>VOE</span><span>Doodstream</span>" in film
    stream_url = provider_functions["get_direct_link_from_voe"](aniworld_web.embed_url(voe))
    assert stream_url.startswith(aniworld_web.urls["cdn"])

    serial = fetch(pages[1])[2].decode()
    assert serial.count('<option value="ep') == 3
    third = aniworld_web.links.find("megakino", "glass-rivers", 1, 3, "German Dub", "Vidoza")
    assert f'<option value="{aniworld_web.embed_url(third)}">Vidoza</option>' in serial


# -- running it on its own -------------------------------------------------------------


def test_module_runs_in_the_foreground_until_sigterm(fakeweb: FakeWeb) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeweb", "--media-dir", str(fakeweb.media.root.parent)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == set(fakeweb.urls)
        assert fetch(urls["aniworld"] + "/animes-alphabet")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
