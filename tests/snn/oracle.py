"""Independent reference simulation of one layer of current-based LIF neurons, for testing the kernel.

Why it is independent of the kernel: the kernel (csrc/lif_math.h) uses the closed-form solution between
events and brackets each threshold crossing by the analytic extremum, refined with safeguarded Newton.
This oracle never uses the closed form: it integrates the ODE ``tau_m dV/dt = -V + R I``,
``tau_s dI/dt = -I`` numerically with scipy's DOP853 (rtol 1e-13), from input event to input event, and
lets scipy's event location find ``V = theta`` (terminal event; then V -> 0, I unchanged, restart).
Event location only sees sign changes between accepted steps, so a shallow crossing near a membrane maximum
can fall between two steps. The oracle therefore also looks for the maximum of V on each event-free
interval from the ODE itself: V has an extremum where dV/dt = (R I - V) / tau_m = 0, and ``R I - V`` is a
sum of two exponentials (at most one root), so a sign change of ``R I - V`` between the interval's ends
means one interior maximum; it is located with brentq on the integrator's dense output, and if V there is
>= theta the crossing is found with brentq on ``V - theta`` before it. ``max_step`` additionally keeps
steps short. Accuracy: ~1e-12 ms on well-conditioned crossings; it is slow (pure Python), so use it on
small networks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

__all__ = [
    "OracleResult", "simulate_neuron", "simulate_layer", "single_spike_membrane", "spike_counts", "padded",
    "random_network",
]

_RTOL = 1e-13
_ATOL = 1e-15
_MAX_STEP = 1.0  # ms; an extra guard besides the explicit maximum search


@dataclass
class OracleResult:
    """Spike times of one neuron plus how far the run is from a spike-count change (conditioning)."""

    times: list[float] = field(default_factory=list)
    # Smallest |V_max - theta| over interior maxima of V that stayed below theta (a near miss).
    min_peak_gap: float = math.inf
    # Smallest tau_m dV/dt = R I - theta at a spike (a grazing crossing has ~0).
    min_crossing_slope: float = math.inf
    # Smallest distance of V(t_end) below theta while V is still rising at t_end (a spike just after t_end).
    min_end_gap: float = math.inf


def _rhs(tau_m: float, tau_s: float, resistance: float):
    def rhs(_t, y):
        return [(-y[0] + resistance * y[1]) / tau_m, -y[1] / tau_s]

    return rhs


def _segment(t0, t1, y0, rhs, threshold, resistance, result: OracleResult):
    """Integrates from t0 to t1; returns (t_spike, state at t_spike) at the first crossing, or (None, state at t1)."""
    event = lambda _t, y: y[0] - threshold  # noqa: E731
    event.terminal = True
    event.direction = 1.0
    sol = solve_ivp(
        rhs, (t0, t1), y0, method="DOP853", rtol=_RTOL, atol=_ATOL, dense_output=True, events=event,
        max_step=_MAX_STEP,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed on [{t0}, {t1}]: {sol.message}")
    if sol.t_events[0].size:
        t_spike = float(sol.t_events[0][0])
        return t_spike, np.asarray(sol.y_events[0][0], dtype=float)
    t_stop = float(sol.t[-1])
    dense = sol.sol
    rising = lambda t: resistance * dense(t)[1] - dense(t)[0]  # noqa: E731  (tau_m dV/dt)
    if rising(t0) > 0 and rising(t_stop) < 0:  # one interior maximum: a crossing the steps may have missed
        t_max = brentq(rising, t0, t_stop, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        v_max = dense(t_max)[0]
        if v_max >= threshold:
            t_spike = brentq(lambda t: dense(t)[0] - threshold, t0, t_max, xtol=1e-15, rtol=4 * np.finfo(float).eps)
            return t_spike, np.asarray(dense(t_spike), dtype=float)
        result.min_peak_gap = min(result.min_peak_gap, threshold - v_max)
    return None, np.asarray(sol.y[:, -1], dtype=float)


def simulate_neuron(
    events: list[tuple[float, float]], *, tau_m=20.0, tau_s=5.0, threshold=1.0, resistance=1.0, t_end=30.0
) -> OracleResult:
    """Spike times (before t_end) of one neuron driven by ``events`` = [(time, weight), ...] (any order;
    +inf times and times >= t_end are ignored; simultaneous inputs add up)."""
    rhs = _rhs(tau_m, tau_s, resistance)
    result = OracleResult()
    inputs: dict[float, float] = {}
    for t, w in events:
        if math.isfinite(t) and t < t_end:
            inputs[float(t)] = inputs.get(float(t), 0.0) + float(w)
    schedule = sorted(inputs.items())
    if not schedule:
        return result
    t, y = schedule[0][0], np.zeros(2)
    boundaries = [s for s, _ in schedule[1:]] + [t_end]
    for (t_in, w), t_next in zip(schedule, boundaries):
        y = np.array([y[0], y[1] + w])
        t = t_in
        while t < t_next:
            t_spike, y_at = _segment(t, t_next, y, rhs, threshold, resistance, result)
            if t_spike is None:
                y, t = y_at, t_next
                break
            if t_spike >= t_end:
                break
            result.times.append(t_spike)
            result.min_crossing_slope = min(result.min_crossing_slope, resistance * y_at[1] - threshold)
            y, t = np.array([0.0, y_at[1]]), t_spike
    # A spike just after t_end would make the count fragile under perturbation: record the gap.
    if resistance * y[1] - y[0] > 0:
        result.min_end_gap = threshold - y[0]
    return result


def simulate_layer(input_times, weight, **params) -> tuple[list[list[list[float]]], dict[str, float]]:
    """Oracle for ``lif_layer``: input_times [batch, n_in, k_in] and weight [n_out, n_in] (array-likes).
    Returns (spikes[b][i] = sorted list of spike times, conditioning = the minima of the OracleResult
    margins over all neurons)."""
    x = np.asarray(input_times, dtype=float)
    w = np.asarray(weight, dtype=float)
    spikes, margins = [], {"min_peak_gap": math.inf, "min_crossing_slope": math.inf, "min_end_gap": math.inf}
    for b in range(x.shape[0]):
        row = []
        for i in range(w.shape[0]):
            events = [(x[b, j, k], w[i, j]) for j in range(x.shape[1]) for k in range(x.shape[2])]
            r = simulate_neuron(events, **params)
            row.append(r.times)
            for key in margins:
                margins[key] = min(margins[key], getattr(r, key))
        spikes.append(row)
    return spikes, margins


def single_spike_membrane(t, weight, *, tau_m=20.0, tau_s=5.0, resistance=1.0):
    """Analytic V(t) after one input spike of ``weight`` at t = 0 (no reset):
    V(t) = R w tau_s / (tau_m - tau_s) (e^{-t/tau_m} - e^{-t/tau_s})."""
    t = np.asarray(t, dtype=float)
    return resistance * weight * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))


def spike_counts(spikes) -> np.ndarray:
    """[batch, n_out] number of spikes of each neuron in a ``simulate_layer`` result."""
    return np.array([[len(times) for times in row] for row in spikes], dtype=np.int64)


def padded(spikes, max_spikes: int) -> np.ndarray:
    """A ``simulate_layer`` result as the kernel's layout: [batch, n_out, max_spikes], +inf padded."""
    out = np.full((len(spikes), len(spikes[0]) if spikes else 0, max_spikes), np.inf)
    for b, row in enumerate(spikes):
        for i, times in enumerate(row):
            out[b, i, : min(len(times), max_spikes)] = times[:max_spikes]
    return out


def random_network(seed, *, batch=3, n_in=6, k_in=3, n_out=5, w_range=(-0.5, 3.5), t_max=25.0, p_inf=0.15,
                   dtype=torch.float64):
    """Random sorted input trains (some +inf padding) and weights; the defaults make neurons fire ~2-6 times."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, n_in, k_in, generator=g, dtype=torch.float64) * t_max
    x = torch.where(torch.rand(x.shape, generator=g, dtype=torch.float64) < p_inf, math.inf, x)
    x = torch.sort(x, dim=-1).values
    w = torch.empty(n_out, n_in, dtype=torch.float64).uniform_(*w_range, generator=g)
    return x.to(dtype), w.to(dtype)
