from pathlib import Path

import pytest

from snn.errors import NotFoundError, UserError
from snn.train import load_study, parse_study

STUDIES = Path(__file__).resolve().parents[3] / "studies"


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_loads(path):
    study = load_study(path)
    assert study.name == path.stem and study.path == path
    assert study.train.to_dict() == load_study(path).train.to_dict()


def test_shipped_studies_hold_the_paper_settings():
    two = load_study(STUDIES / "yinyang-2phase.toml").train
    assert (two.loss.alpha, two.loss.eta, two.schedule.epochs, two.schedule.switch_epoch) == (3.5e-3, 0.4, 160, 100)
    assert (two.schedule.phase1.loss, two.schedule.phase1.lr) == ("L_A", 5e-3)
    assert (two.schedule.phase2.loss, two.schedule.phase2.lr) == ("L", 2e-4)
    lw = load_study(STUDIES / "yinyang-lw.toml").train
    assert (lw.schedule.phase1.loss, lw.loss.alpha) == ("L_W", 3e-3)
    assert lw.schedule.switch_epoch == lw.schedule.epochs  # single phase
    # The decay variant is the paper's 2-phase study with the learning-rate decay as the only difference.
    variant = load_study(STUDIES / "yinyang-2phase-decay098.toml").train
    assert variant.schedule.lr_decay == 0.98 and two.schedule.lr_decay == 0.95
    assert variant.with_overrides({"schedule.lr_decay": 0.95}).to_dict() == two.to_dict()
    mnist = load_study(STUDIES / "mnist-2phase.toml").train
    assert mnist.network.sizes == (784, 280, 160, 70, 10)
    assert mnist.network.init_ranges == ((-0.01, 0.03), (-0.05, 0.15), (-0.2, 0.6), (-0.4, 0.8))
    assert (mnist.loss.alpha, mnist.loss.eta, mnist.data.batch_size) == (3e-3, 3.0, 20)
    assert mnist.schedule.phase1.lr == mnist.schedule.phase2.lr == 2e-3


def test_search_table_is_passed_through(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[train]\nseed = 2\n[search]\nmetric = "accuracy"\n[search.space]\nalpha = [1e-3, 1e-2]\n')
    study = load_study(path)
    assert study.train.seed == 2
    assert study.search == {"metric": "accuracy", "space": {"alpha": [1e-3, 1e-2]}}
    assert study.raw["search"] == study.search
    assert parse_study("[train]\n").search is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("[search]\nx = 1\n", "has no [train] table"),
        ("search = 1\n[train]\n", ": search must be a table, got 1 (int)"),
        ("[train]\n[tune]\n", "unknown top-level key(s) tune"),
        ("[train\n", "is not valid TOML"),
        ("[train.loss]\nalpha = -1.0\n", "train.loss.alpha must be >= 0, got -1.0"),
        ("[train]\nsearch = 1\n", "unknown key train.search"),
    ],
)
def test_bad_study_files_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        load_study(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_missing_study_file(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
