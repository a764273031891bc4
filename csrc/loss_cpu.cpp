// The paper's training losses (L_W, L, L_A; eqs. 9-14) and their gradients w.r.t. every layer's spike
// times, in one pass over the batch. snn/losses.py is the reference this must equal (tests check it); this
// fused form exists because at Yin-Yang's batch of 32 the ~60 small tensor ops of the reference (and their
// autograd nodes) cost as much as the spiking network itself.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace snn {
namespace {

constexpr double kMinInterval = 1e-6;  // ms; as _MIN_INTERVAL in snn/losses.py
enum LossKind : int64_t { kLW = 0, kL = 1, kLA = 2 };

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

std::tuple<at::Tensor, std::vector<at::Tensor>> spike_loss_cpu(at::TensorList layer_times, const at::Tensor& labels,
                                                               int64_t kind, double alpha, double eta, double tau_0,
                                                               double tau_1, double t_end) {
  TORCH_CHECK_VALUE(!layer_times.empty(), "layer_times must not be empty");
  TORCH_CHECK_VALUE(kind >= kLW && kind <= kLA, "kind must be 0 (L_W), 1 (L) or 2 (L_A), got ", kind);
  std::vector<at::Tensor> times, grads;
  for (const auto& t : layer_times) {
    TORCH_CHECK_VALUE(t.dim() == 3 && t.size(0) == layer_times[0].size(0), "spike times must be [batch, n, k]");
    times.push_back(t.contiguous());
    grads.push_back(at::zeros_like(times.back()));
  }
  const at::Tensor out = times.back();
  const int64_t batch = out.size(0), n_out = out.size(1), k_out = out.size(2);
  const at::Tensor target = labels.to(at::kLong).contiguous();
  TORCH_CHECK_VALUE(target.dim() == 1 && target.size(0) == batch, "labels must be [batch]");
  at::Tensor loss = at::zeros({}, out.options());
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "spike_loss_cpu", [&] {
    using T = scalar_t;
    const T inv_batch = batch ? T(1) / T(batch) : T(0);
    const T* o = out.data_ptr<T>();
    T* go = grads.back().data_ptr<T>();
    const int64_t* y = target.data_ptr<int64_t>();
    std::vector<T> first(n_out), soft(n_out);
    T total = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t label = y[b];
      TORCH_CHECK_VALUE(label >= 0 && label < n_out, "labels must lie in [0, ", n_out, "), got ", label);
      // First spikes; a silent neuron counts with t_end and passes no gradient.
      T lowest = std::numeric_limits<T>::infinity();
      for (int64_t a = 0; a < n_out; ++a) {
        const T t = o[(b * n_out + a) * k_out];
        first[a] = std::isfinite(t) ? t : T(t_end);
        lowest = std::min(lowest, first[a]);
      }
      T norm = 0;  // softmax(-first / tau_0), shifted by the largest logit for stability
      for (int64_t a = 0; a < n_out; ++a) norm += soft[a] = std::exp(-(first[a] - lowest) / T(tau_0));
      total += std::log(norm) + (first[label] - lowest) / T(tau_0);
      for (int64_t a = 0; a < n_out; ++a) {
        T g = ((a == label) - soft[a] / norm) / T(tau_0);
        const T grow = std::exp(first[a] / T(tau_1));
        if (kind == kLA) {
          total += T(alpha) * (grow - T(1)) / T(n_out);
          g += T(alpha) * grow / (T(tau_1) * T(n_out));
        } else if (a == label) {
          total += T(alpha) * (grow - T(1));
          g += T(alpha) * grow / T(tau_1);
        }
        const int64_t i = (b * n_out + a) * k_out;
        if (std::isfinite(o[i])) go[i] = g * inv_batch;
      }
      if (kind != kLW) {
        for (size_t l = 0; l < times.size(); ++l) {
          const int64_t n = times[l].size(1), k = times[l].size(2);
          total += T(eta) * spike_penalty(times[l].data_ptr<T>() + b * n * k, grads[l].data_ptr<T>() + b * n * k, n,
                                          k, T(eta) * inv_batch);
        }
      }
    }
    loss.fill_(total * inv_batch);
  });
  return {loss, grads};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) { m.impl("spike_loss", &spike_loss_cpu); }

}  // namespace snn
