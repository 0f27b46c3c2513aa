"""Django settings. Every value comes from `anibridge_site.config` (environment + .env)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from anibridge_site import config as _config

try:
    CONFIG = _config.load()
except _config.ConfigError as exc:
    # One line, no traceback: the message names the variable and what it accepts.
    # SystemExit stops manage.py, gunicorn and celery alike.
    print(exc, file=sys.stderr)
    raise SystemExit(2) from None

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = CONFIG.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]  # a LAN service reached by IP, container name or reverse proxy
# Behind a reverse proxy the admin is reached over https; trust its scheme header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [
    u for u in (CONFIG.strm_public_base_url,) if u.startswith(("http://", "https://"))
]

INSTALLED_APPS = [
    "anibridge_site.admin_site.AniBridgeAdminConfig",  # django.contrib.admin, our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_celery_results",
    "anibridge_site",
    "catalog",
    "downloads",
    "strm",
    "torznab",
    "qbshim",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "anibridge_site.urls"
WSGI_APPLICATION = "anibridge_site.wsgi.application"
APPEND_SLASH = False  # *arr clients call exact paths; a redirect would turn POSTs into GETs

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": _config.database_settings(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "anibridge_site.cache.RedisCache",
        "LOCATION": CONFIG.redis_url,
        "KEY_PREFIX": "anibridge",
        "TIMEOUT": 3600,
        # Short socket timeouts: when Redis is down, views fall back to the
        # database quickly instead of hanging a request.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

# Counts failed password checks per client address and refuses banned ones.
AUTHENTICATION_BACKENDS = ["anibridge_site.admin_login.ThrottledModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# TZ: Django shows admin times in it and sets it for the process, so logs use it too.
TIME_ZONE = CONFIG.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The admin's CSS/JS come straight from the installed apps (no collectstatic step).
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = CONFIG.redis_url
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=7)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long tasks: never hoard messages another worker could run
CELERY_TASK_TIME_LIMIT = 60 * 60 * 6
CELERY_TASK_SOFT_TIME_LIMIT = 60 * 60 * 6 - 60
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "downloads.tasks.*": {"queue": "downloads"},
    "strm.tasks.*": {"queue": "default"},
    "catalog.tasks.*": {"queue": "default"},
    "qbshim.tasks.*": {"queue": "default"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacked messages come back after this long. Jobs are also leased in the
    # database (downloads.ledger), which recovers them much sooner; this is only a
    # backstop, so it is longer than any download may run.
    "visibility_timeout": 60 * 60 * 7,
    "socket_connect_timeout": 2,
}
CELERY_BEAT_SCHEDULE = {
    "recover-lost-jobs": {
        "task": "downloads.tasks.recover_lost_jobs",
        "schedule": 30.0,
        "options": {"queue": "default", "expires": 25},
    },
    "cleanup-downloads": {
        "task": "qbshim.tasks.cleanup",
        "schedule": CONFIG.cleanup_scan_interval_min * 60.0,
        "options": {"queue": "default", "expires": 60},
    },
    # Only checks ages in Redis; the refresh itself is queued per stale site, once.
    "refresh-stale-title-indexes": {
        "task": "catalog.tasks.refresh_stale_title_indexes",
        "schedule": 10 * 60.0,
        "options": {"queue": "default", "expires": 9 * 60},
    },
    # Checks the watched series that are due (each once per RSS_REFRESH_MINUTES).
    "check-watched-series": {
        "task": "catalog.tasks.check_watched_series",
        "schedule": 60.0,
        "options": {"queue": "default", "expires": 55},
    },
    # Probes a bounded batch of resolved STRM URLs; re-resolves the dead ones.
    "check-strm-dead-links": {
        "task": "strm.tasks.check_dead_links",
        "schedule": 30 * 60.0,
        "options": {"queue": "default", "expires": 25 * 60},
    },
}
if CONFIG.public_ip_check_enabled:
    CELERY_BEAT_SCHEDULE["check-public-ip"] = {
        "task": "catalog.tasks.check_public_ip",
        "schedule": CONFIG.public_ip_check_interval_min * 60.0,
        "options": {"queue": "default", "expires": CONFIG.public_ip_check_interval_min * 30.0},
    }
if CONFIG.megakino_domain_check_interval_min and "megakino" in CONFIG.catalog_sites:
    # Megakino moves between domains; follow it (catalog.sites.megakino_domain).
    CELERY_BEAT_SCHEDULE["check-megakino-domain"] = {
        "task": "catalog.tasks.check_megakino_domain",
        "schedule": CONFIG.megakino_domain_check_interval_min * 60.0,
        "options": {"queue": "default", "expires": 5 * 60},
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(CONFIG.data_dir / "celerybeat-schedule")

# --- Logging ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}
