// The paper's training losses (L_W, L, L_A; eqs. 9-14) for one sample, and their gradient w.r.t. every
// layer's spike times. Used by the batch loss operator (loss_cpu.cpp) and by the training-step operator
// (network_cpu.cpp), which computes it right after the sample's forward pass while its spikes are in cache.
// snn/losses.py is the reference both must equal (tests check it).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace snn {

constexpr double kMinInterval = 1e-6;  // ms; as _MIN_INTERVAL in snn/losses.py
enum LossKind : int64_t { kLW = 0, kL = 1, kLA = 2 };

template <typename T>
struct LossParams {
  int64_t kind;
  T alpha, eta, tau_0, tau_1, t_end;
};

// Sum over a layer's neurons of 1 / (t_p - t_1) for every spike p >= 2; adds scale * d/dt to grad.
template <typename T>
T spike_penalty(const T* times, T* grad, int64_t n_neurons, int64_t k, T scale) {
  T total = 0;
  for (int64_t a = 0; a < n_neurons; ++a) {
    const T* row = times + a * k;
    if (!std::isfinite(row[0])) continue;
    T first_grad = 0;
    for (int64_t p = 1; p < k && std::isfinite(row[p]); ++p) {
      const T gap = row[p] - row[0];
      if (gap > T(kMinInterval)) {
        total += T(1) / gap;
        const T g = scale / (gap * gap);
        grad[a * k + p] -= g;
        first_grad += g;
      } else {
        total += T(1) / T(kMinInterval);  // clamped: finite, and no gradient where the clamp binds
      }
    }
    grad[a * k] += first_grad;
  }
  return total;
}

// labels as int64 [batch], each in [0, n_out): the ValueError names the problem before any work is done.
inline at::Tensor checked_labels(const at::Tensor& labels, int64_t batch, int64_t n_out) {
  const at::Tensor target = labels.to(at::kLong).contiguous();
  TORCH_CHECK_VALUE(target.dim() == 1 && target.size(0) == batch, "labels must be [batch], got ", labels.sizes());
  const int64_t* y = target.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    TORCH_CHECK_VALUE(y[b] >= 0 && y[b] < n_out, "labels must lie in [0, ", n_out, "), got ", y[b]);
  }
  return target;
}

// One sample's loss (not yet divided by the batch size). `times[l]` / `grads[l]` point at the sample's
// [n[l], k[l]] block of layer l (output layer last); the gradient, scaled by `scale` (1 / batch), is added
// to `grads`, which the caller zeroes. `first` and `soft` are scratch of n_out entries.
template <typename T>
T sample_loss(const T* const* times, T* const* grads, const int64_t* n, const int64_t* k, int64_t n_layers,
              int64_t label, const LossParams<T>& lp, T scale, T* first, T* soft) {
  const int64_t last = n_layers - 1, n_out = n[last], k_out = k[last];
  const T* o = times[last];
  T* go = grads[last];
  // First spikes; a silent neuron counts with t_end and passes no gradient.
  T lowest = std::numeric_limits<T>::infinity();
  for (int64_t a = 0; a < n_out; ++a) {
    const T t = o[a * k_out];
    first[a] = std::isfinite(t) ? t : lp.t_end;
    lowest = std::min(lowest, first[a]);
  }
  T norm = 0;  // softmax(-first / tau_0), shifted by the largest logit for stability
  for (int64_t a = 0; a < n_out; ++a) norm += soft[a] = std::exp(-(first[a] - lowest) / lp.tau_0);
  T total = std::log(norm) + (first[label] - lowest) / lp.tau_0;
  for (int64_t a = 0; a < n_out; ++a) {
    T g = ((a == label) - soft[a] / norm) / lp.tau_0;
    const T grow = std::exp(first[a] / lp.tau_1);
    if (lp.kind == kLA) {
      total += lp.alpha * (grow - T(1)) / T(n_out);
      g += lp.alpha * grow / (lp.tau_1 * T(n_out));
    } else if (a == label) {
      total += lp.alpha * (grow - T(1));
      g += lp.alpha * grow / lp.tau_1;
    }
    if (std::isfinite(o[a * k_out])) go[a * k_out] += g * scale;
  }
  if (lp.kind != kLW) {
    for (int64_t l = 0; l < n_layers; ++l) total += lp.eta * spike_penalty(times[l], grads[l], n[l], k[l], lp.eta * scale);
  }
  return total;
}

}  // namespace snn
