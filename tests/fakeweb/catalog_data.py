"""What the fake outside world contains. Tests refer to these titles, slugs and counts.

All titles are invented. Languages use the package's labels ("German Dub",
"German Sub", "English Sub", "English Dub"); s.to only knows German Dub and English
Dub. Hosters use the package's provider names.

- aniworld.to `kaiju-academy`: 2 seasons (3 + 2 episodes, absolute 1-5 in SkyHook),
  2 films that are SkyHook specials in the *other* order (film-1 = S00E02), plus a
  SkyHook-only special S00E03; S02E02 is only on VOE.
- aniworld.to `star-drifters`: 1 season of 4, subtitles only (no German Dub).
- aniworld.to `moonlit-blade`: 1 season of 2, German Dub on VOE only, VOE serving
  the byte-range HLS playlist; found by its alternative title "Tsukiyo no Yaiba".
- s.to `the-quiet-harbor`: 2 seasons (3 + 2); `nordlicht`: 1 season of 2, German only.
- megakino: film `iron-orchard` (id 101), serial `glass-rivers` (id 202, 3 episodes).

Numbering and specials cases (catalog.numbering, catalog.specials, catalog.lookup):
- aniworld.to `blossom-knights`: 2 seasons of 3 on the site, but TVDB has one season
  of 6 (absolute 1-6); film-1 is special S00E02 "Eternal Spring" by a loose title,
  film-2 "Spring Festival Encore" only resembles S00E01 "Autumn Festival Night".
- aniworld.to `lantern-road`: 1 season of 4 on the site, TVDB splits it 2 + 2.
- s.to `midnight-ferry`: missing from the alphabet page, found by the suggest API only.
- s.to `iron-orchard`: a series with the title of the Megakino film.

A series added today (catalog.index's refresh on a miss):
- aniworld.to `paper-comets` (LATE): SkyHook knows it from the start; the site lists
  and serves it only once a test calls `FakeWeb.publish("paper-comets")`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANIWORLD = "aniworld.to"
STO = "s.to"

# What each hoster's stream URL points at on the fake CDN (see media.py).
HOSTER_MEDIA: dict[str, str] = {
    "VOE": "hls/ts/master.m3u8",
    "Vidmoly": "hls/aes/master.m3u8",
    "Filemoon": "hls/fmp4/master.m3u8",
    "Doodstream": "dood/",  # + 10 random characters appended by the extractor
    "Vidoza": "mp4/video.mp4",
}
HOSTERS = tuple(HOSTER_MEDIA)


@dataclass(frozen=True)
class Episode:
    number: int
    title_de: str
    title_en: str
    air_date: str
    languages: tuple[str, ...] | None = None  # None: the series' languages
    hosters: tuple[str, ...] | None = None  # None: the series' hosters


@dataclass(frozen=True)
class Season:
    number: int
    episodes: tuple[Episode, ...]


@dataclass(frozen=True)
class Special:
    """A SkyHook season-0 episode; `film` is the aniworld `film-N` it is, if any."""

    number: int
    title: str
    air_date: str
    film: int | None = None


@dataclass(frozen=True)
class Film:
    number: int
    title: str


@dataclass(frozen=True)
class Series:
    site: str
    slug: str
    title: str
    year: int
    imdb: str
    tvdb_id: int
    seasons: tuple[Season, ...]
    languages: tuple[str, ...]
    hosters: tuple[str, ...]
    alt_titles: tuple[str, ...] = ()
    films: tuple[Film, ...] = ()
    specials: tuple[Special, ...] = ()
    # hoster -> CDN resource, where it differs from HOSTER_MEDIA
    media: dict[str, str] = field(default_factory=dict, hash=False)
    # TVDB's regular season sizes where TVDB splits the episodes differently from the
    # site (same episodes, same order); () = as on the site.
    tvdb_layout: tuple[int, ...] = ()
    tmdb_id: int | None = None
    listed: bool = True  # False: not on the site's alphabet page (search finds it)

    def season(self, number: int) -> Season:
        return next(s for s in self.seasons if s.number == number)

    def episode(self, season: int, number: int) -> Episode:
        return next(e for e in self.season(season).episodes if e.number == number)

    def episode_languages(self, episode: Episode) -> tuple[str, ...]:
        return episode.languages or self.languages

    def episode_hosters(self, episode: Episode) -> tuple[str, ...]:
        return episode.hosters or self.hosters

    def media_for(self, hoster: str) -> str:
        return self.media.get(hoster, HOSTER_MEDIA[hoster])

    def absolute_number(self, season: int, number: int) -> int:
        before = sum(len(s.episodes) for s in self.seasons if s.number < season)
        return before + number


@dataclass(frozen=True)
class MegakinoEntry:
    kind: str  # "film" | "serial"
    id: int
    slug: str
    title: str
    year: int
    hosters: tuple[str, ...]
    episodes: int = 0  # serials only

    @property
    def path(self) -> str:
        return f"/{'films' if self.kind == 'film' else 'serials'}/{self.id}-{self.slug}.html"


ANIME: tuple[Series, ...] = (
    Series(
        site=ANIWORLD,
        slug="kaiju-academy",
        title="Kaiju Academy",
        alt_titles=("Kaijuu Gakuen", "怪獣学園"),
        year=2021,
        imdb="tt9000001",
        tvdb_id=900001,
        languages=("German Dub", "German Sub", "English Sub"),
        hosters=HOSTERS,
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Der erste Schultag", "The First Day", "2021-04-03"),
                    Episode(2, "Monster im Keller", "Monster in the Basement", "2021-04-10"),
                    Episode(3, "Die Prüfung", "The Exam", "2021-04-17"),
                ),
            ),
            Season(
                2,
                (
                    Episode(1, "Zurück an der Akademie", "Back at the Academy", "2022-10-01"),
                    Episode(2, "Das Finale", "The Finale", "2022-10-08", hosters=("VOE",)),
                ),
            ),
        ),
        films=(
            Film(1, "Kaiju Academy the Movie: Red Tide"),
            Film(2, "Kaiju Academy: Beach Episode"),
        ),
        specials=(
            Special(1, "Beach Episode", "2021-08-01", film=2),
            Special(2, "The Movie: Red Tide", "2023-03-10", film=1),
            Special(3, "Recap: Year One", "2022-09-24"),
        ),
    ),
    Series(
        site=ANIWORLD,
        slug="star-drifters",
        title="Star Drifters",
        year=2023,
        imdb="tt9000002",
        tvdb_id=900002,
        languages=("German Sub", "English Sub"),
        hosters=("VOE", "Filemoon"),
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Abflug", "Departure", "2023-01-07"),
                    Episode(2, "Asteroidenfeld", "Asteroid Field", "2023-01-14"),
                    Episode(3, "Funkstille", "Radio Silence", "2023-01-21"),
                    Episode(4, "Heimkehr", "Homecoming", "2023-01-28"),
                ),
            ),
        ),
    ),
    Series(
        site=ANIWORLD,
        slug="moonlit-blade",
        title="Moonlit Blade",
        alt_titles=("Tsukiyo no Yaiba",),
        year=2019,
        imdb="tt9000003",
        tvdb_id=900003,
        languages=("German Dub",),
        hosters=("VOE",),
        media={"VOE": "hls/byterange/master.m3u8"},
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Die Klinge erwacht", "The Blade Awakens", "2019-07-05"),
                    Episode(2, "Mondfinsternis", "Eclipse", "2019-07-12"),
                ),
            ),
        ),
    ),
    Series(
        site=ANIWORLD,
        slug="blossom-knights",
        title="Blossom Knights",
        year=2020,
        imdb="tt9000004",
        tvdb_id=900004,
        tmdb_id=800004,
        languages=("German Sub",),
        hosters=("VOE",),
        tvdb_layout=(6,),
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Knospen", "Buds", "2020-04-02"),
                    Episode(2, "Dornen", "Thorns", "2020-04-09"),
                    Episode(3, "Blütezeit", "Full Bloom", "2020-04-16"),
                ),
            ),
            Season(
                2,
                (
                    Episode(1, "Welke Blätter", "Withered Leaves", "2020-04-23"),
                    Episode(2, "Frost", "Frost", "2020-04-30"),
                    Episode(3, "Neuer Frühling", "New Spring", "2020-05-07"),
                ),
            ),
        ),
        films=(
            Film(1, "Blossom Knights: Eternal Spring - Director's Cut"),
            Film(2, "Blossom Knights: Spring Festival Encore"),
        ),
        specials=(
            Special(1, "Autumn Festival Night", "2020-10-01"),
            Special(2, "Eternal Spring", "2021-03-01", film=1),
        ),
    ),
    Series(
        site=ANIWORLD,
        slug="lantern-road",
        title="Lantern Road",
        year=2018,
        imdb="tt9000005",
        tvdb_id=900005,
        languages=("German Dub",),
        hosters=("VOE",),
        tvdb_layout=(2, 2),
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Aufbruch", "Setting Out", "2018-01-05"),
                    Episode(2, "Nachtmarkt", "Night Market", "2018-01-12"),
                    Episode(3, "Brücken", "Bridges", "2018-01-19"),
                    Episode(4, "Heimweg", "Way Home", "2018-01-26"),
                ),
            ),
        ),
    ),
)

STO_SERIES: tuple[Series, ...] = (
    Series(
        site=STO,
        slug="the-quiet-harbor",
        title="The Quiet Harbor",
        alt_titles=("Der stille Hafen",),
        year=2020,
        imdb="tt9000101",
        tvdb_id=900101,
        languages=("German Dub", "English Dub"),
        hosters=HOSTERS,
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Ankunft", "Arrival", "2020-02-02"),
                    Episode(2, "Nebel", "Fog", "2020-02-09"),
                    Episode(3, "Sturmwarnung", "Storm Warning", "2020-02-16"),
                ),
            ),
            Season(
                2,
                (
                    Episode(1, "Neue Gesichter", "New Faces", "2021-03-07"),
                    Episode(2, "Ebbe", "Low Tide", "2021-03-14"),
                ),
            ),
        ),
    ),
    Series(
        site=STO,
        slug="nordlicht",
        title="Nordlicht",
        year=2022,
        imdb="tt9000102",
        tvdb_id=900102,
        languages=("German Dub",),
        hosters=("VOE",),
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Polarnacht", "Polar Night", "2022-11-01"),
                    Episode(2, "Aurora", "Aurora", "2022-11-08"),
                ),
            ),
        ),
    ),
    Series(
        site=STO,
        slug="midnight-ferry",
        title="Midnight Ferry",
        year=2024,
        imdb="tt9000103",
        tvdb_id=900103,
        languages=("German Dub",),
        hosters=("VOE",),
        listed=False,
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Letzte Fahrt", "Last Crossing", "2024-09-01"),
                    Episode(2, "Nebelhorn", "Foghorn", "2024-09-08"),
                ),
            ),
        ),
    ),
    Series(
        site=STO,
        slug="iron-orchard",
        title="Iron Orchard",
        year=2021,
        imdb="tt9000104",
        tvdb_id=900104,
        languages=("German Dub",),
        hosters=("VOE",),
        seasons=(Season(1, (Episode(1, "Rost", "Rust", "2021-05-02"),)),),
    ),
)

# Series a site adds during a test (FakeWeb.publish); SkyHook knows them all along.
LATE: tuple[Series, ...] = (
    Series(
        site=ANIWORLD,
        slug="paper-comets",
        title="Paper Comets",
        year=2025,
        imdb="tt9000006",
        tvdb_id=900006,
        languages=("German Dub",),
        hosters=("VOE",),
        seasons=(
            Season(
                1,
                (
                    Episode(1, "Papierflieger", "Paper Planes", "2025-10-04"),
                    Episode(2, "Sternschnuppe", "Shooting Star", "2025-10-11"),
                ),
            ),
        ),
    ),
)

MEGAKINO: tuple[MegakinoEntry, ...] = (
    MegakinoEntry("film", 101, "iron-orchard", "Iron Orchard", 2024, ("VOE", "Doodstream")),
    MegakinoEntry("serial", 202, "glass-rivers", "Glass Rivers", 2023, ("VOE", "Vidoza"), 3),
)


def anime(slug: str) -> Series:
    return next(s for s in ANIME if s.slug == slug)


def sto_series(slug: str) -> Series:
    return next(s for s in STO_SERIES if s.slug == slug)


def megakino(slug: str) -> MegakinoEntry:
    return next(m for m in MEGAKINO if m.slug == slug)


def all_series() -> tuple[Series, ...]:
    return ANIME + STO_SERIES + LATE
