"""Bad input at every door, generated (hypothesis) and hand-picked: each case must get
the protocol's own clear error (qB `Fails.`/4xx, Torznab `<error>`, proxy 4xx/502)
or a valid answer, and leave no row or file behind.

Each family records how many cases it tried (tests/resilience/record.py). Hypothesis
runs are bounded (`max_examples`) so the file stays well under a minute.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import ipaddress
import json
import re
import socket
import string
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode
from xml.etree import ElementTree as ET

import pytest
import urllib3
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anibridge_site.redis_client import get_redis
from catalog.egress import hls, ssrf
from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads.models import Job
from qbshim.models import Category, ClientTask
from strm import cache, proxy
from strm.proxy import MAX_PLAYLIST_DEPTH
from strm.signing import (
    MAX_TOKEN_CHARS,
    ProxyToken,
    TokenTooLarge,
    decode_token,
    encode_token,
    generation_of,
)
from strm.stream_urls import proxy_prefix, stream_url
from tests.fakeweb.server import Request, Response, file_response
from tests.resilience.record import record
from tests.strm_helpers import (
    BASE,
    Origin,
    get,
    head,
    local_path,
    store_resolution,
    use_proxy_config,
)
from torznab import search

pytestmark = pytest.mark.django_db

API = "/api/v2"


def bounded(examples: int) -> settings:
    """Hypothesis settings for one family: a few hundred cases at most, no example
    database (nothing written into the repository), fixtures shared by all examples."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


class Tally:
    """Counts the cases a family tried (hypothesis examples and hand-picked ones)."""

    def __init__(self) -> None:
        self.tried = 0

    def __call__(self) -> None:
        self.tried += 1


# --- the filesystem and the tables ---------------------------------------------------------


class Sandbox:
    """DOWNLOAD_DIR inside an otherwise empty directory: a write anywhere near it
    (inside or outside) shows up in `tree()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.downloads = root / "downloads"
        self.downloads.mkdir()
        self.baseline = self.tree()

    def tree(self) -> set[str]:
        """Every file, directory and link under the root, relative."""
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*")}

    def assert_unchanged(self) -> None:
        assert self.tree() == self.baseline, "a refused request wrote to the filesystem"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A Sandbox as DOWNLOAD_DIR; at the end nothing may have appeared in it."""
    box = Sandbox(tmp_path)
    monkeypatch.setattr(
        django_settings,
        "CONFIG",
        dataclasses.replace(django_settings.CONFIG, download_dir=box.downloads.resolve()),
    )
    yield box
    box.assert_unchanged()


def row_counts() -> tuple[int, int, int]:
    """(ClientTask, Job, Category) rows; any found are deleted, so that one accepted
    case fails only itself and not every hypothesis example after it."""
    counts = ClientTask.objects.count(), Job.objects.count(), Category.objects.count()
    if any(counts):
        ClientTask.objects.all().delete()
        Job.objects.all().delete()
        Category.objects.all().delete()
    return counts


# --- magnets via torrents/add --------------------------------------------------------------

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
RELEASE = "Kaiju.No.8.S01E05.1080p.WEB.H264.GERMAN-ANIWORLD"
GOOD_MAGNET = build_magnet(KAIJU, RELEASE)
GOOD_HASH = GOOD_MAGNET.split("btih:")[1].split("&")[0]
REQUIRED = ("xt", "dn", "aw_slug", "aw_s", "aw_e", "aw_lang")

Fields = list[tuple[str, str]]


def good_fields() -> Fields:
    return [
        ("xt", f"urn:btih:{GOOD_HASH}"),
        ("dn", RELEASE),
        ("aw_slug", KAIJU.slug),
        ("aw_s", "1"),
        ("aw_e", "5"),
        ("aw_lang", "German Dub"),
        ("aw_site", "aniworld.to"),
    ]


def assemble(fields: Fields, prefix: str = "magnet:?") -> str:
    return prefix + "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields)


def _replace(fields: Fields, key: str, value: str) -> Fields:
    return [(k, value if k == key else v) for k, v in fields] + (
        [] if any(k == key for k, _ in fields) else [(key, value)]
    )


