"""What the driver spends per trial on MLflow and the study's report: a benchmark that feeds N finished
trials (Tune ``Trial`` objects with epoch and final results, no training) through the study's callbacks on a
real MLflow SQLite store, once as the driver does it (the report at most every REPORT_INTERVAL_S) and once
rebuilding the report after every trial (as before), and prints both.

    python -m search.overhead --trials 200
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

__all__ = ["measure", "main"]


def _trial(i: int, epochs: int):
    from ray.tune.experiment import Trial

    trial = Trial("study", config={"loss.alpha": 1e-3 * (1 + i % 7), "optuna_trial": i}, trial_id=f"t{i:05d}", stub=True)
    results = [{"epoch": e, "val_accuracy": 0.5 + 0.4 * math.sin(i + e) ** 2, "val_n_s": 1 + (i * 7 % 11) / 10,
                "lr": 1e-3, "phase": 1, "train_loss": 0.1, "epoch_seconds": 1.0, "is_final": False} for e in range(epochs)]
    final = {**results[-1], "is_final": True, "pruned": i % 5 == 0, "prune_reason": "switched off" if i % 5 == 0 else "",
             "final_val_accuracy": results[-1]["val_accuracy"], "final_val_n_s": results[-1]["val_n_s"],
             "epochs_run": epochs, "epochs_planned": epochs, "epochs_saved": 0}
    return trial, [*results, final]


def measure(trials: int, epochs: int, interval: float) -> dict[str, float]:
    """Seconds the callbacks take for ``trials`` trials with the report at most every ``interval`` s."""
    import search.callbacks as callbacks
    from search.layout import StudyLayout
    from search.manifest import StudyManifest
    from search.objectives import DEFAULT_OBJECTIVES
    from search.progress import LiveProgress

    with tempfile.TemporaryDirectory() as tmp:
        layout = StudyLayout.at("overhead", Path(tmp) / "studies")
        layout.create("", StudyManifest("overhead", str(layout.dir), "", f"sqlite:///{tmp}/mlflow.db",
                                        layout.default_optuna_storage, "yinyang", DEFAULT_OBJECTIVES, trials))
        tracking, progress = callbacks.TrackingCallback(str(layout.dir)), LiveProgress("overhead", trials, DEFAULT_OBJECTIVES)
        tracking.setup()
        progress.setup()
        progress._console.file = open(os.devnull, "w")  # its one line per trial is not what is measured
        saved, callbacks.REPORT_INTERVAL_S = callbacks.REPORT_INTERVAL_S, interval
        start = time.perf_counter()
        try:
            for i in range(trials):
                trial, results = _trial(i, epochs)
                for cb in (tracking, progress):
                    cb.on_trial_start(0, [], trial)
                for result in results:
                    trial.update_last_result(result)
                    for cb in (tracking, progress):
                        cb.on_trial_result(0, [], trial, result)
                for cb in (tracking, progress):
                    cb.on_trial_complete(0, [], trial)
                    cb.on_step_end(0, [])
            loop = time.perf_counter() - start
            tracking.refresh()  # the final report, always
        finally:
            callbacks.REPORT_INTERVAL_S = saved
        return {"trials": trials, "loop_s": loop, "total_s": time.perf_counter() - start}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    from search.report import REPORT_INTERVAL_S

    for label, interval in ((f"report at most every {REPORT_INTERVAL_S:g} s", REPORT_INTERVAL_S), ("report after every trial", 0.0)):
        r = measure(args.trials, args.epochs, interval)
        print(f"{label:32s}: {r['total_s']:7.1f} s for {r['trials']} trials ({1000 * r['total_s'] / r['trials']:6.0f} ms per trial)",
              flush=True)


if __name__ == "__main__":
    main()
