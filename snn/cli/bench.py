"""``snn bench [--device cpu|cuda] [--threads N] [--dtype float64|float32] [--network yinyang|mnist|all]``"""

from __future__ import annotations

import argparse

__all__ = ["BenchCommand"]


class BenchCommand:
    name = "bench"
    help = "time the LIF operator on the paper's Yin-Yang and MNIST networks"
    description = (
        "Times forward and forward+backward (through the paper's L_A loss) of Yin-Yang 5-40-25-13-3 at batch 32 "
        "and MNIST 784-280-160-70-10 at batch 20, and prints samples/s, spikes per neuron per layer and the "
        "spike-buffer overflow count, then the time of one Yin-Yang training epoch with validation as `snn train` "
        "runs it. --device cuda also sweeps the batch size to saturation."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from snn.bench import add_arguments

        add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from snn.bench import run

        return run(args)