def _is_usable_btih(value: str) -> bool:
    """40 hex or 32 unpadded base32 characters: what Sonarr itself accepts."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{40}|[A-Za-z2-7]{32}", value))


CONTROL = st.sampled_from([chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))])
NOT_DIGITS = st.text(min_size=1, max_size=30).filter(lambda t: not re.fullmatch(r"[0-9]+", t))
BAD_HASH = st.text(alphabet=string.printable + "äß€\u200b", max_size=80).filter(
    lambda t: not _is_usable_btih(t)
)
WRONG_PREFIXES = ("", "magnet:", "magnet?", "magnet:/?", "magnet://?", "http://x/?", "urn:btih:?")
TRAVERSAL_NAMES = (
    "../escape",
    "../../etc/passwd",
    "..",
    "a/../../b",
    "/absolute/name",
    "back\\slash",
    "..\\..\\windows",
    "name\x00.mkv",
    "x" * 241,  # longer than a release name may be (a file name is at most 255 bytes)
    "ü" * 121,  # 242 bytes in UTF-8
    "\u202e" + "x" * 300,
)


@st.composite
def breaker(draw: st.DrawFn) -> Callable[[Fields], tuple[Fields, str]]:
    """One change that alone makes the magnet unusable; returns (fields, prefix)."""
    kind = draw(
        st.sampled_from(
            [
                "drop",
                "prefix",
                "hash",
                "xt-namespace",
                "huge",
                "control",
                "number",
                "range",
                "language",
                "site",
                "traversal",
                "mixed",
                "duplicate",
                "mode",
                "provider",
            ]
        )
    )
    prefix = "magnet:?"
    if kind == "drop":
        gone = draw(st.sets(st.sampled_from(REQUIRED), min_size=1))
        return lambda f: ([(k, v) for k, v in f if k not in gone], prefix)
    if kind == "prefix":
        wrong = draw(st.sampled_from(WRONG_PREFIXES))
        return lambda f: (f, wrong)
    if kind == "hash":
        value = draw(BAD_HASH)
        return lambda f: (_replace(f, "xt", "urn:btih:" + value), prefix)
    if kind == "xt-namespace":
        namespace = draw(st.sampled_from(["urn:sha1:", "urn:btmh:", "btih:", "urn:ed2k:", ""]))
        return lambda f: (_replace(f, "xt", namespace + GOOD_HASH), prefix)
    if kind == "huge":
        key = draw(st.sampled_from([*REQUIRED, "aw_site", "aw_provider", "x" * 3000]))
        size = draw(st.integers(min_value=2049, max_value=40_000))
        return lambda f: (_replace(f, key, "7" * size), prefix)
    if kind == "control":
        key = draw(st.sampled_from(["dn", "aw_slug", "aw_lang", "aw_site", "aw_provider"]))
        char = draw(CONTROL)
        return lambda f: (
            _replace(f, key, dict(f).get(key, "VOE")[:3] + char + dict(f).get(key, "VOE")[3:]),
            prefix,
        )
    if kind == "number":
        key = draw(st.sampled_from(["aw_s", "aw_e"]))
        value = draw(NOT_DIGITS)
        return lambda f: (_replace(f, key, value), prefix)
    if kind == "range":
        key, low = draw(st.sampled_from([("aw_s", 1000), ("aw_e", 10000)]))
        value = str(draw(st.integers(min_value=low, max_value=10**40)))
        return lambda f: (_replace(f, key, value), prefix)
    if kind == "language":
        value = draw(st.sampled_from(["Klingon", "German Dubbed Sub", "", " ", "de-DE", "0"]))
        return lambda f: (_replace(f, "aw_lang", value), prefix)
    if kind == "site":
        value = draw(
            st.sampled_from(["example.com", "aniworld.to.evil", "file:///", "s.to/..", "-"])
        )
        return lambda f: (_replace(f, "aw_site", value), prefix)
    if kind == "traversal":
        value = draw(st.sampled_from(TRAVERSAL_NAMES))
        key = draw(st.sampled_from(["dn", "aw_slug"]))
        return lambda f: (_replace(f, key, value), prefix)
    if kind == "mixed":
        return lambda f: ([*f, ("sto_slug", "dark")], prefix)
    if kind == "duplicate":
        key = draw(st.sampled_from([*REQUIRED[1:], "aw_site"]))
        return lambda f: ([*f, (key, dict(f).get(key, "x"))], prefix)
    if kind == "mode":
        value = draw(st.sampled_from(["STRM2", "both", "http", "strm\x00", "1"]))
        return lambda f: (_replace(f, "aw_mode", value), prefix)
    # provider: not a hoster name, or longer than the provider columns (32)
    value = draw(st.sampled_from(["x" * 33, "VOE/../x", "-VOE", "VOE\tVidoza", "💥"]))
    return lambda f: (_replace(f, "aw_provider", value), prefix)


@st.composite
def broken_magnets(draw: st.DrawFn) -> str:
    fields, prefix = good_fields(), "magnet:?"
    for change in draw(st.lists(breaker(), min_size=1, max_size=3)):
        fields, new_prefix = change(fields)
        prefix = new_prefix if new_prefix != "magnet:?" else prefix
    return assemble(fields, prefix)


HANDPICKED_MAGNETS = [
    "",
    "\n\n",
    "magnet:?",
    "magnet:?xt=urn:btih:",
    GOOD_MAGNET.replace("magnet:?", "MAGNET:"),
    GOOD_MAGNET.replace(GOOD_HASH, GOOD_HASH[:-1]),
    GOOD_MAGNET.replace(GOOD_HASH, GOOD_HASH + "0"),
    GOOD_MAGNET.replace(GOOD_HASH, "g" * 40),
    # Padded base32 of fewer than 20 bytes: decodes, but is no 160-bit info hash.
    GOOD_MAGNET.replace(GOOD_HASH, "A" * 26 + "======"),
    GOOD_MAGNET.replace(GOOD_HASH, base64.b32encode(b"\x01" * 19).decode().ljust(32, "=")),
    GOOD_MAGNET + "&xt=urn:btih:" + "f" * 40,  # two different hashes
    GOOD_MAGNET + "&dn=%FF%FE",  # invalid UTF-8 escape (and a second dn)
    GOOD_MAGNET.replace(f"dn={quote_plus(RELEASE)}", "dn=%C0%AE%C0%AE%2Fx"),  # overlong '../'
    GOOD_MAGNET.replace("aw_s=1", "aw_s=%EF%BC%91"),  # fullwidth digit one
    GOOD_MAGNET.replace("aw_e=5", "aw_e=-5"),
    GOOD_MAGNET + "&" + "&".join(f"f{i}=1" for i in range(100)),  # too many fields
    GOOD_MAGNET + "&x=" + "y" * 20_000,  # longer than a magnet may be
    "\n".join([GOOD_MAGNET] * 201),  # more magnets than one call may add
    GOOD_MAGNET + "\n" + GOOD_MAGNET.replace("aw_e=5", "aw_e=five"),  # all or nothing
    "http://127.0.0.1:1/file.torrent",
    "bc://bt/" + "A" * 40,
    "\x00" + GOOD_MAGNET,
]


def test_torrents_add_refuses_every_broken_magnet_and_writes_nothing(
    client: Client, sandbox: Sandbox
) -> None:
    tally = Tally()

    def check(urls: str) -> None:
        tally()
        response = client.post(f"{API}/torrents/add", {"urls": urls, "category": "tv"})
        assert (response.status_code, response.content) == (200, b"Fails."), urls[:300]
        assert row_counts() == (0, 0, 0), urls[:300]

    @bounded(300)
    @given(broken_magnets(), st.integers(min_value=0, max_value=3))
    def generated(broken: str, good_ones: int) -> None:
        # A broken magnet among good ones: the whole call is refused, none is added.
        check("\n".join([GOOD_MAGNET] * good_ones + [broken]))

    generated()
    for urls in HANDPICKED_MAGNETS:
        check(urls)
    # The same request with the good magnet alone is accepted: the refusals above
    # are about the breakage, not about the setup.
    assert client.post(f"{API}/torrents/add", {"urls": GOOD_MAGNET}).content == b"Ok."
    assert ClientTask.objects.get().hash == GOOD_HASH
    ClientTask.objects.all().delete()
    Job.objects.all().delete()
    record(
        "qB torrents/add: broken magnets",
        tally.tried,
        "all refused with Fails., 0 rows, 0 files",
    )


# --- Torznab parameters ----------------------------------------------------------------------

TORZNAB_TYPES = ("application/xml; charset=utf-8", "application/rss+xml; charset=utf-8")
NUMBERISH = st.one_of(
    st.integers(min_value=0, max_value=200).map(str),  # fine values, so feeds come back too
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(
        ["", " ", "-0", "+5", "1e3", "0x10", "\u0661\u0662", "00", "5.0", "NaN", "∞", "1,2"]
    ),
    st.text(max_size=40),
)
TORZNAB_PARAMS: dict[str, st.SearchStrategy[str]] = {
    "t": st.one_of(
        st.sampled_from(["caps", "search", "tvsearch", "tv-search", "movie", "TVSEARCH"]),
        st.sampled_from(["", "music", "book", "details", "getnfo", "caps\x00", "<x/>"]),
        st.text(max_size=60),
    ),
    "q": st.one_of(
        st.text(max_size=80),
        st.text(alphabet=string.ascii_letters + " ", min_size=290, max_size=400),
        st.sampled_from(["05", "Kaiju No. 8 05", "' OR 1=1 --", "%00", "a\x00b", "<![CDATA["]),
    ),
    "season": NUMBERISH,
    "ep": st.one_of(NUMBERISH, st.sampled_from(["03/15", "/", "12/", "//"])),
    "offset": NUMBERISH,
    "limit": NUMBERISH,
    "cat": st.one_of(
        st.lists(NUMBERISH, max_size=5).map(",".join),
        st.sampled_from(["5000,5070", ",,,", "5070,", "all", "-1", "9" * 40]),
    ),
    "tvdbid": NUMBERISH,
    "imdbid": st.one_of(NUMBERISH, st.sampled_from(["tt0944947", "tt", "TT12", "tt-1"])),
    "tmdbid": NUMBERISH,
    "extended": st.sampled_from(["1", "0", "yes", "☃"]),
}


def check_torznab_answer(response: Any) -> ET.Element:
    """A Torznab answer: XML (error or feed), never a traceback page, JSON or a 5xx."""
    assert response.status_code in (200, 400), response.content[:300]
    assert response["Content-Type"] in TORZNAB_TYPES, response["Content-Type"]
    root = ET.fromstring(response.content)  # well-formed XML, or this raises
    assert root.tag in ("error", "rss", "caps"), root.tag
    if root.tag == "error":
        code = root.get("code", "")
        # 900 is "the search failed": a crash behind the parameters, not a refusal.
        assert code.isdigit() and int(code) < 900, response.content[:300]
        assert root.get("description")
        assert response.status_code == (200 if int(code) < 200 else 400)
    else:
        assert response.status_code == 200
    return root


@pytest.fixture
def quick_searches(fake_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Searches against the fake sites that do not wait for probe workers (there are
    none here): only the parameter handling is under test."""
    monkeypatch.setattr(search, "SEARCH_DEADLINE_SECONDS", 0.0)
    return fake_sites


