"""The trainable's per-process GPU memory cap: a trial given a fraction of a GPU may allocate only that
fraction (checked on the torch call it makes; a real GPU run is tests/gpu's business)."""

import torch

from search.trainable import cap_gpu_memory


def test_a_fractional_gpu_trial_caps_its_cuda_memory_and_a_whole_gpu_trial_does_not(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda fraction, device=None: calls.append((fraction, device)))
    cap_gpu_memory(0.25)
    assert calls == [(0.25, 0)]
    cap_gpu_memory(1.0)
    cap_gpu_memory(0.0)
    assert calls == [(0.25, 0)]
