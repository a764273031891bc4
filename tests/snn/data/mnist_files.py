"""Where the tests find MNIST's raw IDX files, and the mark that skips a test without them."""

import os
from pathlib import Path

import pytest

# The project's copy (../shared/data next to the repository) unless SNN_TEST_DATA_DIR says otherwise.
DATA_DIR = Path(os.environ.get("SNN_TEST_DATA_DIR") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
needs_mnist = pytest.mark.skipif(
    not (DATA_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").exists(),
    reason=f"MNIST raw files not in {DATA_DIR}/MNIST/raw (set SNN_TEST_DATA_DIR to a directory holding MNIST/raw)",
)