def test_torznab_answers_junk_parameters_with_an_error_or_a_feed(
    client: Client, quick_searches: Any
) -> None:
    tally = Tally()
    roots: dict[str, int] = {}

    def check(params: dict[str, str] | str) -> None:
        tally()
        # A string is sent as the raw query (bytes a client may send, valid or not).
        url = "/torznab/api" + (f"?{params}" if isinstance(params, str) else "")
        root = check_torznab_answer(client.get(url, {} if isinstance(params, str) else params))
        roots[root.tag] = roots.get(root.tag, 0) + 1

    @bounded(300)
    @given(st.fixed_dictionaries({}, optional=TORZNAB_PARAMS))
    def generated(params: dict[str, str]) -> None:
        check(params)

    generated()
    handpicked: list[dict[str, str] | str] = [
        {},
        {"t": "search", "offset": "-1"},
        {"t": "search", "limit": "-100"},
        {"t": "search", "offset": "9" * 5000},  # more digits than int() takes by default
        {"t": "tvsearch", "season": "\u0661"},  # an Arabic-Indic digit
        {"t": "tvsearch", "ep": "²"},
        {"t": "tvsearch", "q": "x" * 100_000},
        {"t": "\x01\x02caps"},  # control characters must not break the error XML
        {"t": "search", "cat": "\x00"},
        {"t": "caps", "apikey": "\x00"},
        "t=search&q=%ED%A0%80",  # an encoded UTF-16 surrogate
        "t=%FF%FE&q=%C0%80",  # not UTF-8 at all
        "t=tvsearch&season=1&season=2&ep=%00",
        "t=search&" + "&".join(f"p{i}=1" for i in range(2000)),  # many parameters
    ]
    for params in handpicked:
        check(params)
    # Both kinds of answer were seen: the junk was not all refused by one early check.
    assert roots.get("error", 0) > 0 and roots.get("rss", 0) > 0, roots
    record(
        "Torznab: junk parameters",
        tally.tried,
        f"{roots.get('error', 0)} <error> XML, {roots.get('rss', 0) + roots.get('caps', 0)} "
        "valid feeds/caps, 0 tracebacks/JSON/5xx",
    )


# --- qB form bodies ------------------------------------------------------------------------------

QB_CALLS = (
    ("POST", "torrents/add"),
    ("POST", "torrents/createCategory"),
    ("POST", "torrents/editCategory"),
    ("POST", "torrents/removeCategories"),
    ("POST", "torrents/setCategory"),
    ("POST", "torrents/delete"),
    ("POST", "torrents/stop"),
    ("POST", "torrents/start"),
    ("POST", "torrents/addTags"),
    ("POST", "torrents/removeTags"),
    ("POST", "torrents/setShareLimits"),
    ("GET", "torrents/info"),
    ("POST", "torrents/info"),
    ("GET", "torrents/properties"),
    ("GET", "torrents/files"),
    ("GET", "sync/maindata"),
    ("POST", "auth/login"),
    ("GET", "torrents/add"),
    ("GET", "torrents/delete"),
)
QB_FIELDS = (
    "urls",
    "category",
    "savepath",
    "savePath",
    "stopped",
    "paused",
    "tags",
    "hashes",
    "hash",
    "deleteFiles",
    "filter",
    "sort",
    "reverse",
    "limit",
    "offset",
    "rid",
    "username",
    "password",
    "categories",
    "ratioLimit",
)
JUNK_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["maybe", "True", "FALSE", "yes", "2", "-1", "", "null", "[]", "{}"]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["all", "a" * 40, "|".join(["b" * 40] * 3), GOOD_HASH, GOOD_MAGNET]),
    st.sampled_from(["name", "size", "eta", "state", "added_on", "tags", "hash", "__class__"]),
    st.sampled_from(["../up", "/etc", "\x00", "tv\nsonarr", "x" * 5000, "9" * 5000]),
)
QB_REFUSED = (400, 404, 405, 409, 415)


def seed_two_torrents(client: Client) -> None:
    """Two torrents and a category, so sorting, filters and hash lists have material."""
    other = build_magnet(KAIJU.__class__("s.to", "dark", 3, 8, "German Dub"), "Dark.S03E08-STO")
    for uri in (GOOD_MAGNET, other):
        assert client.post(f"{API}/torrents/add", {"urls": uri, "category": "tv"}).content == (
            b"Ok."
        )


def snapshot_rows() -> tuple[object, ...]:
    """Everything a refused call must leave as it was (rows and their fields)."""
    return (
        sorted(ClientTask.objects.values_list("hash", "category", "tags", "stopped", "save_path")),
        sorted(Job.objects.values_list("id", "status", "save_path", "release_name")),
        sorted(Category.objects.values_list("name", "save_path")),
    )


def check_qb_answer(response: Any) -> bool:
    """Whether a qB call was refused; either way it was one of qB's own answers."""
    status = response.status_code
    assert status == 200 or status in QB_REFUSED, (status, response.content[:300])
    content_type = response.get("Content-Type", "")
    if status in (400, 415) or (status == 200 and response.content == b"Fails."):
        # A one-line reason in plain text, never Django's HTML error page.
        assert content_type.startswith("text/plain"), content_type
        assert b"<html" not in response.content.lower() and response.content.count(b"\n") <= 1
        return True
    return status in QB_REFUSED


