"""Security: no open proxy, no SSRF, secrets kept out of logs and .strm files, constant-
time comparisons, authentication where it is configured, CSRF where a browser reaches.

Only 127.0.0.1 (and the 127.0.0.2 alias, to count refused connections) is ever
contacted; the other address classes are unit tests of catalog.egress.ssrf.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import hmac
import inspect
import ipaddress
import logging
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog.egress import ssrf, upstream
from catalog.egress.hls import Locator
from catalog.egress.ssrf import AddressPolicy, BlockedTarget, is_public_address
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads.models import Job
from downloads.tasks import run_job
from qbshim import auth as qb_auth
from strm import signing
from strm.signing import ProxyToken, encode_token, generation_of
from strm.stream_urls import proxy_prefix, stream_url
from tests.fakeweb.server import Request, Response, redirect
from tests.resilience.record import record
from tests.strm_helpers import Listener, Origin, get, store_resolution, use_proxy_config
from torznab import views as torznab_views

pytestmark = pytest.mark.django_db

API = "/api/v2"
QBIT_USER = "sonarr"
QBIT_PASSWORD = "qb-pass-7f3c9e21"  # a test secret, looked for in the logs
INDEXER_KEY = "indexer-key-5d1a8b44"
STRM_SECRET = "strm-secret-c0ffee99"
HOSTER_COOKIE = "hoster-session-e4d2a7"
HOSTER_TOKEN = "hoster-bearer-91b3f0"
IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


def configure(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))


@pytest.fixture
def secured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every credential set, as a careful user would run it."""
    use_proxy_config(monkeypatch, strm_proxy_secret=STRM_SECRET)
    configure(
        monkeypatch,
        qbit_username=QBIT_USER,
        qbit_password=QBIT_PASSWORD,
        indexer_api_key=INDEXER_KEY,
    )


@pytest.fixture
def foreign() -> Iterator[Listener]:
    """A server on 127.0.0.2: loopback, but not allow-listed (only 127.0.0.1 is)."""
    listener = Listener("127.0.0.2")
    yield listener
    listener.sock.close()


