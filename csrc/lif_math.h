// Closed-form dynamics of one current-based LIF neuron between events, the exact threshold-crossing
// search, and the EventProp adjoint rules. Written once and shared by the CPU and the CUDA kernels.
//
// Model (SPEC.md): tau_m dV/dt = -V + R I, tau_s dI/dt = -I; a crossing of `threshold` emits a spike and
// resets V to 0 (I unchanged). Between events, from (V0, I0) at offset d = 0:
//   I(d) = I0 e^{-d/tau_s},   V(d) = (V0 - c) e^{-d/tau_m} + c e^{-d/tau_s},   c = kappa I0,
//   kappa = R tau_s / (tau_s - tau_m).
// V has at most one extremum on an interval, where dV/dt = (R I - V) / tau_m changes sign, so every
// crossing can be bracketed on a monotone piece and refined to machine precision.
//
// Adjoint (EventProp, Wunderlich & Pehle 2021, eqs. 4-8 of Fontanini et al. 2024), with the sensitivity
// dL = -(tau_m lambda_V dV + tau_s lambda_I dI): backwards in time lambda_V decays with tau_m and
// lambda_I relaxes towards it,
//   lambda_V(t - d) = lambda_V e^{-d/tau_m},
//   lambda_I(t - d) = lambda_I e^{-d/tau_s} + beta lambda_V (e^{-d/tau_m} - e^{-d/tau_s}),
//   beta = R tau_m / (tau_m - tau_s);
// at an own spike k:  lambda_V^- = lambda_V^+ + (theta lambda_V^+ + dL/dt_k) / (tau_m dV/dt^-),
// at an input spike q of synapse W:  dL/dW += -tau_s lambda_I,  dL/dt_q += W (R lambda_V - lambda_I).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define SNN_HD __host__ __device__ __forceinline__
#else
#define SNN_HD inline
#endif

namespace snn {

// A neuron may fire at most this many times per sample in the count; past it the count saturates.
// Without a cap, an absurd current (R I >> theta) would make the event loop effectively unbounded.
constexpr int64_t kSpikeCountCap = int64_t(1) << 20;

template <typename T>
struct LifParams {
  T tau_m, tau_s, threshold, resistance, t_end;
  T ratio;           // tau_m / tau_s: e^{-d/tau_s} = x^ratio with x = e^{-d/tau_m}
  int integer_ratio; // ratio when it is a small integer (4 by default), else 0: powers by multiplication
  T kappa;           // R tau_s / (tau_s - tau_m): weight of the synaptic exponential in V
  T beta;            // R tau_m / (tau_m - tau_s): coupling lambda_V -> lambda_I in the adjoint
  T min_slope;       // lower bound on tau_m dV/dt at a spike, see guarded_slope()
  T tol;             // relative tolerance of the crossing search

