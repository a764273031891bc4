"""What successive halving and phase-1 branching buy a study: one study file run four ways with the same trials
and sampler seed (baseline = silent-neuron pruning only, + successive halving, + branching, both), compared by
epochs trained, wall time and the hypervolume of the validation front against epochs trained.

    python -m search.budget studies/yinyang-2phase-budget.toml --root budget-runs --seed 0
    python -m search.budget studies/yinyang-2phase-budget.toml --root budget-runs --seed 1   # noise: another seed
    python -m search.budget studies/yinyang-2phase-budget.toml --root budget-runs --seed 0,1,2  # and their medians

Each variant is a study named ``<stem>-s<seed>[-<tag>]-<variant>`` under ``--root`` (MLflow: ``<root>/mlflow.db``); run
again, finished variants are read back (an interrupted one is resumed), so a long comparison can be continued.
Writes ``<root>/<stem>-s<seed>[-<tag>].md`` (the table) and ``.png`` (hypervolume against epochs trained, one curve per
variant) and prints the table; with several seeds, also ``<root>/<stem>-seeds[-<tag>].md``: each variant's final
hypervolume and epochs as shares of the same seed's baseline, per seed and their medians (how much is noise). The
variants' settings are appended to the study file's text as ``[search.early_stopping]`` and ``[search.branching]``
tables (the file must not have them).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from search.outcome import FINISHED_STATES

__all__ = ["VARIANTS", "variant_text", "run_variants", "read_back", "comparison_table", "replay_line", "seeds_table",
           "main"]

VARIANTS = ("baseline", "halving", "branching", "both")


def _set_search_key(text: str, key: str, value: int) -> str:
    """``key = value`` in the study's [search] table (before its first sub-table)."""
    start = text.index("\n[search]\n")
    end = text.find("\n[", start + 1)
    section = text[start:end]
    edited, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", section)
    if count != 1:
        raise ValueError(f"the study's [search] table must set {key} exactly once to be varied, found {count}")
    return text[:start] + edited + text[end:]


def variant_text(text: str, variant: str, *, trials: int, seed: int, rungs: list[int], factor: float,
                 min_trials: int, children: int) -> str:
    if "[search.early_stopping]" in text or "[search.branching]" in text:
        raise ValueError("the study file must leave [search.early_stopping] and [search.branching] to the variants")
    text = _set_search_key(_set_search_key(text, "trials", trials), "seed", seed)
    if variant in ("halving", "both"):
        text += (f"\n[search.early_stopping]\nrungs = {list(rungs)}\nreduction_factor = {factor:g}\n"
                 f"min_trials = {min_trials}\n")
    if variant in ("branching", "both"):
        text += f"\n[search.branching]\nphase2_children = {children}\n"
    return text


def run_variants(study_file: Path, root: Path, variants, *, tag: str = "", **settings) -> dict[str, dict]:
    """Runs (or reads back) each variant; returns name -> {summary, wall_s, curve}."""
    from search.study import RunOptions, run_study
    from search.tracking import StudyTracker

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root.resolve() / 'mlflow.db'}"
    results = {}
    for variant in variants:
        name = f"{_stem(study_file, settings['seed'], tag)}-{variant}"
        path, timing = root / f"{name}.toml", root / f"{name}.time.json"
        path.write_text(variant_text(study_file.read_text(), variant, **settings))
        done = read_back(root, name)
        if done and timing.exists() and set(done["summary"]["states"]) <= set(FINISHED_STATES) \
                and done["summary"]["trials"] == settings["trials"]:
            results[variant] = {**done, "wall_s": json.loads(timing.read_text())["wall_s"]}
            print(f"== {variant}: finished before ({name})", flush=True)
            continue
        exists = (root / name / "study.json").exists()
        print(f"== {variant}: {'resuming' if exists else 'running'} study {name} ({settings['trials']} trials)", flush=True)
        start = time.perf_counter()
        run = run_study(path, RunOptions(name=name, root=str(root), tracking_uri=uri, resume=exists, live=False))
        if run.interrupted_by is not None:
            raise SystemExit(f"{name} was interrupted; run the same command again to continue")
        spent = json.loads(timing.read_text())["wall_s"] if timing.exists() else 0.0
        wall = spent + time.perf_counter() - start
        timing.write_text(json.dumps({"wall_s": wall}))
        curve = StudyTracker(uri, name).parent_metric_history("hypervolume")
        results[variant] = {"summary": run.summary, "wall_s": wall, "curve": curve}
        print(f"== {variant}: {run.summary['epochs_trained']} epochs, hypervolume {run.summary['hypervolume']:.4g}, "
              f"{wall / 60:.1f} min", flush=True)
    return results


