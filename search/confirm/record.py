"""What a confirmation records in MLflow (the contract users and tests rely on) and in the study's artifacts.

- One child run per confirmed setting under the study's parent run (``snn_search_role = confirmed``, so it is
  never counted as a trial), tags ``confirmed = "true"``, ``confirmed_from = <trial name>``, the setting's
  params, and metrics ``confirmed_seeds`` and ``confirmed_<column>_<stat>`` for every column of
  :func:`columns` and every stat of search.seeds.SPREAD (``confirmed_val_accuracy_median``,
  ``confirmed_test_n_s_q3``, ``confirmed_test_ce_median``, ...). Found again by its tags, never duplicated.
- ``confirmed_front = "true"`` on the confirmed runs non-dominated on their *validation* medians of the
  study's objectives (selection never looks at the test set; test medians are what is reported).
- In the parent run: ``confirmation.csv`` (one row per setting and seed), ``confirmed.csv``/``.json``/``.md``
  (one row per confirmed setting; .md: search.confirm.markdown) and the plot ``confirmed_pareto.png``/``.html``
  (search.confirm.plot).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

from search.confirm.plan import Setting
from search.objectives import Objective, final_metrics
from search.pareto import pareto_ranks
from search.seeds import SPREAD, spread
from search.summary import records_csv
from search.tracking import ROLE_TAG, StudyTracker, TrialRow

__all__ = ["columns", "seed_values", "setting_metrics", "record_setting", "tag_confirmed_front", "confirmed_rows",
           "confirmation_rows", "confirmed_records", "write_artifacts", "CONFIRMED_ROLE", "CONFIRMED_FILTER"]

CONFIRMED_ROLE = "confirmed"
CONFIRMED_FILTER = 'tags.confirmed_front = "true"'  # the MLflow UI search that shows the confirmed front
_TEST_COLUMNS = ("test_accuracy", "test_n_s", "test_ce")


def columns(objectives: Sequence[Objective]) -> list[str]:
    """The values measured per seed: validation accuracy and N_S, the study's other objectives, then test."""
    names = ["val_accuracy", "val_n_s", *(o.metric for o in objectives), *_TEST_COLUMNS]
    return list(dict.fromkeys(names))


def seed_values(out_dir: Path, names: Sequence[str]) -> dict[str, float] | None:
    """A finished seed run's final values (``names``), None when it has not finished."""
    from snn.train.trainer import METRICS

    try:
        data = json.loads((out_dir / METRICS).read_text())
    except (OSError, ValueError):
        return None
    if not data.get("final"):
        return None
    final = final_metrics(data["final"])
    return {name: final.get(f"final_{name}", math.nan) for name in names}


def setting_metrics(values: Sequence[dict[str, float]], names: Sequence[str]) -> dict[str, float]:
    """``confirmed_seeds`` and the spread of every column over the seeds' ``values``."""
    metrics: dict[str, float] = {"confirmed_seeds": len(values)}
    for name in names:
        for stat, value in spread([v[name] for v in values]).items():
            metrics[f"confirmed_{name}_{stat}"] = value
    return metrics


def _confirmed_runs(tracker: StudyTracker, trial: str | None = None) -> list:
    where = f"tags.{ROLE_TAG} = '{CONFIRMED_ROLE}'" + (f" and tags.confirmed_from = '{trial}'" if trial else "")
    return tracker.search_runs(where)


def record_setting(tracker: StudyTracker, setting: Setting, metrics: dict[str, float]) -> str:
    """The setting's confirmed run, created or found again (a killed confirmation left it RUNNING, or an
    earlier one confirmed it), with its params and ``metrics``, ended FINISHED; returns its run id."""
    from mlflow.entities import Metric, RunTag
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    found = _confirmed_runs(tracker, setting.trial)
    if found and found[0].info.status == "FINISHED" and found[0].data.metrics == metrics:
        return found[0].info.run_id  # confirmed before with these very seeds
    if found:
        run_id = found[0].info.run_id
        tracker.client.update_run(run_id, status="RUNNING")
    else:
        run_id = tracker.client.create_run(tracker.experiment_id, run_name=f"confirmed_{setting.trial}", tags={
            MLFLOW_PARENT_RUN_ID: tracker.parent_run_id, ROLE_TAG: CONFIRMED_ROLE, "confirmed": "true",
            "confirmed_from": setting.trial, "confirmed_front": "false",
            "out_dir": str(setting.runs[0].out_dir.parent)}).info.run_id
    tracker.log_params(run_id, setting.params)
    now = int(time.time() * 1000)
    # The seeds in the same batch as their medians: confirmation.csv is rebuilt from them.
    tracker.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                             tags=[RunTag("confirmed_seed_list", ",".join(str(r.seed) for r in setting.runs))])
    tracker.client.set_terminated(run_id, "FINISHED")
    return run_id


