"""What the qBittorrent torrent calls do to ClientTask and Job rows."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from catalog import watching
from catalog.magnet import MagnetError, parse_magnet
from downloads import cleanup, ledger
from downloads.models import Job
from qbshim.models import Category, ClientTask
from qbshim.paths import internal_save_path
from qbshim.table import TABLE, Snapshot, enclosed

log = logging.getLogger(__name__)

MAX_MAGNETS_PER_CALL = 200

# qBittorrent's torrents/info `filter` values -> the states they select.
FILTERS: dict[str, set[str]] = {
    "downloading": {"downloading", "queuedDL", "stoppedDL"},
    "seeding": set(),
    "completed": {"stoppedUP"},
    "paused": {"stoppedDL", "stoppedUP"},
    "stopped": {"stoppedDL", "stoppedUP"},
    "active": {"downloading"},
    "inactive": {"queuedDL", "stoppedDL", "stoppedUP", "error"},
    "resumed": {"downloading", "queuedDL"},
    "running": {"downloading", "queuedDL"},
    "stalled": set(),
    "stalled_uploading": set(),
    "stalled_downloading": set(),
    "checking": set(),
    "moving": set(),
    "errored": {"error"},
}


class AddRefused(ValueError):
    """torrents/add cannot take this request; the message says why."""


MAX_CATEGORY_LENGTH = 100  # Category.name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_category_name(name: str) -> str:
    """`name` if qB would take it as a category; ValueError otherwise.

    Like qB: no backslash, no leading slash, no '..' component ('/' nests categories).
    No control characters either: removeCategories splits its list on newlines.
    """
    if (
        not name
        or len(name) > MAX_CATEGORY_LENGTH
        or "\\" in name
        or name.startswith("/")
        or ".." in name.split("/")
        or _CONTROL.search(name)
    ):
        raise ValueError(f"invalid category name {name[:MAX_CATEGORY_LENGTH]!r}")
    return name


def tasks(hashes: list[str] | None) -> QuerySet[ClientTask]:
    qs = ClientTask.objects.select_related("job")
    return qs if hashes is None else qs.filter(hash__in=hashes)


def add_magnets(
    urls: str, category: str, stopped: bool, savepath: str, tags: str
) -> list[ClientTask]:
    """Parse every magnet first; add them all in one transaction, or none."""
    lines = [line.strip() for line in urls.replace("\r", "\n").split("\n") if line.strip()]
    if not lines:
        raise AddRefused("no magnet link in 'urls'")
    if len(lines) > MAX_MAGNETS_PER_CALL:
        raise AddRefused(f"at most {MAX_MAGNETS_PER_CALL} magnets per call")
    if category:
        # A category named here is created like createCategory would: same rules.
        try:
            check_category_name(category)
        except ValueError as exc:
            raise AddRefused(str(exc)) from None
    try:
        parsed = [parse_magnet(line) for line in lines]
    except MagnetError as exc:
        raise AddRefused(str(exc)) from None
    with transaction.atomic():
        save_path = _save_path(category, savepath)
        return [
            _add_one(p, line, category, stopped, save_path, tags)
            for p, line in zip(parsed, lines, strict=True)
        ]


def _save_path(category: str, savepath: str) -> Path:
    if savepath:
        return internal_save_path(savepath)
    if category:
        cat, _ = Category.objects.get_or_create(name=category)
        return internal_save_path(cat.save_path)
    return internal_save_path("")


def _add_one(
    parsed: Any, magnet: str, category: str, stopped: bool, save_path: Path, tags: str
) -> ClientTask:
    existing = ClientTask.objects.select_related("job").filter(hash=parsed.hash).first()
    if existing is not None:
        # Adding the same hash again is a no-op, except that a failed job gets another go.
        if existing.job is not None and existing.job.status in (
            Job.Status.FAILED,
            Job.Status.CANCELLED,
        ):
            ledger.retry(existing.job)
        return existing
    ident = parsed.identity
    job = ledger.create(
        ident,
        Job.Kind.STRM if parsed.mode == "strm" else Job.Kind.DOWNLOAD,
        stopped=stopped,
        release_name=parsed.name,
        save_path=str(save_path),
        message="added stopped" if stopped else "queued",
    )
    task = ClientTask.objects.create(
        hash=parsed.hash,
        name=parsed.name,
        mode=ClientTask.Mode.STRM if parsed.mode == "strm" else ClientTask.Mode.DOWNLOAD,
        magnet=magnet,
        category=category,
        tags=_tag_text(_split_tags(tags)),
        save_path=str(save_path),
        stopped=stopped,
        job=job,
        **ClientTask.identity_fields(ident, with_provider=True),
    )
    watching.note_grab(ident.site, ident.slug, ident.season)  # the RSS feed follows the series
    log.info(
        "added %s (%s) as job %s%s", task.hash, task.name, job.pk, " stopped" if stopped else ""
    )
    return task


@dataclass(frozen=True)
class InfoQuery:
    """torrents/info's parameters; hashable, so an unchanged table reuses the answer."""

    filter_name: str = "all"
    category: str | None = None
    tag: str | None = None
    hashes: tuple[str, ...] | None = None
    sort: str = ""
    reverse: bool = False
    limit: int | None = None
    offset: int | None = None


