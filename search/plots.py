"""The study's Pareto plot: every COMPLETE trial, the front highlighted, pruned trials (if they have values)
greyed out, and, when the axes are accuracy and N_S, the paper's reported points for the study's dataset
(SPEC.md table) for reference. A static PNG (matplotlib) and an interactive HTML page (plotly, hover shows
each trial's parameters). And the hypervolume against epochs trained, of one study or several compared."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from search.objectives import Objective
from search.tracking import TrialRow

__all__ = ["PAPER_POINTS", "pareto_png", "pareto_html", "hypervolume_png"]

# SPEC.md "What the paper reports": (median test accuracy in %, N_S) per loss.
PAPER_POINTS = {
    "yinyang": {"L_W": (98.33, 1.64), "L": (98.25, 1.43), "L_A": (98.38, 1.42), "2-phase": (98.35, 1.36)},
    "mnist": {"L_W": (98.17, 6.53), "L": (97.91, 0.60), "L_A": (97.81, 0.58), "2-phase": (98.24, 0.41)},
}


def _axes(objectives: Sequence[Objective]) -> tuple[Objective, Objective | None]:
    """(x, y): N_S on x and accuracy on y when both are objectives (the paper's view), else the first two."""
    by_metric = {o.metric: o for o in objectives}
    if "val_n_s" in by_metric and "val_accuracy" in by_metric:
        return by_metric["val_n_s"], by_metric["val_accuracy"]
    return objectives[0], (objectives[1] if len(objectives) > 1 else None)


def _scale(objective: Objective | None) -> float:
    return 100.0 if objective is not None and objective.metric == "val_accuracy" else 1.0


def _label(objective: Objective) -> str:
    unit = " (%)" if objective.metric == "val_accuracy" else ""
    return f"{objective.label}{unit} [{objective.mode}]"


def _series(rows: Sequence[TrialRow], objectives: Sequence[Objective]):
    """Groups (name, x, y, hover text) into front / dominated / pruned."""
    x_obj, y_obj = _axes(objectives)
    groups: dict[str, list] = {"Pareto front": [], "dominated": [], "pruned": []}
    for i, row in enumerate(rows):
        x = row.metrics.get(x_obj.final_metric)
        y = row.metrics.get(y_obj.final_metric) if y_obj else float(i)
        if x is None or y is None:
            continue
        if row.state == "COMPLETE":
            group = "Pareto front" if row.tags.get("pareto_front") == "true" else "dominated"
        elif row.state == "PRUNED":
            group = "pruned"
        else:
            continue
        hover = "<br>".join([row.name, *(f"{k} = {v}" for k, v in sorted(row.params.items()))])
        groups[group].append((row.name, x * _scale(x_obj), y * _scale(y_obj), hover))
    return x_obj, y_obj, groups


def _paper(dataset: str, x_obj: Objective, y_obj: Objective | None) -> dict[str, tuple[float, float]]:
    if y_obj is None or {x_obj.metric, y_obj.metric} != {"val_n_s", "val_accuracy"}:
        return {}
    return {name: (ns, acc) for name, (acc, ns) in PAPER_POINTS.get(dataset, {}).items()}


def pareto_png(path: Path, rows: Sequence[TrialRow], objectives: Sequence[Objective], dataset: str, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # the driver has no display
    import matplotlib.pyplot as plt

    x_obj, y_obj, groups = _series(rows, objectives)
    fig, ax = plt.subplots(figsize=(7, 5))
    styles = {"Pareto front": dict(c="tab:red", s=50, zorder=3), "dominated": dict(c="tab:blue", s=25, alpha=0.6),
              "pruned": dict(c="lightgrey", s=20, marker="x")}
    for group, points in groups.items():
        if points:
            ax.scatter([p[1] for p in points], [p[2] for p in points], label=f"{group} ({len(points)})", **styles[group])
    front = sorted(groups["Pareto front"], key=lambda p: p[1])
    if len(front) > 1:
        ax.plot([p[1] for p in front], [p[2] for p in front], c="tab:red", lw=1, alpha=0.7)
    paper = _paper(dataset, x_obj, y_obj)
    if paper:
        ax.scatter([p[0] for p in paper.values()], [p[1] for p in paper.values()], marker="*", s=120, c="black",
                   zorder=4, label="paper (test medians)")
    # The paper's points sit close together: labels go in a column to their right, each linked to its star.
    for i, (name, (x, y)) in enumerate(sorted(paper.items(), key=lambda item: -item[1][1])):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(30, 6 - 12 * i), fontsize=7,
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="grey"))
    ax.set_xlabel(_label(x_obj))
    ax.set_ylabel(_label(y_obj) if y_obj else "trial")
    ax.set_title(title)
    return _save(fig, ax, path)


def _save(fig, ax, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto_html(path: Path, rows: Sequence[TrialRow], objectives: Sequence[Objective], dataset: str, title: str) -> Path:
    import plotly.graph_objects as go

    x_obj, y_obj, groups = _series(rows, objectives)
    fig = go.Figure()
    colours = {"Pareto front": "crimson", "dominated": "royalblue", "pruned": "lightgrey"}
    for group, points in groups.items():
        points = sorted(points, key=lambda p: p[1])
        fig.add_trace(go.Scatter(
            x=[p[1] for p in points], y=[p[2] for p in points], text=[p[3] for p in points], hoverinfo="text+x+y",
            mode="lines+markers" if group == "Pareto front" else "markers", name=f"{group} ({len(points)})",
            marker=dict(color=colours[group], size=10 if group == "Pareto front" else 7),
        ))
    paper = _paper(dataset, x_obj, y_obj)
    if paper:
        fig.add_trace(go.Scatter(
            x=[v[0] for v in paper.values()], y=[v[1] for v in paper.values()], text=[f"paper {k}" for k in paper],
            mode="markers+text", textposition="top right", name="paper (test medians)",
            marker=dict(symbol="star", size=14, color="black"),
        ))
    fig.update_layout(title=title, xaxis_title=_label(x_obj), yaxis_title=_label(y_obj) if y_obj else "trial",
                      template="plotly_white")
    path = Path(path)
    # include_plotlyjs=True: the page works offline (MLflow's artifact viewer, no CDN on a cluster).
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def hypervolume_png(path: Path, curves: dict[str, Sequence[tuple[int, float]]], reference, title: str) -> Path:
    """``curves``: study (or variant) name -> [(epochs trained, hypervolume), ...] in the order logged; each a
    step line (the hypervolume holds until the next trial finishes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in curves.items():
        points = sorted(points)
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", label=name, marker=".")
    ax.set_xlabel("epochs trained (all trials, pruned ones included)")
    ax.set_ylabel("hypervolume (accuracy x spikes/neuron)")
    ax.set_title(title + f"\nreference: accuracy {reference[0]:.3g}, N_S {reference[1]:g}", fontsize=10)
    return _save(fig, ax, path)