def _stem(study_file: Path, seed: int, tag: str) -> str:
    return f"{study_file.stem}-s{seed}" + (f"-{tag}" if tag else "")


def _epochs_to_reach(curve, target: float) -> int | None:
    return next((step for step, value in sorted(curve) if value >= target - 1e-12), None)


def _value_at(curve, epochs: int) -> float | None:
    """The hypervolume a curve had reached after ``epochs`` epochs trained."""
    reached = [value for step, value in sorted(curve) if step <= epochs]
    return reached[-1] if reached else None


def read_back(root: Path, name: str) -> dict | None:
    """A finished variant's summary and curve, read from its report and MLflow without running it."""
    from search.tracking import StudyTracker

    summary_file = root / name / "artifacts" / "summary.json"
    if not summary_file.exists():
        return None
    uri = f"sqlite:///{root.resolve() / 'mlflow.db'}"
    return {"summary": json.loads(summary_file.read_text()), "wall_s": None,
            "curve": StudyTracker(uri, name).parent_metric_history("hypervolume")}


def comparison_table(results: dict[str, dict], baseline: dict | None = None) -> str:
    """Markdown: per variant, trials by state, epochs trained and saved, wall time, final hypervolume, the
    baseline's hypervolume after as many epochs, and the epochs it took to reach the baseline's final one."""
    baseline = baseline or results.get("baseline")
    final = baseline["summary"]["hypervolume"] if baseline else None
    lines = ["| variant | complete / pruned (dominated) | epochs trained | saved by halving | reused by branching "
             "| wall time | final hypervolume | baseline's after as many epochs | epochs to baseline's final |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant, r in results.items():
        s = r["summary"]
        same = _value_at(baseline["curve"], s["epochs_trained"]) if baseline else None
        reach = _epochs_to_reach(r["curve"], final) if final is not None else None
        wall = f"{r['wall_s'] / 60:.1f} min" if r.get("wall_s") is not None else "-"
        lines.append(f"| {variant} | {s['states'].get('COMPLETE', 0)} / {s['pruned']} ({s['dominated']}) | "
                     f"{s['epochs_trained']} | {s['epochs_saved_by_early_stopping']} | {s['epochs_saved_by_branching']} | "
                     f"{wall} | {s['hypervolume']:.4f} | {f'{same:.4f}' if same is not None else '-'} | "
                     f"{reach if reach is not None else 'not reached'} |")
    return "\n".join(lines) + "\n"


def replay_line(epochs: int, hypervolume: float, kept: float, spent: float, rule: str) -> str:
    """The halving rule replayed on the baseline (search.replay), as a line under the table: what the rule does
    with the baseline's own proposals (``kept``, ``spent``: its hypervolume and epochs as shares of the baseline's),
    so that a halving variant's difference from it is its sampler's."""
    return (f"\nHalving ({rule}) replayed on the baseline's trials (the same proposals, `snn-search replay`): "
            f"{epochs} epochs ({spent:.0%} of the baseline's), hypervolume {hypervolume:.4f} ({kept:.1%}); a halving "
            "variant's difference from this is its sampler's other proposals.\n")


def _replayed(root: Path, name: str, settings: dict) -> str:
    from search.replay import ReplayableStudy
    from search.rungs import EarlyStoppingConfig

    rule = EarlyStoppingConfig(True, tuple(settings["rungs"]), settings["factor"], settings["min_trials"])
    result, kept, spent = ReplayableStudy(name, str(root)).replay(rule)
    label = f"rungs {','.join(map(str, rule.rungs))}, factor {rule.reduction_factor:g}"
    return replay_line(result.epochs, result.hypervolume, kept, spent, label)


def seeds_table(per_seed: dict[int, dict[str, dict]]) -> str:
    """Markdown: per variant and sampler seed, the final hypervolume and the epochs trained, each also as a share
    of the same seed's baseline; then per variant the medians of those shares over the seeds."""
    lines = ["| variant | sampler seed | final hypervolume | of the baseline's | epochs trained | of the baseline's |",
             "|---|---|---|---|---|---|"]
    shares: dict[str, list[tuple[float, float]]] = {}
    for seed, results in sorted(per_seed.items()):
        base = results["baseline"]["summary"]
        for variant, r in results.items():
            s = r["summary"]
            share = (s["hypervolume"] / base["hypervolume"], s["epochs_trained"] / base["epochs_trained"])
            shares.setdefault(variant, []).append(share)
            lines.append(f"| {variant} | {seed} | {s['hypervolume']:.4f} | {share[0]:.3f} | {s['epochs_trained']} | "
                         f"{share[1]:.0%} |")
    for variant, values in shares.items():
        hv, epochs = (statistics.median(v[i] for v in values) for i in (0, 1))
        low, high = min(v[0] for v in values), max(v[0] for v in values)
        lines.append(f"| {variant} | median of {len(values)} | | {hv:.3f} ({low:.3f}-{high:.3f}) | | {epochs:.0%} |")
    return "\n".join(lines) + "\n"


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sampler seeds like 0 or 0,1,2, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("expected at least one sampler seed, e.g. --seed 0")
    return seeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.budget", description=__doc__.split("\n\n")[0])
    parser.add_argument("study", type=Path, help="study file (two default objectives, a phase-2 key searched)")
    parser.add_argument("--root", type=Path, default=Path("budget-runs"), help="where the studies go")
    parser.add_argument("--seed", type=_seeds, default=[0], help="sampler seed, the same for every variant; "
                        "several (0,1,2): one comparison each, then their medians")
    parser.add_argument("--trials", type=int, default=20, help="trials per variant")
    parser.add_argument("--rungs", default="5,15,45", help="successive halving's rungs (epochs)")
    parser.add_argument("--reduction-factor", type=float, default=3.0)
    parser.add_argument("--min-trials", type=int, default=4)
    parser.add_argument("--children", type=int, default=3, help="phase2_children for branching")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    parser.add_argument("--tag", default="", help="added to the studies' names (e.g. t40 for a run with --trials 40)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    settings = dict(trials=args.trials, rungs=[int(r) for r in args.rungs.split(",")], factor=args.reduction_factor,
                    min_trials=args.min_trials, children=args.children)
    per_seed = {seed: _compare(args.study, args.root, variants, args.tag, seed, settings) for seed in args.seed}
    if len(per_seed) > 1 and all("baseline" in r for r in per_seed.values()):
        path = args.root / f"{args.study.stem}-seeds{f'-{args.tag}' if args.tag else ''}.md"
        table = seeds_table(per_seed)
        path.write_text(table)
        print(table, end="")
        print(f"over the seeds: {path}")
    return 0


def _compare(study: Path, root: Path, variants, tag: str, seed: int, settings: dict) -> dict[str, dict]:
    """One sampler seed's comparison: runs (or reads back) its variants, writes its table and plot; returns the
    results with the baseline among them (read back for a tagged run that did not run one)."""
    from search.plots import hypervolume_png

    results = run_variants(study, root, variants, tag=tag, seed=seed, **settings)
    stem = root / _stem(study, seed, tag)
    # a tagged run (more trials, say) is compared with the untagged baseline of the same seed
    baseline = results.get("baseline") or read_back(root, f"{_stem(study, seed, '')}-baseline")
    table = comparison_table(results, baseline)
    if baseline is not None and {"halving", "both"} & set(results):
        table += _replayed(root, f"{_stem(study, seed, '')}-baseline", settings)
    stem.with_suffix(".md").write_text(table)
    reference = next(iter(results.values()))["summary"]["hypervolume_reference"]
    curves = {v: r["curve"] for v, r in results.items()}
    if baseline is not None and "baseline" not in results:
        curves = {f"baseline ({baseline['summary']['trials']} trials)": baseline["curve"], **curves}
    hypervolume_png(stem.with_suffix(".png"), curves, reference,
                    f"{study.stem}, sampler seed {seed}: {settings['trials']} trials per variant")
    print(table, end="")
    print(f"table: {stem.with_suffix('.md')}, plot: {stem.with_suffix('.png')}")
    return results if baseline is None else {"baseline": baseline, **results}


if __name__ == "__main__":
    raise SystemExit(main())
