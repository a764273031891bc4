"""[search] validation: every mistake is a ValueError naming the key and the values; a valid table turns
into the Optuna distributions the searcher gets."""

import tomllib
from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.config import SearchConfig
from search.objectives import DEFAULT_OBJECTIVES, Objective
from search.space import to_optuna
from snn.train import TrainConfig, load_study

STUDIES = Path(__file__).resolve().parents[2] / "studies"
TRAIN = TrainConfig.from_dict({})


def search(**overrides):
    table = {"space": {"loss.alpha": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}}
    table.update(overrides)
    return table


def test_minimal_table_takes_the_documented_defaults():
    config = SearchConfig.from_dict(search(), train=TRAIN)
    assert config.objectives == DEFAULT_OBJECTIVES
    assert (config.trials, config.concurrency, config.sampler, config.resources.cpus, config.resources.gpus) == (8, 1, "tpe", 1.0, 0.0)
    assert config.pruning.enabled
    assert config.max_retries == 2 and SearchConfig.from_dict(search(max_retries=0)).max_retries == 0


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_study_files_with_a_search_part_are_valid(path):
    study = load_study(path)
    if study.search is None:
        pytest.skip("train-only study file")
    config = SearchConfig.from_dict(study.search, train=study.train)
    assert config.space


@pytest.mark.parametrize("name, samples, epochs", [("yinyang-smoke", 1000, 5), ("yinyang-quick", 2000, 10)])
def test_the_small_studies_reach_a_switch_off_region_and_fit_the_machine(name, samples, epochs):
    study = load_study(STUDIES / f"{name}.toml")
    config = SearchConfig.from_dict(study.search, train=study.train)
    assert config.space["schedule.phase1.lr"].high >= 0.5  # at lr 0.5 and above the network switches off in epoch 0
    assert any(p["schedule.phase1.lr"] >= 0.5 for p in config.start_points)
    assert config.concurrency * config.resources.cpus <= 2
    assert study.train.data.train_subset <= samples and study.train.schedule.epochs <= epochs


def test_impossible_range_names_the_key_and_values():
    table = search(space={"loss.alpha": {"type": "float", "low": 0.1, "high": 0.01}})
    with pytest.raises(ValueError) as error:
        SearchConfig.from_dict(table)
    assert str(error.value) == "search.space.loss.alpha: low <= high must hold, got low=0.1, high=0.01"


@pytest.mark.parametrize("spec, message", [
    ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "search.space.loss.alpha: log = true needs low > 0, got low=0.0"),
    ({"type": "int", "low": 1.5, "high": 3}, "search.space.loss.alpha: low must be an integer"),
    ({"type": "float", "low": 0.0, "high": 1.0, "step": -0.1}, "search.space.loss.alpha: step must be > 0"),
    ({"type": "float", "low": 0.1, "high": 1.0, "step": 0.1, "log": True}, "cannot combine log = true with step"),
    ({"type": "categorical", "choices": []}, "search.space.loss.alpha.choices must be a non-empty list"),
    ({"type": "categorical", "choices": [1, 1]}, "must not repeat a value"),
    ({"type": "uniform", "low": 0, "high": 1}, "search.space.loss.alpha.type must be one of"),
    ({"type": "float", "low": 0.0, "high": 1.0, "q": 0.1}, "unknown key(s) ['q']"),
    ({"type": "float", "high": 1.0}, "search.space.loss.alpha.low is required"),
])
def test_bad_parameter_ranges_are_rejected_with_the_key(spec, message):
    with pytest.raises(ValueError) as error:
        SearchConfig.from_dict(search(space={"loss.alpha": spec}))
    assert message in str(error.value)


def test_space_keys_must_be_train_fields_with_valid_values():
    with pytest.raises(ValueError, match=r"search\.space\.loss\.alpah: .*unknown key train\.loss\.alpah"):
        SearchConfig.from_dict(search(space={"loss.alpah": {"type": "float", "low": 0.1, "high": 0.2}}), train=TRAIN)
    with pytest.raises(ValueError, match=r"search\.space\.schedule\.phase1\.loss: categorical\['L_A', 'L_X'\] is not valid"):
        SearchConfig.from_dict(search(space={"schedule.phase1.loss": {"type": "categorical", "choices": ["L_A", "L_X"]}}), train=TRAIN)
    with pytest.raises(ValueError, match=r"search\.space\.loss\.alpha: float\[-1\.0, 1\.0\] is not valid for train\.loss\.alpha"):
        SearchConfig.from_dict(search(space={"loss.alpha": {"type": "float", "low": -1.0, "high": 1.0}}), train=TRAIN)


