"""A study's summary, built from what the stores hold (MLflow child runs, the Optuna study), so that
``snn-search run``, ``status`` and ``pareto`` agree and all work on a resumed or finished study."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any, Sequence

from search.hypervolume import epochs_trained, study_hypervolume
from search.objectives import Objective
from search.rungs import DOMINATED
from search.tracking import TrialRow, front

__all__ = ["study_summary", "summary_json", "pareto_records", "records_csv", "optuna_states"]

_TEST = ("final_test_accuracy", "final_test_ce", "final_test_n_s")


def optuna_states(storage_url: str, study_name: str) -> dict[str, int]:
    """Trial states as Optuna recorded them (what the sampler learns from)."""
    import optuna

    from search.storage import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=make_storage(storage_url))
    except KeyError:  # the study was never created (no trial was suggested yet)
        return {}
    return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def pareto_records(rows: Sequence[TrialRow], objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The front as plain records (trial, objective values, test metrics, parameters), best first by the
    first objective."""
    records = []
    for row in front(rows):
        record: dict[str, Any] = {"trial": row.name, "run_id": row.run_id}
        record.update({o.final_metric: row.metrics.get(o.final_metric) for o in objectives})
        record.update({k: row.metrics.get(k) for k in _TEST if k in row.metrics})
        record.update({f"param:{k}": v for k, v in sorted(row.params.items())})
        record["out_dir"] = row.tags.get("out_dir", "")
        records.append(record)
    first = objectives[0]
    records.sort(key=lambda r: r[first.final_metric], reverse=first.mode == "max")
    return records


def records_csv(records: Sequence[dict[str, Any]]) -> str:
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def study_summary(name: str, rows: Sequence[TrialRow], objectives: Sequence[Objective], *,
                  optuna: dict[str, int] | None = None, planned_trials: int | None = None,
                  reference: Sequence[float] | None = None) -> dict[str, Any]:
    """``reference``: the hypervolume's reference point (the manifest's), None when the study has none."""
    states = Counter(r.state for r in rows)
    pruned = [r for r in rows if r.state == "PRUNED"]
    dominated = [r for r in pruned if r.tags.get("prune_reason", "").startswith(DOMINATED)]
    complete = [r for r in rows if r.state == "COMPLETE" and r.values(objectives) is not None]
    best = {}
    for i, objective in enumerate(objectives):
        if complete:
            pick = max if objective.mode == "max" else min
            row = pick(complete, key=lambda r: r.values(objectives)[i])
            best[objective.metric] = {"trial": row.name, "value": row.values(objectives)[i]}
    return {
        "study": name,
        "trials": len(rows),
        "planned_trials": planned_trials,
        "states": dict(states),
        "optuna_states": optuna or {},
        "pruned": len(pruned),
        "epochs_saved_by_pruning": int(sum(r.metrics.get("epochs_saved", 0) for r in pruned)),
        "dominated": len(dominated),  # of the pruned: stopped by successive halving
        "epochs_saved_by_early_stopping": int(sum(r.metrics.get("epochs_saved", 0) for r in dominated)),
        "epochs_trained": epochs_trained(rows),
        "epochs_saved_by_branching": int(sum(r.metrics.get("epochs_inherited", 0) for r in rows)),
        "hypervolume": study_hypervolume(rows, reference),
        "hypervolume_reference": list(reference) if reference is not None else None,
        "prune_reasons": {r.name: r.tags.get("prune_reason", "") for r in pruned},
        "objectives": [o.to_dict() for o in objectives],
        "best": best,
        "pareto_front": pareto_records(rows, objectives),
    }


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1, default=str)
