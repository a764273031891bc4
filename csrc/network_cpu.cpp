// CPU implementation of snn::network_forward / snn::network_backward: a whole feed-forward stack in one
// operator call. Each task takes one sample through every layer (forward) and back (backward), so a training
// step costs one parallel region and one autograd node instead of one per layer, and a sample's spike
// trains stay in the core's cache between layers. The per-layer work is exactly the layer operator's
// (lif_cpu_sample.h), so both operators give identical results.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "lif_cpu_sample.h"

namespace snn {
namespace {

using TensorVector = std::vector<at::Tensor>;

void check_network(const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes) {
  TORCH_CHECK_VALUE(!weights.empty() && weights.size() == max_spikes.size(),
                    "need one weight and one max_spikes per layer, got ", weights.size(), " weights and ",
                    max_spikes.size(), " max_spikes");
  TORCH_CHECK_VALUE(input_times.dim() == 3, "input_times must be [batch, n_in, k_in], got ", input_times.sizes());
  int64_t n_in = input_times.size(1);
  for (size_t l = 0; l < weights.size(); ++l) {
    TORCH_CHECK_VALUE(weights[l].dim() == 2 && weights[l].size(1) == n_in, "weights[", l, "] must be [n_out, ",
                      n_in, "], got ", weights[l].sizes());
    TORCH_CHECK_VALUE(weights[l].scalar_type() == input_times.scalar_type(), "weights[", l,
                      "] dtype differs from input_times");
    TORCH_CHECK_VALUE(max_spikes[l] >= 1, "max_spikes must be >= 1, got ", max_spikes[l]);
    n_in = weights[l].size(0);
  }
}

TensorVector transposed(at::TensorList weights) {
  TensorVector wt;
  for (const auto& w : weights) wt.push_back(w.t().contiguous());
  return wt;
}

std::tuple<TensorVector, TensorVector, TensorVector> network_forward_cpu(
    const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes, double tau_m, double tau_s,
    double threshold, double resistance, double t_end) {
  check_network(input_times, weights, max_spikes);
  const at::Tensor x = input_times.contiguous();
  const TensorVector wt = transposed(weights);
  const int64_t batch = x.size(0), n_layers = weights.size();
  TensorVector times, currents, counts;
  int64_t widest = 0;
  for (int64_t l = 0; l < n_layers; ++l) {
    const int64_t n_out = weights[l].size(0);
    widest = std::max(widest, n_out);
    times.push_back(at::full({batch, n_out, max_spikes[l]}, INFINITY, x.options()));
    currents.push_back(at::zeros({batch, n_out, max_spikes[l]}, x.options()));
    counts.push_back(at::zeros({batch, n_out}, x.options().dtype(at::kLong)));
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_forward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    at::parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
      std::vector<cpu::InputEvent<scalar_t>> events;
      std::vector<scalar_t> state(4 * widest);
      for (int64_t b = b0; b < b1; ++b) {
        const scalar_t* in = x.data_ptr<scalar_t>() + b * x.size(1) * x.size(2);
        int64_t n_in = x.size(1), k_in = x.size(2);
        for (int64_t l = 0; l < n_layers; ++l) {
          const int64_t n_out = weights[l].size(0), k = max_spikes[l], o = b * n_out * k;
          cpu::collect_events(in, n_in, k_in, p.t_end, events, /*validate=*/l == 0);
          cpu::forward_sample(events, wt[l].data_ptr<scalar_t>(), n_out, k, p, state.data(),
                              times[l].data_ptr<scalar_t>() + o, currents[l].data_ptr<scalar_t>() + o,
                              counts[l].data_ptr<int64_t>() + b * n_out);
          in = times[l].data_ptr<scalar_t>() + o;
          n_in = n_out;
          k_in = k;
        }
      }
    });
  });
  return {times, currents, counts};
}