def info_json(query: InfoQuery) -> bytes:
    """torrents/info's JSON: rendered once per table revision and query."""
    snap = TABLE.snapshot()

    def render() -> bytes:
        return enclosed(b"[", [snap.encoded[h] for h in list_info(snap, query)], b"]")

    return TABLE.body(snap, ("info", query), render)


def list_info(snap: Snapshot, query: InfoQuery) -> list[str]:
    """The hashes torrents/info answers with, in order."""
    items = snap.items
    selected = list(snap.order)
    if query.hashes is not None:
        wanted = set(query.hashes)
        selected = [h for h in selected if h in wanted]
    if query.category is not None:
        selected = [h for h in selected if items[h]["category"] == query.category]
    if query.tag:
        selected = [h for h in selected if query.tag in _split_tags(items[h]["tags"])]
    if query.filter_name in FILTERS:
        states = FILTERS[query.filter_name]
        selected = [h for h in selected if items[h]["state"] in states]
    sort = query.sort
    if sort and selected and sort not in items[selected[0]]:
        raise ValueError("'sort' parameter is invalid")  # qBittorrent's words
    if sort:
        selected.sort(key=lambda h: _sort_key(items[h].get(sort)), reverse=query.reverse)
    elif query.reverse:
        selected.reverse()
    offset = query.offset
    if offset is None:
        start = 0
    elif offset < 0:  # qBittorrent counts a negative offset from the end
        start = max(0, len(selected) + offset)
    else:
        start = offset
    end = None if not query.limit or query.limit <= 0 else start + query.limit
    return selected[start:end]


def _sort_key(value: Any) -> tuple[bool, Any]:
    """Nulls (`private` before the size is known) sort last instead of failing."""
    return (value is None, 0 if value is None else value)


def delete(hashes: list[str] | None, delete_files: bool) -> int:
    count = 0
    for task in list(tasks(hashes)):
        job = task.job
        if job is not None:
            ledger.cancel(job, "removed by the client")
            if delete_files:
                cleanup.remove_result(job)
        task_hash = task.hash  # delete() sets the primary key, the hash, to None
        task.delete()
        count += 1
        log.info(
            "removed %s (%s)%s", task_hash, task.name, " with its files" if delete_files else ""
        )
    return count


def stop(hashes: list[str] | None) -> None:
    for task in tasks(hashes):
        ClientTask.objects.filter(pk=task.pk).update(stopped=True)
        if task.job is not None:
            Job.objects.active().filter(pk=task.job.pk).update(
                status=Job.Status.STOPPED, message="stopped by the client"
            )


def start(hashes: list[str] | None) -> None:
    for task in tasks(hashes):
        ClientTask.objects.filter(pk=task.pk).update(stopped=False)
        job = task.job
        if job is None:
            continue
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, status=Job.Status.STOPPED).update(
                status=Job.Status.QUEUED, message="started by the client"
            ):
                ledger.enqueue(job)


def set_category(hashes: list[str] | None, category: str) -> None:
    if category and not Category.objects.filter(name=category).exists():
        raise ValueError(f"category {category!r} does not exist")
    tasks(hashes).update(category=category)


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _tag_text(tags: Iterable[str]) -> str:
    return ", ".join(sorted(set(tags)))


def add_tags(hashes: list[str] | None, tags: str) -> None:
    new = _split_tags(tags)
    for task in tasks(hashes):
        ClientTask.objects.filter(pk=task.pk).update(
            tags=_tag_text([*_split_tags(task.tags), *new])
        )


def remove_tags(hashes: list[str] | None, tags: str) -> None:
    gone = set(_split_tags(tags))
    for task in tasks(hashes):
        keep = [t for t in _split_tags(task.tags) if not gone or t not in gone]
        ClientTask.objects.filter(pk=task.pk).update(tags=_tag_text(keep if gone else []))


def all_tags() -> list[str]:
    return sorted(
        {t for text in ClientTask.objects.values_list("tags", flat=True) for t in _split_tags(text)}
    )
