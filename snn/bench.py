"""``snn bench``: throughput of the exact LIF operator on the paper's two networks.

Times forward and forward+backward (the training loss L_A of the paper, so the backward pass carries the
same gradients as in training) of Yin-Yang 5-40-25-13-3 at batch 32 and MNIST 784-280-160-70-10 at batch 20,
with the paper's initialisation, and prints samples/s, spikes per neuron per layer and the spike-buffer
overflow count; then the time of one whole Yin-Yang training epoch with validation, as ``snn train`` runs it. With ``--device cuda`` it also sweeps the batch size until throughput saturates and reports
the largest batch that fits in memory.

Depends on torch alone (plus the project's kernels), so it runs on a bare GPU machine: MNIST-like inputs
come from the real MNIST files when ``--mnist-root`` (or ``SNN_DATA_DIR``) holds them, else from a
synthetic set with MNIST's statistics (about 19 % lit pixels, the rest spiking together at t_max).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import torch

from snn.functional import reset_spike_overflow_count, spike_overflow_count
from snn.losses import make_loss
from snn.nn import FeedForwardSNN

__all__ = ["NETWORKS", "BenchResult", "run_benchmark", "main"]


@dataclass(frozen=True)
class Network:
    name: str
    sizes: tuple[int, ...]
    init_ranges: tuple[tuple[float, float], ...]
    batch_size: int
    max_spikes: tuple[int, ...]


NETWORKS = {
    "yinyang": Network("yinyang", (5, 40, 25, 13, 3), ((1, 3), (0.2, 1), (0, 1), (0, 1)), 32, (8, 16, 32, 32)),
    "mnist": Network(
        "mnist", (784, 280, 160, 70, 10), ((-0.01, 0.03), (-0.05, 0.15), (-0.2, 0.6), (-0.4, 0.8)), 20, (4, 8, 16, 16)
    ),
}


@dataclass
class BenchResult:
    network: str
    device: str
    batch_size: int
    forward_samples_per_s: float
    train_samples_per_s: float
    spikes_per_neuron: list[float]
    overflows: int


def yinyang_inputs(n: int, generator: torch.Generator) -> torch.Tensor:
    """Yin-Yang's encoding (x, y, 1-x, 1-y, bias at 0) of points drawn in the unit square."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    values = torch.cat([xy, 1 - xy, torch.zeros(n, 1, dtype=torch.float64)], dim=1)
    return (values * 20.0).unsqueeze(-1)


