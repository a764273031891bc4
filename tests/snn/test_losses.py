"""snn.losses: values against hand arithmetic (math.exp/log, not the code path under test), the silent-output
rule (t_end, zero gradient, no NaN), SP for 1-3 spikes, and gradients against finite differences."""

import math
import pickle

import pytest
import torch

from snn import losses
from snn.losses import (
    all_spike_term,
    cross_entropy,
    first_spike_times,
    loss_l,
    loss_la,
    loss_lw,
    make_loss,
    spike_penalty,
    target_spike_term,
)

INF = math.inf
T_END, TAU_0, TAU_1 = 30.0, 0.5, 6.4


def _t(rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


# Output layer: 2 samples x 3 neurons x 3 spikes. Sample 0: neuron 1 silent; sample 1: neuron 2 silent.
OUT = [
    [[2.0, 5.0, INF], [INF, INF, INF], [1.0, INF, INF]],
    [[4.0, INF, INF], [3.0, 3.5, 10.0], [INF, INF, INF]],
]
LABELS = [0, 1]
# Hidden layer: 2 samples x 2 neurons x 3 spikes.
HIDDEN = [
    [[0.5, 1.5, 2.5], [INF, INF, INF]],
    [[1.0, INF, INF], [6.0, 10.0, INF]],
]


def _ce_by_hand():
    s0 = 2.0 / TAU_0 + math.log(math.exp(-2.0 / TAU_0) + math.exp(-30.0 / TAU_0) + math.exp(-1.0 / TAU_0))
    s1 = 3.0 / TAU_0 + math.log(math.exp(-4.0 / TAU_0) + math.exp(-3.0 / TAU_0) + math.exp(-30.0 / TAU_0))
    return (s0 + s1) / 2


def _cs_by_hand():
    return ((math.exp(2.0 / TAU_1) - 1) + (math.exp(3.0 / TAU_1) - 1)) / 2


def _as_by_hand():
    firsts = [2.0, 30.0, 1.0, 4.0, 3.0, 30.0]
    return sum(math.exp(t / TAU_1) - 1 for t in firsts) / 6


def _sp_by_hand():
    hidden = (1 / 1.0 + 1 / 2.0) + (1 / 4.0)  # sample 0 neuron 0; sample 1 neuron 1
    output = (1 / 3.0) + (1 / 0.5 + 1 / 7.0)  # sample 0 neuron 0; sample 1 neuron 1
    return (hidden + output) / 2


def test_first_spike_times_substitutes_t_end_for_silent_neurons():
    first = first_spike_times(_t(OUT), T_END)
    assert first.tolist() == [[2.0, 30.0, 1.0], [4.0, 3.0, 30.0]]


def test_terms_match_hand_arithmetic():
    out, labels = _t(OUT), torch.tensor(LABELS)
    assert cross_entropy(out, labels, TAU_0, t_end=T_END).item() == pytest.approx(_ce_by_hand(), rel=1e-12)
    assert target_spike_term(out, labels, TAU_1, t_end=T_END).item() == pytest.approx(_cs_by_hand(), rel=1e-12)
    assert all_spike_term(out, TAU_1, t_end=T_END).item() == pytest.approx(_as_by_hand(), rel=1e-12)
    assert spike_penalty([_t(HIDDEN), out]).item() == pytest.approx(_sp_by_hand(), rel=1e-12)


def test_t_end_changes_the_silent_neurons_time():
    out = _t(OUT)
    as_20 = all_spike_term(out, TAU_1, t_end=20.0).item()
    firsts = [2.0, 20.0, 1.0, 4.0, 3.0, 20.0]
    assert as_20 == pytest.approx(sum(math.exp(t / TAU_1) - 1 for t in firsts) / 6, rel=1e-12)


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
def test_losses_combine_the_terms_as_in_the_paper(name):
    alpha, eta = 0.3, 0.7
    layers, labels = [_t(HIDDEN), _t(OUT)], torch.tensor(LABELS)
    expected = {
        "L_W": _ce_by_hand() + alpha * _cs_by_hand(),
        "L": _ce_by_hand() + alpha * _cs_by_hand() + eta * _sp_by_hand(),
        "L_A": _ce_by_hand() + alpha * _as_by_hand() + eta * _sp_by_hand(),
    }[name]
    # SPEC.md's literal SP (the sum); the per-neuron default is tested below.
    fn = make_loss(name, alpha=alpha, eta=eta, tau_0=TAU_0, tau_1=TAU_1, t_end=T_END, sp_normalization="sum")
    assert fn(layers, labels).item() == pytest.approx(expected, rel=1e-12)
    direct = {"L_W": lambda: loss_lw(layers, labels, alpha=alpha),
              "L": lambda: loss_l(layers, labels, alpha=alpha, eta=eta, sp_normalization="sum"),
              "L_A": lambda: loss_la(layers, labels, alpha=alpha, eta=eta, sp_normalization="sum")}[name]()
    assert direct.item() == pytest.approx(expected, rel=1e-12)


def test_lw_ignores_extra_spikes_but_l_penalises_them():
    labels = torch.tensor(LABELS)
    quiet = [_t([[[1.0, INF, INF]] * 2] * 2), _t(OUT)]
    busy = [_t([[[1.0, 1.5, 2.0]] * 2] * 2), _t(OUT)]
    assert loss_lw(quiet, labels, alpha=0.1).item() == loss_lw(busy, labels, alpha=0.1).item()
    assert loss_l(busy, labels, alpha=0.1, eta=1.0).item() > loss_l(quiet, labels, alpha=0.1, eta=1.0).item()


def test_silent_outputs_count_as_t_end_with_zero_gradient_and_no_nan():
    out = _t([[[INF] * 3] * 3, [[5.0, 6.0, INF], [INF] * 3, [INF] * 3]]).requires_grad_()
    hidden = _t([[[INF] * 2] * 2] * 2).requires_grad_()
    labels = torch.tensor([2, 1])
    for name in ("L_W", "L", "L_A"):
        loss = make_loss(name, alpha=0.5, eta=0.5)([hidden, out], labels)
        out.grad = hidden.grad = None
        loss.backward()
        assert torch.isfinite(loss)
        hidden_grad = torch.zeros_like(hidden) if hidden.grad is None else hidden.grad  # L_W does not use it
        assert torch.isfinite(out.grad).all() and torch.isfinite(hidden_grad).all()
        silent = torch.isinf(out.detach())
        assert (out.grad[silent] == 0).all()
        assert (hidden_grad == 0).all()
        assert out.grad[1, 0, 0] != 0  # the one firing neuron does get a gradient
    all_silent = out.detach()[:1]
    ce = cross_entropy(all_silent, torch.tensor([2]), TAU_0).item()
    assert ce == pytest.approx(math.log(3), rel=1e-12)  # all three at t_end: uniform softmax
    cs = target_spike_term(all_silent, torch.tensor([2]), TAU_1).item()
    assert cs == pytest.approx(math.exp(T_END / TAU_1) - 1, rel=1e-12)


@pytest.mark.parametrize(
    "row, expected, grad",
    [
        ([1.0, INF, INF], 0.0, [0.0, 0.0, 0.0]),
        ([1.0, 3.0, INF], 1 / 2, [1 / 4, -1 / 4, 0.0]),
        ([1.0, 3.0, 5.0], 1 / 2 + 1 / 4, [1 / 4 + 1 / 16, -1 / 4, -1 / 16]),
    ],
    ids=["1 spike", "2 spikes", "3 spikes"],
)
def test_spike_penalty_for_one_two_three_spikes(row, expected, grad):
    times = _t([[row]]).requires_grad_()
    sp = spike_penalty([times])
    sp.backward()
    assert sp.item() == pytest.approx(expected, rel=1e-12)
    assert times.grad[0, 0].tolist() == pytest.approx(grad, rel=1e-12)


def test_spike_penalty_averages_over_the_batch_and_handles_one_slot():
    times = _t([[[1.0, 2.0]], [[1.0, INF]]])
    assert spike_penalty(times).item() == pytest.approx(0.5, rel=1e-12)
    assert spike_penalty([_t([[[1.0], [2.0]]])]).item() == 0.0  # max_spikes = 1: nothing after the first


def test_spike_penalty_stays_finite_for_coincident_spikes():
    times = _t([[[2.0, 2.0, INF]]]).requires_grad_()
    sp = spike_penalty([times])
    sp.backward()
    assert math.isfinite(sp.item()) and sp.item() > 0
    assert torch.isfinite(times.grad).all()


def _finite_function(loss_of_layers, templates):
    """Wraps a loss of padded tensors as a function of their finite entries only, for gradcheck."""
    masks = [torch.isfinite(t) for t in templates]

    def fn(*values):
        layers = []
        for template, mask, v in zip(templates, masks, values):
            layer = template.clone()
            layer[mask] = v
            layers.append(layer)
        return loss_of_layers(layers)

    inputs = tuple(t[m].clone().requires_grad_() for t, m in zip(templates, masks))
    return fn, inputs


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
def test_loss_gradients_match_finite_differences(name):
    labels = torch.tensor(LABELS)
    fn = make_loss(name, alpha=0.2, eta=0.3)
    f, inputs = _finite_function(lambda layers: fn(layers, labels), [_t(HIDDEN), _t(OUT)])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize(
    "term",
    [
        lambda layers, labels: cross_entropy(layers[-1], labels, TAU_0),
        lambda layers, labels: target_spike_term(layers[-1], labels, TAU_1),
        lambda layers, labels: all_spike_term(layers[-1], TAU_1),
        lambda layers, labels: spike_penalty(layers),
    ],
    ids=["CE", "CS", "AS", "SP"],
)
def test_term_gradients_match_finite_differences(term):
    labels = torch.tensor(LABELS)
    f, inputs = _finite_function(lambda layers: term(layers, labels), [_t(HIDDEN), _t(OUT)])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_float32_inputs_give_float32_losses():
    layers = [_t(HIDDEN, torch.float32), _t(OUT, torch.float32)]
    value = make_loss("L_A", alpha=0.1, eta=0.1, sp_normalization="sum")(layers, torch.tensor(LABELS))
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(_ce_by_hand() + 0.1 * _as_by_hand() + 0.1 * _sp_by_hand(), rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(name="L_X"), "'L_X'"),
        (dict(alpha=-0.1), "alpha=-0.1"),
        (dict(eta=-1.0), "eta=-1.0"),
        (dict(tau_0=0.0), "tau_0=0.0"),
        (dict(tau_1=-6.4), "tau_1=-6.4"),
        (dict(t_end=math.inf), "t_end=inf"),
        (dict(alpha=math.nan), "alpha=nan"),
        (dict(eta=True), "eta=True"),
        (dict(alpha="0.1"), "alpha='0.1'"),
    ],
)
def test_make_loss_rejects_bad_arguments_showing_the_value(kwargs, fragment):
    args = dict(name="L", alpha=0.1, eta=0.1, tau_0=0.5, tau_1=6.4, t_end=30.0) | kwargs
    name = args.pop("name")
    with pytest.raises(ValueError) as info:
        make_loss(name, **args)
    assert fragment in str(info.value)


