// The CPU forward pass of one layer for one sample, as a walk through the sample's input events that can be
// stepped one interval at a time, so that several walks (the samples of a group: network_sample.h, lif_cpu.cpp)
// search their threshold crossings together (crossing_lanes.h). A step: the state of every neuron at the next
// event if it does not fire, decayed in vectors across the layer (lane_decay.h), and the first crossing search
// of each neuron that might fire pushed to the group's batch (begin); after the batch's search, every spike of
// those neurons on the interval (spikes); then the inputs at the interval's end (finish).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "crossing_lanes.h"
#include "lif_cpu_sample.h"

namespace snn {
namespace cpu {

// One sample through one layer of n_out neurons; wt is [n_in, lanes] (padded_transpose). out_times / counts
// must be +inf / 0 filled; `state` holds kForwardState * lanes values; `decays` receives e^{-span/tau_m} of
// every interval between events (interval_decays). With `emitted`, also appends the spikes that fit into
// out_times, time-sorted, as the next layer's input events (slot i * max_spikes + k); with `record`
// ([n_out, max_spikes] rows), the decays around each kept spike. backward_sample needs the decays and the
// record again.
template <typename T>
class ForwardWalk {
 public:
  ForwardWalk(const std::vector<InputEvent<T>>& events, const T* wt, int64_t n_out, int64_t lanes, int64_t max_spikes,
              const LifParams<T>& params, T* state, T* out_times, T* out_currents, int64_t* counts,
              std::vector<T>& decays, std::vector<InputEvent<T>>* emitted = nullptr,
              const SpikeDecays<T>* record = nullptr)
      : events_(events.data()), n_events_(events.size()), wt_(wt), n_out_(n_out), lanes_(lanes),
        max_spikes_(max_spikes), p_(params), out_times_(out_times), out_currents_(out_currents), counts_(counts),
        emitted_(emitted), decays_(&decays), record_(record ? *record : SpikeDecays<T>{}), recording_(record) {
    // The state at the current time and at the next event; the two swap roles at every event, so that the
    // neurons that do not fire need no copy.
    v_ = state;
    cur_ = v_ + lanes;
    v_next_ = cur_ + lanes;
    cur_next_ = v_next_ + lanes;
    std::fill(state, state + 2 * lanes, T(0));
    if (emitted_) emitted_->clear();
    interval_decays(events, p_, *decays_);
  }

  bool finished() const { return finished_; }
  const LifParams<T>& params() const { return p_; }

  // The interval up to the next event: decays every neuron and pushes the first crossing search of each one
  // that might fire to `batch`, tagged with (walk, neuron) (`walk`: this walk's index in its group).
  void begin(CrossingBatch<T>& batch, int32_t walk) {
    last_ = e_ == n_events_;
    t_next_ = last_ ? p_.t_end : events_[e_].time;
    span_ = t_next_ - t_prev_;
    in_interval_ = span_ > T(0) && e_ > 0;  // before the first event the state is zero: nothing can happen
    if (!in_interval_) return;
    em_ = (*decays_)[++interval_];
    es_ = synaptic_decay(em_, p_);
    // Pass 1 (branch-free, vectorised): the state at t_next if no neuron fires, and whether it might.
    for (int64_t block = 0; block < lanes_; block += 64) {
      const uint64_t bits = decay_lanes(v_, cur_, v_next_, cur_next_, block, std::min(lanes_, block + 64), em_, es_, p_);
      // The neurons that might fire, through the set bits (no branch per neuron). Padding lanes never reach
      // threshold > 0 from V = I = 0, and are skipped in case it is not positive. (v_next_, cur_next_ hold
      // decayed_state's very numbers, lane_decay.h.)
      for (uint64_t set = bits; set != 0; set &= set - 1) {
        const int64_t i = block + __builtin_ctzll(set);
        if (i >= n_out_) break;
        batch.push(v_[i], cur_[i], span_, v_next_[i], cur_next_[i], em_, {walk, int32_t(i)});
      }
    }
  }

