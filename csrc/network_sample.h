// One sample's trip through a feed-forward stack, the per-sample work of the network operators
// (network_cpu.cpp): forward through every layer, each layer handing the next its spikes already in time
// order (the forward walk emits them sorted), and the EventProp adjoint back through every layer, replaying
// the event lists the forward pass kept. The per-layer work is exactly the layer operator's
// (forward_walk.h, lif_cpu_sample.h), so the network and chained layer operators agree to the last bit.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "forward_walk.h"
#include "lif_cpu_sample.h"

namespace snn {
namespace cpu {

// Sizes of a stack: layer l has n[l] neurons keeping up to k[l] spikes each, in rows of lanes[l] (lanes_for);
// its input is n[l-1] x k[l-1] (n_in x k_in for layer 0).
struct Stack {
  int64_t n_in, k_in;
  std::vector<int64_t> n, k, lanes;
  int64_t layers() const { return int64_t(n.size()); }
  int64_t inputs(int64_t l) const { return l == 0 ? n_in : n[l - 1]; }
  int64_t input_slots(int64_t l) const { return l == 0 ? n_in * k_in : n[l - 1] * k[l - 1]; }
  int64_t spike_slots(int64_t l) const { return n[l] * k[l]; }
};

// A worker's buffers, reused from sample to sample: allocations stay out of the per-sample path.
template <typename T>
struct SampleScratch {
  std::vector<std::vector<InputEvent<T>>> events;  // [layer]: the layer's input events, time-sorted
  std::vector<std::vector<T>> currents;            // [layer]: synaptic current at each kept spike
  std::vector<std::vector<T>> grad_times;          // [layer]: dL/d(spike time) of each kept spike
  std::vector<std::vector<T>> decays;              // [layer]: e^{-span/tau_m} per interval (interval_decays)
  std::vector<std::vector<T>> spike_before, spike_after;  // [layer]: SpikeDecays of each kept spike
  std::vector<std::vector<int32_t>> spike_interval;
  std::vector<T> state, adjoint;
  std::vector<int64_t> next_spike;

  void fit(const Stack& s) {
    events.resize(s.layers());
    currents.resize(s.layers());
    grad_times.resize(s.layers());
    decays.resize(s.layers());
    spike_before.resize(s.layers());
    spike_after.resize(s.layers());
    spike_interval.resize(s.layers());
    for (int64_t l = 0; l < s.layers(); ++l) {
      events[l].reserve(s.input_slots(l));
      currents[l].resize(s.spike_slots(l));
      grad_times[l].resize(s.spike_slots(l));
      spike_before[l].resize(s.spike_slots(l));
      spike_after[l].resize(s.spike_slots(l));
      spike_interval[l].resize(s.spike_slots(l));
    }
  }

  SpikeDecays<T> record(int64_t l) {
    return {spike_before[l].data(), spike_after[l].data(), spike_interval[l].data()};
  }
};

// Where one sample's per-layer results go: spike times, currents and true counts (tensor rows or scratch).
template <typename T>
struct SampleOutputs {
  std::vector<T*> times, currents;
  std::vector<int64_t*> counts;
};

// Forward through every layer (wt[l]: padded_transpose of layer l's weight) for `count` samples together,
// sample g from its [n_in, k_in] row inputs[g] (checked while read: NaN, order) into outs[g], with
// scratch[g]: the samples' walks through a layer step together, so that their crossing searches share
// vectors (forward_walk.h). Leaves each layer's input events in scratch[g]->events for the backward pass.
template <typename T>
void forward_group(const T* const* inputs, int64_t count, const Stack& s, const std::vector<const T*>& wt,
                   const LifParams<T>& p, const SampleOutputs<T>* outs, SampleScratch<T>* const* scratch,
                   WalkGroup<T>& group) {
  std::vector<ForwardWalk<T>>& walks = group.walks;
  for (int64_t g = 0; g < count; ++g) {
    collect_events(inputs[g], s.n_in, s.k_in, p.t_end, scratch[g]->events[0], /*validate=*/true);
  }
  for (int64_t l = 0; l < s.layers(); ++l) {
    const int64_t n_out = s.n[l], k = s.k[l];
    walks.clear();
    for (int64_t g = 0; g < count; ++g) {
      SampleScratch<T>& sc = *scratch[g];
      const SampleOutputs<T>& out = outs[g];
      sc.state.resize(std::max<size_t>(sc.state.size(), kForwardState * s.lanes[l]));
      std::fill_n(out.times[l], n_out * k, std::numeric_limits<T>::infinity());
      std::fill_n(out.counts[l], n_out, int64_t(0));
      const SpikeDecays<T> record = sc.record(l);
      walks.emplace_back(sc.events[l], wt[l], n_out, s.lanes[l], k, p, sc.state.data(), out.times[l], out.currents[l],
                         out.counts[l], sc.decays[l], l + 1 < s.layers() ? &sc.events[l + 1] : nullptr,
                         &record);
    }
    group.run();
  }
}

// EventProp back through every layer, given scratch.events (and decays) from forward_group, or the events
// restored from a forward call's event orders (`restored`), and scratch.grad_times holding dL/d(spike times)
// of every layer (the loss's own gradient; the hidden layers' entries grow by what the layer above sends down). Adds dL/dW^T (layer l: [n_in, lanes]) to grad_wt[l] and,
// when grad_input is not null, dL/d(input times) to the sample's grad_input row.
template <typename T>
void backward_stack(const Stack& s, const std::vector<const T*>& wt, const std::vector<const T*>& times,
                    const std::vector<const T*>& currents, const LifParams<T>& p, SampleScratch<T>& scratch,
                    const std::vector<T*>& grad_wt, T* grad_input, bool restored = false) {
  for (int64_t l = s.layers() - 1; l >= 0; --l) {
    T* below = l > 0 ? scratch.grad_times[l - 1].data() : grad_input;
    const SpikeDecays<T> record = scratch.record(l);
    backward_sample(scratch.events[l], wt[l], s.n[l], s.lanes[l], s.k[l], times[l], currents[l],
                    scratch.grad_times[l].data(), p, below != nullptr, scratch.adjoint, scratch.next_spike, below,
                    grad_wt[l], restored ? nullptr : &scratch.decays[l], restored ? nullptr : &record);
  }
}

}  // namespace cpu
}  // namespace snn
