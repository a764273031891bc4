"""One study trained over several seeds, and the table of the results: the median, mean and standard deviation
of test accuracy, CE and N_S over the seeds, which is how the paper reports every result (10 seeds).

A run lives in ``<root>/<study>-seed<N>`` (the directory ``snn train`` uses by default), so finished runs are
found again and never trained twice, and a run that was interrupted continues from its checkpoint. A directory
that holds a run of a different config is refused, never overwritten.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from snn.errors import UserError
from snn.train.checkpoint import load_checkpoint
from snn.train.config import TrainConfig
from snn.train.study import load_study
from snn.train.trainer import CHECKPOINT, METRICS

__all__ = ["SeedRun", "parse_seeds", "plan_runs", "run_state", "run_result", "epochs_done", "summarize", "summary_markdown",
           "median_mean_std"]

_SEEDS = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
SUMMARY_METRICS = (("accuracy", 100.0), ("ce", 1.0), ("n_s", 1.0))  # accuracy in %, as the paper's tables


@dataclass(frozen=True)
class SeedRun:
    study: str  # the study file's stem
    study_file: Path
    seed: int
    config: TrainConfig  # the study's [train] with the overrides and this seed
    out_dir: Path

    @property
    def label(self) -> str:
        return f"{self.study} seed {self.seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"1,4,7"``, ``"3"``, or a mix (``"0-4,10"``); sorted, without repeats."""
    compact = text.replace(" ", "")
    if not _SEEDS.fullmatch(compact):
        raise UserError(f"seeds must be N, A-B or a comma list such as 0-9 or 1,4,7, got {text!r}")
    seeds: set[int] = set()
    for part in compact.split(","):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise UserError(f"a seed range must run upwards, got {part!r} in {text!r}; write {high}-{low}")
        seeds.update(range(low, high + 1))
    return sorted(seeds)


def plan_runs(study_files: Sequence[str | Path], seeds: Sequence[int], root: str | Path,
              overrides: Mapping[str, Any] | None = None) -> list[SeedRun]:
    """Every (study, seed) run, studies in the order given. Errors (``UserError``) name the study file or
    the key."""
    runs, names = [], {}
    for file in study_files:
        study = load_study(file)
        if study.name in names:
            raise UserError(f"two study files are both called {study.name!r} ({names[study.name]} and {file}); "
                             f"their runs would share directories: rename one")
        names[study.name] = file
        for seed in seeds:
            try:
                config = study.train.with_overrides({**(overrides or {}), "seed": seed})
            except UserError as error:
                raise UserError(f"{file}: {error}") from None
            runs.append(SeedRun(study.name, Path(file), seed, config, Path(root) / f"{study.name}-seed{seed}"))
    return runs


def _metrics(run: SeedRun) -> dict[str, Any] | None:
    try:
        return json.loads((run.out_dir / METRICS).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def epochs_done(run: SeedRun) -> int:
    """Epochs the run has finished so far (its metrics.json, rewritten after every epoch)."""
    metrics = _metrics(run)
    return len(metrics.get("epochs") or []) if isinstance(metrics, dict) else 0


def run_state(run: SeedRun) -> str:
    """``"new"``, ``"partial"`` (a checkpoint to continue from) or ``"done"``. A directory holding a run of
    another config raises ``UserError`` naming the keys that differ."""
    checkpoint = run.out_dir / CHECKPOINT
    if not checkpoint.exists():
        return "new"
    changed = run.config.differences(TrainConfig.from_dict(load_checkpoint(checkpoint)["config"]))
    if changed:
        raise UserError(f"{str(run.out_dir)!r} already holds a run of {run.study} whose config differs in "
                         f"{', '.join(changed)}; pass another --out (or the same --set) to keep both")
    metrics = _metrics(run)
    return "done" if metrics and metrics.get("final") else "partial"


def run_result(run: SeedRun) -> dict[str, Any] | None:
    """The finished run's figures (test set, else validation), its wall time and whether it stopped early;
    None when the run has not finished."""
    metrics = _metrics(run)
    if not metrics or not metrics.get("final"):
        return None
    final = metrics["final"]["test"] or metrics["final"]["validation"]
    return {"seed": run.seed, **{k: final[k] for k, _ in SUMMARY_METRICS},
            "seconds": sum(e["seconds"] for e in metrics["epochs"]), "stopped_early": bool(metrics.get("stopped_early"))}


def median_mean_std(values: list[float]) -> dict[str, float]:
    """How the paper summarises a result over seeds: median, mean and sample standard deviation (0 for one)."""
    return {"median": statistics.median(values), "mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarize(results: Mapping[str, Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per study: runs, median/mean/std (sample std) of accuracy (%), CE and N_S, mean seconds per
    run, and the seeds that stopped early."""
    rows = []
    for study, runs in results.items():
        if not runs:
            continue
        row: dict[str, Any] = {"study": study, "runs": len(runs), "seeds": [r["seed"] for r in runs]}
        for key, scale in SUMMARY_METRICS:
            row[key] = median_mean_std([r[key] * scale for r in runs])
        row["seconds_per_run"] = statistics.mean(r["seconds"] for r in runs)
        row["stopped_early"] = [r["seed"] for r in runs if r["stopped_early"]]
        rows.append(row)
    return rows


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table as Markdown (for a note or a README), accuracy in %."""
    lines = ["| study | runs | accuracy % median / mean / std | CE median / mean / std | N_S median / mean / std | s per run |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        acc, ce, ns = row["accuracy"], row["ce"], row["n_s"]
        lines.append(f"| {row['study']} | {row['runs']} | {acc['median']:.2f} / {acc['mean']:.2f} / {acc['std']:.2f} | "
                     f"{ce['median']:.4f} / {ce['mean']:.4f} / {ce['std']:.4f} | "
                     f"{ns['median']:.3f} / {ns['mean']:.3f} / {ns['std']:.3f} | {row['seconds_per_run']:.0f} |")
    return "\n".join(lines) + "\n"
