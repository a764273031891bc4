"""Python-side registrations for the ``snn::lif_forward`` / ``snn::lif_backward`` operators: fake-tensor
(meta) kernels, so the op works under torch.compile and opcheck, and the autograd formula, which calls the
EventProp adjoint kernel."""

from __future__ import annotations

import torch

from snn._ext import load_kernels

__all__ = ["lif_forward", "lif_backward", "network", "network_with_loss", "network_loss_gradients"]

load_kernels()

lif_forward = torch.ops.snn.lif_forward.default
lif_backward = torch.ops.snn.lif_backward.default
network_forward = torch.ops.snn.network_forward.default
network_backward = torch.ops.snn.network_backward.default
network_forward_loss = torch.ops.snn.network_forward_loss.default


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
        times, currents, counts, orders = network_forward(input_times, list(weights), max_spikes, *params)
        ctx.save_for_backward(input_times, *weights, *times, *currents, *orders)
        ctx.n_layers, ctx.params = len(weights), params
        ctx.mark_non_differentiable(*counts)
        return (*times, *counts)

    @staticmethod
    def backward(ctx, *grads):
        saved = _unpack(ctx)
        grad_times = [torch.zeros_like(t) if g is None else g.contiguous() for g, t in zip(grads[: ctx.n_layers], saved[2])]
        grad_in, grad_weights = _network_backward(ctx, saved, grad_times)
        return (grad_in, None, None, *grad_weights)


def _unpack(ctx):
    """(input_times, weights, times, currents, event orders) as forward saved them, then anything after."""
    n, saved = ctx.n_layers, ctx.saved_tensors
    return saved[0], *(list(saved[1 + i * n : 1 + (i + 1) * n]) for i in range(5))


def _network_backward(ctx, saved, grad_times):
    input_grad = ctx.needs_input_grad[0]
    input_times, weights, times, currents, orders, _ = saved
    grad_in, grad_weights = network_backward(
        grad_times, input_times, weights, times, currents, orders, *ctx.params, input_grad
    )
    return grad_in if input_grad else None, grad_weights


class _NetworkWithLoss(torch.autograd.Function):
    """A training step's graph as one node: ``snn::network_forward_loss`` returns the loss together with its
    gradient w.r.t. every layer's spike times, so backward is a single ``snn::network_backward`` call."""

    @staticmethod
    def forward(ctx, input_times, labels, max_spikes, params, loss_params, *weights):
        loss, times, currents, counts, orders, grad_times, excess = network_forward_loss(
            input_times, list(weights), max_spikes, *params, labels, *loss_params
        )
        ctx.save_for_backward(input_times, *weights, *times, *currents, *orders, *grad_times)
        ctx.n_layers, ctx.params = len(weights), params
        ctx.mark_non_differentiable(*times, *counts, excess)
        return (loss, excess, *times, *counts)

    @staticmethod
    def backward(ctx, grad_loss, *_unused):
        saved = _unpack(ctx)
        grad_times = saved[5]  # the loss's gradient w.r.t. every spike time, from forward
        if not (grad_loss.numel() == 1 and float(grad_loss) == 1.0):  # loss.backward() needs no scaling
            grad_times = [g * grad_loss for g in grad_times]
        grad_in, grad_weights = _network_backward(ctx, saved, grad_times)
        return (grad_in, None, None, None, None, *grad_weights)


def network_with_loss(input_times, labels, weights, max_spikes, params, loss_params):
    """Returns ``(loss, excess, times, counts)``: the loss, the spikes beyond max_spikes per layer, and per
    layer the spike times (not differentiable: the loss is) and true counts."""
    outputs = _NetworkWithLoss.apply(input_times, labels, list(max_spikes), tuple(params), tuple(loss_params), *weights)
    n = len(weights)
    return outputs[0], outputs[1], list(outputs[2 : 2 + n]), list(outputs[2 + n :])


def network_loss_gradients(input_times, labels, weights, max_spikes, params, loss_params):
    """A training step without an autograd tape: EventProp's adjoint is the whole backward pass, so the two
    kernel calls give the loss and every weight's gradient directly. Returns ``(loss, excess, counts,
    weight_grads)``."""
    # Detached, so that the dispatcher skips its autograd layer for these calls altogether.
    input_times, weights = input_times.detach(), [w.detach() for w in weights]
    with torch.no_grad():
        loss, times, currents, counts, orders, grad_times, excess = network_forward_loss(
            input_times, weights, max_spikes, *params, labels, *loss_params
        )
        _, grad_weights = network_backward(grad_times, input_times, weights, times, currents, orders, *params, False)
    return loss, excess, counts, grad_weights


def network(input_times, weights, max_spikes, params):
    """Returns ``(times, counts)``, one tensor per layer each."""
    outputs = _Network.apply(input_times, list(max_spikes), tuple(params), *weights)
    n = len(weights)
    return list(outputs[:n]), list(outputs[n:])