def confirmed_rows(tracker: StudyTracker) -> list[TrialRow]:
    """Every confirmed run of the study (name = the trial it confirms)."""
    return sorted((TrialRow(r.info.run_id, r.data.tags.get("confirmed_from", r.info.run_name), r.info.status,
                            dict(r.data.params), dict(r.data.metrics), dict(r.data.tags))
                   for r in _confirmed_runs(tracker)), key=lambda row: row.name)


def _medians(row: TrialRow, objectives: Sequence[Objective]) -> list[float] | None:
    values = [row.metrics.get(f"confirmed_{o.metric}_median") for o in objectives]
    return None if any(v is None or not math.isfinite(v) for v in values) else values


def tag_confirmed_front(tracker: StudyTracker, objectives: Sequence[Objective]) -> list[TrialRow]:
    """Sets ``confirmed_front`` on every confirmed run from the validation medians; returns the rows."""
    rows = confirmed_rows(tracker)
    ranked = [row for row in rows if _medians(row, objectives) is not None]
    ranks = pareto_ranks([_medians(row, objectives) for row in ranked], [o.mode for o in objectives])
    front = {row.run_id for row, rank in zip(ranked, ranks) if rank == 1}
    for row in rows:
        tracker.set_row_tag(row, "confirmed_front", "true" if row.run_id in front else "false")
    return rows


def confirmation_rows(rows: Sequence[TrialRow], confirm_dir: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    """``confirmation.csv``: per confirmed run, one row per seed its medians were taken over (its tag
    ``confirmed_seed_list``), read from the seed runs themselves."""
    table = []
    for row in rows:
        for seed in filter(None, row.tags.get("confirmed_seed_list", "").split(",")):
            values = seed_values(confirm_dir / row.name / f"seed{seed}", names)
            table.append({"trial": row.name, "seed": int(seed), **(values or dict.fromkeys(names, math.nan))})
    return table


def confirmed_records(rows: Sequence[TrialRow], trials: Sequence[TrialRow], names: Sequence[str]) -> list[dict[str, Any]]:
    """One record per confirmed setting, best validation median accuracy first: whether it is on the confirmed
    front, its spread over the seeds, the values the study measured for its trial, and its parameters."""
    studied = {t.name: t for t in trials}
    records = []
    for row in rows:
        record: dict[str, Any] = {"trial": row.name, "confirmed_front": row.tags.get("confirmed_front") == "true",
                                  "confirmed_seeds": row.metrics.get("confirmed_seeds")}
        record.update({f"confirmed_{n}_{s}": row.metrics.get(f"confirmed_{n}_{s}") for n in names for s in SPREAD})
        trial = studied.get(row.name)
        record.update({f"final_{n}": trial.metrics.get(f"final_{n}") for n in names} if trial else {})
        record.update({f"param:{k}": v for k, v in sorted(row.params.items())})
        record["run_id"] = row.run_id
        records.append(record)
    return sorted(records, key=lambda r: -(r.get("confirmed_val_accuracy_median") or 0.0))


def write_artifacts(out: Path, seed_rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]) -> list[Path]:
    """``confirmation.csv`` (per setting and seed) and ``confirmed.csv``/``.json`` (per setting) in ``out``."""
    from search.report import write_text

    out.mkdir(parents=True, exist_ok=True)
    return [write_text(out / "confirmation.csv", records_csv(seed_rows)),
            write_text(out / "confirmed.csv", records_csv(records)),
            write_text(out / "confirmed.json", json.dumps(list(records), indent=1, default=str) + "\n")]
