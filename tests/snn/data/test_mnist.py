"""MNIST splits, the pixel time encoding, and the training augmentation."""

from pathlib import Path

import pytest
import torch

from snn.data import augment_mnist, default_data_dir, encode_mnist, mnist
from tests.snn.data.mnist_files import DATA_DIR, needs_mnist

# Per-class counts of the official training set (shared/ENVIRONMENT.md).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _fingerprints(images: torch.Tensor) -> list[float]:
    """One number per image that differs between any two different MNIST images (for set comparisons)."""
    weights = torch.rand(784, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return sorted((images.reshape(len(images), 784).to(torch.float64) @ weights).tolist())


@needs_mnist
def test_split_sizes_dtypes_and_ranges():
    for split, size in [("train", 55_000), ("validation", 5_000), ("test", 10_000)]:
        images, labels = mnist(split, root=DATA_DIR)
        assert images.shape == (size, 28, 28) and images.dtype == torch.float32
        assert labels.shape == (size,) and labels.dtype == torch.int64
        assert images.min().item() == 0.0 and images.max().item() == 1.0
        assert set(labels.tolist()) == set(range(10))


@needs_mnist
def test_train_and_validation_partition_the_official_training_set():
    train_images, train_labels = mnist("train", root=DATA_DIR)
    valid_images, valid_labels = mnist("validation", root=DATA_DIR)
    all_images, all_labels = mnist("train", root=DATA_DIR, validation_size=0)
    assert len(all_images) == 60_000
    assert torch.bincount(torch.cat([train_labels, valid_labels])).tolist() == TRAIN_LABEL_COUNTS
    assert _fingerprints(torch.cat([train_images, valid_images])) == _fingerprints(all_images)


@needs_mnist
def test_validation_split_is_fixed_and_spread_over_the_training_set():
    first, first_labels = mnist("validation", root=DATA_DIR, validation_size=1000)
    second, _ = mnist("validation", root=DATA_DIR, validation_size=1000)
    assert torch.equal(first, second)
    # A random hold-out has every class at roughly a tenth, unlike e.g. "the last 1000 images".
    assert torch.bincount(first_labels, minlength=10).min().item() > 60
    official, _ = mnist("train", root=DATA_DIR, validation_size=0)
    assert not torch.equal(first, official[:1000]) and not torch.equal(first, official[-1000:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(split="val"), r"'val'.*'train', 'validation', 'test'"),
        (dict(split="train", validation_size=-1), r"\[0, 59999\].*-1"),
        (dict(split="train", validation_size=60_000), r"\[0, 59999\].*60000"),
        (dict(split="train", validation_size=2.5), "must be an int"),
        (dict(split="validation", validation_size=0), "empty"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mnist(root=DATA_DIR, **kwargs)


def test_missing_files_and_failed_download_name_the_directory(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self):
        raise RuntimeError("no network in this test")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(FileNotFoundError, match="SNN_DATA_DIR") as error:
        mnist("test", root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(error.value)


def test_default_data_dir_honours_snn_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SNN_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("SNN_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "snn-search" / "data"


def test_encoding_puts_bright_pixels_first():
    images = torch.zeros(2, 28, 28)
    images[0, 0, 0], images[0, 0, 1], images[1, 27, 27] = 1.0, 0.5, 0.25
    times = encode_mnist(images, t_min=1.0, t_max=11.0)
    assert times.shape == (2, 784, 1) and times.dtype == torch.float64
    assert times[0, 0, 0] == 1.0 and times[0, 1, 0] == 6.0 and times[1, 783, 0] == 8.5
    assert torch.all(times[0, 2:] == 11.0)
    assert torch.equal(encode_mnist(images.reshape(2, 784), 1.0, 11.0), times)


def test_encoding_rejects_bad_input():
    with pytest.raises(ValueError, match=r"float\(\) / 255"):
        encode_mnist(torch.zeros(2, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encode_mnist(torch.full((2, 28, 28), 255.0))
    with pytest.raises(ValueError, match=r"\[N, 28, 28\]"):
        encode_mnist(torch.zeros(2, 27, 28))
    with pytest.raises(ValueError, match="t_max must be > t_min"):
        encode_mnist(torch.zeros(2, 28, 28), t_min=3.0, t_max=1.0)


def _centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """[N, 2] (x, y) in pixels."""
    coordinate = torch.arange(images.shape[-1], dtype=images.dtype)
    mass = images.sum((1, 2))
    return torch.stack([(images.sum(1) * coordinate).sum(1) / mass, (images.sum(2) * coordinate).sum(1) / mass], 1)


def _orientation_degrees(images: torch.Tensor) -> torch.Tensor:
    """Angle of each image's principal axis, from its second moments."""
    coordinate = torch.arange(28, dtype=images.dtype) - 13.5
    y, x = torch.meshgrid(coordinate, coordinate, indexing="ij")
    mass = images.sum((1, 2))
    mxx, myy, mxy = ((images * v).sum((1, 2)) / mass for v in (x * x, y * y, x * y))
    return torch.rad2deg(0.5 * torch.atan2(2 * mxy, mxx - myy))


def test_zero_shift_and_rotation_is_the_identity():
    images = torch.rand(50, 28, 28, generator=torch.Generator().manual_seed(3))
    out = augment_mnist(images, torch.Generator().manual_seed(0), max_shift=0.0, max_rotation=0.0)
    assert torch.allclose(out, images, atol=1e-5)


def test_shifts_stay_within_ten_percent_and_use_the_range():
    blob = torch.zeros(28, 28)
    blob[12:16, 12:16] = 1.0  # centred, so a rotation does not move its centre of mass
    images = blob.expand(1000, 28, 28).clone()
    out = augment_mnist(images, torch.Generator().manual_seed(0))
    moved = (_centre_of_mass(out) - _centre_of_mass(images)).abs()
    assert moved.max().item() <= 2.8 + 0.05  # 10 % of 28 pixels
    assert (moved.max(0).values > 2.4).all()  # both axes are shifted, nearly to the limit


def test_rotations_stay_within_twenty_degrees_and_use_the_range():
    bar = torch.zeros(28, 28)
    bar[13:15, 6:22] = 1.0  # horizontal bar through the centre
    images = bar.expand(1000, 28, 28).clone()
    angles = _orientation_degrees(augment_mnist(images, torch.Generator().manual_seed(1), max_shift=0.0))
    assert angles.abs().max().item() <= 20.0 + 1.0
    assert angles.min().item() < -17.0 and angles.max().item() > 17.0


def test_augmentation_is_deterministic_per_seed_and_keeps_shape_and_range():
    images = torch.rand(64, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    first = augment_mnist(images, torch.Generator().manual_seed(5))
    assert first.shape == images.shape and first.dtype == torch.float64
    assert 0.0 <= first.min().item() and first.max().item() <= 1.0
    assert torch.equal(first, augment_mnist(images, torch.Generator().manual_seed(5)))
    assert not torch.allclose(first, augment_mnist(images, torch.Generator().manual_seed(6)))


@needs_mnist
def test_augmented_digits_keep_their_ink():
    images, _ = mnist("test", root=DATA_DIR)
    images = images[:1000]
    ratio = augment_mnist(images, torch.Generator().manual_seed(0)).sum((1, 2)) / images.sum((1, 2))
    assert abs(ratio.mean().item() - 1.0) < 0.01
    assert ratio.min().item() > 0.85  # a digit is never shifted or rotated far out of the frame
