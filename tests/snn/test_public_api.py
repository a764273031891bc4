"""The public surface is deliberate: each module's ``__all__`` is listed here, so growing or shrinking it is a
visible change, and everything listed exists. ``import snn`` stays free of the search stack."""

import pytest

from tests.public_api import assert_public, loaded_by

PUBLIC = {
    "snn": ["functional", "nn", "losses", "metrics", "data", "train", "errors", "validation", "__version__"],
    "snn.errors": ["UserError", "NotFoundError", "AlreadyExistsError"],
    "snn.validation": ["invalid", "shown", "number", "integer", "string", "boolean", "table", "sequence", "check_keys",
                       "flatten"],
    "snn.functional": [
        "SpikeOverflowWarning", "lif_layer", "lif_layer_with_counts", "lif_network", "lif_network_loss_gradients",
        "lif_network_with_loss", "reset_spike_overflow_count", "spike_overflow_count",
    ],
    "snn.nn": ["FeedForwardSNN", "LIFLayer"],
    "snn.losses": [
        "LOSS_NAMES", "SP_NORMALIZATIONS", "LossFunction", "all_spike_term", "cross_entropy", "first_spike_times", "loss_l", "loss_la",
        "loss_lw", "make_loss", "spike_penalty", "target_spike_term",
    ],
    "snn.metrics": ["MetricAccumulator", "predictions"],
    "snn.data": [
        "DATASETS", "SpikeDataset", "VALIDATION_SEED", "YIN_YANG_SPLITS", "augment_mnist", "default_data_dir",
        "encode_mnist", "encode_yin_yang", "load_dataset", "mnist", "yin_yang",
    ],
    "snn.train": [
        "CHECKPOINT", "DataConfig", "EpochReport", "LossConfig", "METRICS", "NetworkConfig", "OptimizerConfig",
        "PhaseConfig", "RunResult", "ScheduleConfig", "Study", "TrainConfig", "build_model", "check_start",
        "evaluate", "load_split", "load_study", "parse_study", "train", "training",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_exactly_the_public_surface(module_name):
    assert_public(module_name, PUBLIC[module_name])


def test_snn_never_imports_the_search_stack():
    assert loaded_by("snn.train, snn.functional, snn.nn, snn.data, snn.bench", ("ray", "optuna", "mlflow", "search")) == []


def test_operator_modules_need_only_torch():
    # The GPU machine has torch, numpy, scipy and pytest only: the operator path must not pull in the rest.
    assert loaded_by("snn.functional, snn.nn, snn.losses, snn.bench, snn.peer_bench", ("rich", "matplotlib", "pandas", "torchvision")) == []
