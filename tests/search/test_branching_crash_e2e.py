"""A branching study with successive halving whose driver is killed with SIGKILL while a child trains, then
resumed: nothing lost and nothing repeated. Finished trials are never re-run, the caught child continues from
its own checkpoint (not from its parent's again), no parent's phase 1 is kept twice, no rung is decided twice,
every child still starts from its parent's switch, and MLflow and Optuna hold exactly the planned trials."""

import json
import time

import pytest

from search.trainable import read_attempts
from tests.search.test_branching_e2e import branching_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.conftest import edit_study
from tests.search.test_driver_crash_e2e import (TRAIN_SAMPLES, epochs_of, kill_driver_when, resume_killed,
                                                snapshot_time)

TRIALS, EPOCHS, SWITCH, RUNG = 5, 40, 20, 30
EPOCHS_LEFT_AT_CRASH = 8  # a child caught with this many epochs to go cannot finish before the kill lands
pytestmark = pytest.mark.slow


def child_caught_training(study_dir, seen: dict[str, float]):
    """A finished trial, and a child (it has a phase1_source) that has trained own epochs which Tune's newest
    snapshot holds (the driver took a result of it before that snapshot) and is far from done."""
    now = time.time()
    states = {d.name: epochs_of(d) for d in (study_dir / "trials").glob("*") if d.is_dir()}
    children = {}
    for key in states:
        attempts = read_attempts(study_dir, key)
        if attempts and attempts[0]["branched_from"] is not None:
            children[key] = attempts[0]["branched_from"]
    for key, (epochs, done) in states.items():
        result = study_dir / "tune" / key / "result.json"
        if key in children and len(epochs) > SWITCH and not done and key not in seen and result.exists() \
                and result.read_text().strip():
            seen[key] = now
    finished = [k for k, (_, done) in states.items() if done]
    newest = snapshot_time(study_dir)
    caught = [k for k in children if k in seen and newest > seen[k] and not states[k][1]
              and len(states[k][0]) <= EPOCHS - EPOCHS_LEFT_AT_CRASH]
    return (states, finished, caught) if finished and caught else None


def test_a_killed_branching_study_resumes_without_losing_or_repeating_anything(tmp_path):
    text = edit_study(branching_study_text(TRIALS, epochs=EPOCHS, switch_epoch=SWITCH, train_samples=TRAIN_SAMPLES),
                      ("phase2_children = 3", "phase2_children = 2"),
                      ("[search.pruning]", f"[search.early_stopping]\nrungs = [{RUNG}]\nreduction_factor = 2\n"
                                           "min_trials = 2\n[search.pruning]"))
    study_dir = tmp_path / "snn-studies" / "tiny"
    states, finished, caught = kill_driver_when(tmp_path, text, child_caught_training,
                                                "a finished trial and a child training", timeout=300)
    before = {k: epochs_of(study_dir / "trials" / k)[0] for k in states}
    branches = {p.parent.name: p.stat().st_mtime_ns for p in (study_dir / "branches").glob("*/checkpoint.pt")}
    resume_killed(tmp_path)

    after = {d.name: epochs_of(d) for d in (study_dir / "trials").iterdir() if d.is_dir()}
    for key in finished:  # never trained again
        assert after[key] == (before[key], True), key
    for key in caught:  # continued from its own checkpoint: its parent's phase 1 is not taken again
        attempts = read_attempts(study_dir, key)
        assert len(attempts) == 2 and attempts[1]["resumed_epochs"] > SWITCH and attempts[1]["branched_from"] is None
        kept = attempts[1]["resumed_epochs"]
        assert after[key][1] and after[key][0][:kept] == before[key][:kept], key
    # each parent's phase 1 kept once: the copies made before the crash are the ones children start from
    assert all((study_dir / "branches" / n / "checkpoint.pt").stat().st_mtime_ns == t for n, t in branches.items())
    # every start from a parent (a child whose own epochs no snapshot held restarts from it) is at the switch
    for key in after:
        starts = [a for a in read_attempts(study_dir, key) if a["branched_from"] is not None]
        assert all(a["resumed_epochs"] == SWITCH for a in starts), key
        assert len({a["branched_from"] for a in starts}) <= 1, key
    # no rung decided twice, although trials replayed epochs after the crash
    lines = [json.loads(line) for line in (study_dir / "rungs.jsonl").read_text().splitlines()]
    assert len({(r["trial"], r["rung"]) for r in lines}) == len(lines)

    runs = assert_study_consistent(json.loads((study_dir / "study.json").read_text()), TRIALS)
    names = {r.info.run_name for r in runs}
    children = [r for r in runs if "phase1_source" in r.data.tags]
    assert children and all(r.data.tags["phase1_source"] in names for r in children)
    assert all(r.data.metrics["epochs_inherited"] == SWITCH for r in children)
    for run in children:  # started from the parent its run names, and from no other
        starts = {a["branched_from"] for a in read_attempts(study_dir, run.data.tags["tune_trial_id"])} - {None}
        assert starts == {int(run.data.tags["phase1_source"].removeprefix("trial_"))}, run.info.run_name