@pytest.fixture
def origin(fake_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    use_proxy_config(monkeypatch, strm_proxy_secret=STRM_SECRET)
    server = Origin()
    server.start()
    yield server
    server.stop()


# --- no open proxy ---------------------------------------------------------------------------


def test_the_entry_serves_only_its_signed_identity_never_a_url_from_the_query(
    origin: Origin, foreign: Listener, client: Client
) -> None:
    store_resolution(IDENTITY, origin.serve("/v.mp4", b"\0" * 64, "video/mp4"))
    signed = stream_url(IDENTITY)
    smuggled = {"url": foreign.url(), "u": foreign.url(), "target": foreign.url()}
    status, _, body = get(client, signed + "&" + urlencode(smuggled))
    assert status == 200 and body == b"\0" * 64  # the identity's own stream
    unsigned = "/strm/stream?" + urlencode(
        {"site": "aniworld.to", "slug": "kaiju-academy", "s": "1", "e": "1", "lang": "German Dub"}
        | smuggled
    )
    assert get(client, unsigned)[0] == 403
    assert get(client, "/strm/stream?" + urlencode(smuggled))[0] == 400
    assert foreign.accepted == 0
    record("no open proxy: entry URL", 3, "query URLs ignored; unsigned entry 403; 0 connections")


def test_proxy_tokens_not_signed_by_us_are_refused_before_any_connection(
    origin: Origin, foreign: Listener, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_resolution(IDENTITY, origin.url("/v.mp4"))
    generation = generation_of(origin.url("/v.mp4"))
    ours = ProxyToken(IDENTITY, (Locator("segment", 0, 0),), foreign.url(), generation, False)
    with monkeypatch.context() as patch:
        configure(patch, strm_proxy_secret="someone-elses-secret")
        theirs = encode_token(ours)
    unsigned = theirs.split(".")[0] + "."
    for token in (theirs, unsigned, theirs.split(".")[0]):
        status, _, body = get(client, f"{proxy_prefix()}/{token}/x.ts")
        assert status == 403, body
    # Even with STRM_PROXY_AUTH=none the proxy only follows tokens it signed itself.
    configure(monkeypatch, strm_proxy_auth="none")
    assert get(client, f"{proxy_prefix()}/{theirs}/x.ts")[0] == 403
    assert foreign.accepted == 0
    record(
        "no open proxy: foreign tokens",
        4,
        "tokens signed elsewhere or unsigned: all 403, 0 connections",
    )


def test_a_playlist_cannot_point_the_proxy_at_a_local_address(
    origin: Origin, foreign: Listener, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upstream is allowed; what it points to is checked again, per URI and per hop."""
    monkeypatch.setattr(ssrf, "getaddrinfo", fake_dns({"cdn.rebind.test": "127.0.0.2"}))
    origin.route("/hop", lambda _r: redirect(foreign.url("/via-redirect.ts")))
    origin.route("/dns", lambda _r: redirect(f"http://cdn.rebind.test:{foreign.port}/x.ts"))
    playlist = "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-TARGETDURATION:4",
            f'#EXT-X-KEY:METHOD=AES-128,URI="{foreign.url("/key.bin")}"',
            "#EXTINF:4,",
            foreign.url("/direct.ts"),
            "#EXTINF:4,",
            "/hop",
            "#EXTINF:4,",
            "/dns",
            "#EXTINF:4,",
            f"http://[::1]:{foreign.port}/v6.ts",
            "#EXT-X-ENDLIST",
        ]
    ).encode()
    store_resolution(IDENTITY, origin.serve("/index.m3u8", playlist, "application/x-mpegurl"))
    status, _, master = get(client, stream_url(IDENTITY))
    assert status == 200
    media = master.decode()
    if "#EXT-X-STREAM-INF" in media:  # a synthetic master around the media playlist
        media = get(client, media.strip().splitlines()[-1])[2].decode()
    uris = [line for line in media.splitlines() if line.startswith("http")]
    key = media.split('URI="')[1].split('"')[0]
    assert len(uris) == 4
    for uri in [*uris, key]:
        status, _, body = get(client, uri)
        assert status == 502, (uri, body)
        assert b"STRM_PROXY_UPSTREAM_ALLOWLIST" in body or b"resolves to" in body, body
    assert foreign.accepted == 0
    record(
        "SSRF: playlist URIs, redirects, DNS",
        5,
        "segments/keys/redirects/DNS answers to a non-allow-listed address: all 502, 0 connections",
    )


def fake_dns(answers: dict[str, str]) -> Callable[[str, int, int], list[tuple[Any, ...]]]:
    """A resolver for catalog.egress.ssrf: the names given, IP literals as they are, nothing else
    (no test may send a DNS query off this machine)."""

    def getaddrinfo(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        address = answers.get(host, host)
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, host) from None
        kind = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
        return [(kind, socket.SOCK_STREAM, 6, "", (address, port))]

    return getaddrinfo


def test_dns_answer_changing_between_redirect_hops_is_checked_each_time(
    origin: Origin, foreign: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First answer allowed (127.0.0.1), the next hop's answer not: refused there."""
    answers = iter(["127.0.0.1", "127.0.0.2", "10.1.2.3", "169.254.169.254"])

    def rebinding(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        if host != "cdn.rebind.test":
            return fake_dns({})(host, port, family)
        return fake_dns({host: next(answers)})(host, port, family)

    monkeypatch.setattr(ssrf, "getaddrinfo", rebinding)
    origin.route("/start", lambda _r: redirect(f"http://cdn.rebind.test:{origin.port}/next"))
    origin.route("/next", lambda _r: redirect(f"http://cdn.rebind.test:{foreign.port}/x.ts"))
    with pytest.raises(BlockedTarget, match=r"127\.0\.0\.2"):
        upstream.open_url(origin.url("/start"), {})
    # The private and metadata answers are refused before a socket exists.
    for _ in range(2):
        with pytest.raises(BlockedTarget):
            ssrf.connect_checked("cdn.rebind.test", 80, timeout=1, policy=AddressPolicy())
    assert foreign.accepted == 0


BLOCKED_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
METADATA = ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "169.254.170.2"]


@st.composite
def blocked_v4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    network = draw(st.sampled_from(BLOCKED_V4))
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    return ipaddress.IPv4Address(int(network.network_address) + offset)


def wrappings(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address and the IPv6 spellings that reach it: v4-mapped, 6to4, NAT64."""
    value = int(v4)
    return [
        v4,
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address((0x2002 << 112) | (value << 80)),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value),
    ]


def test_local_private_link_local_and_metadata_addresses_are_refused_in_every_spelling() -> None:
    """Unit test of the address check only (no connection is made)."""
    tried = 0

    @hypothesis_settings(max_examples=300, deadline=None, database=None)
    @given(blocked_v4())
    def check(address: ipaddress.IPv4Address) -> None:
        nonlocal tried
        for spelling in wrappings(address):
            tried += 1
            assert not is_public_address(spelling), spelling
            assert not AddressPolicy().allows("cdn.example", spelling), spelling

    check()
    for text in [*METADATA, "::1", "::", "fe80::1%eth0", "fc00::1", "fec0::1", "ff02::1"]:
        tried += 1
        assert not is_public_address(ssrf.parse_address(text)), text
    # Allow-listing one address does not open its neighbours.
    policy = AddressPolicy.from_allowlist(["127.0.0.1"])
    assert policy.allows("x", ipaddress.ip_address("127.0.0.1"))
    assert not policy.allows("x", ipaddress.ip_address("127.0.0.2"))
    assert not policy.allows("x", ipaddress.ip_address("::ffff:127.0.0.2"))
    record(
        "SSRF: address classes (unit)",
        tried,
        "loopback/private/link-local/CGNAT/reserved/multicast/metadata, also v4-mapped, "
        "6to4 and NAT64: all refused",
    )


# --- secrets stay out of logs and .strm files ---------------------------------------------------


def secrets_in(text: str) -> list[str]:
    values = [QBIT_PASSWORD, INDEXER_KEY, STRM_SECRET, HOSTER_COOKIE, HOSTER_TOKEN]
    values.append(settings.SECRET_KEY)
    return [v for v in values if v in text]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, formatted as the log handlers would, with tracebacks."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records)


def test_secrets_never_reach_the_logs(
    secured: None,
    origin: Origin,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    # qB: wrong and right logins, credentials in headers, in the wrong field, refused calls.
    client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": QBIT_PASSWORD + "x"})
    client.post(f"{API}/auth/login", {"username": QBIT_PASSWORD, "password": QBIT_PASSWORD})
    client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": QBIT_PASSWORD})
    basic = base64.b64encode(f"{QBIT_USER}:{QBIT_PASSWORD}x".encode()).decode()
    Client().get(f"{API}/torrents/info", headers={"Authorization": f"Basic {basic}"})
    Client().get(f"{API}/torrents/info", headers={"Authorization": f"Bearer {QBIT_PASSWORD}x"})
    Client().post(f"{API}/torrents/add", {"urls": "x", "password": QBIT_PASSWORD})
    # Torznab: right and wrong keys, and a search that fails inside.
    client.get("/torznab/api", {"t": "caps", "apikey": INDEXER_KEY})
    client.get("/torznab/api", {"t": "caps", "apikey": INDEXER_KEY + "x"})
    client.get("/torznab/api", {"t": "nonsense", "apikey": INDEXER_KEY})

    def failing_search(query: Any) -> list[Any]:
        raise RuntimeError("search backend failed")

    # The one way to reach the view's "search failed" log line without breaking a site.
    monkeypatch.setattr(torznab_views, "run_search", failing_search)
    response = client.get("/torznab/api", {"t": "search", "q": "x", "apikey": INDEXER_KEY})
    assert b'code="900"' in response.content
    # STRM: hoster cookies and tokens are sent upstream, but never logged, also when
    # the upstream fails and the proxy re-resolves; apikey mode with right/wrong keys.
    seen: list[dict[str, str]] = []

    def refuse(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(403, b"expired", "text/plain")

    url = origin.route("/expired.m3u8", refuse)
    store_resolution(
        IDENTITY,
        url,
        headers={"Cookie": f"session={HOSTER_COOKIE}", "Authorization": f"Bearer {HOSTER_TOKEN}"},
    )
    assert get(client, stream_url(IDENTITY))[0] in (200, 502)
    assert seen and seen[0]["cookie"] == f"session={HOSTER_COOKIE}"  # they were used
    configure(monkeypatch, strm_proxy_auth="apikey")
    get(client, stream_url(IDENTITY))
    get(client, stream_url(IDENTITY).replace(STRM_SECRET, STRM_SECRET + "x"))
    text = logged(caplog)
    # The refusals were logged (so the check below looked at real lines).
    assert "login failed for an unknown user" in text and "torznab search failed" in text
    assert secrets_in(text) == [], secrets_in(text)
    record(
        "secrets in logs",
        len(caplog.records),
        "QBIT_PASSWORD, INDEXER_API_KEY, STRM_PROXY_SECRET, SECRET_KEY, hoster cookie and "
        "token: absent from every captured log record",
    )


@pytest.mark.parametrize("mode", ["token", "direct", "apikey"])
def test_strm_files_hold_no_secret_but_their_signature(
    mode: str,
    fake_sites: Any,
    client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    use_proxy_config(
        monkeypatch,
        strm_proxy_secret=STRM_SECRET,
        strm_proxy_mode="direct" if mode == "direct" else "proxy",
        strm_proxy_auth="apikey" if mode == "apikey" else "token",
        strm_proxy_upstream_allowlist=(fake_sites.app_env()["STRM_PROXY_UPSTREAM_ALLOWLIST"],),
    )
    configure(
        monkeypatch,
        download_dir=tmp_path,
        qbit_password=QBIT_PASSWORD,
        qbit_username=QBIT_USER,
        indexer_api_key=INDEXER_KEY,
    )
    client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": QBIT_PASSWORD})
    name = "Kaiju.Academy.S01E01.1080p.WEB.H264.GERMAN.[STRM]-ANIWORLD"
    magnet = build_magnet(IDENTITY, name, mode="strm")
    assert client.post(f"{API}/torrents/add", {"urls": magnet}).content == b"Ok."
    job = Job.objects.get()
    run_job.apply(args=(str(job.pk),))  # in this process: its log records are captured
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.message
    text = Path(job.result_path).read_text()
    assert text.count("\n") == 1 and text.startswith("http")
    query = dict(pair.split("=", 1) for pair in urlsplit(text.strip()).query.split("&") if pair)
    if mode == "token":
        assert query["sig"] == signing.sign_identity(IDENTITY)
    if mode == "apikey":
        # A key derived from STRM_PROXY_SECRET, not the secret (strm.signing).
        assert query.pop("apikey") == signing.apikey()
    assert secrets_in(text) == [], text
    assert secrets_in(logged(caplog)) == []
    record(
        f".strm file secrets ({mode} mode)",
        1,
        "no secret in the file beyond its signature"
        + (" (apikey mode: a key derived from the secret)" if mode == "apikey" else "")
        + "; none in the job's logs",
    )


# --- constant-time comparisons -----------------------------------------------------------------


class CompareCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = hmac.compare_digest

        def counting(a: Any, b: Any) -> bool:
            self.calls += 1
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", counting)

    def during(self, action: Callable[[], object]) -> int:
        before = self.calls
        action()
        return self.calls - before


def test_secrets_are_compared_in_constant_time(
    secured: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CompareCounter(monkeypatch)
    basic = base64.b64encode(f"{QBIT_USER}:{QBIT_PASSWORD}".encode()).decode()
    token = encode_token(ProxyToken(IDENTITY, (), "http://127.0.0.1/x", "g", False))
    checks: dict[str, Callable[[], object]] = {
        "Torznab API key": lambda: client.get("/torznab/api", {"t": "caps", "apikey": "k"}),
        "qB login (user and password)": lambda: client.post(
            f"{API}/auth/login", {"username": QBIT_USER, "password": "nope"}
        ),
        "qB Basic credentials": lambda: Client().get(
            f"{API}/app/version", headers={"Authorization": f"Basic {basic}"}
        ),
        # SIDs are looked up by their SHA-256; what is compared is the credentials'
        # fingerprint the session was opened with.
        "qB Bearer session": lambda: Client().get(
            f"{API}/app/version", headers={"Authorization": f"Bearer {qb_auth.new_sid()}"}
        ),
        "STRM entry signature": lambda: signing.entry_authorized(IDENTITY, {"sig": "x"}),
        "STRM proxy token": lambda: signing.decode_token(token),
    }
    counts = {name: counter.during(action) for name, action in checks.items()}
    assert all(count >= 1 for count in counts.values()), counts
    assert counts["qB login (user and password)"] >= 2, counts
    configure(monkeypatch, strm_proxy_auth="apikey")
    # The derived apikey and, for .strm files written before it, the secret: each compared.
    assert counter.during(lambda: signing.entry_authorized(IDENTITY, {"apikey": "x"})) == 2
    # And no comparison of a secret with == slipped in next to them.
    for function in (
        torznab_views._check_key,
        qb_auth.credentials_match,
        qb_auth._sid_valid,
        signing.entry_authorized,
        signing.decode_token,
    ):
        assert "compare_digest" in inspect.getsource(function), function.__name__
        assert secret_equality(function) == [], function.__name__
    for delegate in (qb_auth._header_valid, qb_auth._basic_valid):  # they only delegate
        assert secret_equality(delegate) == [], delegate.__name__
    record(
        "constant-time comparisons",
        len(checks) + 1,
        "hmac.compare_digest used for the Torznab key, qB user+password, Basic, the "
        "session's credentials, STRM signature, apikey and proxy tokens; no ==",
    )


SECRET_WORDS = frozenset(
    {
        "qbit_password",
        "qbit_username",
        "indexer_api_key",
        "strm_proxy_secret",
        "secret",
        "expected",
        "given",
        "password",
        "username",
        "signature",
        "sig",
        "token",
        "user",
    }
)


def secret_equality(function: Callable[..., object]) -> list[str]:
    """The `==`/`!=` comparisons in `function` that involve a secret-looking name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if names & SECRET_WORDS:
                found.append(ast.unparse(node))
    return found


# --- authentication ------------------------------------------------------------------------------

PROTECTED = [
    ("get", "/admin/"),
    ("get", "/admin/downloads/job/"),
    ("get", "/admin/qbshim/clienttask/"),
    ("get", "/admin/strm/strmurlmapping/"),
    ("get", "/api/jobs/"),
    ("post", "/api/jobs/00000000-0000-0000-0000-000000000000/cancel/"),
    ("get", "/api/strm/"),
]


def test_admin_and_json_apis_need_a_staff_login(client: Client) -> None:
    tried = 0
    for user in (None, "viewer"):
        if user is not None:
            User.objects.create_user(user, password="pw-for-tests")
            client.login(username=user, password="pw-for-tests")
        for method, path in PROTECTED:
            tried += 1
            response = getattr(client, method)(path)
            if path.startswith("/admin/"):
                assert response.status_code == 302, (user, path, response.status_code)
                assert response["Location"].startswith("/admin/login/")
            else:
                assert response.status_code in (401, 403), (user, path, response.status_code)
    record(
        "admin and JSON APIs without staff login",
        tried,
        "admin: 302 to the login page; /api/jobs/, /api/strm/: 403 (anonymous and non-staff)",
    )


def test_qb_api_with_credentials_is_closed_without_a_session(secured: None, client: Client) -> None:
    anonymous = Client()
    calls = [
        ("get", "app/webapiVersion"),
        ("get", "app/version"),
        ("get", "app/preferences"),
        ("get", "torrents/info"),
        ("post", "torrents/add"),
        ("post", "torrents/delete"),
        ("post", "torrents/createCategory"),
        ("get", "sync/maindata"),
    ]
    tried = 0
    for method, path in calls:
        tried += 1
        response = getattr(anonymous, method)(f"{API}/{path}")
        assert response.status_code == 403, path  # qB's answer; never 401 or 404
    for path in ("/downloader/download", "/jobs/00000000-0000-0000-0000-000000000000"):
        tried += 1
        assert anonymous.post(path).status_code in (403, 405)
    bad_headers = [
        "Basic " + base64.b64encode(f"{QBIT_USER}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"wrong:{QBIT_PASSWORD}".encode()).decode(),
        "Basic " + base64.b64encode(QBIT_PASSWORD.encode()).decode(),  # no user at all
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer wrong",
        "Bearer " + qb_auth.new_sid() + "x",
        f"Digest {QBIT_PASSWORD}",
        "",
    ]
    for header in bad_headers:
        tried += 1
        response = Client().get(f"{API}/torrents/info", headers={"Authorization": header})
        assert response.status_code == 403, header
    for sid in ("anibridge", qb_auth.new_sid()[:-2], "x" * 500):
        tried += 1
        anonymous.cookies["SID"] = sid
        assert anonymous.get(f"{API}/torrents/info").status_code == 403, sid
    # The right ways in.
    wrong = client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": "wrong"})
    assert wrong.content == b"Fails." and "SID" not in wrong.cookies
    login = client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": QBIT_PASSWORD})
    assert login.content == b"Ok."
    assert client.get(f"{API}/torrents/info").status_code == 200
    good = base64.b64encode(f"{QBIT_USER}:{QBIT_PASSWORD}".encode()).decode()
    assert Client().get(f"{API}/app/version", headers={"Authorization": f"Basic {good}"}).content
    record(
        "qB API auth (credentials set)",
        tried,
        "no session, wrong/malformed Basic or Bearer, forged SID: all 403; wrong login "
        "Fails. without a cookie",
    )


def test_qb_session_cookie_cannot_ride_a_cross_site_request(secured: None, client: Client) -> None:
    """The qB API is CSRF-exempt like qBittorrent; its cookie must never leave the site."""
    login = client.post(f"{API}/auth/login", {"username": QBIT_USER, "password": QBIT_PASSWORD})
    cookie = login.cookies["SID"]
    assert cookie["samesite"] == "Strict" and cookie["httponly"] is True
    # A session cookie, as qBittorrent's: the server ends the session when idle.
    assert cookie["path"] == "/" and cookie["max-age"] == "" and cookie["expires"] == ""
    record("qB SID cookie", 1, "SameSite=Strict, HttpOnly, a session cookie (no Max-Age)")


def test_torznab_needs_its_api_key(secured: None, client: Client) -> None:
    tried = 0
    for params in (
        {"t": "caps"},
        {"t": "caps", "apikey": ""},
        {"t": "caps", "apikey": INDEXER_KEY.upper()},
        {"t": "caps", "apikey": INDEXER_KEY + " "},
        {"t": "search", "apikey": INDEXER_KEY[:-1]},
        {"t": "caps", "APIKEY": INDEXER_KEY},
    ):
        tried += 1
        response = client.get("/torznab/api", params)
        root = ET.fromstring(response.content)
        assert (root.tag, root.get("code"), root.get("description")) == (
            "error",
            "100",
            "Invalid API Key",
        ), params
        assert response["Content-Type"].startswith("application/xml")
    assert ET.fromstring(
        client.get("/torznab/api", {"t": "caps", "apikey": INDEXER_KEY}).content
    ).tag == ("caps")
    record("Torznab API key", tried, 'missing/wrong/case-changed keys: all <error code="100">')


def test_browser_forms_need_a_csrf_token(client: Client) -> None:
    staff = User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests")
    job = Job.objects.create(site="aniworld.to", slug="frieren", season=1, episode=1)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    posts = [
        ("/admin/downloads/job/", {"action": "delete_selected", "_selected_action": str(job.pk)}),
        (f"/admin/auth/user/{staff.pk}/password/", {"password1": "x", "password2": "x"}),
        (f"/api/jobs/{job.pk}/cancel/", {}),
        ("/admin/logout/", {}),
    ]
    for path, form in posts:
        response = browser.post(path, form)
        assert response.status_code == 403, (path, response.status_code)
    assert Job.objects.filter(pk=job.pk).exists()
    record(
        "CSRF on browser-reachable forms",
        len(posts),
        "admin actions, password change, /api/jobs/ POST without token: all 403",
    )