def mnist_inputs(n: int, generator: torch.Generator, root: str | None) -> tuple[torch.Tensor, str]:
    """MNIST's encoding (one spike at (1 - p) t_max per pixel) of real images if available, else synthetic."""
    try:
        from snn.data import encode_mnist, mnist

        images, _ = mnist("test", root=root)
        return encode_mnist(images[:n]), "MNIST test images"
    except Exception:  # no data directory or torchvision on this machine: fall back to synthetic digits
        pass
    images = torch.zeros(n, 28, 28, dtype=torch.float64)
    lit = torch.rand(n, 20, 20, generator=generator, dtype=torch.float64) < 0.37  # ~19 % of 784 pixels
    images[:, 4:24, 4:24] = lit * torch.rand(n, 20, 20, generator=generator, dtype=torch.float64).clamp(min=0.3)
    return ((1.0 - images.reshape(n, 784)) * 20.0).unsqueeze(-1), "synthetic MNIST-like images"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(step, device: torch.device, min_seconds: float, max_iters: int, windows: int = 5) -> float:
    """Seconds per call of ``step``: the median over ``windows`` timing windows (after one warm-up call), so
    that a burst of load from elsewhere on a shared machine shifts one window, not the figure."""
    step()
    _synchronize(device)
    per_call = []
    for _ in range(windows):
        iters, start = 0, time.perf_counter()
        while iters < max(1, max_iters // windows) and (iters < 3 or time.perf_counter() - start < min_seconds / windows):
            step()
            iters += 1
        _synchronize(device)
        per_call.append((time.perf_counter() - start) / iters)
    return sorted(per_call)[windows // 2]


def run_benchmark(
    spec: Network, inputs: torch.Tensor, *, batch_size: int, device: torch.device, dtype: torch.dtype,
    min_seconds: float = 1.0, max_iters: int = 10_000,
) -> BenchResult:
    torch.manual_seed(0)
    net = FeedForwardSNN(spec.sizes, spec.init_ranges, spec.max_spikes, dtype=dtype, device=device)
    loss_fn = make_loss("L_A", alpha=3e-3, eta=0.4)
    labels = torch.arange(batch_size, device=device) % spec.sizes[-1]
    reps = -(-batch_size // inputs.shape[0])
    x = inputs.repeat(reps, 1, 1)[:batch_size].to(device=device, dtype=dtype).contiguous()

    def forward():
        with torch.no_grad():
            net(x)

    parameters = list(net.parameters())

    def train_step():
        for p in parameters:  # as optimizer.zero_grad(set_to_none=True) in the trainer
            p.grad = None
        net.loss_backward(x, labels, loss_fn)  # the trainer's step

    reset_spike_overflow_count()
    with torch.no_grad():
        net(x)
    counts = [c.double().mean().item() for c in net.last_spike_counts]
    overflows = spike_overflow_count()
    t_forward = _time(forward, device, min_seconds, max_iters)
    t_train = _time(train_step, device, min_seconds, max_iters)
    return BenchResult(spec.name, str(device), batch_size, batch_size / t_forward, batch_size / t_train, counts, overflows)


def yinyang_epoch_seconds(device: torch.device, dtype: torch.dtype) -> float:
    """Wall time of one epoch of ``snn train`` in the paper's Yin-Yang 2-phase setting (the trainer's defaults:
    5000 training samples at batch 32 with Adam, then the 1000 validation samples), as the trainer itself
    reports it (``EpochReport.seconds``); the second of two epochs, so that start-up costs stay out."""
    import tempfile

    from snn.train import TrainConfig, train  # here: the trainer's console output needs rich, the rest does not

    config = TrainConfig.from_dict({"device": str(device), "network": {"dtype": str(dtype).removeprefix("torch.")},
                                    "schedule": {"epochs": 2, "switch_epoch": 2}})
    with tempfile.TemporaryDirectory() as out:
        return train(config, out, progress=False, evaluate_test=False).epochs[-1].seconds


def _format_epoch(seconds: float) -> str:
    return f"yinyang  epoch (5000 training + 1000 validation samples, paper 2-phase setting) {seconds:.2f} s"


def _format(result: BenchResult) -> str:
    ns = ", ".join(f"{v:.2f}" for v in result.spikes_per_neuron)
    return (
        f"{result.network:8s} {result.device:6s} batch {result.batch_size:6d}  forward {result.forward_samples_per_s:12,.0f}/s  "
        f"forward+backward {result.train_samples_per_s:12,.0f}/s  N_S per layer [{ns}]  overflows {result.overflows}"
    )


def _batch_sweep(spec: Network, inputs: torch.Tensor, device: torch.device, dtype: torch.dtype, report) -> None:
    """Doubles the batch until throughput stops growing by 5 % or memory runs out."""
    best, batch, largest = 0.0, spec.batch_size, None
    while batch <= 1 << 20:
        try:
            result = run_benchmark(spec, inputs, batch_size=batch, device=device, dtype=dtype, min_seconds=0.5, max_iters=200)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            report(f"{spec.name}: batch {batch} does not fit; largest batch that fits: {largest}")
            return
        largest = batch
        report(_format(result))
        if result.train_samples_per_s < 1.05 * best and batch >= 4096:
            report(f"{spec.name}: throughput saturated at about {best:,.0f} samples/s (forward+backward)")
            return
        best = max(best, result.train_samples_per_s)
        batch *= 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snn bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    parser.add_argument("--network", choices=[*NETWORKS, "all"], default="all")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    parser.add_argument("--mnist-root", default=None, help="MNIST data directory (default: SNN_DATA_DIR or cache)")
    parser.add_argument("--sweep", action="store_true", help="also sweep batch sizes (default on for cuda)")
    parser.add_argument("--peer", metavar="CMD", default=None,
                        help="compare the Yin-Yang step with a peer benchmark in rounds, back to back: CMD must accept "
                             "--out FILE and write train_samples_per_s there, e.g. '../venv-jaxsnn/bin/python "
                             "../shared/peers/bench_jaxsnn.py --arch 5,40,25,13,3 --wh-total 6 --batch 64 --epochs 3'")
    parser.add_argument("--rounds", type=int, default=5, help="rounds with --peer (default 5): the ratio is their median")


def run(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("snn bench: error: --device cuda but torch sees no GPU on this machine", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.peer is not None:
        return _run_peer(args, device, dtype)
    names = list(NETWORKS) if args.network == "all" else [args.network]
    generator = torch.Generator().manual_seed(0)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU thread(s)"
    print(f"snn bench: {dtype} on {where}", flush=True)
    results = []
    for i, name in enumerate(names, 1):
        spec = NETWORKS[name]
        if name == "yinyang":
            inputs, source = yinyang_inputs(1024, generator), "Yin-Yang-encoded points"
        else:
            inputs, source = mnist_inputs(1024, generator, args.mnist_root)
        print(f"[{i}/{len(names)}] {name} {'-'.join(map(str, spec.sizes))}, {source}, timing ...", flush=True)
        result = run_benchmark(spec, inputs, batch_size=spec.batch_size, device=device, dtype=dtype, min_seconds=args.seconds)
        results.append(result)
        print("  " + _format(result), flush=True)
        if args.sweep or device.type == "cuda":
            _batch_sweep(spec, inputs, device, dtype, lambda line: print("  " + line, flush=True))
    epoch = None
    if "yinyang" in names:
        print("[epoch] one Yin-Yang training epoch with validation, as `snn train` runs it ...", flush=True)
        epoch = yinyang_epoch_seconds(device, dtype)
        print("  " + _format_epoch(epoch), flush=True)
    print("summary:")
    for result in results:
        print("  " + _format(result))
    if epoch is not None:
        print("  " + _format_epoch(epoch))
    return 0


def _run_peer(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> int:
    from snn import peer_bench

    if args.network not in ("yinyang", "all") or args.rounds < 1:
        print(f"snn bench: error: --peer needs --network yinyang (the training step it compares) and --rounds >= 1, "
              f"got --network {args.network} --rounds {args.rounds}", file=sys.stderr)
        return 2
    spec = NETWORKS["yinyang"]
    inputs = yinyang_inputs(1024, torch.Generator().manual_seed(0))

    def ours() -> float:
        return run_benchmark(spec, inputs, batch_size=spec.batch_size, device=device, dtype=dtype,
                             min_seconds=args.seconds).train_samples_per_s

    print(f"snn bench: Yin-Yang forward+backward at batch {spec.batch_size} ({dtype}) against `{args.peer}`, "
          f"{args.rounds} round(s), each the peer then snn", flush=True)

    def report(index: int, result: peer_bench.Round) -> None:
        print("  " + peer_bench.format_round(index, args.rounds, result), flush=True)

    try:
        results = peer_bench.compare(args.peer, args.rounds, ours, report)
    except peer_bench.PeerError as error:
        if error.rounds:
            print("summary (rounds finished before the error):\n  " + peer_bench.format_summary(error.rounds))
        print(f"snn bench: error: {error}", file=sys.stderr)
        return 1
    print("summary:\n  " + peer_bench.format_summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
