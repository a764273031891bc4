#!/usr/bin/env bash
# The device check for the lent GPU machine (H200; its own python3 with torch 2.11 + CUDA 13, pytest, numpy,
# scipy; no network, no venv). Run from the repository root:   bash tests/gpu/check.sh
# Steps: GPU and toolchain facts; build the CPU + CUDA kernels (timed); the CUDA tests and the operator's CPU
# tests; compute-sanitizer memcheck of the CUDA kernels on the edge cases (where the sanitizer works); the GPU
# benchmark (python3 -m snn.bench --device cuda). Writes a short report to $OUT/gpu-report.txt when $OUT is
# set (else to /tmp). Budget: under 6 minutes (the benchmark gets what is left of ~5.5).
# Exit status: 0 all good; 1 no GPU or the build failed; 2 tests failed; 3 the sanitizer found errors;
# 4 the benchmark failed (timing out is reported, not a failure).
set -uo pipefail
cd "$(dirname "$0")/../.."

export PYTHONPATH=. PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/snn-gpu-check/torch_extensions}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"  # the H200 only: halves the CUDA compile
if [ -z "${CUDA_HOME:-}" ]; then  # torch looks in /usr/local unless told (ENVIRONMENT.md)
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDA_HOME=/usr/local/cuda
  elif command -v nvcc >/dev/null 2>&1; then
    CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
    export CUDA_HOME
  fi
fi
PY=python3
LOGS=/tmp/snn-gpu-check
mkdir -p "$LOGS" "$TORCH_EXTENSIONS_DIR"
REPORT="${OUT:-/tmp}/gpu-report.txt"
: >"$REPORT"
BUDGET=330
START=$SECONDS
status=0

say() { echo "$*" | tee -a "$REPORT"; }
left() { echo $((BUDGET - (SECONDS - START))); }
section() { say ""; say "== $* (t=$((SECONDS - START)) s)"; }

section "machine"
nvidia-smi 2>&1 | tee "$LOGS/nvidia-smi.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$REPORT"
say "nvcc: $(command -v nvcc || echo 'not on PATH') $(nvcc --version 2>/dev/null | tail -1) CUDA_HOME=${CUDA_HOME:-unset}"
$PY -c "import sys, torch, numpy, scipy, pytest; print('python', sys.version.split()[0], '| torch', torch.__version__, 'cuda', torch.version.cuda, '| cuda available:', torch.cuda.is_available(), '| numpy', numpy.__version__, '| scipy', scipy.__version__, '| pytest', pytest.__version__)" 2>&1 | tee -a "$REPORT"
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  say "FAIL: torch sees no GPU: nothing to check"
  exit 1
fi

section "build (TORCH_EXTENSIONS_DIR=$TORCH_EXTENSIONS_DIR, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST)"
t0=$SECONDS
if ! $PY -c "from snn._ext import load_kernels; load_kernels(cuda=True)" >"$LOGS/build.log" 2>&1; then
  tail -n 60 "$LOGS/build.log" | tee -a "$REPORT"
  say "FAIL: building the kernels failed after $((SECONDS - t0)) s"
  exit 1
fi
say "kernels built and loaded in $((SECONDS - t0)) s"

section "tests: tests/snn/cuda tests/snn/test_lif_*.py"
t0=$SECONDS
extra=()
if $PY -c "import xdist" >/dev/null 2>&1; then extra+=(-n 4 --dist loadfile); fi
if $PY -c "import pytest_timeout" >/dev/null 2>&1; then extra+=(--timeout 150); fi
timeout 200 $PY -m pytest tests/snn/cuda tests/snn/test_lif_*.py -q -rfEs -p no:cacheprovider "${extra[@]}" \
  >"$LOGS/pytest.log" 2>&1
rc=$?
grep -E "^(FAILED|ERROR|SKIPPED)" "$LOGS/pytest.log" | head -n 40 | tee -a "$REPORT"
tail -n 1 "$LOGS/pytest.log" | tee -a "$REPORT"
if [ $rc -ne 0 ]; then
  tail -n 80 "$LOGS/pytest.log"
  say "FAIL: pytest exited $rc after $((SECONDS - t0)) s (124 = killed at 200 s)"
  status=2
else
  say "tests passed in $((SECONDS - t0)) s"
fi

section "compute-sanitizer memcheck of the CUDA kernels"
SANITIZER="$(command -v compute-sanitizer || ls "${CUDA_HOME:-/usr/local/cuda}"/bin/compute-sanitizer 2>/dev/null || true)"
if [ -z "$SANITIZER" ]; then
  say "skipped: compute-sanitizer not found"
else
  t0=$SECONDS
  cat >"$LOGS/sanitize.py" <<'EOF'
import torch
from tests.snn.cuda.cases import CASES, grad_for
for case in CASES:
    for dtype in (torch.float64, torch.float32):
        x, w, *rest = case.args(dtype, "cuda")
        times, currents, counts = torch.ops.snn.lif_forward(x, w, *rest)
        for input_grad in (True, False):
            torch.ops.snn.lif_backward(grad_for(times), x, w, times, currents, *rest[1:], input_grad)
torch.cuda.synchronize()
print("sanitized", len(CASES), "cases")
EOF
  timeout 100 "$SANITIZER" --tool memcheck --error-exitcode 9 $PY "$LOGS/sanitize.py" >"$LOGS/sanitizer.log" 2>&1
  rc=$?
  grep -E "ERROR SUMMARY|sanitized|Invalid|out of bounds|Device not supported" "$LOGS/sanitizer.log" | head -n 20 | tee -a "$REPORT"
  case $rc in
    0) say "memcheck clean in $((SECONDS - t0)) s" ;;
    9) tail -n 60 "$LOGS/sanitizer.log"; say "FAIL: memcheck found errors"; status=3 ;;
    124) say "memcheck timed out after 100 s (not counted as a failure)" ;;
    *) tail -n 20 "$LOGS/sanitizer.log" | tee -a "$REPORT"; say "memcheck could not run (exit $rc; not counted as a failure)" ;;
  esac
fi

section "benchmark: python3 -m snn.bench --device cuda"
t0=$SECONDS
bench_limit=$(left)
[ "$bench_limit" -lt 30 ] && bench_limit=30
timeout "$bench_limit" $PY -m snn.bench --device cuda --seconds 1 2>&1 | tee "$LOGS/bench.log"
rc=${PIPESTATUS[0]}
cat "$LOGS/bench.log" >>"$REPORT"
case $rc in
  0) say "benchmark done in $((SECONDS - t0)) s" ;;
  124) say "benchmark stopped at its ${bench_limit} s share of the budget (partial output above)" ;;
  *) say "FAIL: benchmark exited $rc"; [ $status -eq 0 ] && status=4 ;;
esac

section "done: exit $status, total $((SECONDS - START)) s"
exit $status
