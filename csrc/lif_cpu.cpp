// CPU implementation of snn::lif_forward / snn::lif_backward: one sample per task (at::parallel_for over
// the batch), all neurons of the layer advanced together between consecutive input events, so the inner
// loops run over contiguous neuron arrays. The per-neuron math lives in lif_math.h (shared with CUDA).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "lif_math.h"

namespace snn {
namespace {

template <typename T>
struct InputEvent {
  T time;
  int64_t source;  // presynaptic neuron j
  int64_t slot;    // flat index j * k_in + s into the sample's input row (for the time gradient)
};

// The sample's input spikes before t_end, in time order. Also checks what only a pass over the values
// can check, so that bad input raises ValueError instead of producing a wrong answer.
template <typename T>
void collect_events(const T* times, int64_t n_in, int64_t k_in, T t_end, std::vector<InputEvent<T>>& events) {
  events.clear();
  for (int64_t j = 0; j < n_in; ++j) {
    const T* row = times + j * k_in;
    T previous = -std::numeric_limits<T>::infinity();
    for (int64_t s = 0; s < k_in; ++s) {
      const T t = row[s];
      // One compare covers both checks on the hot path: NaN fails every comparison.
      if (!(t >= previous)) {
        TORCH_CHECK_VALUE(!std::isnan(t), "input_times contains NaN (input neuron ", j, ", slot ", s,
                          "); use +inf for 'no spike'");
        TORCH_CHECK_VALUE(false, "each input_times row must be sorted ascending, got ", previous, " before ", t,
                          " (input neuron ", j, "); sort with torch.sort(dim=-1)");
      }
      previous = t;
      if (t < t_end) events.push_back({t, j, j * k_in + s});
    }
  }
  std::sort(events.begin(), events.end(), [](const InputEvent<T>& x, const InputEvent<T>& y) {
    return x.time < y.time || (x.time == y.time && x.slot < y.slot);
  });
}

// Advances one neuron by `span` from t_start, emitting every threshold crossing on the way.
template <typename T>
void advance_neuron(T& v, T& cur, T t_start, T span, T em, T es, const LifParams<T>& p, int64_t max_spikes,
                    T* times, T* currents, int64_t& count) {
  T v_end = membrane(v, p.kappa * cur, em, es), i_end = cur * es, x = T(1);
  T d = first_crossing(v, cur, span, v_end, i_end, em, p, x);
  T t0 = t_start, i0 = cur, em_rest = em;  // em_rest = e^{-(t_stop - t0)/tau_m}
  const T t_stop = t_start + span;
  while (d >= T(0)) {
    const T t_spike = t0 + d;
    if (!(t_spike < p.t_end) || count >= kSpikeCountCap) break;
    i0 = i0 * synaptic_decay(x, p);
    if (count < max_spikes) {
      times[count] = t_spike;
      currents[count] = i0;
    }
    ++count;
    t0 = t_spike;  // restart from the reset state V = 0
    em_rest /= x;  // e^{-(t_stop - t_spike)/tau_m} without another exp
    const T es_rest = synaptic_decay(em_rest, p);
    v_end = membrane(T(0), p.kappa * i0, em_rest, es_rest);
    i_end = i0 * es_rest;
    d = first_crossing(T(0), i0, t_stop - t0, v_end, i_end, em_rest, p, x);
  }
  v = v_end;
  cur = i_end;
}

template <typename T>
void forward_sample(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t max_spikes,
                    const LifParams<T>& p, T* state, T* out_times, T* out_currents, int64_t* counts) {
  T* v = state;
  T* cur = v + n_out;
  T* v_end = cur + n_out;
  T* i_end = v_end + n_out;
  std::fill(state, state + 2 * n_out, T(0));
  const size_t n_events = events.size();
  const T theta = p.threshold, R = p.resistance;
  size_t e = 0;
  T t_prev = T(0);
  while (true) {
    const bool last = e == n_events;
    const T t_next = last ? p.t_end : events[e].time;
    const T span = t_next - t_prev;
    if (span > T(0) && e > 0) {  // before the first event the state is zero: nothing can happen
      const T em = std::exp(-span / p.tau_m), es = synaptic_decay(em, p);
      // Pass 1 (branch-free, vectorisable): the state at t_next if no neuron fires, and whether it might.
      // A crossing needs V_end >= theta, or a maximum inside (dV/dt sign change) with R I0 >= theta.
      int64_t candidates = 0;
      for (int64_t i = 0; i < n_out; ++i) {
        const T ve = membrane(v[i], p.kappa * cur[i], em, es), ie = cur[i] * es;
        const bool maybe = (ve >= theta) | ((R * cur[i] > v[i]) & (R * ie < ve) & (R * cur[i] >= theta));
        v_end[i] = ve;
        i_end[i] = ie;
        candidates += maybe;
      }
      if (candidates == 0) {
        std::copy(v_end, v_end + 2 * n_out, v);  // v_end, i_end are laid out like v, cur
      } else {
        // Pass 2: exact crossing search where one is possible.
        for (int64_t i = 0; i < n_out; ++i) {
          const bool maybe = (v_end[i] >= theta) | ((R * cur[i] > v[i]) & (R * i_end[i] < v_end[i]) & (R * cur[i] >= theta));
          if (maybe) {
            advance_neuron(v[i], cur[i], t_prev, span, em, es, p, max_spikes, out_times + i * max_spikes,
                           out_currents + i * max_spikes, counts[i]);
          } else {
            v[i] = v_end[i];
            cur[i] = i_end[i];
          }
        }
      }
    }
    if (last) break;
    for (; e < n_events && events[e].time == t_next; ++e) {  // simultaneous inputs merge into one event
      const T* w = wt + events[e].source * n_out;
      for (int64_t i = 0; i < n_out; ++i) cur[i] += w[i];
    }
    t_prev = t_next;
  }
}

// Walks one neuron's adjoint back from t_from to t_to across its own spikes in (t_to, t_from].
template <typename T>
void adjoint_across_spikes(T& lv, T& li, int64_t& next_spike, T t_from, T t_to, const T* times, const T* currents,
                           const T* grad_times, const LifParams<T>& p) {
  T t = t_from;
  for (; next_spike >= 0 && times[next_spike] > t_to; --next_spike) {
    const T d = t - times[next_spike];
    const T em = std::exp(-d / p.tau_m);
    adjoint_decay(lv, li, em, synaptic_decay(em, p), p);
    lv = adjoint_spike_jump(lv, grad_times[next_spike], currents[next_spike], p);
    t = times[next_spike];
  }
  const T em = std::exp(-(t - t_to) / p.tau_m);
  adjoint_decay(lv, li, em, synaptic_decay(em, p), p);
}

template <typename T>
void backward_sample(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t max_spikes,
                     const T* times, const T* currents, const T* grad_times, const LifParams<T>& p,
                     bool input_grad, std::vector<T>& scratch, std::vector<int64_t>& next_spike, T* grad_in,
                     T* grad_wt) {
  scratch.assign(5 * n_out, T(0));
  T* lv = scratch.data();
  T* li = lv + n_out;
  T* coupling = li + n_out;      // R lambda_V - lambda_I: the input-time gradient per unit weight
  T* weight_grad = coupling + n_out;  // -tau_s lambda_I: the weight gradient per input spike
  T* next_time = weight_grad + n_out; // time of the latest own spike not yet crossed, -inf if none
  next_spike.resize(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    const T* row = times + i * max_spikes;
    int64_t k = 0;
    while (k < max_spikes && row[k] < p.t_end) ++k;
    next_spike[i] = k - 1;
    next_time[i] = k > 0 ? row[k - 1] : -std::numeric_limits<T>::infinity();
  }
  T t_cur = p.t_end;
  size_t e = events.size();
  while (e > 0) {
    const T t_g = events[e - 1].time;
    const T em = std::exp(-(t_cur - t_g) / p.tau_m), es = synaptic_decay(em, p);
    // Pass 1 (vectorisable): plain decay for the neurons that did not fire in (t_g, t_cur].
    int64_t fired = 0;
    for (int64_t i = 0; i < n_out; ++i) {
      const bool crosses = next_time[i] > t_g;
      T lvi = lv[i], lii = li[i];
      adjoint_decay(lvi, lii, em, es, p);
      lv[i] = crosses ? lv[i] : lvi;
      li[i] = crosses ? li[i] : lii;
      fired += crosses;
    }
    // Pass 2: the neurons that did, spike by spike.
    for (int64_t i = 0; fired > 0 && i < n_out; ++i) {
      if (next_time[i] > t_g) {
        const int64_t o = i * max_spikes;
        adjoint_across_spikes(lv[i], li[i], next_spike[i], t_cur, t_g, times + o, currents + o, grad_times + o, p);
        next_time[i] = next_spike[i] >= 0 ? times[o + next_spike[i]] : -std::numeric_limits<T>::infinity();
        --fired;
      }
    }
    for (int64_t i = 0; i < n_out; ++i) {
      coupling[i] = p.resistance * lv[i] - li[i];
      weight_grad[i] = -p.tau_s * li[i];
    }
    for (; e > 0 && events[e - 1].time == t_g; --e) {
      const InputEvent<T>& ev = events[e - 1];
      T* gw = grad_wt + ev.source * n_out;
#pragma omp simd
      for (int64_t i = 0; i < n_out; ++i) gw[i] += weight_grad[i];
      if (input_grad) {
        const T* w = wt + ev.source * n_out;
        T acc = T(0);
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n_out; ++i) acc += w[i] * coupling[i];
        grad_in[ev.slot] = acc;
      }
    }
    t_cur = t_g;
  }
}

void check_cpu_inputs(const at::Tensor& input_times, const at::Tensor& weight) {
  TORCH_CHECK_VALUE(input_times.dim() == 3 && weight.dim() == 2 && input_times.size(1) == weight.size(1),
                    "expected input_times [batch, n_in, k_in] and weight [n_out, n_in], got ",
                    input_times.sizes(), " and ", weight.sizes());
  TORCH_CHECK_VALUE(input_times.scalar_type() == weight.scalar_type(), "input_times and weight dtypes differ");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lif_forward_cpu(const at::Tensor& input_times,
                                                                const at::Tensor& weight, int64_t max_spikes,
                                                                double tau_m, double tau_s, double threshold,
                                                                double resistance, double t_end) {
  check_cpu_inputs(input_times, weight);
  const at::Tensor x = input_times.contiguous();
  const at::Tensor wt = weight.t().contiguous();
  const int64_t batch = x.size(0), n_in = x.size(1), k_in = x.size(2), n_out = weight.size(0);
  at::Tensor out_times = at::full({batch, n_out, max_spikes}, INFINITY, x.options());
  at::Tensor out_currents = at::zeros({batch, n_out, max_spikes}, x.options());
  at::Tensor counts = at::zeros({batch, n_out}, x.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* wp = wt.data_ptr<scalar_t>();
    scalar_t* tp = out_times.data_ptr<scalar_t>();
    scalar_t* cp = out_currents.data_ptr<scalar_t>();
    int64_t* np = counts.data_ptr<int64_t>();
    at::parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
      std::vector<InputEvent<scalar_t>> events;
      events.reserve(n_in * k_in);
      std::vector<scalar_t> state(4 * n_out);
      for (int64_t b = b0; b < b1; ++b) {
        collect_events(xp + b * n_in * k_in, n_in, k_in, p.t_end, events);
        forward_sample(events, wp, n_out, max_spikes, p, state.data(),
                       tp + b * n_out * max_spikes, cp + b * n_out * max_spikes, np + b * n_out);
      }
    });
  });
  return {out_times, out_currents, counts};
}

