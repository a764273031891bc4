"""A tiny branching study on a real local Ray, MLflow store and Optuna storage: every child starts at the switch
epoch from its parent's checkpoint, whose phase-1 weights are the parent's, bit for bit (an independent run of
the parent's phase 1 gives the same tensors), and ends where its own full config trained from scratch ends;
children share their parent's phase-1 values in Optuna, count only their own epochs and carry phase1_source."""

import json

import optuna
import pytest
import torch
from mlflow.tracking import MlflowClient

from search.branching import branch_dir
from search.trainable import read_attempts
from snn.train import CHECKPOINT, load_study, train
from snn.train.checkpoint import load_checkpoint
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, run_local_study, tiny_study_text
from tests.search.consistency import assert_study_consistent

TRIALS, EPOCHS, SWITCH, CHILDREN = 6, 4, 2, 3
pytestmark = pytest.mark.slow  # one real study run (~1 min) and three short trainings


def branching_study_text(trials: int, **schedule) -> str:
    """The tiny study with a phase-2 learning rate to search and ``phase2_children = 3``; its two start points
    (the paper's setting and the switched-off threshold 100) open the first two groups."""
    return edit_study(
        tiny_study_text(trials, **schedule), FIRING_THRESHOLDS,
        ('"network.threshold" = 1.0 }', '"network.threshold" = 1.0, "schedule.phase2.lr" = 2e-4 }'),
        ('"network.threshold" = 100.0 }', '"network.threshold" = 100.0, "schedule.phase2.lr" = 2e-4 }'),
        ("[search.space]", '[search.branching]\nphase2_children = 3\n[search.space]\n'
                           '"schedule.phase2.lr" = { type = "float", low = 1e-4, high = 1e-2, log = true }'))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_local_study(tmp_path_factory.mktemp("branching"),
                           branching_study_text(TRIALS, epochs=EPOCHS, switch_epoch=SWITCH))


def families(result):
    """(runs by name, {parent name: [child runs]}, Optuna trials by name)."""
    m = result.manifest
    runs = {r.info.run_name: r for r in MlflowClient(m.tracking_uri).search_runs([m.experiment_id], "tags.snn_search_role = 'trial'")}
    children: dict[str, list] = {}
    for run in runs.values():
        if "phase1_source" in run.data.tags:
            children.setdefault(run.data.tags["phase1_source"], []).append(run)
    trials = {f"trial_{t.number:03d}": t for t in optuna.load_study(study_name=m.name, storage=m.optuna_storage).get_trials()}
    return runs, children, trials


def test_children_share_their_parents_phase1_in_optuna_and_count_only_their_own_epochs(study):
    assert_study_consistent(study.manifest, TRIALS)  # one run per trial, each epoch it trained logged once
    runs, children, trials = families(study)
    assert children and all(len(kids) <= CHILDREN - 1 for kids in children.values())
    assert "trial_001" not in children  # the switched-off start point never reached its switch: no children
    for parent, kids in children.items():
        assert runs[parent].data.metrics["epochs_run"] >= SWITCH and "phase1_source" not in runs[parent].data.tags
        for kid in kids:
            child, source = trials[kid.info.run_name], trials[parent]
            assert set(child.params) == set(source.params)  # Optuna sees the full parameter set
            assert {k: child.params[k] for k in ("loss.alpha", "network.threshold")} == \
                   {k: source.params[k] for k in ("loss.alpha", "network.threshold")}
            assert child.params["schedule.phase2.lr"] != source.params["schedule.phase2.lr"]
            assert kid.data.metrics["epochs_inherited"] == SWITCH
            assert kid.data.metrics["epochs_run"] + kid.data.metrics["epochs_saved"] == EPOCHS - SWITCH
            attempts = read_attempts(study.layout.dir, kid.data.tags["tune_trial_id"])
            assert [(a["resumed_epochs"], a["branched_from"]) for a in attempts] == [(SWITCH, source.number)]
    summary = json.loads((study.layout.artifacts_dir / "summary.json").read_text())
    n_children = sum(len(kids) for kids in children.values())
    assert summary["epochs_saved_by_branching"] == SWITCH * n_children
    assert summary["epochs_trained"] == sum(int(r.data.metrics["epochs_run"]) for r in runs.values())


def test_a_child_starts_from_its_parents_phase1_weights_bit_for_bit_and_ends_as_its_config_from_scratch(study, tmp_path):
    runs, children, trials = families(study)
    parent_name, kids = next((p, k) for p, k in sorted(children.items()) if k[0].data.tags["trial_state"] == "COMPLETE")
    base = load_study(study.layout.study_file).train
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the trials trained ([search.resources] cpus = 1)
    try:
        # the parent's phase 1 on its own: the weights the study kept at its switch
        parent = base.with_overrides(trials[parent_name].params)
        train(parent.with_overrides({"schedule.epochs": SWITCH}), tmp_path / "phase1", progress=False, evaluate_test=False)
        kept = load_checkpoint(branch_dir(study.layout.dir, trials[parent_name].number) / CHECKPOINT)
        independent = load_checkpoint(tmp_path / "phase1" / CHECKPOINT)
        assert len(kept["epochs"]) == SWITCH
        assert all(torch.equal(kept["model"][k], w) for k, w in independent["model"].items())
        # the child's full config from scratch: the same final weights as the child that continued the kept ones
        child = kids[0]
        train(base.with_overrides(trials[child.info.run_name].params), tmp_path / "scratch", progress=False,
              evaluate_test=False)
    finally:
        torch.set_num_threads(threads)
    scratch = load_checkpoint(tmp_path / "scratch" / CHECKPOINT)["model"]
    final = load_checkpoint(study.layout.trials_dir / child.data.tags["tune_trial_id"] / CHECKPOINT)["model"]
    assert all(torch.equal(final[k], w) for k, w in scratch.items())
