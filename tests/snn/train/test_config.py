import json

import pytest

from snn.errors import UserError
from snn.train import PhaseConfig, TrainConfig


def test_defaults_are_the_paper_yinyang_2phase_setting():
    c = TrainConfig()
    assert c.network.sizes == (5, 40, 25, 13, 3)
    assert c.network.init_ranges == ((1.0, 3.0), (0.2, 1.0), (0.0, 1.0), (0.0, 1.0))
    assert (c.loss.alpha, c.loss.eta, c.loss.tau_0, c.loss.tau_1) == (3.5e-3, 0.4, 0.5, 6.4)
    assert (c.schedule.epochs, c.schedule.switch_epoch, c.schedule.lr_decay) == (160, 100, 0.95)
    assert c.schedule.phase1 == PhaseConfig("L_A", 5e-3) and c.schedule.phase2 == PhaseConfig("L", 2e-4)
    assert (c.optimizer.betas, c.optimizer.eps, c.data.batch_size) == ((0.9, 0.999), 1e-8, 32)


def test_round_trip_through_plain_dict_and_json():
    c = TrainConfig.from_dict({"seed": 7, "loss": {"alpha": 1e-3}, "network": {"max_spikes": [8, 8, 16, 16]}})
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert TrainConfig.from_dict(d) == c
    assert d["network"]["max_spikes"] == [8, 8, 16, 16]
    assert d["schedule"]["phase1"] == {"loss": "L_A", "lr": 5e-3, "alpha": None, "eta": None}  # None: [train.loss]'s


def test_missing_keys_take_defaults_and_ints_are_accepted_as_floats():
    c = TrainConfig.from_dict({"loss": {"alpha": 0}})
    assert c.loss.alpha == 0.0 and isinstance(c.loss.alpha, float)
    assert c.loss.eta == 0.4


@pytest.mark.parametrize(
    "d, message",
    [
        ({"loss": {"alpha": -1.0}}, "train.loss.alpha must be >= 0, got -1.0"),
        ({"loss": {"eta": -0.1}}, "train.loss.eta must be >= 0"),
        ({"loss": {"alpha": "abc"}}, "train.loss.alpha must be a number, got 'abc' (str)"),
        ({"loss": {"tau_0": 0}}, "train.loss.tau_0 must be > 0"),
        ({"loss": {"alpah": 1.0}}, "unknown key train.loss.alpah; known keys in train.loss: alpha, eta, tau_0, tau_1, "
                                   "sp_normalization; did you mean train.loss.alpha?"),
        ({"lr": 1.0}, "unknown key train.lr"),
        ({"schedule": {"epochs": 0}}, "train.schedule.epochs must be >= 1"),
        ({"schedule": {"epochs": 1.5}}, "train.schedule.epochs must be an integer"),
        ({"schedule": {"epochs": True}}, "train.schedule.epochs must be an integer"),
        ({"schedule": {"switch_epoch": -1}}, "train.schedule.switch_epoch must be >= 0"),
        ({"schedule": {"lr_decay": 0.0}}, "train.schedule.lr_decay must be > 0"),
        ({"schedule": {"lr_decay": 1.5}}, "train.schedule.lr_decay must be <= 1"),
        ({"schedule": {"phase1": {"loss": "L_A", "lr": 0.0}}}, "train.schedule.phase1.lr must be > 0"),
        ({"schedule": {"phase2": {"loss": "LX", "lr": 1e-3}}}, "train.schedule.phase2.loss must be one of 'L_W', 'L', 'L_A', got 'LX'"),
        ({"schedule": {"phase2": {"loss": "L", "lr": 1e-3, "momentum": 0.9}}}, "unknown key train.schedule.phase2.momentum"),
        ({"schedule": {"phase2": {"loss": "L", "lr": 1e-3, "eta": -0.1}}}, "train.schedule.phase2.eta must be >= 0, got -0.1"),
        ({"schedule": {"phase1": {"loss": "L_A", "lr": 1e-3, "alpha": "x"}}}, "train.schedule.phase1.alpha must be a number"),
        ({"data": {"batch_size": 0}}, "train.data.batch_size must be >= 1"),
        ({"data": {"dataset": "cifar"}}, "train.data.dataset must be one of 'yinyang', 'mnist', got 'cifar'"),
        ({"data": {"dataset": "minst"}}, "got 'minst'; did you mean 'mnist'?"),
        ({"data": {"augment": 1}}, "train.data.augment must be true or false"),
        ({"data": {"train_subset": -5}}, "train.data.train_subset must be >= 0"),
        ({"device": "gpu"}, "train.device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"seed": -1}, "train.seed must be >= 0"),
        ({"network": {"sizes": [5]}}, "train.network.sizes must have at least 2 entries"),
        ({"network": {"sizes": [5, 0, 3]}}, "train.network.sizes[1] must be >= 1"),
        ({"network": {"sizes": [5, 10, 3]}}, "train.network.init_ranges must have 2 entries, got 4"),
        ({"network": {"init_ranges": [[3.0, 1.0], [0, 1], [0, 1], [0, 1]]}},
         "train.network.init_ranges[0] must be [lo, hi] with lo <= hi, got [3.0, 1.0]; swap the two bounds"),
        ({"network": {"max_spikes": [8, 8]}}, "train.network.max_spikes must have 4 entries"),
        ({"network": {"max_spikes": 0}}, "train.network.max_spikes must be >= 1"),
        ({"network": {"tau_m": -20.0}}, "train.network.tau_m must be > 0"),
        ({"network": {"dtype": "float16"}}, "train.network.dtype must be one of 'float64', 'float32'"),
        ({"optimizer": {"betas": [0.9]}}, "train.optimizer.betas must have 2 entries"),
        ({"optimizer": {"betas": [0.9, 1.0]}}, "train.optimizer.betas[1] must be < 1"),
        ({"optimizer": {"eps": -1e-8}}, "train.optimizer.eps must be >= 0"),
        ({"data": {"dataset": "mnist"}}, "must start with 784 inputs and end with 10 outputs"),
        ({"network": "big"}, "train.network must be a table"),
    ],
)
def test_bad_values_are_rejected_with_the_dotted_key(d, message):
    with pytest.raises(UserError) as error:
        TrainConfig.from_dict(d)
    assert message in str(error.value)


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match="train.schedule.phase.lr must be > 0"):
        PhaseConfig("L", -1.0)


