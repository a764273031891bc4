"""How a trial of several seeds combines them: medians of metrics, sums of counts and seconds, shared values
passed through, NaN never hidden; which seeds a trial and a confirmation train, and where."""

import math
from pathlib import Path

from search.seeds import fresh_seeds, median_result, per_seed_finals, seed_dirs, spread, trial_seeds


def test_metrics_are_medians_counts_and_seconds_are_sums_shared_values_pass_through():
    seeds = [
        {"epoch": 4, "phase": 2, "val_accuracy": 0.90, "val_n_s": 1.5, "train_spike_overflows": 3, "val_spike_overflows": 0, "epoch_seconds": 1.0},
        {"epoch": 4, "phase": 2, "val_accuracy": 0.70, "val_n_s": 1.1, "train_spike_overflows": 3, "val_spike_overflows": 2, "epoch_seconds": 2.0},
        {"epoch": 4, "phase": 2, "val_accuracy": 0.80, "val_n_s": 1.9, "train_spike_overflows": 0, "val_spike_overflows": 0, "epoch_seconds": 1.5},
    ]
    combined = median_result(seeds)
    assert combined == {"epoch": 4, "phase": 2, "val_accuracy": 0.80, "val_n_s": 1.5, "train_spike_overflows": 6,
                        "val_spike_overflows": 2, "epoch_seconds": 4.5}
    assert isinstance(combined["epoch"], int)
    assert median_result(seeds[:2])["val_accuracy"] == 0.8  # even: the mean of the middle two
    assert median_result(seeds[:1]) == seeds[0]  # one seed: its own result, unchanged


def test_a_nan_on_any_seed_makes_the_median_nan():
    assert math.isnan(median_result([{"val_ce": 0.3}, {"val_ce": float("nan")}, {"val_ce": 0.2}])["val_ce"])


def test_trials_share_their_seeds_and_a_confirmation_never_reuses_them():
    assert trial_seeds(0, 3) == [0, 1, 2] and trial_seeds(7, 1) == [7]
    assert fresh_seeds(0, 3, 10) == list(range(3, 13))
    assert not set(fresh_seeds(5, 2, 10)) & set(trial_seeds(5, 2))


def test_one_seed_trains_in_the_trial_folder_several_in_their_own():
    trial = Path("/s/trials/abc")
    assert seed_dirs(trial, [0]) == [trial]
    assert seed_dirs(trial, [0, 1]) == [trial / "seed0", trial / "seed1"]


def test_per_seed_finals_are_named_after_their_seed():
    finals = [{"final_val_accuracy": 0.9, "final_test_n_s": 1.2, "final_val_silent_fraction_max": 0.1},
              {"final_val_accuracy": 0.8, "final_test_n_s": 1.4, "final_val_silent_fraction_max": 0.0}]
    assert per_seed_finals([3, 4], finals) == {"final_val_accuracy_seed3": 0.9, "final_test_n_s_seed3": 1.2,
                                               "final_val_accuracy_seed4": 0.8, "final_test_n_s_seed4": 1.4}


def test_spread_over_seeds_is_the_papers_median_mean_std_with_quartiles():
    import numpy as np

    values = [0.981, 0.975, 0.990, 0.979, 0.984, 0.969, 0.988]
    s = spread(values)
    assert s["median"] == 0.981 and math.isclose(s["mean"], np.mean(values))
    assert math.isclose(s["std"], np.std(values, ddof=1))
    assert math.isclose(s["q1"], np.percentile(values, 25)) and math.isclose(s["q3"], np.percentile(values, 75))
    assert spread([0.5]) == {"median": 0.5, "mean": 0.5, "std": 0.0, "q1": 0.5, "q3": 0.5}
