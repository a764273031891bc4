"""The study's Pareto plot: every COMPLETE trial, the front highlighted and labelled with the trials' names,
pruned trials (if they have values) greyed out, and, when the axes are accuracy and N_S, the paper's reported
points for the study's dataset (SPEC.md table; test medians over 10 seeds, while the trials show validation
values) for reference. A static PNG (matplotlib) and an interactive HTML page (plotly, hover shows
each trial's parameters). And the hypervolume against epochs trained, of one study or several compared."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from search.objectives import Objective
from search.tracking import TrialRow

__all__ = ["PAPER_POINTS", "pareto_png", "pareto_figure", "pareto_html", "hypervolume_png"]

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


def _min_span(objective: Objective | None) -> float:
    """The narrowest axis range worth showing: 2 points of accuracy (in %), else 0.2 (N_S, CE)."""
    return 2.0 if objective is not None and objective.metric == "val_accuracy" else 0.2


def _span(values: Sequence[float], min_span: float, pad: float = 0.12) -> tuple[float, float]:
    """Axis limits around ``values`` with a margin, at least ``min_span`` wide."""
    lo, hi = min(values), max(values)
    extra = max(hi - lo, min_span) * pad + max(0.0, min_span - (hi - lo)) / 2
    return lo - extra, hi + extra


def _centre(points: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(x for x, _ in points.values()) / len(points), sum(y for _, y in points.values()) / len(points)


def _inside(point: tuple[float, float], xlim, ylim) -> bool:
    return xlim[0] <= point[0] <= xlim[1] and ylim[0] <= point[1] <= ylim[1]


def _paper_note(ax, paper: dict[str, tuple[float, float]], xlim, ylim) -> None:
    """The paper's points: stars where they fall inside the axes, else a short arrow at the axes' edge in
    their direction; and beside the plot, a box listing them as the test medians they are."""
    cx, cy = _centre(paper)
    sides = [side for side, out in (("above", cy > ylim[1]), ("below", cy < ylim[0]), ("right of", cx > xlim[1]),
                                    ("left of", cx < xlim[0])) if out]
    if not sides:
        ax.scatter([x for x, _ in paper.values()], [y for _, y in paper.values()], marker="*", s=90, c="black", zorder=4,
                   label="paper (test medians)")
    else:
        tip = (min(max(cx, xlim[0]), xlim[1]), min(max(cy, ylim[0]), ylim[1]))
        inward = (-28 if cx > xlim[1] else 28 if cx < xlim[0] else 0, -28 if cy > ylim[1] else 28 if cy < ylim[0] else 0)
        ax.annotate("paper", xy=tip, xytext=inward, textcoords="offset points", ha="center", va="center", fontsize=8,
                    arrowprops=dict(arrowstyle="->", color="black", lw=1), annotation_clip=False)
    accuracy_axis = ax.get_ylabel().startswith("validation accuracy")
    lines = [f"{name}: {y:.2f} %, N_S {x:.2f}" if accuracy_axis else f"{name}: {x:.2f}, {y:.2f}"
             for name, (x, y) in sorted(paper.items(), key=lambda item: -item[1][1])]
    where = f"\n({' and '.join(sides)} this plot)" if sides else ""
    ax.text(1.03, 0.0, f"paper, test medians{where}:\n" + "\n".join(lines), transform=ax.transAxes, fontsize=7,
            va="bottom", ha="left", bbox=dict(boxstyle="round", fc="white", ec="grey"))


def pareto_png(path: Path, rows: Sequence[TrialRow], objectives: Sequence[Objective], dataset: str, title: str) -> Path:
    return _save_png(pareto_figure(rows, objectives, dataset, title), path)


def _save_png(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto_figure(rows: Sequence[TrialRow], objectives: Sequence[Objective], dataset: str, title: str):
    """The trials with the front labelled by name, axes zoomed to the finished trials, and the paper's
    points (test medians) as stars when they fall there, else pointed at by an arrow; a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")  # the driver has no display
    import matplotlib.pyplot as plt

    x_obj, y_obj, groups = _series(rows, objectives)
    fig, ax = plt.subplots(figsize=(8.5, 5))
    ax.set_xlabel(_label(x_obj))
    ax.set_ylabel(_label(y_obj) if y_obj else "trial")
    # Zoom to the finished trials (pruned ones are switched-off networks, often far below them).
    shown = [(p[1], p[2]) for g in ("Pareto front", "dominated") for p in groups[g]] or [(p[1], p[2]) for p in groups["pruned"]]
    paper = _paper(dataset, x_obj, y_obj)
    xlim = _span([x for x, _ in shown], _min_span(x_obj)) if shown else (0.0, 1.0)
    ylim = _span([y for _, y in shown], _min_span(y_obj)) if shown else (0.0, 1.0)
    if paper and _inside(_centre(paper), xlim, ylim):  # near the trials: zoom out just enough to show them all
        xlim = _span([x for x, _ in shown + list(paper.values())], _min_span(x_obj))
        ylim = _span([y for _, y in shown + list(paper.values())], _min_span(y_obj))
    styles = {"Pareto front": dict(c="tab:red", s=50, zorder=3), "dominated": dict(c="tab:blue", s=25, alpha=0.6),
              "pruned": dict(c="grey", s=20, marker="x")}
    for group, points in groups.items():
        off = sum(not _inside((p[1], p[2]), xlim, ylim) for p in points)
        if points:
            where = "" if not off else ", off the axes" if off == len(points) else f", {off} off the axes"
            ax.scatter([p[1] for p in points], [p[2] for p in points], **styles[group], label=f"{group} ({len(points)}{where})")
    front = sorted(groups["Pareto front"], key=lambda p: p[1])
    if len(front) > 1:
        ax.plot([p[1] for p in front], [p[2] for p in front], c="tab:red", lw=1, alpha=0.7)
    for name, x, y, _ in front:
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, color="tab:red")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if paper:
        _paper_note(ax, paper, xlim, ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # a study with no finished trial yet has nothing to list
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the plot: no point hidden
    fig.tight_layout()
    return fig


def pareto_html(path: Path, rows: Sequence[TrialRow], objectives: Sequence[Objective], dataset: str, title: str) -> Path:
    import plotly.graph_objects as go

    x_obj, y_obj, groups = _series(rows, objectives)
    fig = go.Figure()
    colours = {"Pareto front": "crimson", "dominated": "royalblue", "pruned": "lightgrey"}
    for group, points in groups.items():
        points = sorted(points, key=lambda p: p[1])
        on_front = group == "Pareto front"
        fig.add_trace(go.Scatter(
            x=[p[1] for p in points], y=[p[2] for p in points], hovertext=[p[3] for p in points], hoverinfo="text+x+y",
            text=[p[0] for p in points] if on_front else None, textposition="top left",  # front trials named
            mode="lines+markers+text" if on_front else "markers", name=f"{group} ({len(points)})",
            marker=dict(color=colours[group], size=10 if on_front else 7),
        ))
    paper = _paper(dataset, x_obj, y_obj)
    if paper:
        fig.add_trace(go.Scatter(
            x=[v[0] for v in paper.values()], y=[v[1] for v in paper.values()], text=[f"paper {k} (test)" for k in paper],
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
    """``curves``: study (or variant) name -> [(epochs trained, hypervolume), ...]; each a step line (the
    hypervolume holds until the next trial finishes)."""
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
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_png(fig, path)
