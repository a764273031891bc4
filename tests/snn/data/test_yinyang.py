"""Yin-Yang: the exact reference data set of Kriener et al., and its time encoding."""

import numpy as np
import pytest
import torch

from snn.data import encode_yin_yang, yin_yang
from snn.data._yinyang import _generate

# (index, x, y, label) obtained by running the reference generator (github.com/lkriener/yin_yang_data_set,
# dataset.py, YinYangDataset(size, seed)) with numpy 2.4.6; its whole output also equals the repository's
# publication_data/*.npy bit for bit.
REFERENCE = {
    "train": [
        (0, 0.6803075385877797, 0.450499251969543, 2),
        (1, 0.09767211400638387, 0.6842330265121569, 1),
        (2, 0.7553614103176525, 0.4251558744912447, 2),
        (17, 0.14008401523652403, 0.5183296523637367, 1),
        (2500, 0.5109731246645378, 0.21058152191418333, 0),
        (4999, 0.7690797231107925, 0.5883389337522971, 2),
    ],
    "validation": [
        (0, 0.6805727261759029, 0.3209733938933629, 0),
        (1, 0.6685157172603458, 0.9174478488708967, 1),
        (2, 0.8019778902252007, 0.17902872922296542, 0),
        (17, 0.4367041243491516, 0.5254917462399457, 1),
        (500, 0.14746512817538282, 0.6711175496727636, 1),
        (999, 0.7107040957004825, 0.804733352731108, 1),
    ],
    "test": [
        (0, 0.23409664559563403, 0.4017249751828972, 2),
        (1, 0.7513290219574494, 0.4682425192680968, 2),
        (2, 0.13832530718825586, 0.570953971325061, 1),
        (17, 0.6751576472802411, 0.4587301968542785, 2),
        (500, 0.9178791913352592, 0.3954659786713658, 0),
        (999, 0.32834060537145815, 0.3899830419619741, 1),
    ],
}
CLASS_COUNTS = {"train": [1681, 1702, 1617], "validation": [316, 336, 348], "test": [350, 316, 334]}
# Sums of the x and y columns of the reference output: a check on every sample at once.
COLUMN_SUMS = {
    "train": (2528.3224565688233, 2505.766861748284),
    "validation": (496.40889648664506, 493.6485466656199),
    "test": (498.2569893484742, 488.7802356777887),
}


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_matches_reference_generator(split):
    points, labels = yin_yang(split)
    for index, x, y, label in REFERENCE[split]:
        assert points[index, 0].item() == x and points[index, 1].item() == y
        assert labels[index].item() == label
    assert torch.bincount(labels).tolist() == CLASS_COUNTS[split]
    assert points[:, 0].sum().item() == pytest.approx(COLUMN_SUMS[split][0], abs=1e-9)
    assert points[:, 1].sum().item() == pytest.approx(COLUMN_SUMS[split][1], abs=1e-9)


def test_shapes_dtypes_and_mirrored_columns():
    points, labels = yin_yang("validation")
    assert points.shape == (1000, 4) and points.dtype == torch.float64
    assert labels.shape == (1000,) and labels.dtype == torch.int64
    assert torch.equal(points[:, 2:], 1.0 - points[:, :2])
    assert torch.all(torch.linalg.norm(points[:, :2] - 0.5, dim=1) <= 0.5)


def test_returns_copies_not_the_cache():
    points, labels = yin_yang("test")
    points.zero_()
    labels.fill_(7)
    again, again_labels = yin_yang("test")
    assert again[0, 0].item() == REFERENCE["test"][0][1] and again_labels[0].item() == REFERENCE["test"][0][3]


def _sample_one_by_one(size, seed):
    """The reference's algorithm, one RNG call at a time (independent of the bulk decoding under test)."""
    rng = np.random.RandomState(seed)
    points, labels = [], []
    for _ in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * 0.5
            if np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) > 0.5:
                continue
            d_right = np.sqrt((x - 0.75) ** 2 + (y - 0.5) ** 2)
            d_left = np.sqrt((x - 0.25) ** 2 + (y - 0.5) ** 2)
            yin = d_right <= 0.1 or 0.1 < d_left <= 0.25 or (y > 0.5 and d_right > 0.25)
            label = 2 if (d_right < 0.1 or d_left < 0.1) else int(yin)
            if label == goal:
                break
        points.append((x, y, 1.0 - x, 1.0 - y))
        labels.append(label)
    return np.array(points), np.array(labels)


@pytest.mark.parametrize("seed", [0, 1, 7, 123, 2**31 - 1])
@pytest.mark.parametrize("size", [1, 3, 400])
def test_bulk_decoding_equals_one_call_at_a_time(seed, size):
    expected_points, expected_labels = _sample_one_by_one(size, seed)
    points, labels = _generate(size, seed)
    assert np.array_equal(points.numpy(), expected_points)
    assert np.array_equal(labels.numpy(), expected_labels)


def test_unknown_split_names_the_choices():
    with pytest.raises(ValueError, match=r"'valid'.*'train', 'validation', 'test'"):
        yin_yang("valid")


def test_encoding_maps_values_linearly_and_adds_bias_at_t_min():
    points = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.25, 0.5, 0.75, 0.5]], dtype=torch.float64)
    times = encode_yin_yang(points, t_min=2.0, t_max=12.0)
    assert times.shape == (2, 5, 1) and times.dtype == torch.float64
    expected = torch.tensor([[2.0, 12.0, 12.0, 2.0, 2.0], [4.5, 7.0, 9.5, 7.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(times[..., 0], expected)


def test_encoding_defaults_span_0_to_20_ms():
    points, _ = yin_yang("test")
    times = encode_yin_yang(points)
    assert torch.allclose(times[:, :4, 0], 20.0 * points)
    assert torch.all(times[:, 4, 0] == 0.0)


def test_encoding_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        encode_yin_yang(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="t_max must be > t_min"):
        encode_yin_yang(torch.zeros(3, 4), t_min=5.0, t_max=5.0)
