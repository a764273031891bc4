// Per-sample CPU simulation of one layer, shared by the layer operator (lif_cpu.cpp) and the fused
// network operator (network_cpu.cpp): the sample's input events in time order, the decays of the intervals
// between them, and the EventProp backward pass (the forward pass, which advances all neurons of the layer
// together between events, is forward_walk.h).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lane_decay.h"
#include "lif_math.h"

namespace snn {
namespace cpu {

// Input spikes are numbered by int32 slots (n_in * k_in of them): refused before any is numbered.
inline void check_input_slots(const at::Tensor& input_times) {
  TORCH_CHECK_VALUE(input_times.size(1) * input_times.size(2) < (int64_t(1) << 31),
                    "n_in * k_in must be < 2^31, got ", input_times.size(1) * input_times.size(2));
}

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

// e^{-span/tau_m} of every interval a layer's walk steps through (between the events' distinct times after the
// first, and from the last to t_end), in order: forward_walk.h's and backward_sample's decays. Computed ahead of
// the walk, the exps are independent of each other and of the walk's own chain of dependent operations.
template <typename T>
void interval_decays(const std::vector<InputEvent<T>>& events, const LifParams<T>& p, std::vector<T>& decays) {
  decays.clear();
  const size_t n_events = events.size();
  T t_prev = T(0);
  for (size_t e = 0;;) {
    const bool last = e == n_events;
    const T t_next = last ? p.t_end : events[e].time;
    const T span = t_next - t_prev;
    if (span > T(0) && e > 0) decays.push_back(span);
    if (last) break;
    for (; e < n_events && events[e].time == t_next; ++e) {
    }
    t_prev = t_next;
  }
  for (T& d : decays) d = std::exp(-d / p.tau_m);
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

// Neurons per row of the kernels' arrays: n_out rounded up to whole 64-byte vectors, so that the loops over a
// layer's neurons run in full vectors without a scalar remainder (Yin-Yang's layers have 3 to 40 neurons).
// The extra lanes have zero weights: they never fire and add exact zeros.
inline int64_t lanes_for(int64_t n_out, int64_t element_size) {
  const int64_t vector = 64 / element_size;
  return (n_out + vector - 1) / vector * vector;
}

// weight [n_out, n_in] as the kernels read it: [n_in, lanes] (one input's synapses contiguous), zero padded,
// into `out` (n_in * lanes values). Plain loops: a few small torch operators per layer would cost more than
// a Yin-Yang sample.
template <typename T>
void padded_transpose(const at::Tensor& weight, int64_t lanes, T* out) {
  const at::Tensor w = weight.contiguous();
  const T* src = w.data_ptr<T>();
  const int64_t n_out = w.size(0), n_in = w.size(1);
  std::fill_n(out, n_in * lanes, T(0));
  for (int64_t i = 0; i < n_out; ++i) {
    for (int64_t j = 0; j < n_in; ++j) out[j * lanes + i] = src[i * n_in + j];
  }
}

// Scratch per lane that a forward walk needs (forward_walk.h: its `state` argument holds this many T per lane,
// the four state arrays).
constexpr int64_t kForwardState = 4;

// Rows [n_out, max_spikes] of a layer's SpikeDecays, from neuron i's.
template <typename T>
SpikeDecays<T> neuron_rows(const SpikeDecays<T>& record, int64_t i, int64_t max_spikes) {
  const int64_t o = i * max_spikes;
  return {record.before + o, record.after + o, record.interval + o};
}

// dL/dt of an input spike: sum_i W_i (R lambda_V,i - lambda_I,i) over the layer's lanes (a multiple of 8). In
// eight partial sums added pairwise at the end: one running sum made every add wait for the one before, and
// that chain was a sixth of the adjoint's time.
template <typename T>
inline T input_time_gradient(const T* __restrict__ w, const T* __restrict__ lv, const T* __restrict__ li,
                             int64_t lanes, T resistance) {
  T part[8] = {};
  for (int64_t i = 0; i < lanes; i += 8) {
    for (int k = 0; k < 8; ++k) part[k] += w[i + k] * (resistance * lv[i + k] - li[i + k]);
  }
  return ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
}

// The EventProp adjoint of the forward walk (forward_walk.h), backwards through the sample's events; wt is [n_in, lanes].
// Adds -tau_s lambda_I (dL/dW) to grad_wt [n_in, lanes] (unless null) at every input spike and, with
// input_grad, dL/dt of each input spike to grad_in at its slot (the caller's buffer may already hold the
// loss's own gradient for it). `decays` and `record`, if given, are the forward walk's (the same intervals, in
// reverse; the record only with the decays); without them the decays are computed here, as the walk did.
template <typename T>
void backward_sample(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t lanes,
                     int64_t max_spikes, const T* times, const T* currents, const T* grad_times,
                     const LifParams<T>& params, bool input_grad, std::vector<T>& scratch,
                     std::vector<int64_t>& next_spike, T* grad_in, T* grad_wt, const std::vector<T>* decays = nullptr,
                     const SpikeDecays<T>* record = nullptr) {
  scratch.assign(3 * lanes, T(0));
  // Disjoint slices of one buffer; __restrict__ tells the compiler so, which lets it vectorise the loops.
  const LifParams<T> p = params;  // a local copy cannot alias the arrays either
  T* __restrict__ lv = scratch.data();
  T* __restrict__ li = lv + lanes;
  T* __restrict__ next_time = li + lanes;  // time of the latest own spike not yet crossed, -inf if none
  next_spike.resize(n_out);
  for (int64_t i = 0; i < lanes; ++i) {
    int64_t k = 0;
    if (i < n_out) {
      const T* row = times + i * max_spikes;
      while (k < max_spikes && row[k] < p.t_end) ++k;
      next_spike[i] = k - 1;
    }
    next_time[i] = k > 0 ? times[i * max_spikes + k - 1] : -std::numeric_limits<T>::infinity();
  }
  T t_cur = p.t_end;
  size_t e = events.size();
  thread_local std::vector<T> own_decays;
  if (!decays) {
    interval_decays(events, p, own_decays);
    decays = &own_decays;
    record = nullptr;
  }
  int64_t interval = int64_t(decays->size());
  while (e > 0) {
    const T t_g = events[e - 1].time;
    const T em = (*decays)[--interval];
    const T es = synaptic_decay(em, p);
    // Pass 1 (vectorised): plain decay for the neurons that did not fire in (t_g, t_cur].
    for (int64_t i = 0; i < lanes; ++i) {
      const bool keep = next_time[i] > t_g;
      T lvi = lv[i], lii = li[i];
      adjoint_decay(lvi, lii, em, es, p);
      lv[i] = keep ? lv[i] : lvi;
      li[i] = keep ? li[i] : lii;
    }
    // Pass 2: the neurons that did, spike by spike, through the bits of a vector comparison (a branch per
    // neuron, taken for one or two of them at random, cost more than their spikes).
    for (int64_t block = 0; block < n_out; block += 64) {
      for (uint64_t bits = lanes_after(next_time, block, std::min(n_out, block + 64), t_g); bits != 0; bits &= bits - 1) {
        const int64_t i = block + __builtin_ctzll(bits);
        const int64_t o = i * max_spikes;
        const SpikeDecays<T> rows = record ? neuron_rows(*record, i, max_spikes) : SpikeDecays<T>{};
        adjoint_across_spikes(lv[i], li[i], next_spike[i], t_cur, t_g, times + o, currents + o, grad_times + o, p,
                              record ? &rows : nullptr, int32_t(interval));
        next_time[i] = next_spike[i] >= 0 ? times[o + next_spike[i]] : -std::numeric_limits<T>::infinity();
      }
    }
    for (; e > 0 && events[e - 1].time == t_g; --e) {
      const InputEvent<T>& ev = events[e - 1];
      if (grad_wt) {  // dL/dW = -tau_s lambda_I
        T* __restrict__ gw = grad_wt + ev.source * lanes;
        for (int64_t i = 0; i < lanes; ++i) gw[i] += -p.tau_s * li[i];
      }
      if (input_grad) grad_in[ev.slot] += input_time_gradient(wt + ev.source * lanes, lv, li, lanes, p.resistance);
    }
    t_cur = t_g;
  }
}

}  // namespace cpu
}  // namespace snn
