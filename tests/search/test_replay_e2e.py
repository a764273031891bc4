"""`snn-search replay` against the real thing: the same tiny study run twice on a real local Ray, MLflow store and
Optuna storage, once training every trial in full and once with successive halving. With one trial at a time
and a sampler that does not learn from results, both studies see the same proposals in the same order, so
replaying the rule on the first must give exactly what the second did: the same trials stopped at the same
rungs, the same epochs trained, the same hypervolume."""

import pytest

from search.cli import main
from search.hypervolume import reference_box
from search.replay import read_curves, replay
from search.rungs import DOMINATED, EarlyStoppingConfig
from search.tracking import StudyTracker
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, run_local_study, tiny_study_text

TRIALS, EPOCHS = 7, 4
RULE = EarlyStoppingConfig(True, (1, 2), 4.0, 2)
pytestmark = pytest.mark.slow  # two real study runs (~1 min each)


def study_text(halving: bool) -> str:
    changes = [FIRING_THRESHOLDS, ("concurrency = 2", 'concurrency = 1\nsampler = "random"')]
    if halving:
        changes.append(("[search.pruning]", "[search.early_stopping]\nrungs = [1, 2]\nreduction_factor = 4\n"
                                            "min_trials = 2\n[search.pruning]"))
    return edit_study(tiny_study_text(TRIALS, epochs=EPOCHS, switch_epoch=2), *changes)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    return {kind: run_local_study(tmp_path_factory.mktemp(kind), study_text(kind == "halving"))
            for kind in ("full", "halving")}


def outcome(study) -> tuple[dict[str, int], float, float]:
    """(stopped trial -> rung, epochs trained, hypervolume) as the study itself recorded them."""
    tracker = StudyTracker(study.manifest.tracking_uri, study.manifest.name)
    stopped = {row.name: int(row.tags["prune_reason"].split(":")[0].removeprefix(DOMINATED))
               for row in tracker.trials() if row.tags.get("prune_reason", "").startswith(DOMINATED)}
    epochs = tracker.parent_metric_history("epochs_trained")[-1][1]
    hypervolume = tracker.parent_metric_history("hypervolume")[-1][1]
    return stopped, epochs, hypervolume


def replayed(study, rule: EarlyStoppingConfig):
    m = study.manifest
    curves = read_curves(StudyTracker(m.tracking_uri, m.name), m.objectives)
    assert len(curves) == TRIALS
    return replay(curves, rule, m.objectives, m.hypervolume_reference, reference_box(m.objectives, m.hypervolume_reference))


def test_without_a_rule_the_replay_is_the_study_itself(studies):
    result = replayed(studies["full"], EarlyStoppingConfig())
    stopped, epochs, hypervolume = outcome(studies["full"])
    assert result.stopped == stopped == {}
    assert (result.epochs, result.hypervolume) == (epochs, hypervolume)


def test_replaying_the_rule_gives_what_the_study_with_the_rule_did(studies):
    stopped, epochs, hypervolume = outcome(studies["halving"])
    assert stopped, "the harsh rule stops some trials"
    result = replayed(studies["full"], RULE)
    assert result.stopped == stopped
    assert (result.epochs, result.hypervolume) == (epochs, hypervolume)


def test_the_command_prints_the_rule_s_epochs_and_hypervolume_and_refuses_a_halved_study(studies, capsys):
    full, halving = studies["full"], studies["halving"]
    _, epochs, hypervolume = outcome(halving)
    root = str(full.layout.dir.parent)
    assert main(["replay", full.manifest.name, "--root", root, "--rungs", "1,2", "--reduction-factor", "4",
                 "--min-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert f" {int(epochs)} " in out and f"{hypervolume:.4f}" in out
    # several studies: each rule's medians over them (here the same study twice: its own shares)
    assert main(["replay", full.manifest.name, full.manifest.name, "--root", root, "--rungs", "1,2",
                 "--reduction-factor", "4", "--min-trials", "2"]) == 0
    _, full_epochs, full_hypervolume = outcome(full)
    out = capsys.readouterr().out
    assert f"{epochs / full_epochs:.0%}" in out and f"{hypervolume / full_hypervolume:.1%}" in out
    assert main(["replay", halving.manifest.name, "--root", str(halving.layout.dir.parent)]) == 2
    assert "stopped by successive halving" in capsys.readouterr().err