  static LifParams make(double tau_m, double tau_s, double threshold, double resistance, double t_end) {
    LifParams p;
    p.tau_m = T(tau_m);
    p.tau_s = T(tau_s);
    p.threshold = T(threshold);
    p.resistance = T(resistance);
    p.t_end = T(t_end);
    const double ratio = tau_m / tau_s;
    p.ratio = T(ratio);
    p.integer_ratio = (std::fabs(ratio - std::round(ratio)) < 1e-12 && ratio >= 2 && ratio <= 16) ? int(std::round(ratio)) : 0;
    p.kappa = T(resistance * tau_s / (tau_s - tau_m));
    p.beta = T(resistance * tau_m / (tau_m - tau_s));
    // sqrt(eps) * theta: a crossing this flat is a grazing touch whose exact gradient diverges; the
    // guard bounds the adjoint jump instead of letting it become inf/NaN (as jaxsnn guards dV/dt).
    p.min_slope = T(std::sqrt(double(std::numeric_limits<T>::epsilon())) * threshold);
    p.tol = T(16) * std::numeric_limits<T>::epsilon();
    return p;
  }
};

// x^n by squaring: the default ratio's x^4 and x^2 (for every neuron at every event, and in every step of
// the crossing search) as a chain of two multiplies and one, without a loop.
template <typename T>
SNN_HD T integer_power(T x, int n) {
  if (n == 4) {
    const T x2 = x * x;
    return x2 * x2;
  }
  if (n == 2) return x * x;
  T y = (n & 1) ? x : T(1);
  for (n >>= 1; n > 0; n >>= 1) {
    x *= x;
    if (n & 1) y *= x;
  }
  return y;
}

// e^{-d/tau_s} from x = e^{-d/tau_m}: one exp per interval instead of two, none inside the root search.
template <typename T>
SNN_HD T synaptic_decay(T x, const LifParams<T>& p) {
  return p.integer_ratio ? integer_power(x, p.integer_ratio) : std::pow(x, p.ratio);
}

template <typename T>
SNN_HD T membrane(T v0, T c, T em, T es) {
  return (v0 - c) * em + c * es;
}

// tau_m dV/dt just before a spike whose synaptic current is `current`: R I - theta (V = theta there).
// Never below min_slope, so the division in the adjoint jump is safe by construction.
template <typename T>
SNN_HD T guarded_slope(T current, const LifParams<T>& p) {
  T slope = p.resistance * current - p.threshold;
  return slope > p.min_slope ? slope : p.min_slope;
}

// x = e^{-d/tau_m} at the extremum of V = a x + c x^ratio (where dV/dx = 0); only called where dV/dt
// changes sign on the interval, which makes the base positive.
template <typename T>
SNN_HD T extremum_x(T a, T c, const LifParams<T>& p) {
  const T base = -a / (p.ratio * c);
  return p.integer_ratio == 4 ? std::cbrt(base) : std::pow(base, T(1) / (p.ratio - T(1)));
}

// Whether V can reach theta on an interval that starts at (V0, I0) and ends at (v_end, i_end): cheap
// enough for every neuron at every event (the kernels' event loops test it first). V reaches theta inside
// only if it ends above it, or has a maximum inside (dV/dt changes sign from + to -) while R I0, which bounds
// V there, reaches theta.
template <typename T>
SNN_HD bool crossing_possible(T v0, T i0, T v_end, T i_end, const LifParams<T>& p) {
  const T theta = p.threshold, R = p.resistance;
  return (v_end >= theta) | ((R * i0 > v0) & (R * i_end < v_end) & (R * i0 >= theta));
}

// crossing_possible with a tighter bound on the maximum, for the few neurons that pass it (x_end =
// e^{-span/tau_m}). tau_m dV/dt = R I - V with R I(d) <= M = max(R I0, R I_end) (I is monotone), so
// V(d) <= M + (V0 - M) e^{-d/tau_m}, at most M + (V0 - M) x_end when V0 < M (which a maximum inside needs).
// Short intervals are ruled out this way without a root search. The slack keeps rounding in this bound from
// ruling out a crossing that the search would find.
template <typename T>
SNN_HD bool may_cross(T v0, T i0, T v_end, T i_end, T x_end, const LifParams<T>& p) {
  const T R = p.resistance, r0 = R * i0, r_end = R * i_end;
  const T M = r0 > r_end ? r0 : r_end;
  const T slack = p.tol * (std::fabs(v0) + T(4) * std::fabs(M));
  const bool maximum_inside = (r0 > v0) & (r_end < v_end);
  return (v_end >= p.threshold) | (maximum_inside & (M + (v0 - M) * x_end >= p.threshold - slack));
}

// First offset d in (0, span] where V reaches theta, or -1 if V stays below it on the interval.
// Works in x = e^{-d/tau_m} (decreasing in d), where V = a x + c x^ratio is a polynomial for integer
// ratios (a quartic by default). (v_end, i_end, x_end) is the state and x at d = span. On success
// `x_cross` receives e^{-d/tau_m} at the crossing.
template <typename T>
SNN_HD T first_crossing(T v0, T i0, T span, T v_end, T i_end, T x_end, const LifParams<T>& p, T& x_cross) {
  if (!(span > T(0)) || !may_cross(v0, i0, v_end, i_end, x_end, p)) return T(-1);
  const T theta = p.threshold, R = p.resistance;
  const T c = p.kappa * i0, a = v0 - c;
  // Bracket [x_above, x_below] with f = V - theta: f(x_below) < 0 <= f(x_above), x_above < x_below, exactly
  // one sign change inside.
  T x_above = x_end, x_below = T(1), f_above = v_end - theta, f_below = v0 - theta;
  if (v_end >= theta) {
    if (R * i0 < v0) {  // V falls first: the crossing is on the rising piece after the minimum
      const T x_min = extremum_x(a, c, p);
      if (x_min < x_below && x_min > x_above) {
        x_below = x_min;
        f_below = a * x_min + c * synaptic_decay(x_min, p) - theta;
      }
    }
  } else {  // a maximum inside (may_cross): shallow crossings live here
    T x_max = extremum_x(a, c, p);
    x_max = x_max < x_end ? x_end : (x_max > T(1) ? T(1) : x_max);
    f_above = a * x_max + c * synaptic_decay(x_max, p) - theta;
    if (f_above < T(0)) return T(-1);
    x_above = x_max;
  }

  // Safeguarded Chebyshev iteration (Newton's step corrected by the curvature: cubic convergence, one
  // division per step; plain Newton while the correction is large, i.e. far from the root) from the secant
  // through the bracket's ends (an error of order span^2); bisection whenever a step would leave the bracket
  // (e.g. at a flat maximum, where f' = 0). The secant falls back to the end where the curve bends away from
  // the root (f'' has the sign of (ratio - 1) c).
  T x = (p.ratio - T(1)) * c < T(0) ? x_below : x_above;
  const T rise_start = R * i0 - v0, rise_end = R * i_end - v_end;  // tau_m dV/dt at the interval's ends
  if (sizeof(T) >= 8 && f_below < T(0) && v_end >= theta && rise_start > T(0) && rise_end > T(0)) {
    // V rises over the whole interval (most spikes): inverse cubic Hermite interpolation through both ends,
    // whose slopes dx/dV = -x / (tau_m dV/dt) are known without a power. Its error, of order span^4, is
    // small enough that usually the first Chebyshev step converges and proves it: a step fewer than from
    // the secant in double precision (1.5 % of a Yin-Yang training step). Not in float, whose tolerance the
    // first step from the secant already meets (the two extra divisions cost more than they save there).
    const T height = f_above - f_below, t = -f_below / height;
    const T guess = x_below + (x_above - x_below) * t * t * (T(3) - T(2) * t) -
                    height * t * (T(1) - t) * ((T(1) - t) / rise_start - t * x_end / rise_end);
    if (guess > x_above && guess < x_below) x = guess;
  } else if (f_below < T(0) && f_above > f_below && x_above > T(0.75)) {  // short spans only: for long ones the end is better
    const T secant = x_below - f_below * (x_above - x_below) / (f_above - f_below);
    if (secant > x_above && secant < x_below) x = secant;
  }
  for (int iter = 0; iter < 100; ++iter) {
    const T xr2 = p.integer_ratio ? integer_power(x, p.integer_ratio - 2) : std::pow(x, p.ratio - T(2));
    const T xr1 = xr2 * x;
    const T f = a * x + c * xr1 * x - theta;
    if (f >= T(0)) x_above = x; else x_below = x;
    if (f == T(0)) break;
    const T df = a + p.ratio * c * xr1;  // dV/dx: negative on the rising piece (V rises as x falls)
    const T inv_df = T(1) / df;
    const T newton = f * inv_df;  // about the distance to the root, near it
    if (df < T(0) && std::fabs(newton) <= p.tol * x) {  // converged: f is at rounding level
      x -= newton;
      break;
    }
    const T q = p.ratio * (p.ratio - T(1)) * c * xr2 * inv_df;  // f'' / f'
    const T h = T(0.5) * newton * q;
    const bool near = std::fabs(h) <= T(0.125);
    const T next = x - (near ? newton * (T(1) + h) : newton);
    if (!(df < T(0)) || !(next > x_above && next < x_below)) {
      x = T(0.5) * (x_above + x_below);
      if (x_below - x_above <= p.tol * x_below) {
        x = x_above;
        break;
      }
      continue;
    }
    // Near the root, Chebyshev's step leaves an error of about K e^3, where e (the current error) is about
    // the Newton step and K = (f''/f')^2 / 2 + f'''/(6 f') with f''' = (ratio - 2) f'' / x: when that is far
    // below the tolerance, the step lands on the root and needs no check.
    const T e3 = newton * newton * std::fabs(newton);
    x = next;
    if (near && (T(0.5) * q * q * x + std::fabs((p.ratio - T(2)) * q) * T(1.0 / 6.0)) * e3 <= T(0.125) * p.tol * x * x) {
      break;
    }
  }
  x_cross = x;
  const T d = -p.tau_m * std::log(x);
  return d < span ? d : span;
}

// Propagates the adjoint backwards in time by `duration` (em, es = its decay factors).
template <typename T>
SNN_HD void adjoint_decay(T& lambda_v, T& lambda_i, T em, T es, const LifParams<T>& p) {
  lambda_i = lambda_i * es + p.beta * lambda_v * (em - es);
  lambda_v = lambda_v * em;
}

// The adjoint jump at an own spike (backwards across it): lambda_V^+ -> lambda_V^-.
template <typename T>
SNN_HD T adjoint_spike_jump(T lambda_v, T grad_time, T current, const LifParams<T>& p) {
  return lambda_v + (p.threshold * lambda_v + grad_time) / guarded_slope(current, p);
}

// ---- Per-neuron event walks, used as they are by the CPU kernel (lif_cpu_sample.h) and the CUDA kernel.

// What the forward walk knows about each kept spike k of a neuron and the backward walk would otherwise compute
// again with an exp: the decay e^{-d/tau_m} from the spike's anchor (the neuron's previous spike in the same
// interval, else the interval's start) to the spike, which is the crossing search's own x, and from the spike to
// the interval's end; and the index of the interval it fell in, so that the backward uses them only on the very
// interval the forward found it in (rounding can put a spike within an ulp of an event on either side).
template <typename T>
struct SpikeDecays {
  T* before;
  T* after;
  int32_t* interval;
};

// A neuron right after a spike, V reset to 0: its synaptic current, e^{-(t_stop - t_spike)/tau_m} to the end
// of the interval (without another exp), the state there if it does not fire again, and whether it might
// (may_cross; after a spike V restarts from 0 and rarely reaches theta again on the same interval).
template <typename T>
struct AfterSpike {
  T current, em_rest, v_end, i_end;
  bool again;
};

// after_spike for a spike at x = e^{-d/tau_m} from its anchor (current i_anchor there; em_to_end from the anchor
// to the interval's end).
template <typename T>
SNN_HD AfterSpike<T> after_spike(T i_anchor, T x, T em_to_end, const LifParams<T>& p) {
  AfterSpike<T> after;
  after.current = i_anchor * synaptic_decay(x, p);
  after.em_rest = em_to_end / x;
  const T es_rest = synaptic_decay(after.em_rest, p);
  after.v_end = membrane(T(0), p.kappa * after.current, after.em_rest, es_rest);
  after.i_end = after.current * es_rest;
  after.again = may_cross(T(0), after.current, after.v_end, after.i_end, after.em_rest, p);
  return after;
}

// One neuron's spikes on one interval, one crossing at a time: from its state at the interval's start, each
// crossing that a search finds (offset d from the anchor t0, x = e^{-d/tau_m}) is recorded and the neuron
// restarts from V = 0 there. `again` says whether it might fire once more, and the next search is then
// first_crossing(0, i0, t_stop - t0, v_end, i_end, em_rest); else (v_end, i_end) is its state at t_stop.
template <typename T>
struct SpikeChain {
  T t0, i0, em_rest, t_stop, v_end, i_end;  // em_rest = e^{-(t_stop - t0)/tau_m}