std::tuple<at::Tensor, TensorVector> network_backward_cpu(at::TensorList grad_times, const at::Tensor& input_times,
                                                          at::TensorList weights, at::TensorList times,
                                                          at::TensorList currents, double tau_m, double tau_s,
                                                          double threshold, double resistance, double t_end,
                                                          bool input_grad) {
  const int64_t n_layers = weights.size();
  TORCH_CHECK_VALUE(grad_times.size() == weights.size() && times.size() == weights.size() &&
                        currents.size() == weights.size(),
                    "need one gradient, spike-time and current tensor per layer");
  const at::Tensor x = input_times.contiguous();
  const TensorVector wt = transposed(weights);
  TensorVector g, st, sc, grad_wt_buffers;
  const int64_t batch = x.size(0);
  const int64_t n_buffers = std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(batch, 1));
  int64_t widest = x.size(1) * x.size(2);
  for (int64_t l = 0; l < n_layers; ++l) {
    g.push_back(grad_times[l].contiguous());
    st.push_back(times[l].contiguous());
    sc.push_back(currents[l].contiguous());
    widest = std::max(widest, times[l].size(1) * times[l].size(2));
    grad_wt_buffers.push_back(at::zeros({n_buffers, weights[l].size(1), weights[l].size(0)}, x.options()));
  }
  at::Tensor grad_in = at::zeros_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_backward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    const int64_t chunk = (batch + n_buffers - 1) / n_buffers;
    at::parallel_for(0, n_buffers, 1, [&](int64_t c0, int64_t c1) {
      std::vector<cpu::InputEvent<scalar_t>> events;
      std::vector<scalar_t> scratch, grad_out(widest), grad_below(widest);
      std::vector<int64_t> next_spike;
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t b = c * chunk; b < std::min(batch, (c + 1) * chunk); ++b) {
          // dL/d(spike times) of the layer being processed: the loss's own gradient plus, for hidden
          // layers, what the layer above sent down.
          const int64_t last = n_layers - 1, size_last = st[last].size(1) * st[last].size(2);
          std::copy_n(g[last].data_ptr<scalar_t>() + b * size_last, size_last, grad_out.data());
          for (int64_t l = last; l >= 0; --l) {
            const int64_t n_out = st[l].size(1), k = st[l].size(2), o = b * n_out * k;
            const bool first = l == 0;
            const int64_t n_in = first ? x.size(1) : st[l - 1].size(1), k_in = first ? x.size(2) : st[l - 1].size(2);
            const scalar_t* in = first ? x.data_ptr<scalar_t>() + b * n_in * k_in : st[l - 1].data_ptr<scalar_t>() + b * n_in * k_in;
            scalar_t* below = first ? grad_in.data_ptr<scalar_t>() + b * n_in * k_in : grad_below.data();
            if (!first) std::fill_n(below, n_in * k_in, scalar_t(0));
            cpu::collect_events(in, n_in, k_in, p.t_end, events, /*validate=*/false);
            cpu::backward_sample(events, wt[l].data_ptr<scalar_t>(), n_out, k, st[l].data_ptr<scalar_t>() + o,
                                 sc[l].data_ptr<scalar_t>() + o, grad_out.data(), p, !first || input_grad, scratch,
                                 next_spike, below,
                                 grad_wt_buffers[l].data_ptr<scalar_t>() + c * weights[l].numel());
            if (!first) {
              const scalar_t* own = g[l - 1].data_ptr<scalar_t>() + b * n_in * k_in;
              for (int64_t s = 0; s < n_in * k_in; ++s) grad_out[s] = below[s] + own[s];
            }
          }
        }
      }
    });
  });
  TensorVector grad_weights;
  for (const auto& buffers : grad_wt_buffers) grad_weights.push_back(buffers.sum(0).t().contiguous());
  return {grad_in, grad_weights};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) {
  m.impl("network_forward", &network_forward_cpu);
  m.impl("network_backward", &network_backward_cpu);
}

}  // namespace snn
