"""Modules over the functional API: a layer holding its weight, and a feed-forward network of them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snn._ext import has_kernel
from snn.functional import lif_layer_with_counts, lif_network, lif_network_loss_gradients, lif_network_with_loss
from snn.losses import LossFunction

__all__ = ["LIFLayer", "FeedForwardSNN"]


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


class LIFLayer(nn.Module):
    """One feed-forward layer of current-based LIF neurons; weight initialised U(init_range)."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        init_range: tuple[float, float] = (0.0, 1.0),
        max_spikes: int = 32,
        tau_m: float = 20.0,
        tau_s: float = 5.0,
        threshold: float = 1.0,
        resistance: float = 1.0,
        t_end: float = 30.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        low, high = init_range
        if not low <= high:
            raise ValueError(f"init_range must satisfy low <= high, got {low=}, {high=}")
        if n_in < 1 or n_out < 1:
            raise ValueError(f"layer sizes must be >= 1, got {n_in=}, {n_out=}")
        self.weight = nn.Parameter(torch.empty(n_out, n_in, dtype=dtype, device=device).uniform_(low, high))
        self.max_spikes = max_spikes
        self.neuron = dict(tau_m=tau_m, tau_s=tau_s, threshold=threshold, resistance=resistance, t_end=t_end)
        self.last_spike_counts: torch.Tensor | None = None

    def forward(self, input_times: torch.Tensor) -> torch.Tensor:
        times, counts = lif_layer_with_counts(input_times, self.weight, max_spikes=self.max_spikes, **self.neuron)
        self.last_spike_counts = counts
        return times

    def extra_repr(self) -> str:
        n_out, n_in = self.weight.shape
        return f"{n_in} -> {n_out}, max_spikes={self.max_spikes}, " + ", ".join(f"{k}={v}" for k, v in self.neuron.items())


class FeedForwardSNN(nn.Module):
    """A stack of :class:`LIFLayer`; ``forward`` returns every layer's spike times, output layer last."""

    def __init__(
        self,
        sizes: Sequence[int],
        init_ranges: Sequence[tuple[float, float]],
        max_spikes: int | Sequence[int] = 32,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        **neuron: float,
    ) -> None:
        super().__init__()
        n_layers = len(sizes) - 1
        if n_layers < 1:
            raise ValueError(f"sizes needs an input and at least one layer, got {list(sizes)}")
        if len(init_ranges) != n_layers:
            raise ValueError(f"need one init range per layer ({n_layers}), got {len(init_ranges)}")
        per_layer = [max_spikes] * n_layers if isinstance(max_spikes, int) else list(max_spikes)
        if len(per_layer) != n_layers:
            raise ValueError(f"max_spikes needs one value per layer ({n_layers}), got {per_layer}")
        self.layers = nn.ModuleList(
            LIFLayer(n_in, n_out, init_range=tuple(r), max_spikes=k, dtype=dtype, device=device, **neuron)
            for n_in, n_out, r, k in zip(sizes[:-1], sizes[1:], init_ranges, per_layer)
        )

    def forward(self, input_times: torch.Tensor) -> list[torch.Tensor]:
        if has_kernel("network_forward", input_times.device.type):
            first = self.layers[0]
            times, counts = lif_network(
                input_times, [layer.weight for layer in self.layers],
                max_spikes=[layer.max_spikes for layer in self.layers], **first.neuron,
            )
            _keep_counts(list(self.layers), counts)
            return times
        outputs = []
        for layer in self.layers:
            input_times = layer(input_times)
            outputs.append(input_times)
        return outputs

    def forward_with_loss(self, input_times: torch.Tensor, labels: torch.Tensor, loss_fn) -> torch.Tensor:
        """``loss_fn(self(input_times), labels)``: the training step's loss. For a :class:`LossFunction` on a
        device whose kernel fuses them (the CPU), the forward pass, the loss and its gradient w.r.t. every
        spike time are one kernel call, and backward is one more: the same numbers, a fraction of the calls.
        """
        layers = list(self.layers)
        if not _fusable(input_times, loss_fn, layers):
            return loss_fn(self(input_times), labels)
        weights = [layer.weight for layer in layers]
        args, kwargs = _fused_arguments(labels, loss_fn, layers, weights)
        loss, _times, counts = lif_network_with_loss(input_times, *args, **kwargs)
        _keep_counts(layers, counts)
        return loss

    def loss_backward(self, input_times: torch.Tensor, labels: torch.Tensor, loss_fn) -> torch.Tensor:
        """``loss = self.forward_with_loss(...); loss.backward()``, the training step: adds the loss's gradient
        to every weight's ``.grad`` and returns the loss, detached. On the fused path the gradients come out
        of the forward call itself; where nothing can watch a backward pass (no hooks on the weights, no
        process group, not traced, the input not requiring grad) they go straight into ``.grad``, with the same
        bits, skipping the tape's node and engine (a twentieth of a Yin-Yang step at two threads); otherwise
        ``loss.backward()`` hands them over, so that hooks, DDP and ``torch.compile`` see an ordinary backward."""
        layers = list(self.layers)  # walked once: nn.Module's attribute lookups are most of a step's Python
        weights = [layer.weight for layer in layers]
        if _fusable(input_times, loss_fn, layers) and _unobserved(input_times, weights):
            args, kwargs = _fused_arguments(labels, loss_fn, layers, weights)
            loss, counts, grads = lif_network_loss_gradients(input_times, *args, **kwargs)
            _keep_counts(layers, counts)
            for weight, grad in zip(weights, grads):
                if weight.grad is None:
                    weight.grad = grad  # a fresh tensor, as autograd's AccumulateGrad would keep it
                else:
                    weight.grad += grad
            return loss
        loss = self.forward_with_loss(input_times, labels, loss_fn)
        if loss.requires_grad:
            loss.backward()
        return loss.detach()

    @property
    def last_spike_counts(self) -> list[torch.Tensor]:
        return [layer.last_spike_counts for layer in self.layers]


def _fusable(input_times: torch.Tensor, loss_fn, layers: list[LIFLayer]) -> bool:
    if not isinstance(loss_fn, LossFunction) or loss_fn.t_end != layers[0].neuron["t_end"]:  # one t_end in the kernel
        return False
    return has_kernel("network_forward_loss", input_times.device.type)


def _fused_arguments(labels, loss_fn: LossFunction, layers: list[LIFLayer], weights: list[torch.Tensor]) -> tuple:
    """``(args, kwargs)`` after ``input_times`` for :func:`lif_network_with_loss` and :func:`lif_network_loss_gradients`."""
    arguments = loss_fn.kernel_arguments(sum(w.shape[0] for w in weights))
    return (weights, labels, arguments), dict(max_spikes=[layer.max_spikes for layer in layers], **layers[0].neuron)


def _unobserved(input_times: torch.Tensor, weights: list[torch.Tensor]) -> bool:
    """Whether a backward pass through the tape would do nothing but fill the weights' ``.grad``."""
    if not torch.is_grad_enabled() or input_times.requires_grad or torch.compiler.is_compiling():
        return False
    if type(input_times) is not torch.Tensor or _distributed():  # subclasses; DDP's reducer hooks the tape
        return False
    for weight in weights:
        if not (weight.requires_grad and weight.is_leaf) or weight._backward_hooks or weight._post_accumulate_grad_hooks:
            return False
    return True


def _keep_counts(layers: list[LIFLayer], counts) -> None:
    for layer, layer_counts in zip(layers, counts):
        # Plain attribute (not a tensor buffer): skip nn.Module.__setattr__'s checks, a step's hot path.
        layer.__dict__["last_spike_counts"] = layer_counts

