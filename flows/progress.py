"""Progress bars for long commands (rich), one shape for every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar; yields `advance(done, total)` for library callbacks."""
    from rich.progress import Progress

    with Progress(*_columns(), transient=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(done: int, total_: int) -> None:
            progress.update(task, completed=done, total=total_)

        yield advance


def _columns() -> tuple:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()


class StageBars:
    """One progress bar per stage of a long command, closed before the next stage starts: a stage may show
    Lightning's own bar, and two live displays on one console at once break rich (its live stack)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.progress = None
        self.task = None

    def stage(self, text: str) -> None:
        self.close()
        self.console.rule(text)

    def advance(self, phase: str, done: int, total: int) -> None:
        from rich.progress import Progress

        if self.progress is None:
            self.progress = Progress(*_columns(), console=self.console)
            self.progress.start()
            self.task = self.progress.add_task(phase, total=total)
        self.progress.update(self.task, description=phase, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
