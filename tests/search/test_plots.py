"""The Pareto plot a user opens from the parent run: front trials named, the axes on the trials (not on the
paper's far-away points or the switched-off networks), and the paper's points named as test medians."""

import matplotlib.pyplot as plt
import pytest

from search.objectives import DEFAULT_OBJECTIVES
from search.plots import PAPER_POINTS, pareto_figure
from search.tracking import TrialRow


def trial(name: str, accuracy: float, n_s: float, state: str = "COMPLETE", front: bool = False) -> TrialRow:
    return TrialRow(f"id-{name}", name, state, {"loss.alpha": "0.01"},
                    {"final_val_accuracy": accuracy, "final_val_n_s": n_s},
                    {"pareto_front": "true" if front else "false"})


ROWS = [trial("trial_000", 0.91, 1.3, front=True), trial("trial_001", 0.88, 1.0, front=True),
        trial("trial_002", 0.86, 1.6), trial("trial_003", 0.0, 0.05, state="PRUNED")]


def texts(figure) -> list[str]:
    return [t.get_text() for ax in figure.axes for t in ax.texts]


@pytest.fixture
def figure():
    fig = pareto_figure(ROWS, DEFAULT_OBJECTIVES, "yinyang", "demo")
    yield fig
    plt.close(fig)


def test_front_trials_are_labelled_with_their_names(figure):
    assert {"trial_000", "trial_001"} <= set(texts(figure))
    assert "trial_002" not in texts(figure)  # dominated trials stay unlabelled


def test_axes_zoom_to_the_finished_trials_and_leave_out_the_pruned_and_the_paper(figure):
    ax = figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= 1.0 and x1 >= 1.6 and y0 <= 86 and y1 >= 91  # every finished trial is inside
    assert y1 < 95 and y0 > 80  # zoomed: neither the paper's 98 % nor the pruned trial's 0 % stretch the axis
    assert any("pruned (1, off the axes)" == t.get_text() for t in ax.get_legend().get_texts())


def test_the_paper_s_points_are_named_as_test_medians_with_an_arrow_when_off_the_plot(figure):
    note = next(t for t in texts(figure) if t.startswith("paper, test medians"))
    assert "above this plot" in note
    for name, (accuracy, n_s) in PAPER_POINTS["yinyang"].items():
        assert f"{name}: {accuracy:.2f} %, N_S {n_s:.2f}" in note


def test_paper_points_inside_the_trials_range_are_drawn_there():
    rows = [trial("trial_000", 0.99, 1.2, front=True), trial("trial_001", 0.70, 2.0)]
    fig = pareto_figure(rows, DEFAULT_OBJECTIVES, "yinyang", "demo")
    try:
        note = next(t for t in texts(fig) if t.startswith("paper, test medians"))
        assert "this plot" not in note
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert "paper (test medians)" in labels
        (x0, x1), (y0, y1) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
        assert all(x0 <= n_s <= x1 and y0 <= accuracy <= y1 for accuracy, n_s in PAPER_POINTS["yinyang"].values())
    finally:
        plt.close(fig)
