"""Phase-1 branching: ``[search.branching] phase2_children = M`` (default 1 = off).

```toml
[search.branching]
phase2_children = 3       # each phase-1 setting is shared by 3 trials, each with its own phase-2 keys
```

The sampler proposes a whole setting for a group's first trial (its *parent*), which trains both phases like
any trial and, at the end of its phase 1, keeps its checkpoint(s) in ``<study>/branches/<n>/`` (n: its Optuna
number; the study's shared folder, so any node reads it). The group's other M - 1 trials (*children*) are
asked from Optuna with the parent's phase-1 keys fixed (``enqueue_trial`` with those params; the sampler
proposes the phase-2 keys, snn.train.branch.reads_before_switch says which are which), so Optuna sees each
child as its own trial with the full parameter set; a child starts from the parent's switch checkpoint,
trains only its own epochs (``epochs_run``; ``epochs_inherited`` = the switch epoch) and its MLflow run is
tagged ``phase1_source`` = the parent's run name.

Which trial comes next (:func:`next_proposal`) is derived from the Optuna study and the branch folders alone,
so a restarted driver plans as the killed one would: a child of a parent whose switch checkpoint exists; else
a new parent while trials are left beyond the child slots reserved for running parents; else nothing yet (a
slot waits for a parent to reach its switch). A parent that ends before its switch (pruned, stopped at a rung,
failed) frees its children's slots for new parents; one whose node is lost is retried from its checkpoint by
Tune like any trial, and its children wait for it.

With ``[search] seeds = k`` a parent keeps every seed's checkpoint at the switch, and each of a child's seeds
continues the parent's run of the same seed (a child shares its parent's ``train.seed``, hence its seeds):
the child's seed S equals, bit for bit, seed S of its setting trained from scratch.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from search.layout import StudyLayout
from search.outcome import PHASE1_SOURCE_KEY
from snn import validation as v

__all__ = ["BranchingConfig", "Member", "NEW_PARENT", "next_proposal", "branch_dir", "keep_branch", "branch_runs",
           "phase1_params", "ROLE_ATTR"]

NEW_PARENT = "new parent"
ROLE_ATTR = PHASE1_SOURCE_KEY  # Optuna user attribute of a child: its parent's number (the Tune config key too)


@dataclass(frozen=True)
class BranchingConfig:
    phase2_children: int = 1

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, prefix: str = "search.branching") -> "BranchingConfig":
        table = v.table({} if table is None else table, prefix)
        v.check_keys(table, ("phase2_children",), prefix)
        return cls(v.integer(table.get("phase2_children", 1), f"{prefix}.phase2_children", min=1,
                             fix="1 turns branching off; M > 1 trials share each phase-1 setting"))

    @property
    def enabled(self) -> bool:
        return self.phase2_children > 1

    def check(self, space: Mapping[str, Any], train: Any, trials: int, start_points: int,
              prefix: str = "search.branching") -> None:
        """Branching needs two phases and a phase-2 key to vary; each start point opens a group."""
        from snn.train.branch import reads_before_switch

        if not self.enabled:
            return
        if all(reads_before_switch(key) for key in space):
            raise v.invalid(f"{prefix}.phase2_children", "be 1 when [search.space] has no phase-2 key",
                            str(self.phase2_children), 'search a phase-2 key, e.g. "schedule.phase2.lr"')
        schedule = train.schedule
        switch = space.get("schedule.switch_epoch")
        low, high = (switch.low, switch.high) if switch is not None and switch.type == "int" else (schedule.switch_epoch,) * 2
        if not 0 < low <= high < schedule.epochs:
            raise v.invalid(f"{prefix}.phase2_children", "be 1 unless every trial trains two phases "
                            f"(0 < train.schedule.switch_epoch < epochs = {schedule.epochs})", str(self.phase2_children),
                            f"switch epochs in [{low}, {high}] leave no phase to branch")
        groups = -(-trials // self.phase2_children)
        if start_points > groups:
            raise v.invalid("search.start_points", f"list at most {groups} points with phase2_children = "
                            f"{self.phase2_children} (each point starts a group of trials)", f"{start_points} points")


@dataclass(frozen=True)
class Member:
    """An Optuna trial as the planner sees it."""

    number: int
    parent: int | None  # None: it starts a group
    finished: bool


def next_proposal(members: Sequence[Member], trials: int, children: int,
                  ready: Callable[[int], bool]) -> int | str | None:
    """The parent number whose next child to ask for, :data:`NEW_PARENT`, or None (wait). ``members``: the
    trials asked so far; ``ready(n)``: whether parent n's switch checkpoint exists."""
    remaining = trials - len(members)
    if remaining <= 0:
        return None
    groups: dict[int, int] = {m.number: 0 for m in members if m.parent is None}
    for m in members:
        if m.parent is not None:
            groups[m.parent] = groups.get(m.parent, 0) + 1
    finished = {m.number for m in members if m.finished}
    live = {p: n for p, n in groups.items() if ready(p) or p not in finished}  # ended before its switch: dead
    waiting = sorted(p for p, n in live.items() if n < children - 1 and ready(p))
    if waiting:
        return waiting[0]
    reserved = sum(max(children - 1 - n, 0) for n in live.values())
    return NEW_PARENT if remaining > reserved else None


def phase1_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a parent shares with its children."""
    from snn.train.branch import reads_before_switch

    return {k: val for k, val in params.items() if reads_before_switch(k)}


def branch_dir(study_dir: str | Path, number: int) -> Path:
    """Where parent ``number`` keeps its checkpoints at the switch epoch: laid out as its trial folder (one
    seed: ``checkpoint``; k seeds: ``seed<S>/checkpoint``, search.seeds.seed_dirs). It appears whole or not
    at all, so that it exists is what says the parent's children may start."""
    study_dir = Path(study_dir)
    return StudyLayout(study_dir.name, study_dir).branches_dir / str(number)


def keep_branch(study_dir: str | Path, number: int, out_dir: str | Path, run_dirs: Sequence[Path]) -> None:
    """Copies a parent's checkpoints at its switch epoch (each seed's run folder in ``run_dirs``, inside
    ``out_dir``) to the study's branches folder, once (a parent that replays its switch after a restart
    trains the same phase 1: the copy kept stays)."""
    from snn.train import CHECKPOINT

    target = branch_dir(study_dir, number)
    if target.exists():
        return
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # what a parent killed while copying left
    for run_dir in run_dirs:
        kept = tmp / Path(run_dir).relative_to(out_dir)
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(run_dir) / CHECKPOINT, kept / CHECKPOINT)
    tmp.replace(target)  # a child on another node sees every seed's checkpoint or none


def branch_runs(study_dir: str | Path, number: int, out_dir: Path, configs: Sequence[Any],
                run_dirs: Sequence[Path]) -> int:
    """Starts a child's runs (one per seed: ``configs[i]`` into ``run_dirs[i]``, inside ``out_dir``) from parent
    ``number``'s checkpoints at the switch: seed S continues the parent's seed S (a child shares its parent's
    seed, so the two train the same seeds). Returns the epochs inherited (the switch epoch)."""
    from snn.train import CHECKPOINT
    from snn.train.branch import branch_run

    source = branch_dir(study_dir, number)
    return min(branch_run(source / Path(run_dir).relative_to(out_dir) / CHECKPOINT, config, run_dir)
               for config, run_dir in zip(configs, run_dirs, strict=True))
