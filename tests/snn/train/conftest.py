import pytest

from snn.train import TrainConfig

# A run that takes seconds: 200 Yin-Yang training samples, a 5-20-3 network, 2 epochs per phase.
TINY = {
    "seed": 3,
    "network": {"sizes": [5, 20, 3], "init_ranges": [[1.0, 3.0], [0.0, 1.0]], "max_spikes": 16},
    "data": {"train_subset": 200, "batch_size": 32},
    "schedule": {"epochs": 4, "switch_epoch": 2},
}


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TrainConfig.from_dict(TINY)