  // The chain of a neuron with synaptic current `cur` at t_start, on an interval of `span` (decay em) at whose end
  // it would be at (v_end, i_end) without a spike.
  SNN_HD static SpikeChain start(T cur, T t_start, T span, T em, T v_end, T i_end) {
    return {t_start, cur, em, t_start + span, v_end, i_end};
  }

  // The answer (d, x) of the last search; with `after`, after_spike of that crossing computed elsewhere. Returns
  // whether the neuron might fire again.
  SNN_HD bool spike(T d, T x, const AfterSpike<T>* after_found, const LifParams<T>& p, int64_t max_spikes, T* times,
                    T* currents, int64_t& count, const SpikeDecays<T>* record, int32_t interval) {
    if (!(d >= T(0))) return false;
    const T t_spike = t0 + d;
    if (!(t_spike < p.t_end) || count >= kSpikeCountCap) return false;
    const AfterSpike<T> after = after_found ? *after_found : after_spike(i0, x, em_rest, p);
    i0 = after.current;
    em_rest = after.em_rest;
    if (count < max_spikes) {
      times[count] = t_spike;
      currents[count] = i0;
      if (record) {
        record->before[count] = x;
        record->after[count] = em_rest;
        record->interval[count] = interval;
      }
    }
    ++count;
    t0 = t_spike;  // restart from the reset state V = 0
    v_end = after.v_end;
    i_end = after.i_end;
    return after.again;
  }

