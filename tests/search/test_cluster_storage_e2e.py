"""Cluster-mode storage end to end: a study that tracks to a real `mlflow server` over HTTP and keeps its
Optuna study in a real PostgreSQL (started here on loopback, stopped by pid), and one whose Optuna study is
a journal file (Optuna's storage for a shared file system without a database server)."""

import os

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.storage import make_storage
from search.study import RunOptions, run_study
from tests.search.conftest import tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.servers import MlflowServer, PostgresServer, postgres_bin

TRIALS = 3
pytestmark = pytest.mark.slow


def study_text(optuna_url: str) -> str:
    text = tiny_study_text(TRIALS, epochs=2, switch_epoch=1)
    return text + f'\n[search.storage]\noptuna = "{optuna_url}"\n'


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


def unavailable(reason: str) -> None:
    """Skip on a developer's machine without PostgreSQL; fail where it must run (.ci/run sets
    SNN_TEST_REQUIRE_POSTGRES=1 after installing it), so that CI never passes by skipping."""
    if os.environ.get("SNN_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}, and SNN_TEST_REQUIRE_POSTGRES=1 requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres():
    if postgres_bin() is None:
        unavailable("PostgreSQL is not installed here (apt-get install postgresql; .ci/run does it)")
    try:
        server = PostgresServer().__enter__()
    except Exception as error:  # noqa: BLE001 - any failure to start is reported with its cause
        unavailable(f"PostgreSQL could not be started here: {error!r}")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


def check_study(result, uri: str, storage) -> None:
    manifest = result.manifest
    assert manifest.tracking_uri == uri and manifest.optuna_storage == storage
    runs = assert_study_consistent(manifest, TRIALS)
    trials = optuna.load_study(study_name=manifest.name, storage=make_storage(storage)).get_trials()
    by_name = {r.info.run_name: r for r in runs}
    for trial in trials:  # the run and the Optuna trial are the same trial: same parameters
        assert float(by_name[f"trial_{trial.number:03d}"].data.params["loss.alpha"]) == pytest.approx(trial.params["loss.alpha"])
    client = MlflowClient(uri)
    parent = client.search_runs([manifest.experiment_id], "tags.snn_search_role = 'parent'")[0]
    assert "pareto.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}  # artifacts over HTTP


def test_a_study_tracks_over_http_with_optuna_in_postgresql(tmp_path, mlflow_server, postgres):
    url = postgres.create_database("optuna_study")
    path = tmp_path / "tiny.toml"
    path.write_text(study_text(url))
    result = run_study(path, RunOptions(root=str(tmp_path / "studies"), tracking_uri=mlflow_server.uri, live=False, num_cpus=2))
    check_study(result, mlflow_server.uri, url)
    assert not (tmp_path / "studies" / "tiny" / "optuna.db").exists()  # nothing went to a local SQLite


def test_a_study_keeps_optuna_in_a_journal_file(tmp_path, mlflow_server):
    url = f"journal://{tmp_path / 'shared' / 'optuna.journal'}"
    (tmp_path / "shared").mkdir()
    path = tmp_path / "journal.toml"
    path.write_text(study_text(url))
    result = run_study(path, RunOptions(root=str(tmp_path / "studies"), tracking_uri=mlflow_server.uri, live=False, num_cpus=2))
    check_study(result, mlflow_server.uri, url)
    assert (tmp_path / "shared" / "optuna.journal").stat().st_size > 0
