"""``snn train STUDY.toml [--seed N] [--out DIR] [--set KEY=VALUE ...] [--resume DIR] [--quiet]``"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from snn.cli.common import CommandError, parse_assignment

__all__ = ["TrainCommand"]


class TrainCommand:
    name = "train"
    help = "train a network from a study file"
    description = (
        "Train the [train] table of a study file. Writes checkpoint.pt (every epoch), metrics.json and PNG "
        "plots into the output directory; an interrupted run continues with --resume DIR."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="STUDY.toml", help="study file with a [train] table")
        parser.add_argument("--seed", type=int, metavar="N", help="override train.seed")
        parser.add_argument("--out", metavar="DIR", help="output directory (default: runs/<study>-seed<N>)")
        parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                            help="override a key of [train], value as a TOML literal, e.g. --set loss.alpha=1e-3 "
                                 "schedule.epochs=5 schedule.switch_epoch=3 'device=\"cuda\"'")
        parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR (same study, seed and --set)")
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")

    def run(self, args: argparse.Namespace) -> int:
        from snn.train import check_start, load_study, train  # torch loads only when a command runs

        study = load_study(args.study)
        overrides = dict(parse_assignment(a) for a in args.overrides)
        if args.seed is not None:
            overrides["seed"] = args.seed
        config = study.train.with_overrides(overrides)
        if args.resume and args.out and Path(args.resume).resolve() != Path(args.out).resolve():
            raise CommandError(f"--resume {args.resume} and --out {args.out} name different directories; give one")
        out_dir = Path(args.resume or args.out or Path("runs") / f"{study.name}-seed{config.seed}")
        resume = args.resume is not None
        try:
            check_start(config, out_dir, resume=resume)
        except FileExistsError as error:
            raise CommandError(f"{error} (--resume {out_dir} continues it)") from None
        except ValueError as error:  # check_start refuses with ValueError: a device or a run that does not fit
            raise CommandError(str(error)) from None

        if not args.quiet:
            verb = "resuming" if resume else "training"
            print(f"{verb} {study.name} (seed {config.seed}, {config.data.dataset}, "
                  f"{'-'.join(map(str, config.network.sizes))}, device {config.device}) in {out_dir}")
        start = time.perf_counter()
        try:
            result = train(config, out_dir, resume=resume, progress=not args.quiet)
        except KeyboardInterrupt:
            print(f"\ninterrupted; finished epochs are saved: continue with "
                  f"snn train {args.study} --resume {out_dir}{_repeat_flags(args)}")
            return 130
        self._summary(result, time.perf_counter() - start)
        return 1 if result.stopped_early else 0

    @staticmethod
    def _summary(result, seconds: float) -> None:
        final = result.final["test"] or result.final["validation"]
        which = "test" if result.final["test"] else "validation"
        layers = " ".join(f"{x:.2f}" for x in final["n_s_per_layer"])
        if result.stopped_early:
            print(f"stopped early after {len(result.epochs)} epochs: {result.stop_reason}")
        print(f"{which} accuracy {100 * final['accuracy']:.2f} %, CE {final['ce']:.4f}, "
              f"N_S {final['n_s']:.3f} (per layer {layers}), {len(result.epochs)} epochs in {seconds:.1f} s")
        files = sorted(p.name for p in Path(result.out_dir).iterdir() if not p.name.startswith("."))
        print(f"files in {result.out_dir}: {', '.join(files)}")


def _repeat_flags(args: argparse.Namespace) -> str:
    flags = "".join(f" --set '{a}'" for a in args.overrides)
    return flags + (f" --seed {args.seed}" if args.seed is not None else "")