def test_make_loss_accepts_zero_weights_and_pickles():
    fn = make_loss("L_W", alpha=0, eta=0)
    assert pickle.loads(pickle.dumps(fn)) == fn
    layers = [_t(HIDDEN), _t(OUT)]
    assert fn(layers, torch.tensor(LABELS)).item() == pytest.approx(_ce_by_hand(), rel=1e-12)


def test_bad_tensors_and_labels_are_rejected():
    with pytest.raises(ValueError, match="max_spikes"):
        first_spike_times(torch.zeros(2, 3), T_END)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        cross_entropy(_t(OUT), torch.tensor([0, 1, 2]), TAU_0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cross_entropy(_t(OUT), torch.tensor([0, 3]), TAU_0)
    with pytest.raises(ValueError, match="non-empty list"):
        loss_lw([], torch.tensor(LABELS), alpha=0.1)
    with pytest.raises(ValueError, match="empty list"):
        spike_penalty([])


def test_public_names_are_exported():
    for name in ("first_spike_times", "cross_entropy", "target_spike_term", "all_spike_term", "spike_penalty",
                 "loss_lw", "loss_l", "loss_la", "make_loss"):
        assert name in losses.__all__


def test_sp_normalisation_divides_the_penalty_by_the_number_of_neurons():
    from snn.losses import SP_NORMALIZATIONS, loss_l, loss_lw, spike_penalty
    from snn.train.config import SP_NORMALIZATIONS as CONFIG_CHOICES

    assert CONFIG_CHOICES == SP_NORMALIZATIONS
    hidden = torch.tensor([[[1.0, 2.0, 3.0], [4.0, float("inf"), float("inf")]]], dtype=torch.float64)
    out = torch.tensor([[[5.0, 7.0], [6.0, float("inf")], [9.0, 10.0]]], dtype=torch.float64)
    labels = torch.tensor([1])
    base = loss_lw([hidden, out], labels, alpha=0.1)
    sp = spike_penalty([hidden, out])
    assert math.isclose(float(sp), 1 / 1 + 1 / 2 + 1 / 2 + 1 / 1)
    summed = loss_l([hidden, out], labels, alpha=0.1, eta=0.4, sp_normalization="sum")
    per_neuron = loss_l([hidden, out], labels, alpha=0.1, eta=0.4)
    assert math.isclose(float(summed - base), 0.4 * 3.0, rel_tol=1e-12)
    assert math.isclose(float(per_neuron - base), 0.4 * 3.0 / 5, rel_tol=1e-12)  # 2 hidden + 3 output neurons
    with pytest.raises(ValueError, match="sp_normalization"):
        loss_l([hidden, out], labels, alpha=0.1, eta=0.4, sp_normalization="mean")
