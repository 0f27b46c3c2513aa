"""Gunicorn settings for the web process: gevent workers, from AniBridge's config."""

import resource

from anibridge_site.config import load

_cfg = load()


def _open_files_limit() -> int:
    """The soft limit on open files, raised to the hard one first (as nginx and Go
    programs do): a connection costs a descriptor, a proxied stream two."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


bind = f"{_cfg.host}:{_cfg.port}"
workers = _cfg.web_concurrency
# gevent: the STRM proxy holds many long, mostly idle streams; one greenlet each.
# Heads have a deadline of their own (anibridge_site/gunicorn_worker.py).
worker_class = "anibridge_site.gunicorn_worker.HeadDeadlineWorker"
# Slots for far more sockets than players: slow or idle clients that take slots until
# their head deadline must not crowd out /health and real requests (2,000 slow sockets
# in tests/resilience/test_slow_clients.py). Greenlets are cheap; descriptors are the limit.
worker_connections = max(1000, min(10_000, _open_files_limit() // 2))
# ffmpeg keeps connections open between segment requests: idle time allowed after a
# response (not before the first request, nor within a head; see gunicorn_worker).
keepalive = 75
# With gevent the worker heartbeat is independent of request length, so streams of
# any duration are fine; this only bounds a stuck worker.
timeout = 60
graceful_timeout = 15
accesslog = "-" if _cfg.log_level == "DEBUG" else None
# The path without the query string: queries carry Torznab API keys and STRM
# signatures, which must not reach a log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss "%(a)s"'
# Counts the bytes of spliced media bodies too, which gunicorn never sees.
logger_class = "anibridge_site.gunicorn_log.AccessLogger"
loglevel = _cfg.log_level.lower()
proc_name = "anibridge-web"
# Several gunicorns may run on one host (tests, replicas): the control socket has a
# fixed default path they would fight over, and nothing here uses it.
control_socket_disable = True


def post_worker_init(worker: object) -> None:
    # What the app loaded stays for the worker's life: keep it out of the garbage
    # collector's full passes, which otherwise stall every request of this worker
    # for tens of milliseconds now and then (measured with bench/bench_torznab.py).
    import gc

    gc.freeze()


def when_ready(server: object) -> None:
    # Once per start, in the master: an open qB API on a reachable port is dangerous.
    from qbshim.exposure import open_api_warning

    message = open_api_warning(_cfg)
    if message:
        server.log.warning(message)  # type: ignore[attr-defined]
