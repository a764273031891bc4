"""A confirmation's console output: in a terminal, a live bar per running seed run (epochs) under an overall
bar of seed runs; otherwise (``--no-live``, a log, CI) one line per finished seed run. Either way one line
per setting once all its seeds are done."""

from __future__ import annotations

__all__ = ["ConfirmDisplay"]


class ConfirmDisplay:
    def __init__(self, title: str, total: int, *, live: bool):
        from rich.console import Console

        self.title, self.total, self.done = title, total, 0
        self.console = Console(highlight=False, soft_wrap=True)
        self.live = live and self.console.is_terminal
        self._progress = self._overall = None
        self._tasks: dict = {}  # seed run -> its bar

    def __enter__(self) -> ConfirmDisplay:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.console)
            self._progress.start()
            self._overall = self._progress.add_task(f"{self.title}: seed runs", total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def say(self, text: str) -> None:
        (self._progress.console if self._progress else self.console).print(text)

    def started(self, run) -> None:
        if self._progress is not None:
            self._tasks[run] = self._progress.add_task(f"  {run.label}", total=run.config.schedule.epochs)

    def advanced(self, run, epochs: int) -> None:
        if run in self._tasks:
            self._progress.update(self._tasks[run], completed=epochs)

    def finished(self, run, text: str) -> None:
        self.done += 1
        if run in self._tasks:
            self._progress.remove_task(self._tasks.pop(run))
        if self._progress is not None:
            self._progress.advance(self._overall)
        self.say(f"[{self.done}/{self.total}] {run.label}: {text}")
