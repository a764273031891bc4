// The first crossing searches of one step of many event walks (neurons of several samples), searched together
// in the lanes of one vector. Most searches of a Yin-Yang step are of two kinds: V rising through theta over
// the whole interval, or (the first layer's last interval) rising to a maximum inside it. Their scalar search
// (first_crossing) is a long chain of dependent divisions, polynomial steps and branches on its own
// convergence; here they run eight (float: sixteen) at a time, first_crossing's operations lane by lane, and
// so does after_spike for the crossings found. A lane that needs anything else (a minimum inside, a
// bisection, more than eight steps) is searched again from the start by first_crossing. Which of the two
// answers a search gets depends on its own operands only, never on its neighbours in the vector, so no result
// depends on how the searches are grouped: every CPU path of the operators goes through CrossingBatch, and
// they agree to the last bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lif_math.h"

namespace snn {
namespace cpu {

// One 64-byte vector of T (GCC vector extensions: AVX-512 where the CPU has it, split into halves or
// quarters elsewhere) and the matching lane mask (all bits set where true).
template <typename T>
struct LaneTypes;
template <>
struct LaneTypes<double> {
  static constexpr int W = 8;
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t M __attribute__((vector_size(64)));
};
template <>
struct LaneTypes<float> {
  static constexpr int W = 16;
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t M __attribute__((vector_size(64)));
};

template <typename V>
inline V lane_abs(V x) {
  return x < 0 ? -x : x;
}

// What crossing_lanes found for each lane (all bits set where true).
template <typename T>
struct LaneAnswers {
  typename LaneTypes<T>::M crossing;  // x holds the crossing
  typename LaneTypes<T>::M none;      // V stays below theta on the interval (first_crossing's -1)
};

// W first searches, lane l on (v0, i0) at the interval's start, (v_end, i_end, x_end) at its end: for each lane
// either x = e^{-d/tau_m} at the crossing, or that there is none, or neither (first_crossing's job: a minimum
// inside, a bisection, more than eight steps). Two kinds of interval are searched here: V rising over the whole
// interval through theta (most spikes; started from first_crossing's inverse cubic Hermite interpolation), and
// V ending below theta with a maximum inside (the first layer's last interval, mostly; bracketed at the
// maximum, started from the secant or the end, as first_crossing does). The arithmetic is first_crossing's,
// step by step.
template <typename T>
inline LaneAnswers<T> crossing_lanes(const T* v0_in, const T* i0_in, const T* v_end_in, const T* i_end_in,
                                     const T* x_end_in, const LifParams<T>& p, T* x_out) {
  using V = typename LaneTypes<T>::V;
  using M = typename LaneTypes<T>::M;
  V v0, i0, ve, ie, xe;
  std::memcpy(&v0, v0_in, sizeof(V));
  std::memcpy(&i0, i0_in, sizeof(V));
  std::memcpy(&ve, v_end_in, sizeof(V));
  std::memcpy(&ie, i_end_in, sizeof(V));
  std::memcpy(&xe, x_end_in, sizeof(V));
  const T theta = p.threshold, R = p.resistance, r = p.ratio;
  const V c = p.kappa * i0, a = v0 - c;
  V f_above = ve - theta;
  const V f_below = v0 - theta;
  const V rise_start = R * i0 - v0, rise_end = R * ie - ve;  // tau_m dV/dt at the interval's ends
  const M below = f_below < T(0);
  const M rising = below & (f_above >= T(0)) & (rise_start > T(0)) & (rise_end > T(0));
  // may_cross's bound on a maximum inside, for the lanes that end below theta
  const V r0 = R * i0, r_end = R * ie;
  const V bound = r0 > r_end ? r0 : r_end;
  const V slack = p.tol * (lane_abs(v0) + T(4) * lane_abs(bound));
  const M ends_below = f_above < T(0);
  const M peak_possible = ends_below & (r0 > v0) & (r_end < ve) & (bound + (v0 - bound) * xe >= theta - slack);
  M none = ends_below & ~peak_possible;
  M peak = peak_possible & below;
  V x_above = xe, x_below = V{} + T(1);
  for (int l = 0; l < LaneTypes<T>::W; ++l) {  // the maximum's x, where dV/dx = 0 (extremum_x: a cube root)
    if (peak[l]) x_above[l] = extremum_x(a[l], c[l], p);
  }
  x_above = x_above < xe ? xe : (x_above > T(1) ? T(1) : x_above);
  const V f_max = a * x_above + c * (x_above * x_above) * (x_above * x_above) - theta;
  none |= peak & (f_max < T(0));
  peak &= f_max >= T(0);
  f_above = peak ? f_max : f_above;
  // The start, as first_crossing chooses it: the inverse cubic Hermite interpolation where V rises over the whole
  // interval (double only), else the secant on short spans, else the end where the curve bends away from the root.
  const V height = f_above - f_below, t = -f_below / height;
  const V hermite = x_below + (x_above - x_below) * t * t * (T(3) - T(2) * t) -
                    height * t * (T(1) - t) * ((T(1) - t) / rise_start - t * xe / rise_end);
  const V secant = x_below - f_below * (x_above - x_below) / (f_above - f_below);
  const V end = (r - T(1)) * c < T(0) ? x_below : x_above;
  const M use_hermite = sizeof(T) >= 8 ? rising : rising & ~rising;
  const M hermite_ok = use_hermite & (hermite > x_above) & (hermite < x_below);
  const M secant_ok = ~use_hermite & below & (f_above > f_below) & (x_above > T(0.75)) & (secant > x_above) &
                      (secant < x_below);
  V x = hermite_ok ? hermite : (secant_ok ? secant : end), result = x;
  // V ends at or above theta without a minimum inside (R I0 >= V0), or has a maximum that reaches it
  M active = (below & ~ends_below & (r0 >= v0)) | peak;
  M done = {};  // lanes with a proven root in `result`
  for (int iter = 0; iter < 8; ++iter) {
    const V xr2 = x * x, xr1 = xr2 * x;  // x^(ratio - 2), x^(ratio - 1) for the default ratio 4
    const V f = a * x + c * xr1 * x - theta;
    const M above = f >= T(0);
    x_above = (active & above) ? x : x_above;
    x_below = (active & ~above) ? x : x_below;
    const M zero = active & (f == T(0));
    result = zero ? x : result;
    done |= zero;
    active &= ~zero;
    const V df = a + r * c * xr1, inv_df = T(1) / df, newton = f * inv_df;
    const V step = lane_abs(newton);
    const M converged = active & (df < T(0)) & (step <= p.tol * x);
    result = converged ? x - newton : result;
    done |= converged;
    active &= ~converged;
    const V q = r * (r - T(1)) * c * xr2 * inv_df, h = T(0.5) * newton * q;
    const M near = lane_abs(h) <= T(0.125);
    const V next = x - (near ? newton * (T(1) + h) : newton);
    active &= (df < T(0)) & (next > x_above) & (next < x_below);  // else a bisection: first_crossing's job
    const V e3 = newton * newton * step;
    const M landed = active & near &
                     ((T(0.5) * q * q * next + lane_abs((r - T(2)) * q) * T(1.0 / 6.0)) * e3 <= T(0.125) * p.tol * next * next);
    result = landed ? next : result;
    done |= landed;
    active &= ~landed;
    x = next;
    bool more = false;
    for (int l = 0; l < LaneTypes<T>::W; ++l) more |= active[l] != 0;
    if (!more) break;
  }
  std::memcpy(x_out, &result, sizeof(V));
  return {done, none};
}

// after_spike (lif_math.h) of W crossings at once: lane l's spike at x[l] from the interval's start (current
// i0[l] there, x_end[l] to its end), the same operations lane by lane.
template <typename T>
inline void after_spike_lanes(const T* i0_in, const T* x_in, const T* x_end_in, const LifParams<T>& p,
                              AfterSpike<T>* out) {
  using V = typename LaneTypes<T>::V;
  V i0, x, xe;
  std::memcpy(&i0, i0_in, sizeof(V));
  std::memcpy(&x, x_in, sizeof(V));
  std::memcpy(&xe, x_end_in, sizeof(V));
  const V x2 = x * x, current = i0 * (x2 * x2);
  const V em_rest = xe / x, e2 = em_rest * em_rest, es_rest = e2 * e2;
  const V c = p.kappa * current;
  const V v_end = (T(0) - c) * em_rest + c * es_rest, i_end = current * es_rest;
  // may_cross(0, current, v_end, i_end, em_rest)
  const T R = p.resistance;
  const V r0 = R * current, r_end = R * i_end;
  const V bound = r0 > r_end ? r0 : r_end;
  const V slack = p.tol * (T(0) + T(4) * lane_abs(bound));
  const auto again = (v_end >= p.threshold) |
                     ((r0 > T(0)) & (r_end < v_end) & (bound + (T(0) - bound) * em_rest >= p.threshold - slack));
  for (int l = 0; l < LaneTypes<T>::W; ++l) out[l] = {current[l], em_rest[l], v_end[l], i_end[l], again[l] != 0};
}

// Whose search a request is: the walk's index in its group, and the neuron.
struct SearchTag {
  int32_t walk, neuron;
};

// The first searches of one round of a group's walks: requests pushed in a structure of arrays (padded to
// whole vectors), searched together by search(), answers read back by index.
template <typename T>
class CrossingBatch {
 public:
  static constexpr int W = LaneTypes<T>::W;

