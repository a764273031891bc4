"""Shared fixtures for the search service tests: a tiny study file and the environment every test that
touches Ray or MLflow needs (loopback Ray, no auth, no telemetry; ENVIRONMENT.md)."""

import os
import re
from pathlib import Path


os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# A study whose trials take seconds: 200 Yin-Yang samples, 3 epochs (2-phase), the paper's network. Its
# first two trials are fixed: the paper's setting, and a threshold of 100 that no neuron reaches, so that the
# network is silent from the first epoch whatever the trainer does (a silent network passes no gradient).
# The sampled thresholds reach that switched-off region too.
TINY_STUDY = """
[train]
seed = 0
[train.network]
sizes = [5, 40, 25, 13, 3]
init_ranges = [[1.0, 3.0], [0.2, 1.0], [0.0, 1.0], [0.0, 1.0]]
max_spikes = 32
[train.data]
dataset = "yinyang"
train_subset = @SAMPLES@
[train.schedule]
epochs = @EPOCHS@
switch_epoch = @SWITCH@
phase1 = { loss = "L_A", lr = 5e-3 }
phase2 = { loss = "L", lr = 2e-4 }

[search]
trials = @TRIALS@
concurrency = 2
seed = 1
start_points = [
    { "loss.alpha" = 3.5e-3, "network.threshold" = 1.0 },
    { "loss.alpha" = 3.5e-3, "network.threshold" = 100.0 },
]
[search.space]
"loss.alpha" = { type = "float", low = 1e-4, high = 1e-2, log = true }
"network.threshold" = { type = "float", low = 0.5, high = 100.0, log = true }
[search.pruning]
patience = 1
"""


def tiny_study_text(trials: int = 5, *, epochs: int = 3, switch_epoch: int = 2, train_samples: int = 200) -> str:
    """The tiny study; tests that must catch a trial mid-run ask for more epochs and samples, so that a trial
    trains for seconds."""
    values = {"@TRIALS@": trials, "@EPOCHS@": epochs, "@SWITCH@": switch_epoch, "@SAMPLES@": train_samples}
    return re.sub("|".join(values), lambda m: str(values[m.group(0)]), TINY_STUDY)


# The sampled thresholds of the tiny study, narrowed to values that mostly keep the network firing (and the
# switched-off 100.0): for tests that need trials which train for a while.
FIRING_THRESHOLDS = ('"network.threshold" = { type = "float", low = 0.5, high = 100.0, log = true }',
                     '"network.threshold" = { type = "categorical", choices = [1.0, 0.9, 1.1, 100.0] }')


def edit_study(text: str, *changes: tuple[str, str]) -> str:
    """``text`` with each ``(old, new)`` applied; ``old`` must occur exactly once, so that an edit can never
    silently do nothing when the tiny study changes."""
    for old, new in changes:
        count = text.count(old)
        assert count == 1, f"the study text must contain {old!r} exactly once, found it {count} times"
        text = text.replace(old, new)
    return text


def run_local_study(tmp, text: str):
    """Runs the study ``text`` (as ``<tmp>/tiny.toml``) to its end on a fresh local Ray (loopback), with its
    state under ``<tmp>/studies`` and MLflow in ``<tmp>/mlflow.db``; returns the StudyRun."""
    import signal

    import ray

    from search.study import RunOptions, run_study

    (tmp / "tiny.toml").write_text(text)
    # Tune's run loop installs a SIGUSR1 handler and leaves it: later tests in this process expect none
    usr1 = signal.getsignal(signal.SIGUSR1)
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        return run_study(tmp / "tiny.toml", RunOptions(root=str(tmp / "studies"), tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
                                                       live=False))
    finally:
        ray.shutdown()
        signal.signal(signal.SIGUSR1, usr1)


# The demo study of the CLI tests: (final validation accuracy, N_S, state) per trial; trial_000 and trial_002
# form the front, trial_001 is pruned.
DEMO_TRIALS = [(0.90, 1.0, "COMPLETE"), (0.33, 0.0, "PRUNED"), (0.80, 0.5, "COMPLETE"), (0.70, 2.0, "COMPLETE")]


def build_demo_study(folder: Path) -> Path:
    """Study "demo" under ``folder / "studies"`` as the driver leaves it (manifest, MLflow SQLite store with
    parent and child runs, artifacts, snapshot), written by the real tracking callback without running
    Ray; returns the studies' root."""
    from search.callbacks import TrackingCallback
    from search.layout import StudyLayout
    from search.manifest import StudyManifest
    from search.objectives import DEFAULT_OBJECTIVES
    from search.outcome import Outcome
    from search.tracking import StudyTracker

    layout = StudyLayout.at("demo", folder / "studies")
    layout.create(tiny_study_text(len(DEMO_TRIALS)), StudyManifest(
        "demo", str(layout.dir), "", f"sqlite:///{folder / 'mlflow.db'}", layout.default_optuna_storage, "yinyang",
        DEFAULT_OBJECTIVES, len(DEMO_TRIALS), {"space.loss.alpha": "float[0.0001, 0.01] log"},
        hypervolume_reference=(1 / 3, 5.0)))
    callback = TrackingCallback(str(layout.dir))
    callback.setup()
    tracker = StudyTracker(layout.manifest().tracking_uri, "demo")
    for i, (acc, n_s, state) in enumerate(DEMO_TRIALS):
        tracker.trial_run(f"id{i}", f"trial_{i:03d}", {"loss.alpha": 0.001 * (i + 1)})
        tracker.log_epoch(f"id{i}", {"val_accuracy": acc, "val_n_s": n_s}, 0)
        saved = 2 if state == "PRUNED" else 0
        reason = "switched off: layer 2 silent fraction 1.00 >= 1 (epoch 0)" if state == "PRUNED" else ""
        tracker.finish_trial(f"id{i}", Outcome(state, reason),
                             {"final_val_accuracy": acc, "final_val_n_s": n_s, "final_test_accuracy": acc,
                              "epochs_run": 3 - saved, "epochs_planned": 3, "epochs_saved": saved}, {})
    callback.refresh(reread=True)
    return folder / "studies"
