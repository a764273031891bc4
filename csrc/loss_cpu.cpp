// snn::spike_loss on the CPU: the paper's training loss over a batch of a network's spike times and its
// gradient w.r.t. every layer's spike times, in one pass (the per-sample math is loss_sample.h). It exists
// because at Yin-Yang's batch of 32 the ~60 small tensor ops of the Python reference (snn/losses.py, which
// this must equal) and their autograd nodes cost as much as the spiking network itself.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

#include "loss_sample.h"

namespace snn {
namespace {

std::tuple<at::Tensor, std::vector<at::Tensor>> spike_loss_cpu(at::TensorList layer_times, const at::Tensor& labels,
                                                               int64_t kind, double alpha, double eta, double tau_0,
                                                               double tau_1, double t_end) {
  TORCH_CHECK_VALUE(!layer_times.empty(), "layer_times must not be empty");
  TORCH_CHECK_VALUE(kind >= kLW && kind <= kLA, "kind must be 0 (L_W), 1 (L) or 2 (L_A), got ", kind);
  std::vector<at::Tensor> times, grads;
  std::vector<int64_t> n, k;
  for (const auto& t : layer_times) {
    TORCH_CHECK_VALUE(t.dim() == 3 && t.size(0) == layer_times[0].size(0), "spike times must be [batch, n, k]");
    times.push_back(t.contiguous());
    grads.push_back(at::zeros_like(times.back()));
    n.push_back(t.size(1));
    k.push_back(t.size(2));
  }
  const int64_t batch = times[0].size(0), n_layers = times.size(), n_out = n.back();
  const at::Tensor target = checked_labels(labels, batch, n_out);
  at::Tensor loss = at::zeros({}, times[0].options());
  AT_DISPATCH_FLOATING_TYPES(times[0].scalar_type(), "spike_loss_cpu", [&] {
    using T = scalar_t;
    const LossParams<T> lp{kind, T(alpha), T(eta), T(tau_0), T(tau_1), T(t_end)};
    const T inv_batch = batch ? T(1) / T(batch) : T(0);
    const int64_t* y = target.data_ptr<int64_t>();
    std::vector<T> first(n_out), soft(n_out);
    std::vector<const T*> sample_times(n_layers);
    std::vector<T*> sample_grads(n_layers);
    T total = 0;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t l = 0; l < n_layers; ++l) {
        sample_times[l] = times[l].data_ptr<T>() + b * n[l] * k[l];
        sample_grads[l] = grads[l].data_ptr<T>() + b * n[l] * k[l];
      }
      total += sample_loss(sample_times.data(), sample_grads.data(), n.data(), k.data(), n_layers, y[b], lp,
                           inv_batch, first.data(), soft.data());
    }
    loss.fill_(total * inv_batch);
  });
  return {loss, grads};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) { m.impl("spike_loss", &spike_loss_cpu); }

}  // namespace snn