  void clear() { size_ = 0; }
  int64_t size() const { return size_; }

  // A first search on an interval of `span`, from (v0, i0) to (v_end, i_end), x_end = e^{-span/tau_m};
  // returns its index.
  int64_t push(T v0, T i0, T span, T v_end, T i_end, T x_end, SearchTag tag = {}) {
    if (size_ == capacity_) grow();
    tags_[size_] = tag;
    T* row = columns_.data() + size_;
    row[0] = v0;
    row[capacity_] = i0;
    row[2 * capacity_] = span;
    row[3 * capacity_] = v_end;
    row[4 * capacity_] = i_end;
    row[5 * capacity_] = x_end;
    return size_++;
  }

  // Every pushed search: d (first_crossing's: the offset of the first crossing, -1 if none) and x.
  void search(const LifParams<T>& p) {
    const T* v0 = column(0);
    const T* i0 = column(1);
    const T* span = column(2);
    const T* v_end = column(3);
    const T* i_end = column(4);
    const T* x_end = column(5);
    const bool lanes = p.integer_ratio == 4;  // crossing_lanes computes x^ratio as x * x * x * x
    for (int64_t b = 0; b < size_; b += W) {
      LaneAnswers<T> found = {};
      if (lanes) {
        // the last vector's unused lanes repeat the last search, so that they compute nothing undefined
        for (int64_t k = size_; k < b + W; ++k) copy_request(size_ - 1, k);
        found = crossing_lanes(v0 + b, i0 + b, v_end + b, i_end + b, x_end + b, p, x_.data() + b);
        after_spike_lanes(i0 + b, x_.data() + b, x_end + b, p, after_.data() + b);
      }
      for (int64_t k = b; k < std::min(size_, b + W); ++k) {
        has_after_[k] = found.crossing[k - b] != 0;
        if (found.crossing[k - b]) {
          const T d = -p.tau_m * std::log(x_[k]);
          d_[k] = d < span[k] ? d : span[k];
        } else if (found.none[k - b]) {
          d_[k] = T(-1);
        } else {
          T x = T(1);
          d_[k] = first_crossing(v0[k], i0[k], span[k], v_end[k], i_end[k], x_end[k], p, x);
          x_[k] = x;
        }
      }
    }
  }

