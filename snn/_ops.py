"""Python-side registrations for the ``snn::lif_forward`` / ``snn::lif_backward`` operators: fake-tensor
(meta) kernels, so the op works under torch.compile and opcheck, and the autograd formula, which calls the
EventProp adjoint kernel."""

from __future__ import annotations

import torch

from snn._ext import load_kernels

__all__ = ["lif_forward", "lif_backward", "network"]

load_kernels()

lif_forward = torch.ops.snn.lif_forward.default
lif_backward = torch.ops.snn.lif_backward.default
network_forward = torch.ops.snn.network_forward.default
network_backward = torch.ops.snn.network_backward.default


@torch.library.register_fake("snn::lif_forward")
def _lif_forward_fake(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end):
    batch, n_out = input_times.shape[0], weight.shape[0]
    times = input_times.new_empty((batch, n_out, max_spikes))
    return times, torch.empty_like(times), input_times.new_empty((batch, n_out), dtype=torch.int64)


@torch.library.register_fake("snn::lif_backward")
def _lif_backward_fake(grad, input_times, weight, spike_times, spike_currents, tau_m, tau_s, threshold, resistance, t_end, input_grad):
    return torch.empty_like(input_times), torch.empty_like(weight)


def _setup_context(ctx, inputs, output):
    input_times, weight, _max_spikes, *params = inputs
    spike_times, spike_currents, _counts = output
    ctx.mark_non_differentiable(spike_currents)
    ctx.save_for_backward(input_times, weight, spike_times, spike_currents)
    ctx.params = params


def _backward(ctx, grad_times, _grad_currents, _grad_counts):
    input_times, weight, spike_times, spike_currents = ctx.saved_tensors
    if grad_times is None:
        return None, None, None, None, None, None, None, None
    input_grad = ctx.needs_input_grad[0]
    grad_in, grad_w = lif_backward(
        grad_times.contiguous(), input_times, weight, spike_times, spike_currents, *ctx.params, input_grad
    )
    return grad_in if input_grad else None, grad_w, None, None, None, None, None, None


torch.library.register_autograd("snn::lif_forward", _backward, setup_context=_setup_context)


class _Network(torch.autograd.Function):
    """A whole feed-forward stack as one autograd node over ``snn::network_forward/backward``: one kernel
    call and one node per step instead of one per layer (the per-layer op is the reference it must equal)."""

    @staticmethod
    def forward(ctx, input_times, max_spikes, params, *weights):
        times, currents, counts = network_forward(input_times, list(weights), max_spikes, *params)
        ctx.save_for_backward(input_times, *weights, *times, *currents)
        ctx.n_layers, ctx.params = len(weights), params
        ctx.mark_non_differentiable(*currents, *counts)
        return (*times, *counts)

    @staticmethod
    def backward(ctx, *grads):
        n = ctx.n_layers
        saved = ctx.saved_tensors
        input_times, weights, times, currents = saved[0], saved[1 : 1 + n], saved[1 + n : 1 + 2 * n], saved[1 + 2 * n :]
        grad_times = [torch.zeros_like(t) if g is None else g.contiguous() for g, t in zip(grads[:n], times)]
        input_grad = ctx.needs_input_grad[0]
        grad_in, grad_weights = network_backward(
            grad_times, input_times, list(weights), list(times), list(currents), *ctx.params, input_grad
        )
        return (grad_in if input_grad else None, None, None, *grad_weights)


def network(input_times, weights, max_spikes, params):
    """Returns ``(times, counts)``, one tensor per layer each."""
    outputs = _Network.apply(input_times, list(max_spikes), tuple(params), *weights)
    n = len(weights)
    return list(outputs[:n]), list(outputs[n:])
