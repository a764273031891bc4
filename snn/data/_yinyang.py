"""The Yin-Yang data set of Kriener et al. (2021), bit-for-bit as their reference generator makes it.

The reference (github.com/lkriener/yin_yang_data_set, ``dataset.py``) uses
``numpy.random.RandomState(seed)`` and, per sample, draws the goal class with ``rng.randint(3)`` and then
``x, y = rng.rand(2) * 2 * r_big`` until the point lies inside the big circle and is of the goal class.
Calling the RNG once per candidate point from Python is slow, so this module reads the same Mersenne
Twister word stream in bulk (``MT19937.random_raw``) and decodes it the way ``RandomState`` does:
``randint(3)`` takes one 32-bit word per try, masks it with 3 and rejects 3; ``rand()`` builds a double
from two words, ``((a >> 5) * 2**26 + (b >> 6)) / 2**53``. Candidate classes are then computed for every
word offset at once, and only the short walk from sample to sample runs in Python.
"""

from functools import lru_cache

import numpy as np
import torch

__all__ = ["R_SMALL", "R_BIG", "YIN_YANG_SPLITS", "yin_yang", "encode_yin_yang"]

R_SMALL = 0.1
R_BIG = 0.5
# split -> (number of samples, seed), as in the reference's publication data.
YIN_YANG_SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}

_NONE = np.iinfo(np.int64).max  # "no accepted candidate at or after this offset"


def _classify(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The reference's ``which_class``, vectorised: 0 yin, 1 yang, 2 dots, -1 outside the big circle."""
    d_right = np.sqrt((x - 1.5 * R_BIG) ** 2 + (y - R_BIG) ** 2)
    d_left = np.sqrt((x - 0.5 * R_BIG) ** 2 + (y - R_BIG) ** 2)
    criterion1 = d_right <= R_SMALL
    criterion2 = (d_left > R_SMALL) & (d_left <= 0.5 * R_BIG)
    criterion3 = (y > R_BIG) & (d_right > 0.5 * R_BIG)
    classes = (criterion1 | criterion2 | criterion3).astype(np.int64)
    classes[(d_right < R_SMALL) | (d_left < R_SMALL)] = 2
    classes[np.sqrt((x - R_BIG) ** 2 + (y - R_BIG) ** 2) > R_BIG] = -1
    return classes


def _try_generate(size: int, seed: int, n_words: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Generate from the first ``n_words`` words of the stream; None if the sampler needs more."""
    bit_generator = np.random.MT19937()
    # RandomState's legacy integer seeding, carried over through the public state dict.
    bit_generator.state = np.random.RandomState(seed).get_state(legacy=False)
    words = bit_generator.random_raw(n_words)
    # uniform[p] is what rand() returns when its first word is words[p].
    uniform = ((words[:-1] >> 5) * 67108864.0 + (words[1:] >> 6)) / 9007199254740992.0
    # rand(2) starting at word p: x from words p, p+1 and y from words p+2, p+3.
    x, y = uniform[:-2] * 2.0 * R_BIG, uniform[2:] * 2.0 * R_BIG
    classes = _classify(x, y)
    offsets = np.arange(len(classes), dtype=np.int64)
    # next_hit[g][p]: first offset q in p, p+4, p+8, ... whose candidate is of class g.
    next_hit = []
    for goal in range(3):
        hits = np.where(classes == goal, offsets, _NONE)
        for residue in range(4):
            hits[residue::4] = np.minimum.accumulate(hits[residue::4][::-1])[::-1]
        next_hit.append(hits.tolist())
    low_bits = (words & 3).tolist()
    chosen, labels = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
    position, n_offsets = 0, len(classes)
    for i in range(size):
        while position < n_offsets and low_bits[position] == 3:  # randint(3) rejects a masked 3
            position += 1
        if position + 1 >= n_offsets:
            return None
        goal = low_bits[position]
        hit = next_hit[goal][position + 1]
        if hit == _NONE:
            return None
        chosen[i], labels[i] = hit, goal
        position = hit + 4
    return np.stack([x[chosen], y[chosen]], axis=1), labels


@lru_cache(maxsize=None)
def _generate(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_words = 48 * size + 1024  # about 35 words per sample on average; grow in the rare longer case
    while (result := _try_generate(size, seed, n_words)) is None:
        n_words *= 2
    xy, labels = result
    points = np.concatenate([xy, 1.0 - xy], axis=1)  # (x, y, 1 - x, 1 - y), the reference's order
    return torch.from_numpy(points), torch.from_numpy(labels)


def yin_yang(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(points [N, 4] float64, labels [N] int64)`` of a Yin-Yang split.

    ``split`` is "train" (5000 samples, seed 42), "validation" (1000, seed 41) or "test" (1000, seed 40).
    Columns are (x, y, 1 - x, 1 - y) with x, y in [0, 1]; labels 0 (yin), 1 (yang), 2 (dots).
    Generated once per process; each call returns fresh copies.
    """
    if split not in YIN_YANG_SPLITS:
        raise ValueError(f"unknown Yin-Yang split {split!r}; choose one of {list(YIN_YANG_SPLITS)}")
    points, labels = _generate(*YIN_YANG_SPLITS[split])
    return points.clone(), labels.clone()


def encode_yin_yang(points, t_min: float = 0.0, t_max: float = 20.0) -> torch.Tensor:
    """Map (x, y, 1-x, 1-y) linearly to spike times ``t_min + v (t_max - t_min)`` and add a bias spike at
    ``t_min``: returns ``[N, 5, 1]`` float64 input times (ms), one spike per input neuron."""
    points = torch.as_tensor(points, dtype=torch.float64)
    if points.ndim != 2 or points.shape[1] != 4:
        raise ValueError(f"points must have shape [N, 4], got {tuple(points.shape)}")
    if not t_max > t_min:
        raise ValueError(f"t_max must be > t_min, got {t_min=}, {t_max=}")
    times = t_min + points * (t_max - t_min)
    bias = torch.full((points.shape[0], 1), float(t_min), dtype=torch.float64, device=points.device)
    return torch.cat([times, bias], dim=1).unsqueeze(-1)
