"""`manage.py refresh_strm`: re-resolve STRM mappings and rewrite their .strm files,
several at a time (--jobs), with a tqdm progress bar and ETA on stderr. Log lines go
through tqdm while the bar is shown, so they print above it instead of breaking it."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from strm.models import StrmUrlMapping
from strm.operations import FileState, RefreshOutcome, refresh_mapping
from strm.selection import FILTERS, SelectionError, parse_selection

USAGE_ERROR = 2
DEFAULT_JOBS = 4
MAX_JOBS = 16
ITEM_WIDTH = 48


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_JOBS}")
    return int(text)


class Command(BaseCommand):
    help = (
        "Re-resolve the selected STRM mappings now and rewrite their .strm files (proxy "
        "mode: only when the URL changed, e.g. a new STRM_PUBLIC_BASE_URL). Filters combine; "
        "one of them or --all is required. --stale: the last check failed, never resolved, "
        "or resolved longer ago than STRM_PROXY_CACHE_TTL_SECONDS (24 h when that is 0). "
        "Exit code 1 when any refresh failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Numbers are taken as text so every bad value gets the same one-line error.
        parser.add_argument("--site", help="aniworld.to, s.to or megakino (aliases work)")
        parser.add_argument("--slug", help="the series/film slug from the site's URL")
        parser.add_argument("--season", help="season number (0: films/specials)")
        parser.add_argument("--episode", help="episode number")
        parser.add_argument("--stale", action="store_true", help="only stale mappings")
        parser.add_argument("--all", action="store_true", help="every mapping")
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be refreshed, change nothing"
        )
        parser.add_argument(
            "--no-progress-bar", action="store_true", help="no progress bar on stderr"
        )
        parser.add_argument(
            "--jobs",
            type=_jobs,
            default=DEFAULT_JOBS,
            help=f"episodes refreshed at the same time (1-{MAX_JOBS}, default {DEFAULT_JOBS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mappings = self._selected(options)
        if not mappings:
            self.stdout.write("no STRM mapping matches the selection")
            return
        if options["dry_run"]:
            self._list_planned(mappings)
            return
        outcomes = self._refresh(
            mappings, options["verbosity"], options["no_progress_bar"], options["jobs"]
        )
        self.stdout.write(summary(outcomes))
        failed = sum(o.failed for o in outcomes)
        if failed:
            raise CommandError(f"{failed} of {len(outcomes)} refresh(es) failed", returncode=1)

    def _selected(self, options: dict[str, Any]) -> list[StrmUrlMapping]:
        values = {name: options[name] for name in FILTERS}
        try:
            selection = parse_selection(values)
        except SelectionError as exc:
            raise CommandError(f"{exc} (see --help)", returncode=USAGE_ERROR) from None
        return list(selection.mappings())

    def _list_planned(self, mappings: Sequence[StrmUrlMapping]) -> None:
        for mapping in mappings:
            self.stdout.write(str(refresh_mapping(mapping, dry_run=True)))
        self.stdout.write(
            f"dry run: {len(mappings)} mapping(s) would be refreshed; nothing changed"
        )

    def _refresh(
        self, mappings: Sequence[StrmUrlMapping], verbosity: int, no_bar: bool, jobs: int
    ) -> list[RefreshOutcome]:
        # tqdm draws on the stream under Django's wrapper: the wrapper would end every
        # redraw with a newline (and paint it red on a terminal).
        stream = cast(TextIO, self.stderr._out)
        outcomes: list[RefreshOutcome] = []
        with (
            tqdm(
                total=len(mappings),
                desc="refresh_strm",
                unit="episode",
                file=stream,
                disable=no_bar,
                dynamic_ncols=True,
            ) as bar,
            logging_redirect_tqdm(),
            ThreadPoolExecutor(max_workers=min(jobs, len(mappings))) as pool,
        ):
            running = [pool.submit(_refresh_one, mapping) for mapping in mappings]
            for future in as_completed(running):
                outcome = future.result()
                outcomes.append(outcome)
                if outcome.failed or outcome.file is FileState.MISSING or verbosity >= 2:
                    tqdm.write(str(outcome), file=stream)
                bar.set_postfix_str(outcome.label[:ITEM_WIDTH], refresh=False)
                bar.update(1)
        return outcomes


def _refresh_one(mapping: StrmUrlMapping) -> RefreshOutcome:
    try:
        return refresh_mapping(mapping)
    finally:
        connections.close_all()  # this pool thread's own connections


def summary(outcomes: Sequence[RefreshOutcome]) -> str:
    files = Counter(o.file for o in outcomes if not o.failed)
    refreshed = sum(o.resolution is not None and not o.failed for o in outcomes)
    line = (
        f"refreshed {refreshed} of {len(outcomes)}: {files[FileState.REWRITTEN]} rewritten, "
        f"{files[FileState.UNCHANGED]} unchanged, {files[FileState.MISSING]} missing, "
        f"{sum(o.failed for o in outcomes)} failed"
    )
    if files[FileState.NOT_RECORDED]:
        line += f", {files[FileState.NOT_RECORDED]} without a .strm file"
    return line
