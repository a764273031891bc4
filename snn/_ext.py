"""Builds the C++ (and, where a GPU is present, CUDA) kernels at first use and loads them into torch.

The build is cached in ``<root>/<cpu>/<name>``, root ``$TORCH_EXTENSIONS_DIR`` (default
``~/.cache/snn-search/torch_extensions``), so only the first import on a machine pays the ~30 s compile; a
one-line message says so while it happens. ``<cpu>`` names the CPU model (architecture and a hash of its
feature flags): the build uses ``-march=native``, so a cache shared by several machines (a home directory
on a cluster) must never hand one CPU model another's binary (SIGILL). The key is computed on every machine
itself and never taken from an environment variable that a driver could pass on to other nodes.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

__all__ = ["CSRC_DIR", "OPERATORS", "load_kernels", "has_kernel", "cuda_sources", "compile_cuda_sources",
           "kernel_cache_dir", "kernel_library"]

CSRC_DIR = Path(__file__).resolve().parent.parent / "csrc"
_CPU_SOURCES = ("ops.cpp", "autograd.cpp", "lif_cpu.cpp", "network_cpu.cpp", "loss_cpu.cpp")
_CUDA_SOURCES = ("lif_cuda.cpp", "lif_cuda.cu")
# The operators each device's kernel implements (the TORCH_LIBRARY_IMPL blocks of the sources above). The
# tests run every one listed on its device, and on a GPU check that the others refuse CUDA tensors.
OPERATORS = {
    "cpu": ("lif_forward", "lif_backward", "network_forward", "network_backward", "network_forward_loss", "spike_loss"),
    "cuda": ("lif_forward", "lif_backward"),
}
# -fopenmp: for the `#pragma omp simd` loops (the kernels' threads are csrc/workers.h's, not OpenMP's);
# -march=native: the kernel is built on the machine that runs it (first use), so it may use that CPU's vector units.
_CFLAGS = ["-O3", "-march=native", "-fopenmp"]
_lock = threading.Lock()
_loaded: set[str] = set()


def _default_cuda_env() -> None:
    # ENVIRONMENT.md: torch looks for CUDA in /usr/local unless told, and needs an arch list without a GPU.
    if "CUDA_HOME" not in os.environ and Path("/usr/local/cuda").is_dir():
        os.environ["CUDA_HOME"] = "/usr/local/cuda"
    import logging

    import torch

    if not torch.cuda.is_available():
        # cpp_extension warns "No CUDA runtime is found" at import on every GPU-less machine with a CUDA
        # toolkit, i.e. on every CPU run here: noise, since the CPU kernel needs no CUDA.
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _cpu_key() -> str:
    import hashlib
    import platform

    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return f"{platform.machine()}-{hashlib.sha1(flags.encode()).hexdigest()[:10]}"


def kernel_cache_dir() -> Path:
    """Where this machine's kernel builds live: the cache root, keyed by this CPU model."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "snn-search" / "torch_extensions"
    return Path(root) / _cpu_key()


def kernel_library(name: str = "snn_cpu") -> Path:
    """The shared library of kernel ``name`` that :func:`load_kernels` builds and loads."""
    return kernel_cache_dir() / name / f"{name}.so"


def _stale(name: str, sources: list[Path]) -> bool:
    """Whether ninja is about to compile: the library is missing or older than a source or its header."""
    library = kernel_library(name)
    if not library.exists():
        return True
    built = library.stat().st_mtime
    # Every header, not a list of them to keep up (a CUDA-only header's change makes this say so once too often)
    return any(path.stat().st_mtime > built for path in [*sources, *CSRC_DIR.glob("*.h")] if path.exists())


def _build(name: str, sources: list[Path], **kwargs) -> None:
    from torch.utils.cpp_extension import load

    build_directory = kernel_library(name).parent
    build_directory.mkdir(parents=True, exist_ok=True)
    if _stale(name, sources):
        print(f"snn: compiling the {name} kernel (first use on this machine, about 30-90 s)...", file=sys.stderr, flush=True)
    load(
        name=name,
        sources=[str(s) for s in sources],
        extra_cflags=_CFLAGS,
        extra_ldflags=["-fopenmp"],
        extra_include_paths=[str(CSRC_DIR)],
        is_python_module=False,
        build_directory=str(build_directory),
        verbose=False,
        **kwargs,
    )


def cuda_sources() -> list[Path]:
    return [CSRC_DIR / s for s in _CUDA_SOURCES]


def load_kernels(cuda: bool | None = None) -> None:
    """Loads the CPU kernel, and the CUDA kernel if ``cuda`` (default: when torch sees a GPU)."""
    _default_cuda_env()
    import torch

    want_cuda = torch.cuda.is_available() if cuda is None else cuda
    with _lock:
        if "snn_cpu" not in _loaded:
            _build("snn_cpu", [CSRC_DIR / s for s in _CPU_SOURCES])
            _loaded.add("snn_cpu")
        if want_cuda and "snn_cuda" not in _loaded:
            # No --use_fast_math: its approximate expf/logf and flushed denormals would make float32 CUDA
            # results drift from the CPU kernel's; the exact spike times are the point of this operator.
            _build("snn_cuda", cuda_sources(), extra_cuda_cflags=["-O3"])
            _loaded.add("snn_cuda")


def has_kernel(operator: str, device_type: str) -> bool:
    """Whether ``snn::<operator>`` has a kernel for tensors on ``device_type`` ("cpu", "cuda", ...) here."""
    if operator not in OPERATORS.get(device_type, ()):
        return False
    if f"snn_{device_type}" not in _loaded:  # asked every training step: two lookups once loaded
        load_kernels(cuda=device_type == "cuda" or None)
    return f"snn_{device_type}" in _loaded


def compile_cuda_sources(build_dir: Path) -> list[Path]:
    """Compiles the CUDA sources to object files without loading them (works on a machine with no GPU), so
    that a broken .cu or binding file is caught by the tests. Both compile at once; flags as torch's
    ``load`` uses them (C++20: torch's headers need it). Returns the object files; raises RuntimeError with
    the compiler's message on failure."""
    _default_cuda_env()
    import subprocess

    import torch
    from torch.utils.cpp_extension import CUDA_HOME, include_paths

    if CUDA_HOME is None or not (Path(CUDA_HOME) / "bin" / "nvcc").exists():
        raise RuntimeError(f"no CUDA toolkit found ({CUDA_HOME=}): set CUDA_HOME to the directory that holds bin/nvcc")
    build_dir.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{p}" for p in [*include_paths(device_type="cuda"), str(CSRC_DIR)]]
    abi = f"-D_GLIBCXX_USE_CXX11_ABI={int(torch.compiled_with_cxx11_abi())}"
    commands = {
        "lif_cuda.cu": [f"{CUDA_HOME}/bin/nvcc", "-c", "-O3", "-std=c++20", "-arch=sm_90", "-Xcompiler", "-fPIC", abi],
        "lif_cuda.cpp": ["g++", "-c", "-O1", "-std=c++20", "-fPIC", abi],
    }
    jobs = {}
    for source, command in commands.items():
        obj = build_dir / (source.replace(".", "_") + ".o")
        argv = [*command, *includes, str(CSRC_DIR / source), "-o", str(obj)]
        jobs[obj] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures = []
    for obj, job in jobs.items():
        output, _ = job.communicate()
        if job.returncode != 0:
            failures.append(f"{' '.join(job.args)}\n{output[-8000:]}")
    if failures:
        raise RuntimeError("compiling the CUDA sources failed:\n" + "\n\n".join(failures))
    return list(jobs)
