"""[search] validation: every mistake is a UserError naming the key, the requirement, the value and, where
there is one, the fix (snn.validation's style, as [train]'s); a valid table turns into the Optuna
distributions the searcher gets."""

import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.config import SAMPLERS, SearchConfig
from search.objectives import DEFAULT_OBJECTIVES, Objective
from search.space import to_optuna
from snn.errors import UserError
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
    assert config.seeds == 1 and SearchConfig.from_dict(search(seeds=3)).seeds == 3


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
    with pytest.raises(UserError) as error:
        SearchConfig.from_dict(table)
    assert str(error.value) == "search.space.loss.alpha.high must be >= low = 0.1, got 0.01; swap low and high"


@pytest.mark.parametrize("spec, message", [
    ({"type": "float", "low": 0.0, "high": 1.0, "log": True},
     "search.space.loss.alpha.low must be > 0 with log = true, got 0.0; raise low, or set log = false"),
    ({"type": "int", "low": 1.5, "high": 3}, "search.space.loss.alpha.low must be an integer, got 1.5 (float)"),
    ({"type": "float", "low": 0.0, "high": 1.0, "step": -0.1}, "search.space.loss.alpha.step must be > 0, got -0.1"),
    ({"type": "float", "low": 0.1, "high": 1.0, "step": 0.1, "log": True},
     "search.space.loss.alpha.step must be absent with log = true (Optuna cannot combine them), got 0.1; drop step or log"),
    ({"type": "float", "low": 0.0, "high": 1.0, "step": 2.0}, "search.space.loss.alpha.step must fit in [low, high] = [0.0, 1.0], got 2.0"),
    ({"type": "categorical", "choices": []}, "search.space.loss.alpha.choices must have at least 1 entry, got 0: []"),
    ({"type": "categorical", "choices": [1, 1]}, "search.space.loss.alpha.choices must list each value once, got [1, 1]"),
    ({"type": "categorical", "choices": [[1]]}, "search.space.loss.alpha.choices[0] must be a bool, int, float or string"),
    ({"type": "uniform", "low": 0, "high": 1}, "search.space.loss.alpha.type must be one of 'float', 'int', 'categorical', got 'uniform'"),
    ({"type": "float", "low": 0.0, "high": 1.0, "q": 0.1},
     "unknown key search.space.loss.alpha.q; known keys in search.space.loss.alpha: type, low, high, log, step"),
    ({"type": "float", "high": 1.0}, "search.space.loss.alpha.low is required"),
])
def test_bad_parameter_ranges_are_rejected_with_the_key(spec, message):
    with pytest.raises(UserError) as error:
        SearchConfig.from_dict(search(space={"loss.alpha": spec}))
    assert message in str(error.value)


def test_space_keys_must_be_train_fields_with_valid_values():
    with pytest.raises(UserError, match=r"search\.space\.loss\.alpah: .*unknown key train\.loss\.alpah; .*did you mean train\.loss\.alpha\?"):
        SearchConfig.from_dict(search(space={"loss.alpah": {"type": "float", "low": 0.1, "high": 0.2}}), train=TRAIN)
    with pytest.raises(UserError, match=r"search\.space\.schedule\.phase1\.loss: categorical\['L_A', 'L_X'\] is not valid"):
        SearchConfig.from_dict(search(space={"schedule.phase1.loss": {"type": "categorical", "choices": ["L_A", "L_X"]}}), train=TRAIN)
    with pytest.raises(UserError, match=r"search\.space\.loss\.alpha: float\[-1\.0, 1\.0\] is not valid for train\.loss\.alpha"):
        SearchConfig.from_dict(search(space={"loss.alpha": {"type": "float", "low": -1.0, "high": 1.0}}), train=TRAIN)


