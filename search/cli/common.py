"""Helpers shared by the ``snn-search`` subcommands: the command protocol, the ``--root`` option, and
opening a study from its manifest and snapshot."""

from __future__ import annotations

import argparse

from search.layout import ROOT_ENV, StudyLayout
from search.snapshot import read_snapshot
from search.tracking import StudyTracker, TrialRow
from snn.cli.common import Command, CommandError  # one protocol and one error type for both command lines

__all__ = ["Command", "CommandError", "add_root", "StudyView"]


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=None,
                        help=f"directory holding the studies' state (default: ${ROOT_ENV}, else ./snn-studies)")


class StudyView:
    """A finished or running study, read from its manifest and the snapshot the driver keeps in its folder
    (search.snapshot); a study without a snapshot is read from its MLflow store and Optuna storage."""

    def __init__(self, name: str, root: str | None = None):
        self.layout = StudyLayout.at(name, root)
        self.manifest = self.layout.manifest()
        self.objectives = list(self.manifest.objectives)
        self.snapshot = read_snapshot(self.layout.dir)

    @property
    def tracker(self) -> StudyTracker:
        return StudyTracker(self.manifest.tracking_uri, self.manifest.name)

    def rows(self) -> list[TrialRow]:
        if self.snapshot is not None:
            return self.snapshot.rows
        tracker = self.tracker
        if tracker.find_parent() is None:
            return []  # started, but no trial tracked yet
        return tracker.trials()

    def summary(self, rows: list[TrialRow] | None = None) -> dict:
        """The study's summary; pass ``rows`` already read to save querying the tracking store again."""
        if self.snapshot is not None:
            return self.snapshot.summary
        from search.summary import optuna_states, study_summary

        return study_summary(self.manifest.name, self.rows() if rows is None else rows, self.objectives,
                             optuna=optuna_states(self.manifest.optuna_storage, self.manifest.name),
                             planned_trials=self.manifest.trials, reference=self.manifest.hypervolume_reference)
