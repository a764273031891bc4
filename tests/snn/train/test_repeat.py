import statistics

import pytest

from snn.errors import UserError
from snn.train.repeat import parse_seeds, plan_runs, run_state, summarize, summary_markdown


@pytest.fixture
def tiny_study(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text("[train.network]\nsizes = [5, 20, 3]\ninit_ranges = [[1.0, 3.0], [0.0, 1.0]]\n")
    return path


@pytest.mark.parametrize("text, seeds", [("0-9", list(range(10))), ("3", [3]), ("1,4,7", [1, 4, 7]),
                                         ("0-2,10, 1", [0, 1, 2, 10])])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("a-b", "seeds must be N, A-B or a comma list"), ("1,,2", "got '1,,2'"),
                                           ("9-0", "write 0-9"), ("", "seeds must be")])
def test_bad_seed_lists_say_what_is_expected(text, message):
    with pytest.raises(UserError, match=message):
        parse_seeds(text)


def run(seed, accuracy, ce, n_s, stopped=False):
    return {"seed": seed, "accuracy": accuracy, "ce": ce, "n_s": n_s, "seconds": 10.0 + seed, "stopped_early": stopped}


def test_the_table_is_median_mean_and_sample_std_per_study():
    runs = [run(0, 0.97, 0.09, 1.2), run(1, 0.98, 0.05, 1.4), run(2, 0.91, 0.30, 1.0, stopped=True), run(3, 0.96, 0.1, 1.3)]
    (row,) = summarize({"yy": runs, "empty": []})  # a study without a finished run has no row
    accuracies = [100 * r["accuracy"] for r in runs]
    assert row["accuracy"]["median"] == pytest.approx(statistics.median(accuracies)) == pytest.approx(96.5)
    assert row["accuracy"]["mean"] == pytest.approx(statistics.mean(accuracies))
    assert row["accuracy"]["std"] == pytest.approx(statistics.stdev(accuracies))  # sample std, as the paper's tables
    assert row["ce"]["median"] == pytest.approx(0.095) and row["n_s"]["mean"] == pytest.approx(1.225)
    assert row["runs"] == 4 and row["seeds"] == [0, 1, 2, 3] and row["stopped_early"] == [2]
    assert row["seconds_per_run"] == pytest.approx(11.5)
    assert "| yy | 4 | 96.50 / 95.50 / 3.11 | 0.0950 / 0.1350 / 0.1121 | 1.250 / 1.225 / 0.171 | 12 |" in summary_markdown([row])


def test_a_single_run_has_zero_spread():
    (row,) = summarize({"yy": [run(0, 0.97, 0.09, 1.2)]})
    assert row["accuracy"] == {"median": 97.0, "mean": 97.0, "std": 0.0}


def test_plans_one_directory_per_study_and_seed_and_refuses_clashing_names(tiny_study, tmp_path):
    runs = plan_runs([tiny_study], [0, 5], tmp_path / "runs", {"loss.alpha": 1e-3})
    assert [(r.out_dir.name, r.config.seed, r.config.loss.alpha) for r in runs] == [("tiny-seed0", 0, 1e-3), ("tiny-seed5", 5, 1e-3)]
    assert [run_state(r) for r in runs] == ["new", "new"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "tiny.toml").write_text(tiny_study.read_text())
    with pytest.raises(UserError, match="two study files are both called 'tiny'"):
        plan_runs([tiny_study, other / "tiny.toml"], [0], tmp_path / "runs")
    with pytest.raises(UserError, match="unknown key train.loss.alph"):
        plan_runs([tiny_study], [0], tmp_path / "runs", {"loss.alph": 1.0})