  SNN_HD T search_again(const LifParams<T>& p, T& x) const {
    return first_crossing(T(0), i0, t_stop - t0, v_end, i_end, em_rest, p, x);
  }
};

// The state at the end of an interval of decay factors (em, es) from (v, cur) if the neuron does not fire.
template <typename T>
SNN_HD void decayed_state(T v, T cur, T em, T es, const LifParams<T>& p, T& v_end, T& i_end) {
  v_end = membrane(v, p.kappa * cur, em, es);
  i_end = cur * es;
}

// Advances one neuron by `span` from t_start, emitting every threshold crossing on the way (the CUDA kernel's,
// one neuron per thread; the CPU kernel steps SpikeChain itself, its searches batched across neurons).
template <typename T>
SNN_HD void advance_neuron(T& v, T& cur, T t_start, T span, T em, T es, const LifParams<T>& p, int64_t max_spikes,
                    T* times, T* currents, int64_t& count, const SpikeDecays<T>* record = nullptr,
                    int32_t interval = 0) {
  T v_end, i_end, x = T(1);
  decayed_state(v, cur, em, es, p, v_end, i_end);
  SpikeChain<T> chain = SpikeChain<T>::start(cur, t_start, span, em, v_end, i_end);
  T d = first_crossing(v, cur, span, v_end, i_end, em, p, x);
  while (chain.spike(d, x, nullptr, p, max_spikes, times, currents, count, record, interval)) d = chain.search_again(p, x);
  v = chain.v_end;
  cur = chain.i_end;
}

// Walks one neuron's adjoint back from t_from to t_to across its own spikes in (t_to, t_from]. With `record`
// (the forward walk's, `interval` being the index of (t_to, t_from] there), the decays between the spikes come
// from the forward pass wherever it found the spikes on this interval, instead of from an exp each.
template <typename T>
SNN_HD void adjoint_across_spikes(T& lv, T& li, int64_t& next_spike, T t_from, T t_to, const T* times, const T* currents,
                           const T* grad_times, const LifParams<T>& p, const SpikeDecays<T>* record = nullptr,
                           int32_t interval = -1) {
  T t = t_from;
  int64_t later = -1;  // the spike just crossed (backwards), -1 while at t_from
  const auto here = [&](int64_t k) { return record && k >= 0 && record->interval[k] == interval; };
  for (; next_spike >= 0 && times[next_spike] > t_to; --next_spike) {
    const int64_t k = next_spike;
    // from t (the interval's end, or spike `later` anchored at k) back to spike k
    const T em = here(k) && (later < 0 || here(later)) ? (later < 0 ? record->after[k] : record->before[later])
                                                        : std::exp(-(t - times[k]) / p.tau_m);
    adjoint_decay(lv, li, em, synaptic_decay(em, p), p);
    lv = adjoint_spike_jump(lv, grad_times[k], currents[k], p);
    t = times[k];
    later = k;
  }
  // the earliest spike of the interval is anchored at its start when the spike before it is not on the interval
  const bool anchored = later >= 0 && here(later) && !here(later - 1);
  const T em = anchored ? record->before[later] : std::exp(-(t - t_to) / p.tau_m);
  adjoint_decay(lv, li, em, synaptic_decay(em, p), p);
}

}  // namespace snn
