"""``snn bench`` prints the figures the issue asks for: samples/s forward and forward+backward, spikes per
neuron per layer and the overflow count, for both networks, the time of a whole Yin-Yang training epoch, and
ends with a summary."""

import re
import subprocess
import sys


def test_bench_prints_throughput_spikes_and_overflows():
    out = subprocess.run(
        [sys.executable, "-m", "snn.cli", "bench", "--seconds", "0.05", "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    summary = lines[lines.index("summary:") + 1 :]
    assert [line.split()[0] for line in summary] == ["yinyang", "mnist", "yinyang"]
    epoch = re.search(r"epoch \(5000 training \+ 1000 validation samples.*\) ([\d.]+) s$", summary[-1])
    assert epoch and float(epoch.group(1)) > 0
    for line in summary[:2]:
        forward, train = (float(x.replace(",", "")) for x in re.findall(r"([\d,]+)/s", line))
        assert forward > 0 and train > 0  # figures only: their size is the benchmark's business, not a test's
        spikes = [float(x) for x in re.search(r"N_S per layer \[(.*)\]", line).group(1).split(",")]
        assert len(spikes) == 4 and all(s > 0 for s in spikes)  # the paper's init ignites every layer
        assert re.search(r"overflows \d+$", line)


def test_bench_refuses_cuda_without_a_gpu():
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = subprocess.run([sys.executable, "-m", "snn.cli", "bench", "--device", "cuda"], capture_output=True, text=True)
    assert out.returncode == 2 and "no GPU" in out.stderr
