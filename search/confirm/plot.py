"""``confirmed_pareto.png`` / ``.html``: what more seeds did to the study's front. Two panels, accuracy (%) over
N_S: validation (what the selection looked at) and test (what is reported). In each, every confirmed setting's
value in the study (its trial; on validation, the study's front joined by a dashed line) with an arrow to its confirmed
median, whose bars span the interquartile range over the seeds; the confirmed front in red. The test panel
also shows the paper's Table 3 points (test medians over 10 seeds), labelled as such. The PNG repeats both
panels zoomed on the best accuracies (a front reaches down to networks that barely fire); the HTML zooms."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from search.plots import PAPER_POINTS
from search.tracking import TrialRow

__all__ = ["confirmed_plots", "PANELS", "ZOOM_POINTS"]

PANELS = (("val", "validation (selection)"), ("test", "test (reported)"))


def _points(records: Sequence[dict[str, Any]], split: str):
    """Per setting: (name, on confirmed front, study point, median point, x IQR, y IQR), accuracy in %."""
    points = []
    for r in records:
        get = lambda key, scale=1.0: None if r.get(key) is None else scale * float(r[key])  # noqa: E731
        study = (get(f"final_{split}_n_s"), get(f"final_{split}_accuracy", 100))
        median = (get(f"confirmed_{split}_n_s_median"), get(f"confirmed_{split}_accuracy_median", 100))
        if None in median:
            continue
        x_iqr = (get(f"confirmed_{split}_n_s_q1"), get(f"confirmed_{split}_n_s_q3"))
        y_iqr = (get(f"confirmed_{split}_accuracy_q1", 100), get(f"confirmed_{split}_accuracy_q3", 100))
        points.append((r["trial"], bool(r.get("confirmed_front")), None if None in study else study, median, x_iqr, y_iqr))
    return points


def _paper(dataset: str) -> dict[str, tuple[float, float]]:
    return {name: (ns, acc) for name, (acc, ns) in PAPER_POINTS.get(dataset, {}).items()}


ZOOM_POINTS = 3.0  # the lower row shows accuracies within this many points of the best median


def _zoom(ax, points, paper: dict) -> None:
    """Limits ``ax`` to the accuracies within ZOOM_POINTS of the best confirmed median (and the paper's)."""
    top = max([p[3][1] for p in points] + [xy[1] for xy in paper.values()])
    low = top - ZOOM_POINTS
    xs = [xy[0] for p in points for xy in (p[2], p[3]) if xy and xy[1] >= low] + [xy[0] for xy in paper.values()]
    ax.set_ylim(low, top + 0.6)
    if xs:
        margin = 0.1 * (max(xs) - min(xs) or 1.0)
        ax.set_xlim(min(xs) - margin, max(xs) + 3 * margin)  # room for the paper's labels


def _draw(ax, points, study_front: set[str], split: str, name: str, paper: dict) -> None:
    front = sorted((p[2] for p in points if p[0] in study_front and p[2]), key=lambda xy: xy[0])
    if front and split == "val":  # the study's front is one on validation values (on test it zigzags)
        ax.plot(*zip(*front), ls="--", c="grey", lw=1, label="the study's front")
    ax.scatter([], [], facecolors="none", edgecolors="grey", label="value in the study (arrow: to the median)")
    for trial, on_front, study, median, x_iqr, y_iqr in points:
        colour = "tab:red" if on_front else "tab:blue"
        if study:
            ax.scatter(*study, facecolors="none", edgecolors=colour, s=30)
            ax.annotate("", median, study, arrowprops=dict(arrowstyle="->", color=colour, lw=0.8, alpha=0.7))
        ax.errorbar(*median, xerr=[[median[0] - x_iqr[0]], [x_iqr[1] - median[0]]],
                    yerr=[[median[1] - y_iqr[0]], [y_iqr[1] - median[1]]], fmt="o", c=colour, ms=6, capsize=2)
        ax.annotate(trial, median, textcoords="offset points", xytext=(4, 4), fontsize=6, annotation_clip=True)
    if paper:
        ax.scatter(*zip(*paper.values()), marker="*", s=120, c="black", zorder=4, label="paper Table 3 (test medians)")
        # The paper's points sit close together: labels in a column to their right, each linked to its star.
        for i, (label, xy) in enumerate(sorted(paper.items(), key=lambda item: -item[1][1])):
            ax.annotate(f"paper {label}", xy, textcoords="offset points", xytext=(30, 6 - 12 * i), fontsize=7,
                        arrowprops=dict(arrowstyle="-", lw=0.5, color="grey"), annotation_clip=True)
    ax.scatter([], [], c="tab:red", label="confirmed front (median, IQR bars)")
    ax.scatter([], [], c="tab:blue", label="other confirmed settings")
    ax.set(xlabel=f"{name.split()[0]} N_S (spikes/neuron)", ylabel=f"{name.split()[0]} accuracy (%)", title=name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def confirmed_png(path: Path, records, study_front: set[str], dataset: str, title: str) -> Path:
    """Top row: every confirmed setting; bottom row: the same, zoomed on the best accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    for col, (split, name) in enumerate(PANELS):
        points = _points(records, split)
        paper = _paper(dataset) if split == "test" else {}
        _draw(axes[0][col], points, study_front, split, name, paper)
        _draw(axes[1][col], points, study_front, split, f"{name}, zoomed", paper)
        if points:
            _zoom(axes[1][col], points, paper)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def confirmed_html(path: Path, records, study_front: set[str], dataset: str, title: str) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[name for _, name in PANELS])
    for col, (split, name) in enumerate(PANELS, start=1):
        points = _points(records, split)
        for on_front, label, colour in ((True, "confirmed front", "crimson"), (False, "other confirmed", "royalblue")):
            group = [p for p in points if p[1] == on_front]
            fig.add_trace(go.Scatter(
                x=[p[3][0] for p in group], y=[p[3][1] for p in group], mode="markers", name=label, legendgroup=label,
                showlegend=col == 1, marker=dict(color=colour, size=9), text=[p[0] for p in group],
                error_x=dict(type="data", symmetric=False, array=[p[4][1] - p[3][0] for p in group],
                             arrayminus=[p[3][0] - p[4][0] for p in group]),
                error_y=dict(type="data", symmetric=False, array=[p[5][1] - p[3][1] for p in group],
                             arrayminus=[p[3][1] - p[5][0] for p in group])), row=1, col=col)
        studied = [p for p in points if p[2]]
        fig.add_trace(go.Scatter(x=[p[2][0] for p in studied], y=[p[2][1] for p in studied], mode="markers",
                                 name="in the study", legendgroup="study", showlegend=col == 1, text=[p[0] for p in studied],
                                 marker=dict(symbol="circle-open", color="grey", size=8)), row=1, col=col)
        for p in studied:
            fig.add_annotation(x=p[3][0], y=p[3][1], ax=p[2][0], ay=p[2][1], xref=f"x{col}", yref=f"y{col}",
                               axref=f"x{col}", ayref=f"y{col}", showarrow=True, arrowhead=2, arrowwidth=1,
                               arrowcolor="grey", opacity=0.6)
        if split == "test" and (paper := _paper(dataset)):
            fig.add_trace(go.Scatter(x=[v[0] for v in paper.values()], y=[v[1] for v in paper.values()],
                                     text=[f"paper {k}" for k in paper], mode="markers+text", textposition="top right",
                                     name="paper Table 3 (test medians)", marker=dict(symbol="star", size=13, color="black")),
                          row=1, col=col)
        fig.update_xaxes(title_text=f"{name.split()[0]} N_S", row=1, col=col)
        fig.update_yaxes(title_text=f"{name.split()[0]} accuracy (%)", row=1, col=col)
    fig.update_layout(title=title, template="plotly_white")
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return Path(path)


def confirmed_plots(out: Path, records, trials: Sequence[TrialRow], dataset: str, title: str) -> list[Path]:
    """Both plots in ``out``; a plotting failure is written down and never stops the confirmation."""
    from search.report import write_text

    study_front = {t.name for t in trials if t.tags.get("pareto_front") == "true"}
    try:
        return [confirmed_png(out / "confirmed_pareto.png", records, study_front, dataset, title),
                confirmed_html(out / "confirmed_pareto.html", records, study_front, dataset, title)]
    except Exception as error:  # noqa: BLE001
        return [write_text(out / "confirmed_plot_error.txt", repr(error))]
