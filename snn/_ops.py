"""The six ``snn::`` operators (declared in csrc/ops.cpp), registered the extension-cpp way: device kernels
and autograd in C++ (csrc/autograd.cpp registers the formulas for the Autograd key), and here a fake (meta)
kernel for each, so that they trace under ``torch.compile`` and pass ``torch.library.opcheck``.

- ``lif_forward`` (one layer) and ``network_forward`` (a stack) differentiate through ``lif_backward`` /
  ``network_backward``, the EventProp adjoint (these two are not differentiable again);
- ``network_forward_loss`` (a training step) and ``spike_loss`` compute their gradients in the forward call
  (EventProp needs nothing from the caller but the loss), so their backward only scales them.
"""

from __future__ import annotations

import torch

from snn._ext import load_kernels

__all__ = ["lif_forward", "lif_backward", "network", "network_with_loss", "network_loss_gradients", "spike_loss"]

load_kernels()

lif_forward = torch.ops.snn.lif_forward.default
lif_backward = torch.ops.snn.lif_backward.default
network_forward = torch.ops.snn.network_forward.default
network_backward = torch.ops.snn.network_backward.default
network_forward_loss = torch.ops.snn.network_forward_loss.default
spike_loss = torch.ops.snn.spike_loss.default


# ---- fake kernels: output shapes, dtypes and devices from the inputs alone


@torch.library.register_fake("snn::lif_forward")
def _lif_forward_fake(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end):
    batch, n_out = input_times.shape[0], weight.shape[0]
    times = input_times.new_empty((batch, n_out, max_spikes))
    return times, torch.empty_like(times), input_times.new_empty((batch, n_out), dtype=torch.int64)


@torch.library.register_fake("snn::lif_backward")
def _lif_backward_fake(grad, input_times, weight, spike_times, spike_currents, tau_m, tau_s, threshold, resistance, t_end, input_grad):
    return torch.empty_like(input_times), torch.empty_like(weight)


def _layer_outputs(input_times, weights, max_spikes):
    batch = input_times.shape[0]
    times = [input_times.new_empty((batch, w.shape[0], k)) for w, k in zip(weights, max_spikes)]
    counts = [input_times.new_empty((batch, w.shape[0]), dtype=torch.int64) for w in weights]
    return times, counts


@torch.library.register_fake("snn::network_forward")
def _network_forward_fake(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end):
    times, counts = _layer_outputs(input_times, weights, max_spikes)
    batch, n_in, k_in = input_times.shape
    slots = [n_in * k_in] + [w.shape[0] * k for w, k in zip(weights[:-1], max_spikes[:-1])]
    orders = [input_times.new_empty((batch, n + 1), dtype=torch.int32) for n in slots]
    return times, [torch.empty_like(t) for t in times], counts, orders


@torch.library.register_fake("snn::network_backward")
def _network_backward_fake(grad_spike_times, input_times, weights, spike_times, spike_currents, event_orders, *params):
    return input_times.new_empty(input_times.shape), [w.new_empty(w.shape) for w in weights]


@torch.library.register_fake("snn::network_forward_loss")
def _network_forward_loss_fake(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end, labels,
                               kind, alpha, eta, tau_0, tau_1, input_grad, weight_grad):
    times, counts = _layer_outputs(input_times, weights, max_spikes)
    grad_input = input_times.new_empty(input_times.shape if input_grad else (0,))
    grad_weights = [w.new_empty(w.shape) for w in weights] if weight_grad else []
    excess = input_times.new_empty((len(weights),), dtype=torch.int64)
    return input_times.new_empty(()), excess, times, counts, grad_input, grad_weights


@torch.library.register_fake("snn::spike_loss")
def _spike_loss_fake(layer_times, labels, kind, alpha, eta, tau_0, tau_1, t_end):
    return layer_times[0].new_empty(()), [t.new_empty(t.shape) for t in layer_times]


# ---- the calls snn.functional makes


def network(input_times, weights, max_spikes, params):
    """Returns ``(times, counts)``, one tensor per layer each."""
    times, _currents, counts, _orders = network_forward(input_times, list(weights), list(max_spikes), *params)
    return times, counts


def network_with_loss(input_times, labels, weights, max_spikes, params, loss_params):
    """Returns ``(loss, excess, times, counts)``: the loss (differentiable w.r.t. ``input_times`` and
    ``weights`` where they require grad, with the gradients computed in this very call), the spikes beyond
    max_spikes per layer, and per layer the spike times (not differentiable: the loss is) and true counts."""
    grad_mode = torch.is_grad_enabled()
    input_grad = grad_mode and input_times.requires_grad
    weight_grad = grad_mode and any(w.requires_grad for w in weights)
    loss, excess, times, counts, _, _ = network_forward_loss(
        input_times, list(weights), list(max_spikes), *params, labels, *loss_params, input_grad, weight_grad
    )
    return loss, excess, times, counts


def network_loss_gradients(input_times, labels, weights, max_spikes, params, loss_params):
    """A training step without autograd: returns ``(loss, excess, counts, weight_grads)``."""
    with torch.no_grad():
        loss, excess, _times, counts, _, grads = network_forward_loss(
            input_times, list(weights), list(max_spikes), *params, labels, *loss_params, False, True
        )
    return loss, excess, counts, grads