def test_qb_api_refuses_malformed_form_bodies_and_writes_nothing(
    client: Client, sandbox: Sandbox
) -> None:
    seed_two_torrents(client)
    tally = Tally()
    refused = 0

    def check(method: str, path: str, **kwargs: Any) -> None:
        nonlocal refused
        tally()
        before = snapshot_rows()
        call = client.post if method == "POST" else client.get
        if check_qb_answer(call(f"{API}/{path}", **kwargs)):
            refused += 1
            assert snapshot_rows() == before, (method, path, str(kwargs)[:300])

    @bounded(300)
    @given(
        st.sampled_from(QB_CALLS),
        st.dictionaries(
            st.one_of(st.sampled_from(QB_FIELDS), st.text(min_size=1, max_size=20)),
            JUNK_TEXT,
            max_size=6,
        ),
    )
    def generated(call: tuple[str, str], form: dict[str, str]) -> None:
        method, path = call
        check(method, path, data=form)

    generated()
    big = "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    many = {f"f{i}": "1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    boundary = "----anibridge"
    handpicked: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "torrents/add", {"data": {"urls": GOOD_MAGNET, "stopped": "maybe"}}),
        ("POST", "torrents/add", {"data": {"urls": GOOD_MAGNET, "paused": "perhaps"}}),
        ("POST", "torrents/add", {"data": {"urls": big}}),  # multipart (the test client's)
        ("POST", "torrents/add", {"data": {"urls": "x", "torrents": _upload(3 * 1024 * 1024)}}),
        ("POST", "torrents/add", {"data": many}),
        ("POST", "auth/login", {"data": many}),
        ("POST", "auth/login", {"data": {"username": big, "password": "x"}}),
        ("POST", "torrents/createCategory", {"data": many}),
        (
            "POST",
            "torrents/add",
            {
                "data": "&".join(f"f{i}=1" for i in range(5000)),
                "content_type": "application/x-www-form-urlencoded",
            },
        ),
        (
            "POST",
            "torrents/add",
            {"data": b"urls=%FF%FE%00", "content_type": "application/x-www-form-urlencoded"},
        ),
        (
            "POST",
            "torrents/add",
            {"data": b'{"urls": "magnet:?"}', "content_type": "application/json"},
        ),
        (
            "POST",
            "torrents/add",
            {
                "data": f'--{boundary}\r\nContent-Disposition: form-data; name="urls"\r\n\r\nx',
                "content_type": f"multipart/form-data; boundary={boundary}",
            },
        ),
        (
            "POST",
            "torrents/add",
            {"data": b"--", "content_type": "multipart/form-data; boundary="},
        ),
        ("GET", "torrents/info", {"data": {"limit": "9" * 5000}}),
        ("GET", "torrents/info", {"data": {"offset": "-" + "9" * 30}}),
        ("GET", "torrents/info", {"data": {"filter": "nonsense"}}),
        ("GET", "sync/maindata", {"data": {"rid": str(2**63)}}),
        ("GET", "sync/maindata", {"data": {"rid": "-" + str(2**70)}}),
        ("GET", "torrents/properties", {"data": {"hash": "\x00" * 41}}),
        ("POST", "torrents/delete", {"data": {"hashes": "|" * 10_000, "deleteFiles": "maybe"}}),
        ("POST", "torrents/setCategory", {"data": {"hashes": "all", "category": "missing"}}),
    ]
    for method, path, kwargs in handpicked:
        check(method, path, **kwargs)
    assert refused >= 30, refused  # the junk reached the checks, not only the happy paths
    record(
        "qB form bodies: junk fields, types, sizes",
        tally.tried,
        f"{refused} refused with Fails./4xx (text, rows unchanged), "
        f"{tally.tried - refused} harmless 200s, 0 5xx, 0 files",
    )


def _upload(size: int) -> Any:

    return SimpleUploadedFile("x.torrent", b"d" * size, "application/x-bittorrent")


# --- the original's JSON endpoint ----------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner)
)


def test_legacy_download_refuses_junk_json_and_writes_nothing(
    client: Client, sandbox: Sandbox
) -> None:
    tally = Tally()
    accepted = 0

    def check(body: bytes) -> None:
        nonlocal accepted
        tally()
        response = client.post("/downloader/download", body, content_type="application/json")
        assert response.status_code in (200, 400), (response.status_code, body[:200])
        assert response["Content-Type"] == "application/json"
        if response.status_code == 400:
            assert response.json()["detail"] and Job.objects.count() == 0, body[:200]
        else:
            accepted += 1
            Job.objects.all().delete()

    @bounded(200)
    @given(
        st.fixed_dictionaries(
            {},
            optional={
                "slug": st.one_of(JSON_VALUES, st.sampled_from(["kaiju-no-8", "../x", "a/b"])),
                "season": st.one_of(JSON_VALUES, st.integers(0, 5)),
                "episode": st.one_of(JSON_VALUES, st.integers(0, 5)),
                "language": st.one_of(JSON_VALUES, st.sampled_from(["German Dub", "gersub"])),
                "site": st.one_of(JSON_VALUES, st.sampled_from(["s.to", "aniworld.to"])),
                "provider": st.one_of(JSON_VALUES, st.sampled_from(["VOE", "x" * 40])),
                "title_hint": JSON_VALUES,
            },
        )
    )
    def generated(body: dict[str, Any]) -> None:

        check(json.dumps(body).encode())

    generated()
    for body in [
        b"",
        b"[]",
        b"null",
        b"\xff\xfe",
        b'{"slug": "kaiju-no-8", "season": Infinity, "episode": 1}',
        b'{"slug": "kaiju-no-8", "season": 1, "episode": -Infinity}',
        b'{"slug": "kaiju-no-8", "season": NaN, "episode": 1}',
        b'{"slug": "kaiju-no-8", "season": 1e400, "episode": 1}',
        b'{"slug": "kaiju-no-8", "season": ' + b"9" * 5000 + b', "episode": 1}',
        b'{"slug": "kaiju-no-8", "season": "\xd9\xa1", "episode": 1}',  # Arabic-Indic one
        b"[" * 100_000,  # nesting deeper than the JSON parser's recursion limit
    ]:
        check(body)
    record(
        "legacy /downloader/download: junk JSON",
        tally.tried,
        f"{tally.tried - accepted} refused with 400 JSON and 0 rows, "
        f"{accepted} valid bodies queued, 0 5xx",
    )


# --- path traversal: release names, category names, save paths -----------------------------------

TRAVERSAL_SAVE_PATHS = (
    "../escape",
    "../../etc",
    "/etc",
    "/tmp",
    "sub/../../x",
    "./../x",
    "downloads/../../x",
    "/proc/self/cwd/../x",
    "\x00",
    "sub\x00/x",
    "sub/" + "x" * 5000,  # inside, but longer than any save path column holds
    "/" + "a/" * 600,
    "link/inside",  # a symlink in DOWNLOAD_DIR that points outside it
    "link/../../x",
)
TRAVERSAL_CATEGORIES = (
    "../x",
    "..",
    "/abs",
    "a/../../b",
    "a\\b",
    "tv\x00",
    "tv\nsonarr",  # removeCategories splits on newlines
    "tv\r",
    "x" * 101,
    "/",
)
SEGMENTS = st.sampled_from(["..", ".", "a", "b c", "", "downloads", "\x00", "~", "x" * 300])


def refused(response: Any) -> bool:
    return response.status_code in (400, 409) or (
        response.status_code == 200 and response.content == b"Fails."
    )


