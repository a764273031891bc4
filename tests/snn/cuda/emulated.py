"""csrc/lif_cuda.cu's kernels run on the CPU (emulation/cuda_shim.h), wrapped like the snn::lif_forward /
snn::lif_backward operators, so that a machine without a GPU still checks the kernels' logic (event walk,
indexing, warp sums, atomics) against the CPU kernel. The emulation does not check what only the hardware
decides: device arithmetic (exp, FMA contraction), memory ordering, occupancy and speed."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from snn._ext import CSRC_DIR

__all__ = ["build_emulation", "Emulation"]

EMULATION_DIR = Path(__file__).resolve().parent / "emulation"
# `kernel<T><<<grid, block, 0, stream>>>(` -> `::snn_emulation::launch(grid, block, kernel<T>, `
_LAUNCH = re.compile(r"(\w+<T>)<<<(\w+), (\w+), 0, stream>>>\(")


def build_emulation(build_dir: Path) -> Emulation:
    """Compiles the emulated kernels with g++ into ``build_dir`` (about 10 s) and loads them."""
    if shutil.which("g++") is None:
        raise RuntimeError("g++ not found")
    source, n = _LAUNCH.subn(r"::snn_emulation::launch(\2, \3, \1, ", (CSRC_DIR / "lif_cuda.cu").read_text())
    assert n == 2, f"expected the 2 kernel launches of lif_cuda.cu in the form kernel<T><<<grid, block, 0, stream>>>, found {n}"
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "lif_cuda_rewritten.inc").write_text(source)
    library = build_dir / "lif_cuda_emulated.so"
    command = [
        "g++", "-std=c++20", "-O2", "-shared", "-fPIC", "-pthread", f"-I{EMULATION_DIR}", f"-I{CSRC_DIR}",
        f"-I{build_dir}", str(EMULATION_DIR / "driver.cpp"), "-o", str(library),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"compiling the emulated kernels failed:\n{' '.join(command)}\n{result.stderr[-8000:]}")
    return Emulation(ctypes.CDLL(str(library)))


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


class Emulation:
    """``forward`` / ``backward`` with the operators' signatures, on CPU tensors."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        for name in ("lif_forward_f32", "lif_forward_f64", "lif_backward_f32", "lif_backward_f64"):
            getattr(library, name).restype = ctypes.c_int

    @staticmethod
    def _array(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().cpu().numpy())

    def forward(self, input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end):
        x, w = self._array(input_times), self._array(weight)
        batch, n_in, k_in = x.shape
        n_out = w.shape[0]
        times = np.empty((batch, n_out, max_spikes), dtype=x.dtype)
        currents = np.empty_like(times)
        counts = np.zeros((batch, n_out), dtype=np.int64)
        params = np.array([tau_m, tau_s, threshold, resistance, t_end], dtype=np.float64)
        fn = self._lib.lif_forward_f64 if x.dtype == np.float64 else self._lib.lif_forward_f32
        i64 = ctypes.c_int64
        err = fn(_ptr(x), i64(batch), i64(n_in), i64(k_in), _ptr(w), i64(n_out), i64(max_spikes), _ptr(params),
                 _ptr(times), _ptr(currents), _ptr(counts))
        assert err == 0
        return torch.from_numpy(times), torch.from_numpy(currents), torch.from_numpy(counts)

    def backward(self, grad, input_times, weight, spike_times, spike_currents, tau_m, tau_s, threshold, resistance,
                 t_end, input_grad):
        x, w = self._array(input_times), self._array(weight)
        times, currents, g = self._array(spike_times), self._array(spike_currents), self._array(grad)
        batch, n_in, k_in = x.shape
        n_out, max_spikes = w.shape[0], times.shape[2]
        grad_x = np.empty_like(x)
        grad_w = np.empty_like(w)
        params = np.array([tau_m, tau_s, threshold, resistance, t_end], dtype=np.float64)
        fn = self._lib.lif_backward_f64 if x.dtype == np.float64 else self._lib.lif_backward_f32
        i64 = ctypes.c_int64
        err = fn(_ptr(x), i64(batch), i64(n_in), i64(k_in), _ptr(w), i64(n_out), i64(max_spikes), _ptr(times),
                 _ptr(currents), _ptr(g), _ptr(params), ctypes.c_int(int(input_grad)), _ptr(grad_x), _ptr(grad_w))
        assert err == 0
        return torch.from_numpy(grad_x), torch.from_numpy(grad_w)