  // After batch.search(), for each request this walk pushed: every spike of neuron i on the interval (the first
  // from the batch's answer `request`, any further one from its own search: few neurons fire twice on one
  // interval).
  void spikes(int64_t i, const CrossingBatch<T>& batch, int64_t request) {
    const int64_t before = counts_[i];
    T* times = out_times_ + i * max_spikes_;
    const SpikeDecays<T> rows = recording_ ? neuron_rows(record_, i, max_spikes_) : SpikeDecays<T>{};
    SpikeChain<T> chain = SpikeChain<T>::start(cur_[i], t_prev_, span_, em_, batch.v_end(request), batch.i_end(request));
    T d = batch.d(request), x = batch.x(request);
    const AfterSpike<T>* after = batch.after(request);
    while (chain.spike(d, x, after, p_, max_spikes_, times, out_currents_ + i * max_spikes_, counts_[i],
                       recording_ ? &rows : nullptr, interval_)) {
      d = chain.search_again(p_, x);
      after = nullptr;
    }
    v_next_[i] = chain.v_end;
    cur_next_[i] = chain.i_end;
    for (int64_t k = before; emitted_ && k < std::min(counts_[i], max_spikes_); ++k) {
      insert_sorted(*emitted_, {times[k], int32_t(i), int32_t(i * max_spikes_ + k)});
    }
  }

  // Once the spikes are in: the inputs at the interval's end.
  void finish() {
    if (in_interval_) {
      std::swap(v_, v_next_);
      std::swap(cur_, cur_next_);
    }
    if (last_) {
      finished_ = true;
      return;
    }
    for (; e_ < n_events_ && events_[e_].time == t_next_; ++e_) {  // simultaneous inputs merge into one event
      const T* __restrict__ w = wt_ + events_[e_].source * lanes_;
      T* __restrict__ c = cur_;
      for (int64_t i = 0; i < lanes_; ++i) c[i] += w[i];
    }
    t_prev_ = t_next_;
  }

 private:
  const InputEvent<T>* events_;
  size_t n_events_;
  const T* wt_;
  int64_t n_out_, lanes_, max_spikes_;
  LifParams<T> p_;  // a copy cannot alias the arrays
  T *v_, *cur_, *v_next_, *cur_next_;
  T *out_times_, *out_currents_;
  int64_t* counts_;
  std::vector<InputEvent<T>>* emitted_;
  std::vector<T>* decays_;
  SpikeDecays<T> record_;  // the rows it points to; used where recording_
  bool recording_;
  size_t e_ = 0;
  T t_prev_ = T(0), t_next_ = T(0), span_ = T(0), em_ = T(1), es_ = T(1);
  int32_t interval_ = -1;  // the intervals' index, as backward_sample counts them
  bool last_ = false, in_interval_ = false, finished_ = false;
};

// At most this many samples walk together: enough to fill the vectors of the searches at Yin-Yang sizes (about
// one search per sample and step in the hidden layers), few enough that a group's spike trains stay in cache.
constexpr int64_t kGroup = 8;

// Samples per group (and task) when a batch is shared by `workers` threads for its forward pass alone: kGroup,
// or fewer where a batch of fewer than 2 * kGroup samples per worker would leave a worker idle for a group.
inline int64_t forward_group_size(int64_t batch, int64_t workers) {
  const int64_t share = (batch + 2 * workers - 1) / std::max<int64_t>(2 * workers, 1);
  return std::max<int64_t>(1, std::min(kGroup, share));
}

// Walks that step together, and their batch of searches (a worker's, reused from group to group).
template <typename T>
struct WalkGroup {
  std::vector<ForwardWalk<T>> walks;
  CrossingBatch<T> batch;

  // Steps every walk to its end, one interval each per round, their first crossing searches of a round together.
  // Not inlined: callers keep the group in thread-local storage, whose address the inlined loop would look up
  // again (__tls_get_addr) after every call it makes.
  [[gnu::noinline]] void run() {
    const LifParams<T> p = walks[0].params();
    const int32_t count = int32_t(walks.size());
    while (true) {
      batch.clear();
      bool any = false;
      for (int32_t w = 0; w < count; ++w) {
        if (walks[w].finished()) continue;
        walks[w].begin(batch, w);
        any = true;
      }
      if (!any) return;
      batch.search(p);
      // one loop over the round's requests, not one per walk: each loop's end is a branch it mispredicts
      for (int64_t k = 0; k < batch.size(); ++k) walks[batch.tag(k).walk].spikes(batch.tag(k).neuron, batch, k);
      for (ForwardWalk<T>& walk : walks) {
        if (!walk.finished()) walk.finish();
      }
    }
  }
};

}  // namespace cpu
}  // namespace snn
