"""The compute comparison's four variants of the budget study: the same trials and sampler seed, and only the
tables that make the variant differ; and its table's figures."""

import tomllib
from pathlib import Path

import pytest

from search.budget import VARIANTS, comparison_table, main, replay_line, seeds_table, variant_text
from search.config import SearchConfig
from snn.train import load_study

STUDY = Path(__file__).resolve().parents[2] / "studies" / "yinyang-2phase-budget.toml"
SETTINGS = dict(trials=12, seed=3, rungs=[5, 15, 45], factor=3.0, min_trials=4, children=3)


def test_each_variant_is_the_budget_study_with_its_tables_and_the_same_trials_and_seed():
    base = load_study(STUDY)
    configs = {}
    for variant in VARIANTS:
        raw = tomllib.loads(variant_text(STUDY.read_text(), variant, **SETTINGS))
        assert raw["train"] == base.raw["train"]  # the [train] seed is not the sampler's
        configs[variant] = SearchConfig.from_dict(raw["search"], train=base.train)
    assert {(c.trials, c.seed) for c in configs.values()} == {(12, 3)}
    assert [(c.early_stopping.enabled, c.branching.phase2_children) for c in configs.values()] == \
           [(False, 1), (True, 1), (False, 3), (True, 3)]
    assert configs["both"].early_stopping.rungs == (5, 15, 45)
    with pytest.raises(ValueError, match="must leave"):
        variant_text(variant_text(STUDY.read_text(), "both", **SETTINGS), "both", **SETTINGS)


def test_the_table_gives_the_epochs_each_variant_took_to_reach_the_baselines_final_hypervolume():
    def result(hv, curve):
        summary = {"states": {"COMPLETE": 3}, "pruned": 1, "dominated": 0, "epochs_trained": curve[-1][0],
                   "epochs_saved_by_early_stopping": 0, "epochs_saved_by_branching": 0, "hypervolume": hv}
        return {"summary": summary, "wall_s": 60.0, "curve": curve}

    table = comparison_table({"baseline": result(2.0, [(10, 1.0), (30, 2.0)]), "both": result(2.1, [(5, 1.5), (12, 2.1)])})
    rows = table.splitlines()
    assert rows[2].endswith("| 2.0000 | 2.0000 | 30 |")
    assert rows[3].endswith("| 2.1000 | 1.0000 | 12 |")  # after 12 epochs the baseline stood at 1.0


def test_several_seeds_give_each_variants_shares_of_its_own_seeds_baseline_and_their_medians():
    def result(hv, epochs):
        return {"summary": {"hypervolume": hv, "epochs_trained": epochs}}

    table = seeds_table({
        1: {"baseline": result(2.0, 1000), "both": result(2.2, 600)},
        0: {"baseline": result(2.5, 800), "both": result(2.0, 400)},
        2: {"baseline": result(2.0, 1000), "both": result(1.9, 500)},
    })
    rows = table.splitlines()
    assert rows[2] == "| baseline | 0 | 2.5000 | 1.000 | 800 | 100% |"  # seeds in order
    assert rows[3] == "| both | 0 | 2.0000 | 0.800 | 400 | 50% |"  # shares of seed 0's baseline, not another's
    assert rows[-1] == "| both | median of 3 | | 0.950 (0.800-1.100) | | 50% |"


@pytest.mark.parametrize("seed", ["0,x", ","])
def test_a_bad_seed_list_is_refused_with_the_form_it_takes(seed, capsys):
    with pytest.raises(SystemExit):
        main([str(STUDY), "--seed", seed])
    assert "--seed: expected" in capsys.readouterr().err


def test_the_halving_rule_replayed_on_the_baseline_is_given_as_shares_of_the_baseline():
    line = replay_line(428, 2.7861, 2.7861 / 2.8991, 428 / 1048, "rungs 5,15,45, factor 3")
    assert "Halving (rungs 5,15,45, factor 3) replayed on the baseline's trials" in line
    assert "428 epochs (41% of the baseline's), hypervolume 2.7861 (96.1%)" in line