std::tuple<at::Tensor, at::Tensor> lif_backward_cpu(const at::Tensor& grad_spike_times,
                                                    const at::Tensor& input_times, const at::Tensor& weight,
                                                    const at::Tensor& spike_times, const at::Tensor& spike_currents,
                                                    double tau_m, double tau_s, double threshold,
                                                    double resistance, double t_end, bool input_grad) {
  check_cpu_inputs(input_times, weight);
  const at::Tensor x = input_times.contiguous();
  const at::Tensor wt = weight.t().contiguous();
  const at::Tensor g = grad_spike_times.contiguous();
  const at::Tensor st = spike_times.contiguous();
  const at::Tensor sc = spike_currents.contiguous();
  const int64_t batch = x.size(0), n_in = x.size(1), k_in = x.size(2), n_out = weight.size(0);
  const int64_t max_spikes = st.size(2);
  at::Tensor grad_in = at::zeros_like(x);
  // One private weight-gradient buffer per thread (samples run in parallel), summed at the end.
  const int64_t n_buffers = std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(batch, 1));
  at::Tensor grad_wt_buffers = at::zeros({n_buffers, n_in, n_out}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_backward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* wp = wt.data_ptr<scalar_t>();
    const scalar_t* gp = g.data_ptr<scalar_t>();
    const scalar_t* tp = st.data_ptr<scalar_t>();
    const scalar_t* cp = sc.data_ptr<scalar_t>();
    scalar_t* gip = grad_in.data_ptr<scalar_t>();
    scalar_t* gwp = grad_wt_buffers.data_ptr<scalar_t>();
    const int64_t chunk = (batch + n_buffers - 1) / n_buffers;
    at::parallel_for(0, n_buffers, 1, [&](int64_t c0, int64_t c1) {
      std::vector<InputEvent<scalar_t>> events;
      std::vector<scalar_t> scratch;
      std::vector<int64_t> next_spike;
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t b = c * chunk; b < std::min(batch, (c + 1) * chunk); ++b) {
          const int64_t o = b * n_out * max_spikes;
          collect_events(xp + b * n_in * k_in, n_in, k_in, p.t_end, events);
          backward_sample(events, wp, n_out, max_spikes, tp + o, cp + o, gp + o, p, input_grad, scratch, next_spike,
                          gip + b * n_in * k_in, gwp + c * n_in * n_out);
        }
      }
    });
  });
  at::Tensor grad_weight = grad_wt_buffers.sum(0).t().contiguous();
  return {grad_in, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) {
  m.impl("lif_forward", &lif_forward_cpu);
  m.impl("lif_backward", &lif_backward_cpu);
}

}  // namespace snn
