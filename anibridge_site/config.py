"""Every environment variable AniBridge reads, parsed once into a typed `Config`.

Names and defaults follow the original AniBridge where it had the setting, so a
user can bring their `.env` along. `.env` is read with python-dotenv; `DATABASE_URL`
is parsed by django-environ. The values themselves are checked strictly (each kind by
anibridge_site.env_values):
django-environ would read `MAX_CONCURRENCY=abc` as an exception with a traceback and
`DELETE_FILES_ON_TORRENT_DELETE=maybe` silently as False, and we want one clear line.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import environ
from dotenv import dotenv_values

from anibridge_site.env_values import ConfigError, IPNetwork, Reader, proxy_name
from catalog import registry

LANGUAGES = ("German Dub", "German Sub", "English Sub", "English Dub")
DEFAULT_PROVIDER_ORDER = "VOE,Filemoon,Vidmoly,Doodstream,Vidoza,Streamtape,LoadX,Luluvdo"
# The original's in-app proxy settings, removed there in favour of a VPN sidecar.
LEGACY_PROXY_VARIABLES = (
    "PROXY_ENABLED",
    "PROXY_URL",
    "HTTP_PROXY_URL",
    "HTTPS_PROXY_URL",
    "ALL_PROXY_URL",
    "PROXY_HOST",
    "PROXY_PORT",
    "PROXY_SCHEME",
    "PROXY_USERNAME",
    "PROXY_PASSWORD",
    "PROXY_FORCE_REMOTE_DNS",
    "PROXY_DISABLE_CERT_VERIFY",
    "PROXY_APPLY_ENV",
    "PROXY_IP_CHECK_INTERVAL_MIN",
    "PROXY_SCOPE",
)


@dataclass(frozen=True)
class Config:
    # Paths
    data_dir: Path
    download_dir: Path
    qbit_public_save_path: str
    # Server
    host: str
    port: int
    web_concurrency: int
    log_level: str
    secret_key: str
    database_url: str
    redis_url: str
    admin_user: str
    admin_password: str
    # Sites
    catalog_sites: tuple[str, ...]
    aniworld_base_url: str
    aniworld_alphabet_url: str
    aniworld_titles_refresh_hours: float
    sto_base_url: str
    sto_alphabet_url: str
    sto_titles_refresh_hours: float
    megakino_base_url: str
    megakino_titles_refresh_hours: float
    skyhook_base_url: str
    site_timeout_seconds: float
    titles_refresh_on_miss_minutes: float
    site_breaker_failures: int
    site_breaker_cooldown_seconds: float
    # Hosters
    provider_order: tuple[str, ...]
    provider_redirect_timeout_seconds: float
    provider_redirect_retries: int
    provider_challenge_backoff_seconds: float
    # Downloads
    max_concurrency: int
    download_rate_limit_bytes_per_sec: int
    delete_files_on_torrent_delete: bool
    downloads_ttl_hours: float
    cleanup_scan_interval_min: int
    # qBittorrent API
    qbit_username: str
    qbit_password: str
    qbit_session_timeout_seconds: int
    # Failed logins (qB API and admin) and who the client is behind a reverse proxy
    login_max_failures: int
    login_ban_seconds: int
    # Reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (login_guard,
    # qbshim.origin, strm.public_url); nobody else's.
    trusted_proxies: tuple[IPNetwork, ...]
    # Torznab
    indexer_name: str
    indexer_api_key: str
    torznab_cat_anime: int
    torznab_cat_movie: int
    availability_ttl_hours: float
    availability_unavailable_ttl_hours: float
    torznab_fake_seeders: int
    torznab_fake_leechers: int
    torznab_return_test_result: bool
    torznab_test_title: str
    torznab_test_slug: str
    torznab_test_season: int
    torznab_test_episode: int
    torznab_test_language: str
    torznab_season_search_mode: str
    torznab_season_search_max_episodes: int
    torznab_season_search_max_consecutive_misses: int
    # RSS feed of newly available episodes (catalog.watching, catalog.watcher)
    rss_watch_days: int
    rss_refresh_minutes: int
    # Naming
    source_tag: str
    release_group: str
    release_group_aniworld: str
    release_group_sto: str
    # Specials / metadata
    specials_metadata_enabled: bool
    specials_metadata_timeout_seconds: float
    specials_metadata_cache_ttl_minutes: int
    specials_match_confidence_threshold: float
    # STRM
    strm_files_mode: str
    strm_proxy_mode: str
    strm_public_base_url: str
    strm_proxy_auth: str
    strm_proxy_secret: str
    strm_proxy_upstream_allowlist: tuple[str, ...]
    strm_proxy_cache_ttl_seconds: int
    strm_proxy_token_ttl_seconds: int
    strm_proxy_secret_fallbacks: tuple[str, ...]
    # Reverse proxies whose X-Forwarded-Proto/-Host the STRM proxy believes (strm.public_url).
    # Browser players (strm.cors): ("*",) = any origin, () = CORS off.
    cors_origins: tuple[str, ...]
    cors_allow_credentials: bool
    # Outbound connections (catalog.egress.proxies): proxy URLs, "" = none
    http_proxy: str
    https_proxy: str
    all_proxy: str
    no_proxy: tuple[str, ...]
    legacy_proxy_variables: tuple[str, ...]  # the original's PROXY_* names found (ignored)
    public_ip_check_enabled: bool
    public_ip_check_interval_min: int
    public_ip_check_url: str
    # Self-hosting (time zone of logs and admin, start-up, legacy site settings)
    time_zone: str
    db_migrate_on_startup: bool
    aniworld_alphabet_html: str  # a saved copy of the alphabet page; "" = none
    sto_alphabet_html: str
    megakino_domain_check_interval_min: int  # 0 = never
    # Where each value came from is not needed at run time; keep the raw mapping
    # out of reprs so secrets never reach a log line.
    _raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def _secret_key(data_dir: Path, given: str) -> str:
    """The configured SECRET_KEY, or one generated once and kept in DATA_DIR."""
    if given:
        return given
    path = data_dir / "secret_key"
    try:
        # O_EXCL: when several processes start together exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        raise ConfigError(
            f"Invalid configuration: {path} is empty; delete it or set SECRET_KEY."
        ) from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def _ensure_dir(name: str, path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Invalid configuration: {name}={str(path)!r} cannot be created ({exc.strerror}); "
            "it accepts a writable directory."
        ) from None
    return path.resolve()


def load(environ_values: Mapping[str, str] | None = None, env_file: Path | None = None) -> Config:
    """Build the Config from `environ_values` (default: the process environment) over `.env`."""
    process_env = dict(os.environ if environ_values is None else environ_values)
    if env_file is None:
        env_file = Path(process_env.get("ANIBRIDGE_ENV_FILE", ".env"))
    file_values = (
        {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        if env_file.is_file()
        else {}
    )
    values = {**file_values, **process_env}
    r = Reader(values)

    data_dir = _ensure_dir("DATA_DIR", Path(r.text("DATA_DIR", "./data")).expanduser())
    download_dir = _ensure_dir(
        "DOWNLOAD_DIR", Path(r.text("DOWNLOAD_DIR", str(data_dir / "downloads"))).expanduser()
    )
    aniworld = r.url("ANIWORLD_BASE_URL", "https://aniworld.to")
    sto = r.url("STO_BASE_URL", "https://s.to")

    cfg = Config(
        data_dir=data_dir,
        download_dir=download_dir,
        qbit_public_save_path=r.text("QBIT_PUBLIC_SAVE_PATH"),
        host=r.text("ANIBRIDGE_HOST", "0.0.0.0"),  # noqa: S104 - a container service listens on all interfaces
        port=r.integer("ANIBRIDGE_PORT", 8000, minimum=1, maximum=65535),
        web_concurrency=r.integer("WEB_CONCURRENCY", 1, minimum=1, maximum=64),
        log_level=r.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
        secret_key=_secret_key(data_dir, r.text("SECRET_KEY")),
        database_url=r.database_url("DATABASE_URL", f"sqlite:///{data_dir / 'anibridge.sqlite3'}"),
        redis_url=r.url(
            "REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix")
        ),
        admin_user=r.text("ANIBRIDGE_ADMIN_USER"),
        admin_password=r.text("ANIBRIDGE_ADMIN_PASSWORD"),
        catalog_sites=r.items(
            "CATALOG_SITES", ",".join(registry.site_names()), allowed=registry.site_names()
        ),
        aniworld_base_url=aniworld,
        aniworld_alphabet_url=r.url("ANIWORLD_ALPHABET_URL", f"{aniworld}/animes-alphabet"),
        aniworld_titles_refresh_hours=r.number("ANIWORLD_TITLES_REFRESH_HOURS", 24.0),
        sto_base_url=sto,
        sto_alphabet_url=r.url("STO_ALPHABET_URL", f"{sto}/serien?by=alpha"),
        sto_titles_refresh_hours=r.number("STO_TITLES_REFRESH_HOURS", 24.0),
        megakino_base_url=r.url("MEGAKINO_BASE_URL", "https://megakino1.to"),
        megakino_titles_refresh_hours=r.number("MEGAKINO_TITLES_REFRESH_HOURS", 12.0),
        skyhook_base_url=r.url("SKYHOOK_BASE_URL", "https://skyhook.sonarr.tv"),
        site_timeout_seconds=r.number("SITE_TIMEOUT_SECONDS", 20.0, minimum=0.1),
        titles_refresh_on_miss_minutes=r.number("TITLES_REFRESH_ON_MISS_MINUTES", 10.0),
        site_breaker_failures=r.integer("SITE_BREAKER_FAILURES", 5, minimum=1, maximum=1000),
        site_breaker_cooldown_seconds=r.number("SITE_BREAKER_COOLDOWN_SECONDS", 120.0, minimum=1.0),
        provider_order=r.items("PROVIDER_ORDER", DEFAULT_PROVIDER_ORDER),
        provider_redirect_timeout_seconds=r.number(
            "PROVIDER_REDIRECT_TIMEOUT_SECONDS", 10.0, minimum=0.1
        ),
        provider_redirect_retries=r.integer("PROVIDER_REDIRECT_RETRIES", 2, maximum=10),
        provider_challenge_backoff_seconds=r.number("PROVIDER_CHALLENGE_BACKOFF_SECONDS", 300.0),
        max_concurrency=r.integer("MAX_CONCURRENCY", 3, minimum=1, maximum=64),
        download_rate_limit_bytes_per_sec=r.integer("DOWNLOAD_RATE_LIMIT_BYTES_PER_SEC", 0),
        delete_files_on_torrent_delete=r.flag("DELETE_FILES_ON_TORRENT_DELETE", True),
        downloads_ttl_hours=r.number("DOWNLOADS_TTL_HOURS", 0.0),
        cleanup_scan_interval_min=r.integer("CLEANUP_SCAN_INTERVAL_MIN", 30, minimum=1),
        qbit_username=r.text("QBIT_USERNAME"),
        qbit_password=r.text("QBIT_PASSWORD"),
        qbit_session_timeout_seconds=r.integer(
            "QBIT_SESSION_TIMEOUT_SECONDS", 3600, minimum=60, maximum=30 * 24 * 3600
        ),
        login_max_failures=r.integer("LOGIN_MAX_FAILURES", 5, maximum=1000),
        login_ban_seconds=r.integer("LOGIN_BAN_SECONDS", 3600, minimum=1, maximum=30 * 24 * 3600),
        trusted_proxies=r.networks("ANIBRIDGE_TRUSTED_PROXIES", ""),
        indexer_name=r.text("INDEXER_NAME", "AniBridge Torznab"),
        indexer_api_key=r.text("INDEXER_API_KEY"),
        torznab_cat_anime=r.integer("TORZNAB_CAT_ANIME", 5070, minimum=1),
        torznab_cat_movie=r.integer("TORZNAB_CAT_MOVIE", 2000, minimum=1),
        availability_ttl_hours=r.number("AVAILABILITY_TTL_HOURS", 24.0),
        availability_unavailable_ttl_hours=r.number("AVAILABILITY_UNAVAILABLE_TTL_HOURS", 1.0),
        torznab_fake_seeders=r.integer("TORZNAB_FAKE_SEEDERS", 999, minimum=1),
        torznab_fake_leechers=r.integer("TORZNAB_FAKE_LEECHERS", 787),
        torznab_return_test_result=r.flag("TORZNAB_RETURN_TEST_RESULT", True),
        torznab_test_title=r.text("TORZNAB_TEST_TITLE", "AniBridge Connectivity Test"),
        torznab_test_slug=r.text("TORZNAB_TEST_SLUG", "connectivity-test"),
        torznab_test_season=r.integer("TORZNAB_TEST_SEASON", 1),
        torznab_test_episode=r.integer("TORZNAB_TEST_EPISODE", 1, minimum=1),
        torznab_test_language=r.choice("TORZNAB_TEST_LANGUAGE", "German Dub", LANGUAGES),
        torznab_season_search_mode=r.choice(
            "TORZNAB_SEASON_SEARCH_MODE", "fast", ("fast", "strict")
        ),
        torznab_season_search_max_episodes=r.integer(
            "TORZNAB_SEASON_SEARCH_MAX_EPISODES", 60, minimum=1
        ),
        torznab_season_search_max_consecutive_misses=r.integer(
            "TORZNAB_SEASON_SEARCH_MAX_CONSECUTIVE_MISSES", 3, minimum=1
        ),
        rss_watch_days=r.integer("RSS_WATCH_DAYS", 30, minimum=1, maximum=3650),
        rss_refresh_minutes=r.integer("RSS_REFRESH_MINUTES", 60, maximum=7 * 24 * 60),
        source_tag=r.text("SOURCE_TAG", "WEB"),
        release_group=r.text("RELEASE_GROUP", "aniworld"),
        release_group_aniworld=r.text(
            "RELEASE_GROUP_ANIWORLD", r.text("RELEASE_GROUP", "aniworld")
        ),
        release_group_sto=r.text("RELEASE_GROUP_STO", "sto"),
        specials_metadata_enabled=r.flag("SPECIALS_METADATA_ENABLED", True),
        specials_metadata_timeout_seconds=r.number(
            "SPECIALS_METADATA_TIMEOUT_SECONDS", 8.0, minimum=0.1
        ),
        specials_metadata_cache_ttl_minutes=r.integer("SPECIALS_METADATA_CACHE_TTL_MINUTES", 360),
        specials_match_confidence_threshold=r.number(
            "SPECIALS_MATCH_CONFIDENCE_THRESHOLD", 0.5, maximum=1.0
        ),
        strm_files_mode=r.choice("STRM_FILES_MODE", "no", ("no", "both", "only")),
        strm_proxy_mode=r.choice("STRM_PROXY_MODE", "direct", ("direct", "proxy")),
        strm_public_base_url=r.url("STRM_PUBLIC_BASE_URL", ""),
        strm_proxy_auth=r.choice("STRM_PROXY_AUTH", "token", ("none", "token", "apikey")),
        strm_proxy_secret=r.text("STRM_PROXY_SECRET"),
        strm_proxy_upstream_allowlist=tuple(
            h.lower() for h in r.items("STRM_PROXY_UPSTREAM_ALLOWLIST", "")
        ),
        strm_proxy_cache_ttl_seconds=r.integer("STRM_PROXY_CACHE_TTL_SECONDS", 0),
        strm_proxy_token_ttl_seconds=r.integer("STRM_PROXY_TOKEN_TTL_SECONDS", 900),
        strm_proxy_secret_fallbacks=r.items("STRM_PROXY_SECRET_FALLBACKS", ""),
        cors_origins=r.origins("ANIBRIDGE_CORS_ORIGINS", "*"),
        cors_allow_credentials=r.flag("ANIBRIDGE_CORS_ALLOW_CREDENTIALS", True),
        http_proxy=r.proxy("HTTP_PROXY"),
        https_proxy=r.proxy("HTTPS_PROXY"),
        all_proxy=r.proxy("ALL_PROXY"),
        no_proxy=r.items(proxy_name(values, "NO_PROXY"), ""),
        legacy_proxy_variables=tuple(n for n in LEGACY_PROXY_VARIABLES if values.get(n)),
        public_ip_check_enabled=r.flag("PUBLIC_IP_CHECK_ENABLED", False),
        public_ip_check_interval_min=r.integer("PUBLIC_IP_CHECK_INTERVAL_MIN", 30, minimum=1),
        public_ip_check_url=r.url("PUBLIC_IP_CHECK_URL", "https://api.ipify.org"),
        time_zone=r.time_zone("TZ", "UTC"),
        db_migrate_on_startup=r.flag("DB_MIGRATE_ON_STARTUP", True),
        aniworld_alphabet_html=r.text("ANIWORLD_ALPHABET_HTML"),
        sto_alphabet_html=r.text("STO_ALPHABET_HTML"),
        megakino_domain_check_interval_min=r.integer("MEGAKINO_DOMAIN_CHECK_INTERVAL_MIN", 100),
        _raw=values,
    )
    _check_combinations(cfg)
    return cfg


def _check_combinations(cfg: Config) -> None:
    if cfg.strm_proxy_mode == "proxy" and not cfg.strm_public_base_url:
        raise ConfigError(
            "Invalid configuration: STRM_PROXY_MODE=proxy needs STRM_PUBLIC_BASE_URL, "
            "the http(s) URL at which your media server reaches AniBridge."
        )
    if (
        cfg.strm_proxy_mode == "proxy"
        and cfg.strm_proxy_auth != "none"
        and not cfg.strm_proxy_secret
    ):
        raise ConfigError(
            f"Invalid configuration: STRM_PROXY_AUTH={cfg.strm_proxy_auth} needs "
            "STRM_PROXY_SECRET, a long random string (e.g. `openssl rand -hex 32`)."
        )
    if bool(cfg.qbit_username) != bool(cfg.qbit_password):
        raise ConfigError(
            "Invalid configuration: QBIT_USERNAME and QBIT_PASSWORD go together; "
            "set both or neither."
        )
    if bool(cfg.admin_user) != bool(cfg.admin_password):
        raise ConfigError(
            "Invalid configuration: ANIBRIDGE_ADMIN_USER and ANIBRIDGE_ADMIN_PASSWORD go together; "
            "set both or neither."
        )


def database_settings(url: str) -> dict[str, Any]:
    """Django DATABASES['default'] for `url`, with SQLite tuned for several processes."""
    db: dict[str, Any] = environ.Env.db_url_config(url)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # pytest-django otherwise tests SQLite in memory, which worker processes
        # started by the end-to-end tests could not see.
        db["TEST"] = {"NAME": str(Path(db["NAME"]).with_name("test_" + Path(db["NAME"]).name))}
        db["OPTIONS"] = {
            # Several processes write (web, workers, beat): WAL lets readers proceed
            # during writes, the busy timeout makes writers queue instead of failing,
            # and IMMEDIATE takes the write lock at BEGIN so two transactions never
            # deadlock upgrading read locks ("database is locked").
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # Opening a SQLite connection runs the PRAGMAs above: a tenth of a cached
        # Torznab search. Keep it per thread/greenlet for a minute; SQLite has no
        # server-side connection limit to respect (PostgreSQL keeps the default, 0).
        db["CONN_MAX_AGE"] = 60
    else:
        db.setdefault("OPTIONS", {})
        db["CONN_HEALTH_CHECKS"] = True
    return db
