"""``confirmed.md``: every confirmed setting as a Markdown table (for a note or a README), test medians with
their interquartile range next to the values the study measured for the setting, and the paper's Table 3
rows for the study's dataset under it."""

from __future__ import annotations

from typing import Any, Sequence

from search.plots import PAPER_POINTS

__all__ = ["confirmed_markdown"]


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _ns(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _param(value) -> str:
    """MLflow keeps params as text: numbers to 4 significant digits."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return "-" if value is None else str(value)


def _spread(record: dict[str, Any], key: str, fmt) -> str:
    median, q1, q3 = (record.get(f"confirmed_{key}_{s}") for s in ("median", "q1", "q3"))
    return f"{fmt(median)} ({fmt(q1)}-{fmt(q3)})"


def confirmed_markdown(records: Sequence[dict[str, Any]], dataset: str) -> str:
    params = sorted({k for r in records for k in r if k.startswith("param:")})
    header = ["setting", "confirmed front", "seeds", "test acc % median (IQR)", "test N_S median (IQR)",
              "val acc % median", "val N_S median", "study: test acc %", "study: test N_S",
              *(p.removeprefix("param:") for p in params)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        cells = [r["trial"], "yes" if r.get("confirmed_front") else "", f"{r.get('confirmed_seeds', 0):.0f}",
                 _spread(r, "test_accuracy", _pct), _spread(r, "test_n_s", _ns),
                 _pct(r.get("confirmed_val_accuracy_median")), _ns(r.get("confirmed_val_n_s_median")),
                 _pct(r.get("final_test_accuracy")), _ns(r.get("final_test_n_s")), *(_param(r.get(p)) for p in params)]
        lines.append("| " + " | ".join(cells) + " |")
    for name, (accuracy, n_s) in PAPER_POINTS.get(dataset, {}).items():
        lines.append("| " + " | ".join([f"paper {name}", "", "10", f"{accuracy:.2f}", f"{n_s:.2f}"]
                                       + [""] * (len(header) - 5)) + " |")
    return "\n".join(lines) + "\n"
