"""The site clients (AniWorld, s.to, Megakino) against the fake web."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from catalog.identity import EpisodeIdentity
from catalog.sites import enabled_sites, get_site
from catalog.sites.base import NotOnSite, SiteError, TitleEntry
from tests.fakeweb import FakeWeb
from tests.fakeweb import catalog_data as data
from tests.processes import REPO

ALL_HOSTERS = ["VOE", "Vidmoly", "Filemoon", "Doodstream", "Vidoza"]


def languages(identity: EpisodeIdentity) -> dict[str, list[str]]:
    links = get_site(identity.site).hoster_links(identity)
    return {language: list(hosters) for language, hosters in links.items()}


# -- title index ---------------------------------------------------------------------------


def alphabet(series: tuple[data.Series, ...]) -> list[TitleEntry]:
    """What an alphabet page of the fake lists, in its order."""
    listed = sorted((s for s in series if s.listed), key=lambda s: s.title)
    return [TitleEntry(s.site, s.slug, s.title, s.alt_titles) for s in listed]


def test_aniworld_title_entries_come_with_alternative_titles(fake_sites: FakeWeb) -> None:
    entries = get_site("aniworld.to").title_entries()
    assert entries == alphabet(data.ANIME)
    kaiju = next(e for e in entries if e.slug == "kaiju-academy")
    assert kaiju == TitleEntry(
        "aniworld.to", "kaiju-academy", "Kaiju Academy", ("Kaijuu Gakuen", "怪獣学園")
    )
    assert fake_sites.counts["aniworld"] == {"/animes-alphabet": 1}


def test_sto_title_entries_and_suggest(fake_sites: FakeWeb) -> None:
    site = get_site("s.to")
    entries = site.title_entries()
    assert entries == alphabet(data.STO_SERIES)
    assert TitleEntry("s.to", "the-quiet-harbor", "The Quiet Harbor", ("Der stille Hafen",)) in (
        entries
    )
    assert site.suggest("Hafen") == [TitleEntry("s.to", "the-quiet-harbor", "The Quiet Harbor")]
    assert site.suggest("zzz") == []
    assert site.suggest("  ") == []
    assert fake_sites.counts["sto"] == {"/serien": 1, "/api/search/suggest": 2}


def test_aniworld_suggest_uses_the_sites_search(fake_sites: FakeWeb) -> None:
    hits = get_site("aniworld").suggest("Yaiba")
    assert hits == [TitleEntry("aniworld.to", "moonlit-blade", "Moonlit Blade")]
    assert fake_sites.counts["aniworld"] == {"/ajax/search": 1}


def test_megakino_title_entries_come_from_the_sitemaps(fake_sites: FakeWeb) -> None:
    site = get_site("megakino")
    entries = site.title_entries()
    assert [e.slug for e in entries] == [f"{m.id}-{m.slug}" for m in data.MEGAKINO]
    # Sitemaps carry no titles: the slug gives one.
    assert TitleEntry("megakino", "101-iron-orchard", "Iron Orchard") in entries
    assert site.suggest("Iron") == []
    assert fake_sites.counts["megakino"] == {
        "/sitemap.xml": 1,
        "/sitemap-films.xml": 1,
        "/sitemap-serials.xml": 1,
    }


def test_a_failing_index_page_is_a_one_line_site_error(fake_sites: FakeWeb) -> None:
    fake_sites.aniworld.fail_next("/animes-alphabet", status=503)
    with pytest.raises(SiteError) as failure:
        get_site("aniworld.to").title_entries()
    assert "HTTP 503" in str(failure.value) and "\n" not in str(failure.value)


# -- seasons and films ---------------------------------------------------------------------


def test_seasons_count_episodes_with_films_as_season_zero(fake_sites: FakeWeb) -> None:
    assert get_site("aniworld.to").seasons("kaiju-academy") == {0: 2, 1: 3, 2: 2}
    assert get_site("aniworld.to").seasons("star-drifters") == {1: 4}
    assert get_site("s.to").seasons("the-quiet-harbor") == {1: 3, 2: 2}
    assert get_site("megakino").seasons("101-iron-orchard") == {0: 1}
    assert get_site("megakino").seasons("202-glass-rivers") == {1: 3}


def test_film_titles(fake_sites: FakeWeb) -> None:
    assert get_site("aniworld.to").film_titles("kaiju-academy") == {
        1: "Kaiju Academy the Movie: Red Tide",
        2: "Kaiju Academy: Beach Episode",
    }
    assert get_site("aniworld.to").film_titles("star-drifters") == {}
    assert get_site("s.to").film_titles("the-quiet-harbor") == {}
    assert get_site("megakino").film_titles("101-iron-orchard") == {1: "Iron Orchard"}
    assert get_site("megakino").film_titles("202-glass-rivers") == {}


def test_unknown_series_is_not_on_the_site(fake_sites: FakeWeb) -> None:
    for site in ("aniworld.to", "s.to"):
        with pytest.raises(NotOnSite, match="HTTP 404"):
            get_site(site).seasons("no-such-series")
    with pytest.raises(NotOnSite):
        get_site("megakino").seasons("999-no-such-film")
    with pytest.raises(NotOnSite, match="slug"):
        get_site("megakino").seasons("no-id")


# -- hoster links and languages ------------------------------------------------------------


def test_aniworld_episode_languages_and_hosters(fake_sites: FakeWeb) -> None:
    kaiju = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub")
    assert languages(kaiju) == dict.fromkeys(
        ("German Dub", "German Sub", "English Sub"), ALL_HOSTERS
    )
    finale = dataclasses.replace(kaiju, season=2, episode=2)
    assert languages(finale) == {
        lang: ["VOE"] for lang in ("German Dub", "German Sub", "English Sub")
    }
    subs_only = EpisodeIdentity("aniworld.to", "star-drifters", 1, 3, "German Sub")
    assert languages(subs_only) == {
        "German Sub": ["VOE", "Filemoon"],
        "English Sub": ["VOE", "Filemoon"],
    }
    film = dataclasses.replace(kaiju, season=0, episode=2)
    assert list(languages(film)) == ["German Dub", "German Sub", "English Sub"]
    link = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 0, 2, "German Dub", "VOE")
    assert get_site("aniworld.to").hoster_links(film)["German Dub"]["VOE"] == (
        f"https://aniworld.to/redirect/{link.redirect_id}"
    )


def test_sto_knows_german_and_english_dub(fake_sites: FakeWeb) -> None:
    harbor = EpisodeIdentity("s.to", "the-quiet-harbor", 2, 1, "German Dub")
    assert languages(harbor) == {"German Dub": ALL_HOSTERS, "English Dub": ALL_HOSTERS}
    nordlicht = EpisodeIdentity("s.to", "nordlicht", 1, 2, "German Dub")
    assert languages(nordlicht) == {"German Dub": ["VOE"]}


def test_missing_episode_is_not_on_the_site(fake_sites: FakeWeb) -> None:
    with pytest.raises(NotOnSite, match="S01E09"):
        get_site("aniworld.to").hoster_links(
            EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 9, "German Dub")
        )
    fake_sites.counts.reset()
    with pytest.raises(NotOnSite, match="S01E09"):
        get_site("s.to").hoster_links(EpisodeIdentity("s.to", "nordlicht", 1, 9, "German Dub"))
    # The package tries both s.to domains twice; one more request reads the status.
    assert fake_sites.counts["sto"] == {"/serie/nordlicht/staffel-1/episode-9": 5}


def test_a_failing_episode_page_is_a_site_error_not_a_missing_episode(
    fake_sites: FakeWeb,
) -> None:
    path = "/anime/stream/kaiju-academy/staffel-1/episode-1"
    fake_sites.aniworld.fail_next(path, status=503, count=2)
    with pytest.raises(SiteError, match="HTTP 503"):
        get_site("aniworld.to").hoster_links(
            EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub")
        )


def test_megakino_film_and_serial_hosters(fake_sites: FakeWeb) -> None:
    film = EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Dub")
    voe = fake_sites.links.find("megakino", "iron-orchard", 1, 1, "German Dub", "VOE")
    links = get_site("megakino").hoster_links(film)
    assert list(links["German Dub"]) == ["VOE", "Doodstream"]
    assert links["German Dub"]["VOE"] == fake_sites.embed_url(voe)

    third = EpisodeIdentity("megakino", "202-glass-rivers", 1, 3, "German Dub")
    vidoza = fake_sites.links.find("megakino", "glass-rivers", 1, 3, "German Dub", "Vidoza")
    links = get_site("megakino").hoster_links(third)
    assert links == {
        "German Dub": {
            "VOE": fake_sites.embed_url(
                fake_sites.links.find("megakino", "glass-rivers", 1, 3, "German Dub", "VOE")
            ),
            "Vidoza": fake_sites.embed_url(vidoza),
        }
    }
    with pytest.raises(NotOnSite, match="S00E01"):
        get_site("megakino").hoster_links(dataclasses.replace(film, season=1))
    with pytest.raises(NotOnSite):
        get_site("megakino").hoster_links(dataclasses.replace(third, episode=4))


def test_megakino_fetches_its_token_cookie_when_the_page_asks(fake_sites: FakeWeb) -> None:
    # This thread's session may hold the cookie from an earlier test (fault tests that
    # show Megakino pages without a player make it fetch one).
    from catalog.sites.http import _session

    _session().cookies.clear()
    fake_sites.megakino.require_token_cookie = True
    get_site("megakino").seasons("202-glass-rivers")
    assert fake_sites.counts["megakino"] == {
        "/serials/202-glass-rivers.html": 2,
        "/index.php": 1,
    }


# -- the registry --------------------------------------------------------------------------


def test_get_site_takes_aliases_and_enabled_sites_follow_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert get_site("sto") is get_site("s.to")
    assert get_site("AniWorld").name == "aniworld.to"
    with pytest.raises(ValueError, match="unknown site"):
        get_site("kinox")
    config = dataclasses.replace(settings.CONFIG, catalog_sites=("megakino", "aniworld.to"))
    monkeypatch.setattr(settings, "CONFIG", config)
    assert [site.name for site in enabled_sites()] == ["megakino", "aniworld.to"]


def test_importing_the_catalog_does_not_load_the_aniworld_package() -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import django
        django.setup()
        import catalog.package, catalog.probe, catalog.resolve, catalog.sites
        from catalog.sites import aniworld, megakino, sto
        from catalog.sites import get_site
        get_site("aniworld.to"), get_site("s.to"), get_site("megakino")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "aniworld")))
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "anibridge_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("html", "year"),
    [
        (
            '<div class="pmovie__year"><span itemprop="dateCreated"> <a href="/jahr/2023/">'
            "2023</a></span>, 120 min</div>",
            2023,
        ),
        ('<span itemprop="dateCreated"><a href="/jahr/1999/">1999</a></span>', 1999),
        ('<div class="pmovie__year">, 95 min</div><p>since 2020</p>', None),
        ("<h1>No year here 2024</h1>", None),
    ],
)
def test_megakino_page_year(html: str, year: int | None) -> None:
    from catalog.sites.megakino import _parse

    assert _parse(html).year() == year
