"""SpikeDataset / load_dataset: what the trainer iterates over."""

import pytest
import torch

from snn.data import SpikeDataset, encode_mnist, encode_yin_yang, load_dataset, mnist, yin_yang
from tests.snn.data.mnist_files import DATA_DIR, needs_mnist


@pytest.mark.parametrize(("split", "size"), [("train", 5000), ("validation", 1000), ("test", 1000)])
def test_yinyang_dataset_holds_the_encoded_split(split, size):
    dataset = load_dataset("yinyang", split)
    points, labels = yin_yang(split)
    assert isinstance(dataset, SpikeDataset)
    assert len(dataset) == size and dataset.n_inputs == 5 and dataset.n_classes == 3
    assert dataset.inputs.dtype == torch.float64 and dataset.inputs.shape == (size, 5, 1)
    assert torch.equal(dataset.inputs, encode_yin_yang(points))
    assert torch.equal(dataset.labels, labels) and dataset.labels.dtype == torch.int64


def test_unshuffled_batches_cover_the_data_in_order_with_a_short_last_batch():
    dataset = load_dataset("yinyang", "train")
    batches = list(dataset.batches(32, shuffle=False))
    assert len(batches) == 157 and batches[-1][0].shape == (8, 5, 1)  # 5000 = 156 * 32 + 8
    assert all(times.dtype == torch.float64 and labels.dtype == torch.int64 for times, labels in batches)
    assert torch.equal(torch.cat([times for times, _ in batches]), dataset.inputs)
    assert torch.equal(torch.cat([labels for _, labels in batches]), dataset.labels)


def test_shuffled_batches_are_a_seeded_permutation():
    dataset = load_dataset("yinyang", "validation")

    def epoch(seed):
        batches = list(dataset.batches(100, shuffle=True, generator=torch.Generator().manual_seed(seed)))
        return torch.cat([t for t, _ in batches]), torch.cat([label for _, label in batches])

    times, labels = epoch(0)
    assert not torch.equal(times, dataset.inputs)
    # Every sample exactly once, still paired with its own label: match rows by their x spike time.
    order = torch.argsort(times[:, 0, 0])
    reference = torch.argsort(dataset.inputs[:, 0, 0])
    assert torch.equal(times[order], dataset.inputs[reference])
    assert torch.equal(labels[order], dataset.labels[reference])
    again_times, again_labels = epoch(0)
    assert torch.equal(again_times, times) and torch.equal(again_labels, labels)
    assert not torch.equal(epoch(1)[0], times)


def test_subset_takes_the_first_samples():
    full = load_dataset("yinyang", "train")
    small = load_dataset("yinyang", "train", subset=100)
    assert len(small) == 100
    assert torch.equal(small.inputs, full.inputs[:100]) and torch.equal(small.labels, full.labels[:100])
    assert len(load_dataset("yinyang", "train", subset=0)) == 5000  # the config's "0 = all"


def test_labels_are_not_shared_with_the_cache():
    load_dataset("yinyang", "test").labels.fill_(9)
    assert load_dataset("yinyang", "test").labels.max().item() == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load_dataset("cifar", "train"), r"'cifar'.*'yinyang', 'mnist'"),
        (lambda: load_dataset("yinyang", "dev"), r"'dev'.*'train', 'validation', 'test'"),
        (lambda: load_dataset("yinyang", "train", subset=-1), "subset"),
        (lambda: load_dataset("yinyang", "test", subset=1001), "1001 exceeds the 1000"),
        (lambda: load_dataset("yinyang", "train").batches(0, shuffle=False), "batch_size"),
        (lambda: load_dataset("yinyang", "train").batches(8, shuffle=True, augment=True), "augment=True"),
    ],
)
def test_bad_arguments_raise_value_error_when_called(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@needs_mnist
def test_mnist_dataset_encodes_images_per_batch():
    dataset = load_dataset("mnist", "validation", root=DATA_DIR, subset=50)
    images, labels = mnist("validation", root=DATA_DIR)
    assert len(dataset) == 50 and dataset.n_inputs == 784 and dataset.n_classes == 10
    batches = list(dataset.batches(20, shuffle=False))
    assert [t.shape for t, _ in batches] == [(20, 784, 1), (20, 784, 1), (10, 784, 1)]
    assert torch.equal(torch.cat([t for t, _ in batches]), encode_mnist(images[:50]))
    assert torch.equal(dataset.inputs, encode_mnist(images[:50]))
    assert torch.equal(torch.cat([label for _, label in batches]), labels[:50])
    with pytest.raises(ValueError, match="only for the MNIST train split"):
        dataset.batches(20, shuffle=False, augment=True)


@needs_mnist
def test_mnist_augmented_batches_are_seeded_and_differ_from_the_plain_ones():
    dataset = load_dataset("mnist", "train", root=DATA_DIR, subset=60)

    def epoch(seed, augment):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([t for t, _ in dataset.batches(20, shuffle=True, generator=generator, augment=augment)])

    augmented = epoch(0, True)
    assert augmented.shape == (60, 784, 1) and augmented.dtype == torch.float64
    assert 0.0 <= augmented.min().item() and augmented.max().item() <= 20.0
    assert torch.equal(augmented, epoch(0, True))
    assert not torch.equal(augmented, epoch(0, False))
