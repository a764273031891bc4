"""Data sets and their time encodings: Yin-Yang and MNIST as input spike times (ms).

- :func:`yin_yang`, :func:`encode_yin_yang`: the Yin-Yang set of Kriener et al., exactly as their reference
  generator makes it; 5 inputs (x, y, 1-x, 1-y, bias).
- :func:`mnist`, :func:`encode_mnist`, :func:`augment_mnist`: MNIST with a fixed held-out validation split;
  one spike per pixel; random shift/rotation augmentation.
- :func:`load_dataset` -> :class:`SpikeDataset`: a split ready for batching, as the trainer uses it.
"""

from ._augment import augment_mnist
from ._dataset import DATASETS, SpikeDataset, load_dataset
from ._mnist import VALIDATION_SEED, default_data_dir, encode_mnist, mnist
from ._yinyang import YIN_YANG_SPLITS, encode_yin_yang, yin_yang

__all__ = [
    "DATASETS",
    "VALIDATION_SEED",
    "YIN_YANG_SPLITS",
    "SpikeDataset",
    "augment_mnist",
    "default_data_dir",
    "encode_mnist",
    "encode_yin_yang",
    "load_dataset",
    "mnist",
    "yin_yang",
]
