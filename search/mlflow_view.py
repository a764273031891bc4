"""How a study looks in the MLflow 3.17 UI: what the experiment tags and the URL that ``snn-search ui`` prints
must say so that the page opens on the study's trials, with the objectives as columns.

What MLflow's UI reads (found in its sources, checked in headless Chromium; tests/search/test_ui_browser.py):
- ``workflowType=machine_learning`` in the URL selects the "Model training" sidebar and runs table; without
  it 3.17 opens the GenAI view (its default, remembered per browser). The experiment tag
  ``mlflow.experimentKind = custom_model_development`` says the same to MLflow versions that read the kind
  from the experiment instead.
- A saved view is an experiment tag ``mlflow.sharedViewState.<id>`` holding ``{"name", "createdAt",
  "state"}``, where ``state`` is the JSON of the runs page's search facets (filter, sort) and UI state
  (columns, their order and widths); ``viewStateShareKey=<id>`` in the URL opens it (and the UI lists it
  under "Views"). Run expansion is not part of a shared view, so the view filters to the trial runs:
  sorted by a metric, MLflow lists runs flat instead of under their collapsed parent run.
- ``mlflow.note.content`` is the experiment's description.
Pruned trials keep MLflow's FINISHED status (KILLED means interrupted); the ``trial_state`` column shows
PRUNED, and ``pareto_front`` marks the front.
"""

from __future__ import annotations

import json
from typing import Sequence
from urllib.parse import urlencode

from search.objectives import Objective
from search.tracking import ROLE_TAG, STATE_TAG

__all__ = ["VIEW_ID", "SPACE_PARAM_PREFIX", "space_keys", "view_tags", "view_url"]

VIEW_ID = "snn-search-trials"
SPACE_PARAM_PREFIX = "space."  # the parent run's params name each searched key: space.<key> = its range
_VIEW_TAG = f"mlflow.sharedViewState.{VIEW_ID}"
_TEST_METRICS = ("final_test_accuracy", "final_test_n_s")
_TAGS = ("pareto_front", STATE_TAG, "pareto_rank", "prune_reason")  # as search.tracking and .callbacks write them


def space_keys(parent_params: dict[str, str]) -> list[str]:
    """The searched train keys (the trial runs' param names), from the parent run's params."""
    return [k.removeprefix(SPACE_PARAM_PREFIX) for k in parent_params if k.startswith(SPACE_PARAM_PREFIX)]


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"  # the runs table's column id (MLflow's canonical sort key)


def _view_state(objectives: Sequence[Objective], param_keys: Sequence[str]) -> dict:
    goals = [o.final_metric for o in objectives]
    # The objectives and the front/state tags first: they are what the page is for.
    leading = [("metrics", m) for m in goals] + [("tags", t) for t in _TAGS[:2]]
    trailing = [("metrics", m) for m in _TEST_METRICS if m not in goals] + [("tags", t) for t in _TAGS[2:]] \
        + [("params", p) for p in param_keys]
    columns = [_column(kind, key) for kind, key in leading + trailing]
    first = objectives[0]
    return {
        "searchFilter": f'tags.{ROLE_TAG} = "trial"',
        "orderByKey": _column("metrics", first.final_metric), "orderByAsc": first.mode == "min",
        "selectedColumns": columns,
        "columnOrder": [_column("attributes", "Run Name"), *columns, "runDateAndNestInfo", "duration"],
        # Whole headers for the leading columns, and narrower name/date columns than MLflow's (190/150 px):
        # at 1440 px, beside MLflow's Assistant panel (open on a first visit), all of them show.
        "columnWidths": {_column("attributes", "Run Name"): 130, "runDateAndNestInfo": 120,
                         **{_column(kind, key): 7 * len(key) + 30 for kind, key in leading}},
        "runsHiddenMode": "SHOW_ALL",
    }


def view_tags(study: str, objectives: Sequence[Objective], param_keys: Sequence[str], created_ms: int) -> dict[str, str]:
    """The experiment tags that make the study's page (see the module's docstring)."""
    goals = ", ".join(f"{o.final_metric} {o.mode}" for o in objectives)
    note = (f"snn-search study {study}, one run per trial. pareto_front = true: on the Pareto front ({goals}). "
            f"trial_state PRUNED: stopped because its network switched off (prune_reason says why). "
            f"The parent run '{study}' (clear the search to see it) holds pareto.png, pareto.html and summary.json.")
    envelope = {"name": "snn-search: trials and Pareto front", "createdAt": created_ms,
                "state": json.dumps(_view_state(objectives, param_keys))}
    return {"mlflow.experimentKind": "custom_model_development", "mlflow.note.content": note,
            _VIEW_TAG: json.dumps(envelope)}


def view_url(base: str, experiment_id: str) -> str:
    """The study's runs page in the training view, opened on the view of :func:`view_tags`."""
    query = urlencode({"viewStateShareKey": VIEW_ID, "workflowType": "machine_learning"})
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"
