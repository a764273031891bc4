"""The CUDA sources compile on any machine with nvcc, GPU or not (so a broken kernel fails here, not on the
GPU machine), and what the GPU tests import stays within what that machine has (torch, numpy, scipy, pytest)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snn._ext import compile_cuda_sources

REPO = Path(__file__).resolve().parents[2]


def _has_nvcc() -> bool:
    homes = [os.environ.get("CUDA_HOME"), "/usr/local/cuda"]
    return shutil.which("nvcc") is not None or any(h and (Path(h) / "bin" / "nvcc").exists() for h in homes)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _has_nvcc(), reason="nvcc not found (no CUDA toolkit): the CUDA sources cannot be compiled")
def test_cuda_sources_compile_without_a_gpu(tmp_path):
    objects = compile_cuda_sources(tmp_path)
    assert [o.name for o in objects] == ["lif_cuda_cu.o", "lif_cuda_cpp.o"]
    assert all(o.stat().st_size > 0 for o in objects)


def test_what_the_gpu_tests_import_needs_no_extra_packages():
    # The GPU machine has torch, numpy, scipy and pytest only; rich/matplotlib (progress, plots) and the
    # search stack must not come in through snn.functional, snn.nn or the CUDA test helpers.
    code = (
        "import sys; import snn.functional, snn.nn, tests.snn.cuda.cases, tests.snn.test_lif_gradients; "
        "print(' '.join(sorted(m for m in ('rich', 'matplotlib', 'ray', 'optuna', 'mlflow', 'pandas') if m in sys.modules)))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"