def test_with_overrides_replaces_dotted_keys_and_leaves_the_original():
    c = TrainConfig()
    d = c.with_overrides({"loss.alpha": 1e-3, "schedule.phase1.lr": 1e-3, "seed": 5, "device": "cuda:1"})
    assert (d.loss.alpha, d.schedule.phase1.lr, d.seed, d.device) == (1e-3, 1e-3, 5, "cuda:1")
    assert d.schedule.phase1.loss == "L_A"  # the rest of the inline table stays
    assert c == TrainConfig()
    assert c.differences(d) == ["train.device", "train.loss.alpha", "train.schedule.phase1.lr", "train.seed"]


def test_with_overrides_validates_after_applying_all():
    c = TrainConfig().with_overrides({"network.sizes": [5, 10, 3], "network.init_ranges": [[1, 3], [0, 1]]})
    assert c.network.sizes == (5, 10, 3)
    with pytest.raises(ValueError, match="train.network.init_ranges must have 2 entries"):
        TrainConfig().with_overrides({"network.sizes": [5, 10, 3]})


@pytest.mark.parametrize(
    "key, message",
    [
        ("loss.alph", "unknown key train.loss.alph; known keys in train.loss: alpha, eta, tau_0, tau_1"),
        ("los.alpha", "unknown key train.los.alpha: train has no table 'los'; tables in train: network, data, loss, "),
        ("seed.x", "unknown key train.seed.x"),
    ],
)
def test_with_overrides_rejects_unknown_keys(key, message):
    with pytest.raises(UserError) as error:
        TrainConfig().with_overrides({key: 1.0})
    assert message in str(error.value)


def test_with_overrides_rejects_out_of_range_values():
    with pytest.raises(ValueError, match=r"train.schedule.lr_decay must be <= 1, got 2.0"):
        TrainConfig().with_overrides({"schedule.lr_decay": 2.0})


def test_schedule_phases_and_learning_rates():
    s = TrainConfig.from_dict({"schedule": {"epochs": 5, "switch_epoch": 2}}).schedule
    assert [s.phase_of(e) for e in range(5)] == [1, 1, 2, 2, 2]
    assert [s.lr_at(e) for e in range(5)] == pytest.approx([5e-3, 5e-3 * 0.95, 2e-4, 2e-4 * 0.95, 2e-4 * 0.95**2])
    only_2 = TrainConfig.from_dict({"schedule": {"epochs": 3, "switch_epoch": 0}}).schedule
    assert [only_2.phase_of(e) for e in range(3)] == [2, 2, 2]
    only_1 = TrainConfig.from_dict({"schedule": {"epochs": 3, "switch_epoch": 3}}).schedule
    assert [only_1.phase_of(e) for e in range(3)] == [1, 1, 1]


def test_a_switch_after_the_last_epoch_is_rejected_with_the_fix():
    # Phase 2 would never run: the user gets the keys, both values and the setting that means "phase 1 only".
    with pytest.raises(ValueError) as error:
        TrainConfig.from_dict({"schedule": {"epochs": 3, "switch_epoch": 4}})
    message = str(error.value)
    assert "train.schedule.switch_epoch = 4 is after the last epoch (train.schedule.epochs = 3)" in message
    assert "switch_epoch = 3 trains phase 1 only" in message
    with pytest.raises(ValueError, match="train.schedule.switch_epoch = 100 is after the last epoch"):
        TrainConfig().with_overrides({"schedule.epochs": 20})  # the default switch (epoch 100) with fewer epochs
