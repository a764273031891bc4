"""A split of a data set as spike-time inputs, ready for training: :class:`SpikeDataset`, :func:`load_dataset`."""

from collections.abc import Callable, Iterator

import torch

from snn.errors import UserError

from ._augment import augment_mnist
from ._mnist import encode_mnist, mnist_uint8
from ._yinyang import encode_yin_yang, yin_yang

__all__ = ["DATASETS", "SpikeDataset", "load_dataset"]

DATASETS = ("yinyang", "mnist")
SPLITS = ("train", "validation", "test")


class SpikeDataset:
    """Labelled samples of one split, encoded as input spike times (ms) on demand.

    Samples are kept in their compact form (Yin-Yang points, MNIST uint8 images) and encoded per batch, so
    MNIST training never holds the 0.4 GB of encoded float64 inputs; :attr:`inputs` encodes all at once (and
    ``batches`` uses it for sets of at most 32 MB encoded, such as Yin-Yang's).
    """

    def __init__(
        self,
        name: str,
        split: str,
        samples: torch.Tensor,
        labels: torch.Tensor,
        *,
        n_classes: int,
        to_values: Callable[[torch.Tensor], torch.Tensor],
        encode: Callable[[torch.Tensor], torch.Tensor],
        augment: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None,
    ):
        if len(samples) != len(labels):
            raise ValueError(f"samples and labels differ in length: {len(samples)} != {len(labels)}")
        self.name, self.split, self.n_classes = name, split, n_classes
        self.labels = labels
        self._samples, self._to_values, self._encode, self._augment = samples, to_values, encode, augment
        self._inputs: torch.Tensor | None = None
        self.n_inputs = self._encode(self._to_values(samples[:1])).shape[1] if len(samples) else 0

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"SpikeDataset({self.name!r}, {self.split!r}, n={len(self)}, n_inputs={self.n_inputs})"

    @property
    def inputs(self) -> torch.Tensor:
        """All encoded input spike times, float64 ``[N, n_inputs, 1]`` (computed once, then kept)."""
        if self._inputs is None:
            self._inputs = self._encode(self._to_values(self._samples))
        return self._inputs

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        augment: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(input_times float64 [b, n_inputs, 1], labels int64 [b])``, the last batch possibly short.

        ``shuffle`` permutes the samples with ``generator`` (the global torch RNG if None); ``augment``
        (MNIST training split only) transforms each batch's images with the same generator before encoding.
        The order is drawn when this is called, so arguments are checked here too, not at the first batch.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if augment and self._augment is None:
            raise ValueError(
                f"augment=True is only for the MNIST train split, not {self.name!r} {self.split!r}; pass augment=False"
            )
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        return self._iterate(order, batch_size, generator if augment else None, augment)

    def _iterate(self, order, batch_size, generator, augment) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A small set is encoded once and indexed per batch (the same values: encoding is per sample), which
        # saves a Yin-Yang training step the encoder's half a dozen small tensor operations.
        encoded = self.inputs if not augment and len(self) * self.n_inputs <= _ENCODE_ONCE_VALUES else None
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            if encoded is not None:
                yield encoded[index], self.labels[index]
                continue
            values = self._to_values(self._samples[index])
            if augment:
                values = self._augment(values, generator)
            yield self._encode(values), self.labels[index]


_ENCODE_ONCE_VALUES = 1 << 22  # 32 MB of float64 input times: all of Yin-Yang, not MNIST's training split


def _mnist_values(images: torch.Tensor) -> torch.Tensor:
    return images.to(torch.float32) / 255.0


def load_dataset(name: str, split: str, *, root=None, validation_size: int = 5000, subset: int | None = None):
    """Load a split of "yinyang" or "mnist" as a :class:`SpikeDataset` (inputs encoded with t_min = 0 and
    t_max = 20 ms). ``root`` and ``validation_size`` apply to MNIST only (see :func:`snn.data.mnist`);
    Yin-Yang has its own validation set. ``subset``: keep the first N samples (None or 0: all)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 0):
        raise ValueError(f"subset must be None or an int >= 0 (0 = all samples), got {subset!r}")
    if name == "yinyang":
        samples, labels = yin_yang(split)
        kwargs = dict(n_classes=3, to_values=lambda points: points, encode=encode_yin_yang)
    else:
        samples, labels = mnist_uint8(split, root, validation_size)
        augment = augment_mnist if split == "train" else None
        kwargs = dict(n_classes=10, to_values=_mnist_values, encode=encode_mnist, augment=augment)
    if subset:
        if subset > len(labels):
            raise UserError(f"subset={subset} exceeds the {len(labels)} samples of {name} {split}; ask for at most "
                            f"{len(labels)} (train.data.train_subset in a study file; 0 = all)")
        samples, labels = samples[:subset], labels[:subset]
    # labels are public and mutable, so never hand out the per-process cache's tensor.
    return SpikeDataset(name, split, samples, labels.clone(), **kwargs)