def test_path_traversal_in_names_and_save_paths_is_refused_and_writes_nothing(
    client: Client, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = sandbox.root / "outside"
    outside.mkdir()
    (sandbox.downloads / "link").symlink_to(outside, target_is_directory=True)
    sandbox.baseline = sandbox.tree()
    assert client.post(f"{API}/torrents/createCategory", {"category": "tv"}).status_code == 200
    tally = Tally()

    def check_refused(path: str, form: dict[str, str]) -> None:
        tally()
        before = snapshot_rows()
        response = client.post(f"{API}/{path}", form)
        assert refused(response), (path, str(form)[:200], response.status_code, response.content)
        assert response["Content-Type"].startswith("text/plain")
        assert snapshot_rows() == before, (path, str(form)[:200])
        sandbox.assert_unchanged()

    for save_path in TRAVERSAL_SAVE_PATHS:
        check_refused("torrents/createCategory", {"category": "new", "savePath": save_path})
        check_refused("torrents/editCategory", {"category": "tv", "savePath": save_path})
        check_refused("torrents/add", {"urls": GOOD_MAGNET, "savepath": save_path})
    for name in TRAVERSAL_CATEGORIES:
        check_refused("torrents/createCategory", {"category": name})
        check_refused("torrents/add", {"urls": GOOD_MAGNET, "category": name})
    for name in TRAVERSAL_NAMES:
        check_refused("torrents/add", {"urls": build_magnet_raw(dn=name)})
    # Sonarr's view of the path (QBIT_PUBLIC_SAVE_PATH) may not be a way out either.
    monkeypatch.setattr(
        django_settings,
        "CONFIG",
        dataclasses.replace(django_settings.CONFIG, qbit_public_save_path="/downloads"),
    )
    for save_path in ("/downloads/../etc", "/downloads/../../x", "/downloadsX/y", "/"):
        check_refused("torrents/createCategory", {"category": "new", "savePath": save_path})

    accepted = 0

    @bounded(150)
    @given(st.lists(SEGMENTS, min_size=1, max_size=8), st.booleans())
    def generated(segments: list[str], absolute: bool) -> None:
        nonlocal accepted
        tally()
        save_path = ("/downloads/" if absolute else "") + "/".join(segments)
        before = snapshot_rows()
        response = client.post(
            f"{API}/torrents/createCategory", {"category": "gen", "savePath": save_path}
        )
        if refused(response):
            assert snapshot_rows() == before, save_path
        else:
            assert response.status_code == 200, (response.status_code, response.content)
            # An empty save path means "the default", DOWNLOAD_DIR itself.
            stored = Path(Category.objects.get(name="gen").save_path or sandbox.downloads)
            assert stored.is_relative_to(sandbox.downloads.resolve()), (save_path, stored)
            assert len(str(stored)) <= 1024
            Category.objects.filter(name="gen").delete()
            accepted += 1
        sandbox.assert_unchanged()

    generated()
    assert accepted > 0  # the generator reaches paths that are fine, too
    record(
        "path traversal: dn, category names, save paths",
        tally.tried,
        f"every escaping name/path refused (Fails./400), {accepted} generated inside paths "
        "accepted and stored inside DOWNLOAD_DIR, 0 rows/files outside",
    )


def build_magnet_raw(**changes: str) -> str:
    """The good magnet with some fields set to raw (possibly invalid) values."""
    fields = good_fields()
    for key, value in changes.items():
        fields = _replace(fields, key, value)
    return assemble(fields)


# --- HLS playlists from a hostile upstream, through the proxy -------------------------------------

# A series the fake sites do not have: a re-resolve (after an upstream 404) fails at
# once with 502 instead of finding a real stream, so each case sees only its playlist.
FUZZ = EpisodeIdentity("aniworld.to", "no-such-series", 1, 1, "German Dub", "VOE")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
OPAQUE = ("data:", "skd:")
URI_ATTRIBUTE = re.compile(r'(?:URI|SERVER-URI|X-ASSET-URI|X-ASSET-LIST)="([^"]*)"')
# The tags whose URI attributes a player fetches (RFC 8216 and its successors).
URI_TAGS = (
    "#EXT-X-KEY:",
    "#EXT-X-SESSION-KEY:",
    "#EXT-X-MAP:",
    "#EXT-X-MEDIA:",
    "#EXT-X-I-FRAME-STREAM-INF:",
    "#EXT-X-IMAGE-STREAM-INF:",
    "#EXT-X-SESSION-DATA:",
    "#EXT-X-PART:",
    "#EXT-X-PRELOAD-HINT:",
    "#EXT-X-RENDITION-REPORT:",
    "#EXT-X-CONTENT-STEERING:",
    "#EXT-X-DATERANGE:",
)
SECONDS_PER_REQUEST = 10.0


def numeric_dns_only(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
    """Name resolution for the proxy in these tests: IP literals only, so a generated
    host name never becomes a DNS query leaving the machine."""

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: not resolved in tests") from None
    kind = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [(kind, socket.SOCK_STREAM, 6, "", (host, port))]


class HostileOrigin:
    """An upstream serving one generated body per case, and the client side of the proxy."""

    def __init__(self, origin: Any, client: Client) -> None:
        self.origin = origin
        self.client = client
        self.cases = 0

    def publish(self, body: bytes, content_type: str, **headers: str) -> str:
        """Serve `body` at a fresh path, as what FUZZ resolves to now (the proxy's
        cache and memo start empty, so no earlier case can answer instead)."""

        self.cases += 1
        get_redis().flushall()
        proxy._memo.clear()
        cache.forget_all()
        url = self.origin.serve(f"/c{self.cases}/index.m3u8", body, content_type, **headers)
        store_resolution(FUZZ, url)
        return url

    def entry(self) -> tuple[int, dict[str, str], bytes]:
        """GET the .strm entry URL of FUZZ."""

        return self.timed(stream_url(FUZZ))

    def as_variant(self, url: str) -> tuple[int, dict[str, str], bytes]:
        """GET `url` through a proxy token for a variant playlist (must be a playlist)."""

        token = ProxyToken(FUZZ, (Locator("variant", 0),), url, generation_of(url), True)
        return self.timed(f"{proxy_prefix()}/{encode_token(token)}/index.m3u8")

    def timed(self, url: str) -> tuple[int, dict[str, str], bytes]:

        started = time.monotonic()
        answer = get(self.client, url, Range="bytes=0-")
        assert time.monotonic() - started < SECONDS_PER_REQUEST, url[:200]
        return answer


def check_rewritten(status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """A 502 with a one-line reason, or a playlist whose every URI is a proxy URI.

    Returns the proxy URIs (to follow)."""

    assert status in (200, 502), (status, body[:300])
    if status == 502:
        assert headers["Content-Type"].startswith("text/plain") and body.count(b"\n") == 1
        return []
    assert headers["Content-Type"] == PLAYLIST_TYPE and "Content-Range" not in headers
    assert headers["Content-Length"] == str(len(body))
    text = body.decode("utf-8")
    assert text.startswith("#EXTM3U\n") and text.endswith("\n")
    proxied: list[str] = []
    prefix = f"{BASE}/strm/proxy/"
    for line in text.split("\n")[1:]:
        stripped = line.strip(" \t")
        if stripped and not stripped.startswith("#"):
            assert stripped.startswith(prefix) or stripped.lower().startswith(OPAQUE), line[:200]
            proxied += [stripped] if stripped.startswith(prefix) else []
        if not stripped.startswith(URI_TAGS) or "METHOD=NONE" in stripped:
            continue  # no URI a player fetches, or a key ffmpeg never fetches
        for uri in URI_ATTRIBUTE.findall(line):
            fetched = uri.strip(" \t")  # an empty URI names nothing to fetch
            assert (
                not fetched or fetched.startswith(prefix) or fetched.lower().startswith(OPAQUE)
            ), line[:200]
    return proxied


URI_TEXT = st.one_of(
    st.sampled_from(
        [
            "seg.ts",
            "/abs/seg.ts",
            "../up/seg.ts",
            "?q=1",
            "//127.0.0.1:1/x.ts",
            "http://127.0.0.2/x.ts",
            "http://[::1]/x.m3u8",
            "http://[::1",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "gopher://127.0.0.1:6379/_FLUSHALL",
            "data:text/plain,x",
            "skd://key",
            "%zz%",
            "a b\tc",
            "http://example.invalid/x.ts",
            "seg.ts#frag",
        ]
    ),
    st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
)
TAG_LINES = st.one_of(
    st.builds(lambda v: f"#EXTINF:{v},", st.text(max_size=12)),
    st.builds(lambda u: f'#EXT-X-KEY:METHOD=AES-128,URI="{u}"', URI_TEXT),
    st.builds(lambda u: f"#EXT-X-KEY:METHOD=NONE,URI={u}", URI_TEXT),
    st.builds(lambda u, r: f'#EXT-X-MAP:URI="{u}",BYTERANGE="{r}"', URI_TEXT, st.text(max_size=8)),
    st.builds(lambda v: f"#EXT-X-STREAM-INF:BANDWIDTH={v}", st.text(max_size=12)),
    st.builds(lambda v: f"#EXT-X-BYTERANGE:{v}", st.text(max_size=12)),
    st.builds(lambda v: f"#EXT-X-MEDIA-SEQUENCE:{v}", st.text(max_size=22)),
    st.builds(lambda u: f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="{u}"', URI_TEXT),
    st.builds(lambda u: f'#EXT-X-PART:DURATION=1,URI="{u}"', URI_TEXT),
    st.builds(lambda u: f'#EXT-X-RENDITION-REPORT:URI="{u}"', URI_TEXT),
    st.sampled_from(["#EXT-X-ENDLIST", "#EXT-X-IMAGES-ONLY", "# a comment", "", "  ", "#EXT"]),
)
PLAYLIST_LINES = st.lists(st.one_of(TAG_LINES, URI_TEXT), max_size=30)


@st.composite
def hostile_playlists(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(["#EXTM3U", "\ufeff#EXTM3U", "#EXTM3U ", "#EXTM3", "", "<html>"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join([header, *draw(PLAYLIST_LINES)])
    body = text.encode("utf-8", "surrogatepass")
    return body + draw(st.binary(max_size=64))


@pytest.fixture
def hostile(client: Client, fake_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:

    class AnswersEverything(Origin):
        """Unknown paths get a small segment: the rewritten URIs lead somewhere, and
        no case pays for a re-resolve after a 404."""

        def handle(self, request: Request) -> Response:
            if request.path in self.routes:
                return super().handle(request)
            return Response(200, b"\x47" * 188, "video/mp2t")

    use_proxy_config(monkeypatch)
    monkeypatch.setattr(ssrf, "getaddrinfo", numeric_dns_only)
    server = AnswersEverything()
    server.start()
    yield HostileOrigin(server, client)
    server.stop()


def test_hostile_playlists_become_502_or_a_fully_proxied_playlist(hostile: HostileOrigin) -> None:
    tally = Tally()
    outcomes = {"rewritten": 0, "502": 0, "passed through as media": 0}

    def check(body: bytes, **headers: str) -> None:
        tally()
        url = hostile.publish(body, PLAYLIST_TYPE, **headers)
        # As a variant the body must be a playlist: rewritten or refused.
        proxied = check_rewritten(*hostile.as_variant(url))
        # As the entry, a body that is no playlist may be a progressive file instead.
        status, headers, answer = hostile.entry()
        if status in (200, 206) and answer == body and not headers.get("Content-Encoding"):
            outcomes["passed through as media"] += 1  # what the proxy did not sniff as HLS
        else:
            proxied += check_rewritten(status, headers, answer)
            outcomes["rewritten" if status == 200 else "502"] += 1
        # What the rewritten playlist points to answers too (often 502: no such path).
        for uri in proxied[:2]:
            status, _, _ = hostile.timed(uri)
            assert status in (200, 206, 416, 502), (status, uri[:200])

    @bounded(100)
    @given(hostile_playlists())
    def generated(body: bytes) -> None:
        check(body)

    generated()

    for body in [
        b"#EXTM3U\n" + b"a" * (hls.MAX_LINE_CHARS + 1) + b"\n",  # one huge line
        b"#EXTM3U\n" + b"#\n" * (proxy.MAX_PLAYLIST_BYTES // 2),  # larger than the cap
        b"#EXTM3U\n#EXTINF:1,\nseg\x00.ts\n",  # NUL: ffmpeg would end the line there
        b"#EXTM3U\n" + bytes(range(256)) * 64,  # binary after a valid header
        bytes(range(256)) * 64,  # binary, no header at all
        b"\xef\xbb\xbf\xef\xbb\xbf#EXTM3U\n",  # two BOMs
        b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:" + b"9" * 5000 + b"\n#EXTINF:1,\ns.ts\n",
        b"#EXTM3U\n#EXT-X-BYTERANGE:" + b"9" * 30 + b"@0\n#EXTINF:1,\ns.ts\n",
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n" * 1000,  # variants without URIs
        b"<!DOCTYPE html><html><body>Error</body></html>",
        b"#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:0@0\ns.ts\n",  # a bit rate of zero
    ]:
        check(body)
    # A gzip bomb: small on the wire, far larger than the cap once inflated.
    check(gzip_bomb(proxy.MAX_PLAYLIST_BYTES * 4), **{"Content-Encoding": "gzip"})
    record(
        "STRM proxy: hostile HLS playlists",
        tally.tried,
        f"{outcomes['rewritten']} rewritten with every URI proxied, {outcomes['502']} refused "
        f"with 502, {outcomes['passed through as media']} non-playlists passed through as "
        f"media, 0 5xx other than 502, each < {SECONDS_PER_REQUEST:.0f} s",
    )


def gzip_bomb(size: int) -> bytes:

    return gzip.compress(b"#EXTM3U\n" + b"#" * size, compresslevel=9)


def follow_first_uri(hostile: HostileOrigin, hops: int) -> tuple[int, int]:
    """From the entry, keep opening the first URI of each playlist; (hops taken, status
    of the last answer). Each answer must be a rewritten playlist or a 502."""

    url = stream_url(FUZZ)
    for hop in range(hops):
        status, headers, body = hostile.timed(url)
        proxied = check_rewritten(status, headers, body)
        if status != 200:
            return hop, status
        assert proxied, body[:300]
        url = proxied[0]
    return hops, 200


def test_cyclic_and_deeply_nested_variant_playlists_end_in_a_502(hostile: HostileOrigin) -> None:

    origin = hostile.origin
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\n{}\n"
    # master -> variant -> master -> ...: each level is a new token, one locator longer.
    origin.serve("/cyc/m.m3u8", master.format("v.m3u8").encode(), PLAYLIST_TYPE)
    origin.serve("/cyc/v.m3u8", master.format("m.m3u8").encode(), PLAYLIST_TYPE)
    # l0 -> l1 -> ... -> l499: no loop, only depth.
    for level in range(500):
        body = master.format(f"l{level + 1}.m3u8").encode()
        origin.serve(f"/deep/l{level}.m3u8", body, PLAYLIST_TYPE)
    outcomes = []
    for entry in ("/cyc/m.m3u8", "/deep/l0.m3u8"):
        get_redis().flushall()
        cache.forget_all()
        store_resolution(FUZZ, origin.url(entry))
        before = origin.traffic.total("origin")
        hops, status = follow_first_uri(hostile, 500)
        fetched = origin.traffic.total("origin") - before
        # Refused at a fixed depth, one upstream fetch per level: bounded work.
        assert (hops, status) == (MAX_PLAYLIST_DEPTH, 502), (entry, hops, status)
        assert fetched <= hops + 1, fetched
        outcomes.append(hops)
    record(
        "STRM proxy: cyclic and deeply nested playlists",
        2,
        f"both refused with 502 after {outcomes[0]} levels, one upstream fetch per level",
    )


# --- Range headers on the proxy ---------------------------------------------------------------

SIZE = 1000
MEDIA = bytes(range(256)) * 3 + bytes(SIZE - 768)
POSITION = st.one_of(
    st.integers(min_value=0, max_value=2 * SIZE).map(str),
    st.sampled_from(
        ["", "0", "00", "999", "1000", "1001", "9" * 25, "9" * 5000, "-1", "\u0661", "²"]
    ),
    st.sampled_from([" 1", "1 ", "+1", "0x1", "1.5", "NaN"]),
)
RANGE_SPEC = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", POSITION, POSITION),
    st.builds(lambda a: f"{a}-", POSITION),
    st.builds(lambda b: f"-{b}", POSITION),
    st.sampled_from(["-", "", "5", "--5", "1-2-3"]),
)
RANGE_HEADER = st.builds(
    lambda unit, eq, specs, sep: f"{unit}{eq}{sep.join(specs)}",
    st.sampled_from(["bytes", "BYTES", "Bytes", "items", "", "bytes ", "by tes"]),
    st.sampled_from(["=", "=", "=", " =", ""]),
    st.lists(RANGE_SPEC, min_size=1, max_size=3),
    st.sampled_from([",", ", ", " ,"]),
)
_RFC_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


def rfc_single_range(header: str, size: int) -> tuple[int, int] | str | None:
    """RFC 9110 section 14 for one representation of `size` bytes: (first, last) of a
    satisfiable single range, "unsatisfiable", or None when the header must be ignored
    (not bytes, malformed, or several ranges, which a server may answer whole)."""
    unit, eq, ranges = header.strip().partition("=")
    if not eq or unit.lower() != "bytes" or "," in ranges:
        return None
    match = _RFC_SPEC.fullmatch(ranges)
    if match is None or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if not first_text:
        suffix = int(last_text[:30])
        return "unsatisfiable" if suffix == 0 else (max(0, size - suffix), size - 1)
    first = int(first_text[:30])
    if last_text and int(last_text[:30]) < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(size - 1, int(last_text[:30])) if last_text else size - 1


@pytest.fixture
def media_origin(hostile: HostileOrigin, tmp_path: Path) -> Any:
    """Two copies of MEDIA: one from a server that honours Range, one that ignores it."""
    path = tmp_path / "media.ts"
    path.write_bytes(MEDIA)
    origin = hostile.origin
    origin.route("/ranged/seg.ts", lambda request: file_response(request, path, "video/mp2t"))
    origin.route("/whole/seg.ts", lambda request: Response(200, MEDIA, "video/mp2t"))
    return origin


def segment_url(url: str, resolved: str) -> str:
    """A proxy URI for a segment at `url`, made while FUZZ resolved to `resolved`."""
    locator = Locator("segment", 0, media_sequence=0)
    token = ProxyToken(FUZZ, (locator,), url, generation_of(resolved), False)
    return f"{proxy_prefix()}/{encode_token(token)}/seg.ts"


def wire(header: str) -> str:
    """A header value as a WSGI server hands it over: the bytes read as latin-1."""
    return header.encode("utf-8").decode("latin-1")


def upstream_answer(url: str, range_header: str) -> tuple[int, str | None, bytes]:

    with urllib3.PoolManager() as pool:
        answer = pool.request("GET", url, headers={"Range": range_header}, retries=False)
        return answer.status, answer.headers.get("Content-Range"), answer.data


def test_range_headers_get_200_206_or_416_as_rfc_9110_says(
    hostile: HostileOrigin, media_origin: Any
) -> None:

    entry = media_origin.url("/ranged/seg.ts")
    store_resolution(FUZZ, entry)
    ranged = segment_url(entry, entry)
    whole = segment_url(media_origin.url("/whole/seg.ts"), entry)
    tally = Tally()
    statuses: dict[int, int] = {}

    def as_the_rfc_says(range_header: str, answer: tuple[int, dict[str, str], bytes]) -> None:
        status, headers, body = answer
        expected = rfc_single_range(range_header, SIZE)
        if expected is None:
            assert (status, body) == (200, MEDIA), range_header
        elif isinstance(expected, str):  # unsatisfiable
            assert status == 416 and headers["Content-Range"] == f"bytes */{SIZE}", range_header
        else:
            first, last = expected
            assert status == 206, (range_header, status)
            assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}", range_header
            assert body == MEDIA[first : last + 1] and headers["Content-Length"] == str(len(body))

    def check(text: str) -> None:
        tally()
        range_header = wire(text)
        # An upstream that honours Range: its 206/416 is passed on unchanged; where it
        # ignored the header (200), the proxy cuts the range itself.
        answer = get(hostile.client, ranged, Range=range_header)
        statuses[answer[0]] = statuses.get(answer[0], 0) + 1
        direct = upstream_answer(entry, range_header)
        if direct[0] in (206, 416):
            assert (answer[0], answer[1].get("Content-Range"), answer[2]) == direct, range_header
        else:
            as_the_rfc_says(range_header, answer)
        # An upstream that always ignores Range: the proxy cuts every range itself.
        answer = get(hostile.client, whole, Range=range_header)
        statuses[answer[0]] = statuses.get(answer[0], 0) + 1
        as_the_rfc_says(range_header, answer)
        # HEAD answers the same status and length without a body.
        head_status, _, head_body = head(hostile.client, ranged, Range=range_header)
        assert head_status in (200, 206, 416) and head_body == b"", range_header

    @bounded(200)
    @given(RANGE_HEADER)
    def generated(range_header: str) -> None:
        check(range_header)

    generated()
    for range_header in [
        "bytes=0-",
        "bytes=0-0",
        "bytes=-500",
        "bytes=-0",
        "bytes=-5000",
        f"bytes={SIZE}-",
        f"bytes={SIZE - 1}-",
        "bytes=500-100",
        "bytes=NaN-NaN",
        "bytes=0-1,5-9",
        "bytes=" + "9" * 5000 + "-",  # more digits than int() converts
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 5000,
        "bytes=\u0661-\u0662",  # Arabic-Indic digits are not DIGIT
        "bytes = 0-1",
        "bytes=0 - 1",
        "BYTES=0-1",
        "bytes=0-1;q=1",
        "\tbytes=0-1 ",
    ]:
        check(range_header)
    record(
        "STRM proxy: Range headers",
        tally.tried,
        ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items()))
        + " (2 requests per case); passthrough identical to upstream, "
        "self-cut ranges as RFC 9110 says, 0 5xx",
    )


# --- STRM tokens and entry signatures ------------------------------------------------------------

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_.=~%!$&'()*+,;:@"


def mutations(token: str) -> st.SearchStrategy[str]:
    """Tampered, truncated and extended spellings of a valid token."""
    body, _, signature = token.partition(".")
    position = st.integers(min_value=0, max_value=len(token) - 1)
    return st.one_of(
        st.builds(
            lambda i, c: token[:i] + c + token[i + 1 :],
            position,
            st.sampled_from("Aa0-_.=!"),
        ).filter(lambda t: t != token),
        st.builds(lambda i: token[:i], position.filter(lambda i: i > 0)),
        st.builds(lambda i: token[i:], position.filter(lambda i: i > 0)),
        st.builds(lambda junk: token + junk, st.text(alphabet=TOKEN_ALPHABET, min_size=1)),
        st.builds(lambda b: f"{b}.{signature}", st.text(alphabet=TOKEN_ALPHABET, min_size=1)),
        st.builds(lambda sig: f"{body}.{sig}", st.text(alphabet=TOKEN_ALPHABET)),
        st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=200),
        st.binary(min_size=1, max_size=300).map(
            lambda raw: (
                base64.urlsafe_b64encode(raw).decode().rstrip("=")
                + "."
                + base64.urlsafe_b64encode(raw[:32]).decode().rstrip("=")
            )
        ),
    ).filter(lambda t: t not in (token, ""))  # an empty token is another path (404)


ENTRY_QUERY = {
    "site": st.sampled_from(["aniworld.to", "s.to", "megakino", "evil.example", "", "\x00"]),
    "slug": st.sampled_from(["kaiju-academy", "no-such-series", "../x", "a" * 300, ""]),
    "s": st.one_of(st.sampled_from(["0", "1", "01", "-1", "1000", "\u0661", "9" * 50]), st.text()),
    "e": st.one_of(st.sampled_from(["1", "5", "10000", "x"]), st.text(max_size=5)),
    "lang": st.sampled_from(["German Dub", "gersub", "Klingon", "", "English Sub"]),
    "provider": st.sampled_from(["VOE", "", "x" * 40, "../../x"]),
    "sig": st.one_of(st.text(alphabet=TOKEN_ALPHABET, max_size=60), st.just("")),
    "apikey": st.text(max_size=20),
    "url": st.sampled_from(["http://127.0.0.2/x.m3u8", "file:///etc/passwd"]),
}


def test_strm_tokens_and_signatures_that_are_not_ours_get_403_never_500(
    hostile: HostileOrigin,
) -> None:

    url = hostile.publish(b"#EXTM3U\n#EXTINF:1,\nseg.ts\n#EXT-X-ENDLIST\n", PLAYLIST_TYPE)

    valid = encode_token(
        ProxyToken(FUZZ, (Locator("segment", 0, media_sequence=0),), url, generation_of(url), False)
    )
    assert get(hostile.client, f"{proxy_prefix()}/{valid}/seg.ts")[0] == 200  # control
    tally = Tally()
    before = hostile.origin.traffic.total("origin")

    def check_token(token: str) -> None:
        tally()

        status, _, body = get(hostile.client, f"{proxy_prefix()}/{quote(token, safe='')}/x.ts")
        assert status == 403, (token[:200], status, body[:200])

    @bounded(200)
    @given(mutations(valid))
    def tampered(token: str) -> None:
        check_token(token)

    tampered()
    other_secret = dataclasses.replace(django_settings.CONFIG, strm_proxy_secret="another-secret")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django_settings, "CONFIG", other_secret)
        forged = encode_token(
            ProxyToken(FUZZ, (), "http://127.0.0.2/x.ts", generation_of(url), False)
        )
    for token in [
        forged,  # the right format, signed with another secret
        valid.split(".")[0] + "." + forged.split(".")[1],
        "x" * (MAX_TOKEN_CHARS + 100),
        ".",
        "..",
        valid + "." + valid,
        "%00",
        valid.upper(),
    ]:
        check_token(token)
    # The entry URL: another identity's signature, junk identities, URLs smuggled in.
    other = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub", "VOE")
    signed = dict(pair.split("=", 1) for pair in stream_url(FUZZ).split("?", 1)[1].split("&"))
    replayed = stream_url(other).replace(
        "sig=" + dict(p.split("=", 1) for p in stream_url(other).split("?")[1].split("&"))["sig"],
        "sig=" + signed["sig"],
    )
    refused = 0

    def check_entry(query_url: str) -> None:
        nonlocal refused
        tally()
        status, _, body = get(hostile.client, query_url)
        assert status in (400, 403), (query_url[:200], status, body[:200])
        refused += 1

    check_entry(replayed)

    @bounded(150)
    @given(st.fixed_dictionaries({}, optional=ENTRY_QUERY))
    def junk_entries(query: dict[str, str]) -> None:

        check_entry("/strm/stream?" + urlencode(query))

    junk_entries()
    # Nothing of the above reached the upstream: refusals come before any fetch.
    assert hostile.origin.traffic.total("origin") == before
    assert local_path(stream_url(FUZZ)).startswith("/strm/stream?")
    record(
        "STRM tokens and entry signatures",
        tally.tried,
        "tampered/truncated/junk/foreign-secret tokens: all 403; replayed or junk entry "
        "URLs: all 400/403; 0 upstream requests, 0 5xx",
    )


LOCATORS = st.builds(
    lambda kind, position, sequence, attrs: Locator(kind, position, sequence, None, tuple(attrs)),
    st.sampled_from(["variant", "media", "segment", "key", "map", "rendition-report"]),
    st.integers(min_value=0, max_value=10**6),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
    st.lists(st.tuples(st.sampled_from(["BANDWIDTH", "NAME"]), st.text(max_size=20)), max_size=2),
)


def test_every_token_the_proxy_signs_it_also_accepts(settings_for_tokens: None) -> None:
    """A token encode_token() hands out must decode again (or not be made at all):
    otherwise a rewritten playlist holds URIs that answer 403."""

    tally = Tally()
    too_large = 0

    @bounded(80)
    @given(
        st.one_of(st.lists(LOCATORS, max_size=5), st.lists(LOCATORS, min_size=100, max_size=500)),
        st.one_of(st.none(), st.text(max_size=5000).map(lambda t: "http://127.0.0.1/" + t)),
    )
    def round_trip(chain: list[Any], url: str | None) -> None:
        nonlocal too_large
        tally()
        token = ProxyToken(FUZZ, tuple(chain), url, "generation", playlist=True)
        try:
            text = encode_token(token)
        except TokenTooLarge:
            too_large += 1
            return
        back = decode_token(text)
        assert back.chain == token.chain and back.url in (url, None)

    round_trip()
    # A long run of identical locators compresses far below the URL limit, but inflates
    # beyond what decode_token() accepts.

    same = ProxyToken(FUZZ, (Locator("variant", 0),) * 3000, None, "generation", playlist=True)
    with pytest.raises(TokenTooLarge):
        encode_token(same)
    record(
        "STRM tokens: sign then verify",
        tally.tried + 1,
        f"every token made was accepted back; {too_large + 1} too large were never made",
    )


@pytest.fixture
def settings_for_tokens(monkeypatch: pytest.MonkeyPatch) -> None:

    use_proxy_config(monkeypatch)
