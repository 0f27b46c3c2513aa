"""A one-line progress bar for management commands, redrawn in place on stderr.

Like tqdm, it writes "\\r" + the bar whether or not stderr is a terminal; commands
offer `--no-progress-bar` for logs that should not carry it.
"""

from __future__ import annotations

from collections.abc import Callable

WIDTH = 24
ITEM_WIDTH = 48


class ProgressBar:
    """`label  3/10 [#######-----------------]  30% current item`."""

    def __init__(
        self, write: Callable[[str], None], total: int, label: str, enabled: bool = True
    ) -> None:
        self._write = write
        self.total = total
        self.label = label
        self.enabled = enabled
        self.done = 0
        self._item = ""
        self._drawn = 0  # length of the bar line on screen, to blank it out

    def start(self, item: str = "") -> None:
        """Show the bar before the first item (or with the item now being worked on)."""
        self._item = item
        self._draw()

    def advance(self, next_item: str = "") -> None:
        self.done = min(self.total, self.done + 1)
        self._item = next_item
        self._draw()

    def note(self, line: str) -> None:
        """A line that stays, printed above the bar."""
        self._clear()
        self._write(line + "\n")
        self._draw()

    def close(self) -> None:
        if self.enabled and self._drawn:
            self._write("\n")
            self._drawn = 0

    def _draw(self) -> None:
        if not self.enabled:
            return
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        percent = 100 * self.done // self.total if self.total else 100
        count = f"{self.done:>{len(str(self.total))}}/{self.total}"
        text = f"{self.label} {count} [{'#' * filled}{'-' * (WIDTH - filled)}] {percent:3d}%"
        if self._item:
            text += " " + self._item[:ITEM_WIDTH]
        self._write("\r" + text.ljust(self._drawn))
        self._drawn = len(text)

    def _clear(self) -> None:
        if self.enabled and self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
