"""The search service's public surface is deliberate: ``search.__all__`` is listed here, so growing or shrinking
it is a visible change; the study file's checks load neither Ray nor MLflow."""

from tests.public_api import assert_public, loaded_by

PUBLIC = [
    "SearchConfig", "Resources", "StorageConfig", "ParamSpec", "PruningConfig", "Objective", "OBJECTIVE_METRICS",
    "DEFAULT_OBJECTIVES", "RunOptions", "run_study", "resume_study", "StudyTracker", "StudyLayout",
]


def test_all_is_exactly_the_public_surface():
    assert_public("search", PUBLIC)


def test_checking_a_study_file_loads_no_orchestration_stack():
    # `import search` and [search] validation (config, space, pruning, Pareto ranks) stay light.
    assert loaded_by("search, search.config, search.pareto", ("ray", "mlflow", "optuna", "torch")) == []
