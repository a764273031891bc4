"""The pruning rules (switched-off networks, overflowing spike buffers) on validation histories shaped like
the trainer's MetricAccumulator."""

import pytest

from search.pruning import PruningConfig, PruningRule
from snn.errors import UserError


def epoch(layers=(0.0, 0.0, 0.0, 0.0), target=0.0, overflows=0):
    return {"silent_fraction_per_layer": list(layers), "silent_target_fraction": target, "n_samples": 1000,
            "spike_overflows": overflows}


ALIVE, DEAD_LAYER, DEAD_TARGET = epoch(), epoch((0.0, 1.0, 1.0, 1.0), 1.0), epoch(target=0.95)


def rule(**kwargs):
    return PruningRule(PruningConfig.from_dict(kwargs))


def test_a_whole_silent_layer_for_patience_epochs_prunes():
    r = rule(patience=2)
    assert r.check([ALIVE, DEAD_LAYER]) is None
    reason = r.check([ALIVE, DEAD_LAYER, DEAD_LAYER])
    assert reason == "switched off: layer 2 silent fraction 1.00 >= 1 (epochs 1-2)"


def test_consecutive_means_consecutive():
    assert rule(patience=2).check([DEAD_LAYER, ALIVE, DEAD_LAYER]) is None


def test_silent_targets_prune_and_name_the_cause():
    assert rule(patience=1).check([DEAD_TARGET]) == "switched off: silent target fraction 0.95 >= 0.9 (epoch 0)"
    assert rule(patience=1, target_silent_fraction=0.99).check([DEAD_TARGET]) is None


def test_output_layer_is_named_as_such():
    reason = rule(patience=1).check([epoch((0.0, 0.0, 0.0, 1.0))])
    assert reason.startswith("switched off: output layer silent fraction 1.00")


def test_grace_period_ignores_early_epochs():
    r = rule(patience=1, grace_epochs=2)
    assert r.check([DEAD_LAYER]) is None and r.check([DEAD_LAYER, DEAD_LAYER]) is None
    assert r.check([DEAD_LAYER, DEAD_LAYER, DEAD_LAYER]) is not None


def test_partial_silence_below_the_threshold_keeps_training():
    r = rule(patience=1, layer_silent_fraction=0.8)
    assert r.check([epoch((0.0, 0.5, 0.0, 0.0))]) is None
    assert r.check([epoch((0.0, 0.85, 0.0, 0.0))]) is not None


def test_overflowing_spike_buffers_prune_only_when_asked():
    flooded = epoch(overflows=124_000)  # 124 spikes per sample dropped
    assert rule(patience=1).check([flooded] * 3) is None  # not asked: overflows are reported, not pruned
    reason = rule(patience=2, overflow_per_sample=1.0).check([ALIVE, flooded, flooded])
    assert reason == ("overflowing: 124 spikes per validation sample dropped beyond network.max_spikes > 1 "
                      "(raise max_spikes if such activity is wanted) (epochs 1-2)")
    assert rule(patience=1, overflow_per_sample=200).check([flooded]) is None
    assert rule(patience=1, overflow_per_sample=0).check([epoch(overflows=1)]).startswith("overflowing: 0.001")
    with pytest.raises(UserError, match="search.pruning.overflow_per_sample must be >= 0, got -1"):
        PruningConfig.from_dict({"overflow_per_sample": -1})


def test_disabled_rule_never_prunes():
    assert rule(enabled=False, patience=1).check([DEAD_LAYER] * 5) is None


@pytest.mark.parametrize("table, message", [
    ({"patience": 0}, "search.pruning.patience must be >= 1, got 0"),
    ({"patience": 1.5}, "search.pruning.patience must be an integer, got 1.5 (float)"),
    ({"grace_epochs": -1}, "search.pruning.grace_epochs must be >= 0, got -1"),
    ({"enabled": "yes"}, "search.pruning.enabled must be true or false, got 'yes' (str)"),
    ({"target_silent_fraction": 0.0}, "search.pruning.target_silent_fraction must be > 0, got 0.0; it is a fraction of "
                                      "the neurons in (0, 1], or above 1 to disable this half of the rule"),
    ({"patiense": 3}, "unknown key search.pruning.patiense; known keys in search.pruning: enabled, grace_epochs, patience, "
                      "layer_silent_fraction, target_silent_fraction, overflow_per_sample; did you mean search.pruning.patience?"),
])
def test_bad_rules_are_rejected(table, message):
    with pytest.raises(UserError) as error:
        PruningConfig.from_dict(table)
    assert str(error.value) == message


def test_a_trial_of_several_seeds_is_switched_off_when_at_least_half_of_them_are():
    r = rule(patience=2)
    assert r.check_seeds([[ALIVE, DEAD_LAYER, DEAD_LAYER]]) == r.check([ALIVE, DEAD_LAYER, DEAD_LAYER])  # one seed
    three_one_dead = [[ALIVE, ALIVE, ALIVE], [ALIVE, DEAD_LAYER, DEAD_LAYER], [ALIVE, ALIVE, ALIVE]]
    assert r.check_seeds(three_one_dead) is None  # the median seed fires
    three_two_dead = [[ALIVE, DEAD_LAYER, DEAD_LAYER], [ALIVE, DEAD_LAYER, DEAD_LAYER], [ALIVE, ALIVE, ALIVE]]
    assert r.check_seeds(three_two_dead) == ("switched off: 2 of 3 seeds, e.g. layer 2 silent fraction 1.00 >= 1 "
                                             "(epochs 1-2)")
    # Two seeds: one switched off is half, and half of the median (the mean of both) comes from it.
    assert r.check_seeds([[DEAD_TARGET, DEAD_TARGET], [ALIVE, ALIVE]]).startswith("switched off: 1 of 2 seeds")


def test_patience_counts_epochs_in_which_enough_seeds_are_switched_off_whichever_they_are():
    r = rule(patience=2)
    assert r.check_seeds([[DEAD_LAYER, ALIVE], [ALIVE, DEAD_LAYER], [ALIVE, ALIVE]]) is None  # 1 of 3 each epoch
    assert r.check_seeds([[DEAD_LAYER, DEAD_LAYER], [DEAD_LAYER, ALIVE], [ALIVE, DEAD_LAYER]]) is not None


def test_a_trial_ends_switched_off_when_enough_seeds_end_so():
    r = rule()
    assert r.seeds_switched_off([ALIVE, DEAD_TARGET, ALIVE]) is None
    assert r.seeds_switched_off([DEAD_TARGET]) == "silent target fraction 0.95 >= 0.9"
    assert r.seeds_switched_off([DEAD_TARGET, ALIVE, DEAD_LAYER]).startswith("2 of 3 seeds")
