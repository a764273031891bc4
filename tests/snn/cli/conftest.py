import pytest

TINY_STUDY = """
[train]
seed = 3
[train.network]
sizes = [5, 20, 3]
init_ranges = [[1.0, 3.0], [0.0, 1.0]]
max_spikes = 16
[train.data]
train_subset = 200
[train.schedule]
epochs = 2
switch_epoch = 1

[search]
metric = "accuracy"
"""


@pytest.fixture
def tiny_study(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_STUDY)
    return path
