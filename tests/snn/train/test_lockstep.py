"""Seeds of one setting trained in lockstep in one thread are, run by run, the runs ``train`` makes alone
(the shared random generators are handed over between epochs), stop together, and resume after a crash."""

import pytest

from snn.train import TrainConfig, train
from snn.train.lockstep import train_lockstep
from tests.snn.train.conftest import TINY
from tests.snn.train.test_checkpoint_resume import _assert_same_run

SEEDS = (3, 4)


def configs():
    return [TrainConfig.from_dict({**TINY, "seed": seed}) for seed in SEEDS]


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Each seed trained by itself."""
    dirs = []
    for config in configs():
        out = tmp_path_factory.mktemp(f"alone{config.seed}")
        train(config, out, progress=False)
        dirs.append(out)
    return dirs


def test_each_run_in_lockstep_equals_the_run_trained_alone(tmp_path, alone):
    seen = []
    dirs = [tmp_path / f"seed{s}" for s in SEEDS]
    results = train_lockstep(configs(), dirs, callback=lambda reports: seen.append([r.epoch for r in reports]))
    assert seen == [[e, e] for e in range(4)]  # every epoch of both runs, together
    assert [len(r.epochs) for r in results] == [4, 4] and not any(r.stopped_early for r in results)
    for d, a in zip(dirs, alone):
        _assert_same_run(d, a)
    # Different seeds really trained different networks.
    assert results[0].epochs[-1].validation != results[1].epochs[-1].validation


def test_a_crash_mid_run_resumes_every_run_to_the_same_result(tmp_path, alone):
    dirs = [tmp_path / f"seed{s}" for s in SEEDS]

    def crash(reports):
        if reports[0].epoch == 1:
            raise KeyboardInterrupt  # the process dies after epoch 1's checkpoints

    with pytest.raises(KeyboardInterrupt):
        train_lockstep(configs(), dirs, callback=crash)
    train_lockstep(configs(), dirs, resume=True)
    for d, a in zip(dirs, alone):
        _assert_same_run(d, a)


def test_a_stop_reason_stops_every_run_and_each_keeps_its_final_metrics(tmp_path):
    results = train_lockstep(configs(), [tmp_path / "a", tmp_path / "b"],
                             callback=lambda reports: "enough" if reports[0].epoch == 1 else None)
    assert [(len(r.epochs), r.stop_reason) for r in results] == [(2, "enough"), (2, "enough")]
    assert all(r.final["test"] is not None for r in results)


def test_runs_that_are_not_at_the_same_epoch_are_refused(tmp_path):
    first, second = configs()
    train(first, tmp_path / "a", progress=False, callback=lambda r: "pause" if r.epoch == 1 else None)
    train(second, tmp_path / "b", progress=False, callback=lambda r: "pause")
    with pytest.raises(RuntimeError, match=r"out of step \(epochs \[2, 1\]\)"):
        train_lockstep([first, second], [tmp_path / "a", tmp_path / "b"], resume=True)
