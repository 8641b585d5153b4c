"""Download progress: a rich progress bar on a terminal, nothing anywhere else.

Providers report bytes to a `Meter` without knowing whether anyone is watching, so the choice
(the `progress` flag, or whether stderr is a TTY) is made once, in `open_meter`. rich is imported
only when a bar is actually shown, which keeps `import modelplane` light.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import rich.progress

Advance = Callable[[int], None]


def _ignore(_: int) -> None:
    pass


class Meter:
    """Hands out byte counters for downloads; every counter is a no-op when silent."""

    def __init__(self, bar: rich.progress.Progress | None = None) -> None:
        self._bar = bar

    @property
    def visible(self) -> bool:
        return self._bar is not None

    def track(self, description: str, total: int | None) -> Advance:
        """Start a task of `total` bytes (`None` when unknown); call the result with each chunk."""
        bar = self._bar
        if bar is None:
            return _ignore
        task = bar.add_task(description, total=total)

        def advance(count: int) -> None:
            bar.update(task, advance=count)

        return advance


def wanted(progress: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to show a bar: as asked, or when nobody asked, when the stream is a terminal."""
    if progress is not None:
        return progress
    target = stream if stream is not None else sys.stderr
    try:
        return target.isatty()
    except (AttributeError, ValueError):
        # A closed or replaced stderr (daemons, some test runners) is no terminal.
        return False


@contextmanager
def open_meter(progress: bool | None, stream: TextIO | None = None) -> Iterator[Meter]:
    """A `Meter` that draws on `stream` (stderr by default) while the block runs, if wanted."""
    if not wanted(progress, stream):
        yield Meter()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(file=stream if stream is not None else sys.stderr)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        yield Meter(bar)