  T d(int64_t k) const { return d_[k]; }
  T x(int64_t k) const { return x_[k]; }
  // after_spike of the crossing found, where crossing_lanes found it (else null: SpikeChain::spike computes it)
  const AfterSpike<T>* after(int64_t k) const { return has_after_[k] ? &after_[k] : nullptr; }
  T v_end(int64_t k) const { return column(3)[k]; }
  T i_end(int64_t k) const { return column(4)[k]; }
  SearchTag tag(int64_t k) const { return tags_[k]; }

 private:
  const T* column(int c) const { return columns_.data() + c * capacity_; }

  void copy_request(int64_t from, int64_t to) {
    for (int c = 0; c < 6; ++c) columns_[c * capacity_ + to] = columns_[c * capacity_ + from];
  }

  void grow() {
    const int64_t capacity = std::max<int64_t>(4 * W, 2 * capacity_);
    std::vector<T> columns(6 * capacity);
    for (int c = 0; c < 6; ++c) std::copy_n(columns_.data() + c * capacity_, size_, columns.data() + c * capacity);
    columns_.swap(columns);
    capacity_ = capacity;
    d_.resize(capacity);
    x_.resize(capacity);
    after_.resize(capacity);
    has_after_.resize(capacity);
    tags_.resize(capacity);
  }

  std::vector<T> columns_;  // v0, i0, span, v_end, i_end, x_end, each `capacity_` long
  std::vector<T> d_, x_;
  std::vector<AfterSpike<T>> after_;
  std::vector<char> has_after_;
  std::vector<SearchTag> tags_;
  int64_t size_ = 0, capacity_ = 0;
};

}  // namespace cpu
}  // namespace snn
