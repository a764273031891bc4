// Per-sample CPU simulation of one layer, shared by the layer operator (lif_cpu.cpp) and the fused
// network operator (network_cpu.cpp): the sample's input events in time order, the forward pass that
// advances all neurons of the layer together between events, and the EventProp backward pass.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lif_math.h"

namespace snn {
namespace cpu {

template <typename T>
struct InputEvent {
  T time;
  int32_t source;  // presynaptic neuron j
  int32_t slot;    // flat index j * k_in + s into the sample's input row (for the time gradient)
};

// Merges the adjacent sorted runs [begin, mid) and [mid, end) of src into dst. Without a branch per element
// (which the processor could not predict): the comparison selects the element. Ties take the left run,
// whose slots are all smaller, so the result is ordered by (time, slot).
template <typename T>
void merge_runs(const InputEvent<T>* src, InputEvent<T>* dst, int64_t begin, int64_t mid, int64_t end) {
  int64_t i = begin, j = mid, k = begin;
  while (i < mid && j < end) {
    const bool right = src[j].time < src[i].time;
    dst[k++] = right ? src[j] : src[i];
    j += right;
    i += !right;
  }
  while (i < mid) dst[k++] = src[i++];
  while (j < end) dst[k++] = src[j++];
}

// The sample's input spikes before t_end, in (time, slot) order. Each input row is already sorted, so the
// rows are sorted runs, merged pairwise (log2(rows) linear passes instead of a comparison sort: a third of
// the cost at Yin-Yang's ~150 events per layer). With `validate`, also checks what only a pass over the
// values can check, so that bad input raises ValueError instead of producing a wrong answer; without it
// (spike trains this kernel produced itself, or inputs a forward pass already checked) each row is read
// only up to its first spike at or after t_end.
template <typename T>
void collect_events(const T* times, int64_t n_in, int64_t k_in, T t_end, std::vector<InputEvent<T>>& events,
                    bool validate = true) {
  thread_local std::vector<int64_t> run_ends;  // scratch, reused across calls on this thread
  thread_local std::vector<InputEvent<T>> spare;
  events.clear();
  run_ends.clear();
  for (int64_t j = 0; j < n_in; ++j) {
    const T* row = times + j * k_in;
    T previous = -std::numeric_limits<T>::infinity();
    for (int64_t s = 0; s < k_in; ++s) {
      const T t = row[s];
      // One compare covers both checks on the hot path: NaN fails every comparison.
      if (validate && !(t >= previous)) {
        TORCH_CHECK_VALUE(!std::isnan(t), "input_times contains NaN (input neuron ", j, ", slot ", s,
                          "); use +inf for 'no spike'");
        TORCH_CHECK_VALUE(false, "each input_times row must be sorted ascending, got ", previous, " before ", t,
                          " (input neuron ", j, "); sort with torch.sort(dim=-1)");
      }
      previous = t;
      if (t < t_end) {
        events.push_back({t, int32_t(j), int32_t(j * k_in + s)});
      } else if (!validate) {
        break;
      }
    }
    if (!events.empty() && (run_ends.empty() || run_ends.back() < int64_t(events.size()))) {
      run_ends.push_back(events.size());
    }
  }
  spare.resize(events.size());
  InputEvent<T>* src = events.data();
  InputEvent<T>* dst = spare.data();
  while (run_ends.size() > 1) {
    size_t kept = 0;
    for (size_t r = 0; r < run_ends.size(); r += 2) {
      const int64_t begin = r == 0 ? 0 : run_ends[r - 1];
      if (r + 1 < run_ends.size()) {
        merge_runs(src, dst, begin, run_ends[r], run_ends[r + 1]);
        run_ends[kept++] = run_ends[r + 1];
      } else {
        std::copy(src + begin, src + run_ends[r], dst + begin);
        run_ends[kept++] = run_ends[r];
      }
    }
    run_ends.resize(kept);
    std::swap(src, dst);
  }
  if (src != events.data()) events.swap(spare);
}

// The forward pass's event order, kept for the backward pass so that it need not collect and sort the
// same events again (sorting is a fifth of a training step's work): order[0] is the number of events,
// order[1..] their slots. A layer's order buffer has room for n_in * k_in + 1 entries.
template <typename T>
void save_order(const std::vector<InputEvent<T>>& events, int32_t* order) {
  order[0] = int32_t(events.size());
  for (size_t e = 0; e < events.size(); ++e) order[e + 1] = events[e].slot;
}

template <typename T>
void restore_events(const T* times, int64_t n_in, int64_t k_in, const int32_t* order, std::vector<InputEvent<T>>& events) {
  TORCH_CHECK_VALUE(order[0] >= 0 && order[0] <= n_in * k_in, "event order count out of range: ", order[0],
                    "; pass the event_orders that network_forward returned");
  events.resize(order[0]);
  for (int32_t e = 0; e < order[0]; ++e) {
    const int32_t slot = order[e + 1];
    TORCH_CHECK_VALUE(slot >= 0 && slot < n_in * k_in, "event order slot out of range: ", slot,
                      "; pass the event_orders that network_forward returned");
    events[e] = {times[slot], int32_t(slot / k_in), slot};
  }
}

// Inserts a spike into a time-sorted event list. The forward pass emits spikes interval by interval, and an
// interval's spikes all come after the earlier intervals', so a spike moves past at most the few emitted in
// its own interval: the next layer gets its events in (time, slot) order, as collect_events would sort them,
// without a sort.
template <typename T>
void insert_sorted(std::vector<InputEvent<T>>& events, InputEvent<T> event) {
  size_t k = events.size();
  events.push_back(event);
  for (; k > 0; --k) {
    const InputEvent<T>& before = events[k - 1];
    if (before.time < event.time || (before.time == event.time && before.slot < event.slot)) break;
    events[k] = before;
  }
  events[k] = event;
}

// Scratch per output neuron that forward_sample needs (its `state` argument holds this many T per neuron).
constexpr int64_t kForwardState = 5;

// One sample through one layer. out_times / counts must be +inf / 0 filled. With `emitted`, also appends
// the spikes that fit into out_times, time-sorted, as the next layer's input events (slot i * max_spikes + k).
template <typename T>
void forward_sample(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t max_spikes,
                    const LifParams<T>& params, T* state, T* out_times, T* out_currents, int64_t* counts,
                    std::vector<InputEvent<T>>* emitted = nullptr) {
  // Disjoint slices of one buffer; __restrict__ tells the compiler so, which lets it vectorise the loops.
  const LifParams<T> p = params;
  T* __restrict__ v = state;
  T* __restrict__ cur = v + n_out;
  T* __restrict__ v_end = cur + n_out;
  T* __restrict__ i_end = v_end + n_out;
  T* __restrict__ maybe = i_end + n_out;  // 1 where a crossing is possible on the current interval
  std::fill(state, state + 2 * n_out, T(0));
  if (emitted) emitted->clear();
  const size_t n_events = events.size();
  size_t e = 0;
  T t_prev = T(0);
  while (true) {
    const bool last = e == n_events;
    const T t_next = last ? p.t_end : events[e].time;
    const T span = t_next - t_prev;
    if (span > T(0) && e > 0) {  // before the first event the state is zero: nothing can happen
      const T em = std::exp(-span / p.tau_m), es = synaptic_decay(em, p);
      // Pass 1 (branch-free, vectorisable): the state at t_next if no neuron fires, and whether it might.
      int64_t candidates = 0;  // an integer: a floating-point sum would not vectorise (in-order adds)
      for (int64_t i = 0; i < n_out; ++i) {
        const T ve = membrane(v[i], p.kappa * cur[i], em, es), ie = cur[i] * es;
        const bool crossing = crossing_possible(v[i], cur[i], ve, ie, p);
        maybe[i] = crossing ? T(1) : T(0);
        v_end[i] = ve;
        i_end[i] = ie;
        candidates += crossing;
      }
      if (candidates == 0) {
        std::copy(v_end, v_end + 2 * n_out, v);  // v_end, i_end are laid out like v, cur
      } else {
        // Pass 2: exact crossing search where one is possible.
        for (int64_t i = 0; i < n_out; ++i) {
          if (maybe[i] == T(0)) {
            v[i] = v_end[i];
            cur[i] = i_end[i];
            continue;
          }
          const int64_t before = counts[i];
          T* times = out_times + i * max_spikes;
          advance_neuron(v[i], cur[i], t_prev, span, em, es, p, max_spikes, times, out_currents + i * max_spikes,
                         counts[i]);
          for (int64_t k = before; emitted && k < std::min(counts[i], max_spikes); ++k) {
            insert_sorted(*emitted, {times[k], int32_t(i), int32_t(i * max_spikes + k)});
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

template <typename T>
void backward_sample(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t max_spikes,
                     const T* times, const T* currents, const T* grad_times, const LifParams<T>& params,
                     bool input_grad, std::vector<T>& scratch, std::vector<int64_t>& next_spike, T* grad_in,
                     T* grad_wt) {
  scratch.assign(5 * n_out, T(0));
  // Disjoint slices of one buffer; __restrict__ tells the compiler so, which lets it vectorise the loops.
  const LifParams<T> p = params;  // a local copy cannot alias the arrays either
  T* __restrict__ lv = scratch.data();
  T* __restrict__ li = lv + n_out;
  T* __restrict__ coupling = li + n_out;      // R lambda_V - lambda_I: the input-time gradient per unit weight
  T* __restrict__ weight_grad = coupling + n_out;  // -tau_s lambda_I: the weight gradient per input spike
  T* __restrict__ next_time = weight_grad + n_out; // time of the latest own spike not yet crossed, -inf if none
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
      const bool keep = next_time[i] > t_g;
      T lvi = lv[i], lii = li[i];
      adjoint_decay(lvi, lii, em, es, p);
      lv[i] = keep ? lv[i] : lvi;
      li[i] = keep ? li[i] : lii;
      fired += keep ? 1 : 0;
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
      if (grad_wt) {
        T* gw = grad_wt + ev.source * n_out;
#pragma omp simd
        for (int64_t i = 0; i < n_out; ++i) gw[i] += weight_grad[i];
      }
      if (input_grad) {
        const T* w = wt + ev.source * n_out;
        T acc = T(0);
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n_out; ++i) acc += w[i] * coupling[i];
        grad_in[ev.slot] += acc;  // the caller's buffer may already hold the loss's own gradient
      }
    }
    t_cur = t_g;
  }
}

}  // namespace cpu
}  // namespace snn