@pytest.mark.parametrize("table, message", [
    ({"trails": 3}, "unknown key search.trails; known keys in search: trials, concurrency, max_retries, sampler, "),
    ({"trails": 3}, "; did you mean search.trials?"),
    ({"trials": 0}, "search.trials must be >= 1, got 0"),
    ({"concurrency": 1.5}, "search.concurrency must be an integer, got 1.5 (float)"),
    ({"max_retries": -1}, "search.max_retries must be >= 0, got -1"),
    ({"seeds": 0}, "search.seeds must be >= 1, got 0; the number of seeds each trial trains its setting on, e.g. seeds = 3"),
    ({"sampler": "cmaes"}, "search.sampler must be one of 'tpe', 'nsga2', 'random', got 'cmaes'"),
    ({"sampler": "tp"}, "search.sampler must be one of 'tpe', 'nsga2', 'random', got 'tp'; did you mean 'tpe'?"),
    ({"objectives": [{"metric": "test_accuracy"}]}, "search.objectives[0].metric must be one of 'val_accuracy', 'val_ce', "),
    ({"objectives": [{"metric": "val_ce", "mode": "down"}]}, "search.objectives[0].mode must be one of 'max', 'min', got 'down'"),
    ({"objectives": ["val_n_s", "val_n_s"]}, "search.objectives must name each metric once, got ['val_n_s', 'val_n_s']"),
    ({"objectives": []}, "search.objectives must have at least 1 entry, got 0: []; e.g. [{ metric = \"val_accuracy\""),
    ({"resources": {"cpus": 0}}, "search.resources.cpus must be > 0, got 0.0; a trial needs a share of a CPU to run"),
    ({"resources": {"gpus": 1.5}}, "search.resources.gpus must be a fraction of one GPU or a whole number, got 1.5; "),
    ({"resources": {"memory": 1}}, "unknown key search.resources.memory; known keys in search.resources: cpus, gpus"),
    ({"pruning": {"patience": 0}}, "search.pruning.patience must be >= 1, got 0"),
    ({"pruning": {"layer_silent_fraction": 0}}, "search.pruning.layer_silent_fraction must be > 0, got 0.0; it is a fraction"),
    ({"pruning": {"after": 2}}, "unknown key search.pruning.after; known keys in search.pruning: enabled, grace_epochs, "),
    ({"storage": {"root": 3}}, "search.storage.root must be a string, got 3 (int); \"\" takes the default"),
    ({"storage": {"mlflow": ""}}, "unknown key search.storage.mlflow; known keys in search.storage: root, optuna, tracking_uri"),
    ({"space": {}}, "search.space is empty"),
    ({"space": {"loss": 3}}, "search.space.loss must be a table, got 3 (int)"),
])
def test_bad_search_tables_are_rejected_with_the_key(table, message):
    with pytest.raises(UserError) as error:
        SearchConfig.from_dict(search(**table))
    assert message in str(error.value)


def test_gpu_share_must_agree_with_the_train_device():
    with pytest.raises(UserError, match=r"search\.resources\.gpus must be 0 with train\.device = 'cpu' .*got 0\.25; "
                                         r"set \[train\] device = \"cuda\", or gpus = 0"):
        SearchConfig.from_dict(search(resources={"gpus": 0.25}), train=TRAIN)
    with pytest.raises(UserError, match=r"search\.resources\.gpus must be > 0 with train\.device = 'cuda' .*got 0\.0; set gpus"):
        SearchConfig.from_dict(search(), train=TRAIN.with_overrides({"device": "cuda"}))


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
    with pytest.raises(UserError, match=r"search\.start_points\[0\]\.loss\.alpha must lie in \[0\.0001, 0\.1\], got 0\.5"):
        SearchConfig.from_dict(search(space=space, start_points=[{"loss.alpha": 0.5, "schedule.phase1.loss": "L"}]))
    with pytest.raises(UserError, match=r"search\.start_points\[0\] must name exactly the searched keys \['loss\.alpha', "
                                         r"'schedule\.phase1\.loss'\], got \['loss\.alpha'\]; add \['schedule\.phase1\.loss'\]$"):
        SearchConfig.from_dict(search(space=space, start_points=[{"loss.alpha": 0.01}]))
    with pytest.raises(UserError, match=r"search\.start_points\[0\] must be a table, got 3 \(int\)"):
        SearchConfig.from_dict(search(space=space, start_points=[3]))
    with pytest.raises(UserError, match=r"search\.start_points must list at most as many points as search\.trials = 1, "
                                         r"got 2 points; raise trials or drop points"):
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


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_name_makes_a_seeded_optuna_sampler(name):
    from search.searcher import make_sampler  # imports Ray Tune: only here

    def first_values(seed):
        study = optuna.create_study(sampler=make_sampler(name, seed), directions=["maximize", "minimize"])
        return [study.ask({"x": FloatDistribution(0.0, 1.0)}).params["x"] for _ in range(3)]

    assert isinstance(make_sampler(name, 0), getattr(optuna.samplers, SAMPLERS[name]))
    assert first_values(3) == first_values(3) != first_values(4)
