"""MNIST images, a held-out validation split, and the time encoding of pixel intensities.

The raw IDX files are read with torchvision (``<root>/MNIST/raw/``), but through the ``data`` and
``targets`` tensors rather than torchvision's per-item PIL path, which is far too slow for batching.
"""

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from snn.errors import NotFoundError

__all__ = ["MNIST_SPLITS", "VALIDATION_SEED", "N_MNIST_TRAIN", "default_data_dir", "mnist", "encode_mnist"]

MNIST_SPLITS = ("train", "validation", "test")
N_MNIST_TRAIN = 60_000
# The validation images are chosen by numpy.random.RandomState(VALIDATION_SEED).permutation(60000)[:size]:
# the legacy RandomState stream is frozen across numpy versions, so the split never moves.
VALIDATION_SEED = 1234


def default_data_dir() -> Path:
    """``$SNN_DATA_DIR`` if set, else ``~/.cache/snn-search/data`` (torchvision's ``root``)."""
    return Path(os.environ.get("SNN_DATA_DIR") or Path.home() / ".cache" / "snn-search" / "data")


@lru_cache(maxsize=4)
def _load(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 28, 28] and int64 labels of the official train or test set, read once per process."""
    from torchvision.datasets import MNIST  # imported here: torchvision is slow to import and rarely needed

    try:
        dataset = MNIST(root, train=train, download=False)
    except RuntimeError:
        try:
            dataset = MNIST(root, train=train, download=True)
        except Exception as error:
            raise NotFoundError(
                f"MNIST is not in {Path(root) / 'MNIST' / 'raw'} and downloading it failed ({error}). "
                f"Copy the four raw IDX files (train-images-idx3-ubyte, ...) there, or pass root=/ set "
                f"SNN_DATA_DIR to a directory that holds MNIST/raw/, or connect to the internet."
            ) from error
    return dataset.data.contiguous(), dataset.targets.to(torch.int64)


def _validation_mask(validation_size: int) -> torch.Tensor:
    held_out = np.random.RandomState(VALIDATION_SEED).permutation(N_MNIST_TRAIN)[:validation_size]
    mask = torch.zeros(N_MNIST_TRAIN, dtype=torch.bool)
    mask[torch.from_numpy(held_out)] = True
    return mask


def mnist_uint8(split: str, root=None, validation_size: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`mnist` but images stay uint8 (0..255): a quarter of the memory, for batching."""
    if split not in MNIST_SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {list(MNIST_SPLITS)}")
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)):
        raise ValueError(f"validation_size must be an int, got {validation_size!r}")
    if not 0 <= validation_size < N_MNIST_TRAIN:
        raise ValueError(f"validation_size must be in [0, {N_MNIST_TRAIN - 1}], got {validation_size=}")
    if split == "validation" and validation_size == 0:
        raise ValueError("the MNIST validation split is empty with validation_size=0; pass validation_size > 0")
    root = str(Path(root).expanduser() if root else default_data_dir())
    images, labels = _load(root, split != "test")
    if split == "test":
        return images, labels
    # Sorted indices: both splits keep the files' order, so subset=N takes a fixed, spread-out sample.
    mask = _validation_mask(int(validation_size))
    keep = mask if split == "validation" else ~mask
    return images[keep], labels[keep]


def mnist(split: str, root=None, validation_size: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images [N, 28, 28] float32 in [0, 1], labels [N] int64)`` of an MNIST split.

    ``split``: "train" (the official 60 000 training images less the validation ones), "validation"
    (``validation_size`` images held out of the official training set by a fixed permutation, see
    ``VALIDATION_SEED``; model selection never sees the test set) or "test" (the official 10 000).
    ``root``: directory that holds ``MNIST/raw/``; None or "" means :func:`default_data_dir`. Missing
    files are downloaded by torchvision when possible.
    """
    images, labels = mnist_uint8(split, root, validation_size)
    return images.to(torch.float32) / 255.0, labels.clone()


def encode_mnist(images, t_min: float = 0.0, t_max: float = 20.0) -> torch.Tensor:
    """One spike per pixel at ``t_min + (1 - p)(t_max - t_min)`` (bright pixels first): ``[N, 784, 1]``
    float64 input times (ms). ``images``: floating ``[N, 28, 28]`` or ``[N, 784]`` with values in [0, 1]."""
    images = torch.as_tensor(images)
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [0, 1], got {images.dtype}; use images.float() / 255")
    if tuple(images.shape[1:]) not in ((28, 28), (784,)):
        raise ValueError(f"images must have shape [N, 28, 28] or [N, 784], got {tuple(images.shape)}")
    if not t_max > t_min:
        raise ValueError(f"t_max must be > t_min, got {t_min=}, {t_max=}")
    pixels = images.reshape(images.shape[0], 784, 1).to(torch.float64)
    if pixels.numel() and (pixels.min() < 0 or pixels.max() > 1):
        raise ValueError(
            f"pixel values must be in [0, 1], got [{pixels.min().item()}, {pixels.max().item()}]; scale or clamp"
        )
    return t_min + (1.0 - pixels) * (t_max - t_min)
