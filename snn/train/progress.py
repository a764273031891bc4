"""Console output of a training run: a rich progress bar per epoch with a live loss, one metrics line per
epoch, and a closing summary. ``enabled=False`` prints nothing (library use, search workers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["TrainingProgress", "format_metrics"]


def format_metrics(m: dict[str, Any]) -> str:
    layers = " ".join(f"{x:.2f}" for x in m["n_s_per_layer"])
    text = f"acc {100 * m['accuracy']:.2f}%  ce {m['ce']:.4f}  N_S {m['n_s']:.3f} [{layers}]"
    silent = [f"{s:.0%}" for s in m["silent_fraction_per_layer"]]
    if any(s != "0%" for s in silent):
        text += f"  silent [{' '.join(silent)}]"
    if m.get("silent_target_fraction"):
        text += f"  silent-target {m['silent_target_fraction']:.1%}"
    if m.get("spike_overflows"):
        text += f"  overflows {m['spike_overflows']}"
    return text


class TrainingProgress:
    def __init__(self, total_epochs: int, *, enabled: bool = True, console: Console | None = None) -> None:
        self.total_epochs = total_epochs
        self.enabled = enabled
        self.console = console or Console()

    def print(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, soft_wrap=True)  # one line per epoch, greppable

    @contextmanager
    def epoch(self, epoch: int, phase: int, lr: float, n_batches: int) -> Iterator[Callable[[float], None]]:
        """Yields ``advance(loss)``, to be called after each batch with the batch's loss (a float or a scalar
        tensor: it is read only when the bar is shown, so quiet GPU runs do not sync every batch)."""
        # No bar where nobody watches it live (logs, pipes, CI): it would only add blank lines there.
        if not self.enabled or not self.console.is_terminal:
            yield lambda loss: None
            return
        # transient: the bar disappears when the epoch ends and only the metrics line stays in the log.
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("{task.fields[live]}"),
                            console=self.console, transient=True)
        total = {"loss": 0.0, "n": 0}
        description = f"epoch {epoch + 1}/{self.total_epochs} (phase {phase}, lr {lr:.3g})"
        with progress:
            task = progress.add_task(description, total=n_batches, live="")

            def advance(loss) -> None:
                total["loss"] += float(loss)
                total["n"] += 1
                progress.update(task, advance=1, live=f"loss {total['loss'] / total['n']:.4f}")

            yield advance

    def epoch_done(self, report: Any) -> None:
        self.print(
            f"epoch {report.epoch + 1:>{len(str(self.total_epochs))}}/{self.total_epochs}  phase {report.phase}  "
            f"lr {report.lr:.3g}  loss {report.train_loss:.4f}  | val {format_metrics(report.validation)}  "
            f"| {report.seconds:.1f} s"
        )
