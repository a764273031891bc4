"""Branching and successive halving with ``[search] seeds = 2``, on a real local Ray, MLflow store and Optuna
storage: a parent keeps every seed's checkpoint at the switch, bit for bit the weights of that seed's phase 1;
each of a child's seeds continues the parent's run of the same seed and ends where that seed of the child's
config trained from scratch ends; a rung judges the medians over the seeds the trial reported."""

import json
import statistics

import pytest
import torch

from search.branching import branch_dir
from search.scheduler import RungBook
from search.trainable import read_attempts
from snn.train import CHECKPOINT, METRICS, load_study, train
from snn.train.checkpoint import load_checkpoint
from tests.search.conftest import edit_study, run_local_study
from tests.search.consistency import assert_study_consistent
from tests.search.test_branching_e2e import branching_study_text, families

# Two start points open two groups: the paper's setting (a parent whose two children follow) and the
# switched-off threshold 100 (pruned in phase 1: it frees its slots, which the first group's children take).
TRIALS, EPOCHS, SWITCH, SEEDS, RUNG = 4, 4, 2, (0, 1), 3
pytestmark = pytest.mark.slow  # one real study run (~1 min) and four short trainings


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    # min_trials above the trials that can reach the rung: it is judged and recorded, nothing is stopped
    text = edit_study(branching_study_text(TRIALS, epochs=EPOCHS, switch_epoch=SWITCH),
                      ("concurrency = 2\n", "concurrency = 2\nseeds = 2\n"),
                      ("[search.pruning]", f"[search.early_stopping]\nrungs = [{RUNG}]\nmin_trials = {TRIALS + 1}\n"
                                           "[search.pruning]"))
    return run_local_study(tmp_path_factory.mktemp("branching-seeds"), text)


def seed_dir(study, run, seed):
    return study.layout.trials_dir / run.data.tags["tune_trial_id"] / f"seed{seed}"


def test_each_childs_seed_continues_the_same_seed_of_its_parent_bit_for_bit(study, tmp_path):
    assert_study_consistent(study.manifest, TRIALS)
    runs, children, trials = families(study)
    assert list(children) == ["trial_000"] and len(children["trial_000"]) == 2
    parent_number = trials["trial_000"].number
    base = load_study(study.layout.study_file).train
    child = children["trial_000"][0]
    for kid in children["trial_000"]:
        attempts = read_attempts(study.layout.dir, kid.data.tags["tune_trial_id"])
        assert [(a["resumed_epochs"], a["branched_from"]) for a in attempts] == [(SWITCH, parent_number)]
        assert kid.data.metrics["epochs_inherited"] == SWITCH and kid.data.metrics["epochs_run"] == EPOCHS - SWITCH
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the trials trained ([search.resources] cpus = 1)
    try:
        for seed in SEEDS:
            parent = base.with_overrides({**trials["trial_000"].params, "seed": seed})
            train(parent.with_overrides({"schedule.epochs": SWITCH}), tmp_path / f"phase1-{seed}", progress=False,
                  evaluate_test=False)
            kept = load_checkpoint(branch_dir(study.layout.dir, parent_number) / f"seed{seed}" / CHECKPOINT)
            independent = load_checkpoint(tmp_path / f"phase1-{seed}" / CHECKPOINT)
            assert len(kept["epochs"]) == SWITCH and kept["config"]["seed"] == seed
            assert all(torch.equal(kept["model"][k], w) for k, w in independent["model"].items()), seed
            own = base.with_overrides({**trials[child.info.run_name].params, "seed": seed})
            train(own, tmp_path / f"scratch-{seed}", progress=False, evaluate_test=False)
            scratch = load_checkpoint(tmp_path / f"scratch-{seed}" / CHECKPOINT)["model"]
            final = load_checkpoint(seed_dir(study, child, seed) / CHECKPOINT)["model"]
            assert all(torch.equal(final[k], w) for k, w in scratch.items()), seed
    finally:
        torch.set_num_threads(threads)


def test_a_rung_judges_the_medians_of_the_seeds(study):
    runs, _, _ = families(study)
    by_id = {r.data.tags["tune_trial_id"]: r for r in runs.values()}
    records = [r for (trial, rung), r in RungBook(study.layout.dir).read().items() if rung == RUNG]
    assert len(records) == 3  # the first group: its parent and both children (trial_001 stopped in phase 1)
    for record in records:
        seeds = [json.loads((seed_dir(study, by_id[record["trial"]], s) / METRICS).read_text()) for s in SEEDS]
        at_rung = [s["epochs"][RUNG - 1]["validation"] for s in seeds]
        assert record["values"] == [statistics.median(v["accuracy"] for v in at_rung),
                                    statistics.median(v["n_s"] for v in at_rung)]
        assert record["goes_on"]