@pytest.mark.parametrize("table, message", [
    ({"trails": 3}, "search: unknown key(s) ['search.trails']"),
    ({"trials": 0}, "search.trials must be an integer >= 1, got trials=0"),
    ({"concurrency": 1.5}, "search.concurrency must be an integer >= 1"),
    ({"max_retries": -1}, "search.max_retries must be an integer >= 0, got max_retries=-1"),
    ({"sampler": "cmaes"}, "search.sampler must be one of ['tpe', 'nsga2', 'random'], got sampler='cmaes'"),
    ({"objectives": [{"metric": "test_accuracy"}]}, "search.objectives[0].metric must be one of"),
    ({"objectives": [{"metric": "val_ce", "mode": "down"}]}, "search.objectives[0].mode must be \"max\" or \"min\""),
    ({"objectives": ["val_n_s", "val_n_s"]}, "names a metric twice"),
    ({"resources": {"cpus": 0}}, "search.resources.cpus must be > 0"),
    ({"resources": {"gpus": 1.5}}, "search.resources.gpus above 1 must be a whole number"),
    ({"resources": {"memory": 1}}, "search.resources: unknown key(s) ['search.resources.memory']"),
    ({"pruning": {"patience": 0}}, "search.pruning.patience must be an integer >= 1, got patience=0"),
    ({"pruning": {"layer_silent_fraction": 0}}, "search.pruning.layer_silent_fraction must be a fraction"),
    ({"pruning": {"after": 2}}, "search.pruning: unknown key(s) ['after']"),
    ({"storage": {"root": 3}}, "search.storage.root must be a string"),
    ({"storage": {"mlflow": ""}}, "search.storage: unknown key(s) ['search.storage.mlflow']"),
    ({"space": {}}, "search.space is empty"),
])
def test_bad_search_tables_are_rejected_with_the_key(table, message):
    with pytest.raises(ValueError) as error:
        SearchConfig.from_dict(search(**table))
    assert message in str(error.value)


def test_gpu_share_must_agree_with_the_train_device():
    with pytest.raises(ValueError, match=r"gpus = 0\.25 reserves a GPU per trial but train\.device = 'cpu'"):
        SearchConfig.from_dict(search(resources={"gpus": 0.25}), train=TRAIN)


def test_ce_objective_and_string_shorthand():
    config = SearchConfig.from_dict(search(objectives=["val_accuracy", {"metric": "val_ce"}]))
    assert config.objectives == (Objective("val_accuracy", "max"), Objective("val_ce", "min"))


def test_nested_tables_and_quoted_dotted_keys_are_the_same_space():
    text_quoted = '[search.space]\n"schedule.phase1.lr" = { type = "float", low = 1e-3, high = 0.1, log = true }\n'
    text_nested = '[search.space.schedule.phase1]\nlr = { type = "float", low = 1e-3, high = 0.1, log = true }\n'
    a = SearchConfig.from_dict(tomllib.loads(text_quoted)["search"], train=TRAIN)
    b = SearchConfig.from_dict(tomllib.loads(text_nested)["search"], train=TRAIN)
    assert a.space == b.space and list(a.space) == ["schedule.phase1.lr"]


def test_start_points_must_name_every_key_inside_its_range():
    space = {"loss.alpha": {"type": "float", "low": 1e-4, "high": 1e-1}, "schedule.phase1.loss": {"type": "categorical", "choices": ["L_A", "L"]}}
    ok = SearchConfig.from_dict(search(space=space, start_points=[{"loss.alpha": 3.5e-3, "schedule.phase1.loss": "L"}]), train=TRAIN)
    assert ok.start_points == ({"loss.alpha": 3.5e-3, "schedule.phase1.loss": "L"},)
    with pytest.raises(ValueError, match=r"search\.start_points\[0\]\.loss\.alpha must lie in \[0\.0001, 0\.1\], got 0\.5"):
        SearchConfig.from_dict(search(space=space, start_points=[{"loss.alpha": 0.5, "schedule.phase1.loss": "L"}]))
    with pytest.raises(ValueError, match=r"missing: \['schedule\.phase1\.loss'\]"):
        SearchConfig.from_dict(search(space=space, start_points=[{"loss.alpha": 0.01}]))
    with pytest.raises(ValueError, match="start_points lists 2 points but trials = 1"):
        point = {"loss.alpha": 0.01, "schedule.phase1.loss": "L"}
        SearchConfig.from_dict(search(space=space, trials=1, start_points=[point, point]))


def test_space_becomes_optuna_distributions():
    space = {
        "loss.alpha": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "loss.eta": {"type": "float", "low": 0.0, "high": 2.0, "step": 0.5},
        "schedule.switch_epoch": {"type": "int", "low": 1, "high": 9, "step": 2},
        "schedule.phase1.loss": {"type": "categorical", "choices": ["L_A", "L"]},
    }
    config = SearchConfig.from_dict(search(space=space), train=TRAIN)
    d = to_optuna(config.space)
    assert d["loss.alpha"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["loss.eta"] == FloatDistribution(0.0, 2.0, step=0.5)
    assert d["schedule.switch_epoch"] == IntDistribution(1, 9, step=2)
    assert d["schedule.phase1.loss"] == CategoricalDistribution(["L_A", "L"])
