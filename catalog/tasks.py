"""Celery tasks of the catalog: keeping the sites' title indexes fresh in Redis."""

from __future__ import annotations

import logging

from celery import shared_task

from catalog import index

log = logging.getLogger(__name__)


@shared_task(name="catalog.tasks.refresh_title_index")
def refresh_title_index(site: str, force: bool = False) -> str:
    """Fetch `site`'s title index into the cache unless it is fresh (or `force`)."""
    try:
        meta = index.refresh_site(site, force=force)
    finally:
        index.refresh_done(site)
    if meta is None:
        return f"{site}: another process is fetching the index"
    return f"{site}: {meta.count} titles"


@shared_task(name="catalog.tasks.refresh_stale_title_indexes", ignore_result=True)
def refresh_stale_title_indexes() -> list[str]:
    """Queue a refresh for every enabled site whose index is stale or missing (beat)."""
    queued = [site for site in index.stale_sites() if index.enqueue_refresh(site)]
    if queued:
        log.info("title indexes queued for refresh: %s", ", ".join(queued))
    return queued
