"""``snn bench --peer CMD``: the Yin-Yang training step's speed as a ratio to a peer's, measured in rounds.

Absolute figures move between machines by 2x and more, and on one machine by a fifth from one minute to the next
(jaxsnn's benchmark gave 4,346 to 5,766 samples/s on the same 2-core machine within an hour), so the figure that
holds is a ratio of two measurements taken back to back. Each round runs the peer's command, which must accept
``--out FILE`` and write JSON with ``train_samples_per_s`` there (as ``../shared/peers/bench_jaxsnn.py`` does),
then this package's Yin-Yang forward+backward; the summary is the median of the rounds' ratios.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PeerError", "Round", "run_peer", "compare", "format_round", "format_summary"]


class PeerError(RuntimeError):
    """The peer's command could not be run or did not report its figure; ``rounds``: those finished before."""

    rounds: tuple[Round, ...] = ()


@dataclass(frozen=True)
class Round:
    peer: float  # the peer's training samples/s
    ours: float  # snn's forward+backward samples/s

    @property
    def ratio(self) -> float:
        return self.ours / self.peer


def run_peer(command: str, timeout: float = 900.0) -> float:
    """Runs ``command --out FILE`` and returns the ``train_samples_per_s`` it wrote to FILE."""
    argv = shlex.split(command)
    if not argv:
        raise PeerError("--peer needs a command, e.g. --peer '../venv-jaxsnn/bin/python ../shared/peers/bench_jaxsnn.py'")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.json"
        try:
            done = subprocess.run([*argv, "--out", str(out)], capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError as error:
            raise PeerError(f"--peer: cannot run {argv[0]!r} ({error.strerror}); give the peer's interpreter and script") from None
        except subprocess.TimeoutExpired:
            raise PeerError(f"--peer command still running after {timeout:.0f} s; give it fewer epochs") from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise PeerError(f"--peer command exited with status {done.returncode}:\n{tail}")
        try:
            value = json.loads(out.read_text())["train_samples_per_s"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PeerError(
                f"--peer command wrote no JSON with train_samples_per_s to its --out file ({type(error).__name__}: "
                f"{error}); it must accept --out FILE as ../shared/peers/bench_jaxsnn.py does"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PeerError(f"--peer command reported train_samples_per_s = {value!r}; expected a number > 0")
    return float(value)


def compare(command: str, rounds: int, measure_ours: Callable[[], float], report: Callable[[int, Round], None],
            timeout: float = 900.0) -> list[Round]:
    """``rounds`` rounds of the peer then ``measure_ours()``; ``report(index, round)`` sees each round (from 1) as
    it ends. A peer that fails raises PeerError with the finished rounds in its ``rounds`` attribute."""
    done: list[Round] = []
    for _ in range(rounds):
        try:
            peer = run_peer(command, timeout)
        except PeerError as error:
            error.rounds = tuple(done)
            raise
        done.append(Round(peer, measure_ours()))
        report(len(done), done[-1])
    return done


def format_round(index: int, total: int, result: Round) -> str:
    return (f"round {index}/{total}  peer {result.peer:10,.0f} train samples/s  snn {result.ours:10,.0f} "
            f"forward+backward samples/s  ratio {result.ratio:5.2f}x")


def format_summary(results: list[Round]) -> str:
    ratios = [r.ratio for r in results]
    return (f"ratio to the peer: median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x over "
            f"{len(results)} round(s)); peer median {statistics.median(r.peer for r in results):,.0f}/s, snn median "
            f"{statistics.median(r.ours for r in results):,.0f}/s")
