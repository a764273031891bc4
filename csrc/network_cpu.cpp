// CPU implementation of the whole-network operators: snn::network_forward, snn::network_forward_loss (the
// forward pass and the training loss with its gradient, one call per training step) and
// snn::network_backward. Each task takes one sample through every layer (forward) and back (backward), so a
// training step costs one parallel region per direction and a sample's spike trains stay in the core's
// cache between layers. The per-layer work is exactly the layer operator's (lif_cpu_sample.h) and the loss
// is exactly snn::spike_loss's (loss_sample.h), so the operators agree to the last bit.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

#include "lif_cpu_sample.h"
#include "loss_sample.h"

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

int64_t worker_count(int64_t batch) { return std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(batch, 1)); }

// Runs fn(sample, worker) for every sample, each worker taking the next sample when it finishes one:
// samples differ several-fold in spike count, and a static split would leave a thread idle at the end.
template <typename Fn>
void for_each_sample(int64_t batch, int64_t workers, const Fn& fn) {
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      for (int64_t b = next++; b < batch; b = next++) fn(b, w);
    }
  });
}

template <typename Fn>
void for_each_sample_statically(int64_t batch, int64_t workers, const Fn& fn) {
  const int64_t chunk = (batch + workers - 1) / workers;
  at::parallel_for(0, workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      for (int64_t b = w * chunk; b < std::min(batch, (w + 1) * chunk); ++b) fn(b, w);
    }
  });
}

struct Outputs {
  TensorVector times, currents, counts, orders;  // orders: each layer input's event order (save_order)
};

Outputs allocate_outputs(const at::Tensor& x, at::TensorList weights, at::IntArrayRef max_spikes) {
  Outputs out;
  const int64_t batch = x.size(0);
  for (size_t l = 0; l < weights.size(); ++l) {
    const int64_t n_out = weights[l].size(0);
    // Uninitialised: each sample's rows are initialised by the task that computes them (in parallel and
    // while they are in that core's cache), see forward_network_sample.
    out.times.push_back(at::empty({batch, n_out, max_spikes[l]}, x.options()));
    out.currents.push_back(at::empty({batch, n_out, max_spikes[l]}, x.options()));  // read only below a count
    out.counts.push_back(at::empty({batch, n_out}, x.options().dtype(at::kLong)));
    const int64_t inputs = l == 0 ? x.size(1) * x.size(2) : weights[l - 1].size(0) * max_spikes[l - 1];
    out.orders.push_back(at::empty({batch, inputs + 1}, x.options().dtype(at::kInt)));
  }
  return out;
}

// One sample through every layer; `events` and `state` are the worker's scratch.
template <typename T>
void forward_network_sample(int64_t b, const at::Tensor& x, const TensorVector& wt, at::IntArrayRef max_spikes,
                            const LifParams<T>& p, Outputs& out, std::vector<cpu::InputEvent<T>>& events,
                            std::vector<T>& state) {
  const T* in = x.data_ptr<T>() + b * x.size(1) * x.size(2);
  int64_t n_in = x.size(1), k_in = x.size(2);
  for (size_t l = 0; l < wt.size(); ++l) {
    const int64_t n_out = wt[l].size(1), k = max_spikes[l], o = b * n_out * k;
    state.resize(std::max<size_t>(state.size(), 4 * n_out));
    std::fill_n(out.times[l].data_ptr<T>() + o, n_out * k, std::numeric_limits<T>::infinity());
    std::fill_n(out.counts[l].data_ptr<int64_t>() + b * n_out, n_out, int64_t(0));
    cpu::collect_events(in, n_in, k_in, p.t_end, events, /*validate=*/l == 0);
    cpu::save_order(events, out.orders[l].data_ptr<int32_t>() + b * out.orders[l].size(1));
    cpu::forward_sample(events, wt[l].data_ptr<T>(), n_out, k, p, state.data(), out.times[l].data_ptr<T>() + o,
                        out.currents[l].data_ptr<T>() + o, out.counts[l].data_ptr<int64_t>() + b * n_out);
    in = out.times[l].data_ptr<T>() + o;
    n_in = n_out;
    k_in = k;
  }
}

// Every sample through every layer into `out` (from allocate_outputs; dynamically scheduled), then
// after_sample(b, worker) while the sample's spikes are still in that core's cache.
template <typename T, typename AfterSample>
void forward_network(const at::Tensor& x, at::TensorList weights, at::IntArrayRef max_spikes, const LifParams<T>& p,
                     int64_t workers, Outputs& out, const AfterSample& after_sample) {
  const TensorVector wt = transposed(weights);
  std::vector<std::vector<cpu::InputEvent<T>>> events(workers);
  std::vector<std::vector<T>> state(workers);
  for_each_sample(x.size(0), workers, [&](int64_t b, int64_t w) {
    forward_network_sample(b, x, wt, max_spikes, p, out, events[w], state[w]);
    after_sample(b, w);
  });
}

std::tuple<TensorVector, TensorVector, TensorVector, TensorVector> network_forward_cpu(
    const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes, double tau_m, double tau_s,
    double threshold, double resistance, double t_end) {
  check_network(input_times, weights, max_spikes);
  const at::Tensor x = input_times.contiguous();
  Outputs out = allocate_outputs(x, weights, max_spikes);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_forward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    forward_network(x, weights, max_spikes, p, worker_count(x.size(0)), out, [](int64_t, int64_t) {});
  });
  return {out.times, out.currents, out.counts, out.orders};
}

// Spikes beyond max_spikes, summed per layer: one small tensor, so that checking for overflow costs the
// caller one read instead of a reduction per layer.
at::Tensor excess_spikes(const TensorVector& counts, at::IntArrayRef max_spikes) {
  at::Tensor excess = at::zeros({int64_t(counts.size())}, counts[0].options());
  int64_t* e = excess.data_ptr<int64_t>();
  for (size_t l = 0; l < counts.size(); ++l) {
    const int64_t* c = counts[l].data_ptr<int64_t>();
    for (int64_t i = 0; i < counts[l].numel(); ++i) e[l] += std::max<int64_t>(c[i] - max_spikes[l], 0);
  }
  return excess;
}

std::tuple<at::Tensor, TensorVector, TensorVector, TensorVector, TensorVector, TensorVector, at::Tensor>
network_forward_loss_cpu(
    const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes, double tau_m, double tau_s,
    double threshold, double resistance, double t_end, const at::Tensor& labels, int64_t kind, double alpha,
    double eta, double tau_0, double tau_1) {
  check_network(input_times, weights, max_spikes);
  TORCH_CHECK_VALUE(kind >= kLW && kind <= kLA, "kind must be 0 (L_W), 1 (L) or 2 (L_A), got ", kind);
  const at::Tensor x = input_times.contiguous();
  const int64_t batch = x.size(0), n_layers = weights.size(), n_out = weights.back().size(0);
  const at::Tensor target = checked_labels(labels, batch, n_out);
  const int64_t* y = target.data_ptr<int64_t>();
  TensorVector grads;
  std::vector<int64_t> n, k;
  for (int64_t l = 0; l < n_layers; ++l) {
    n.push_back(weights[l].size(0));
    k.push_back(max_spikes[l]);
    grads.push_back(at::empty({batch, n[l], k[l]}, x.options()));  // zeroed per sample, in the parallel region
  }
  at::Tensor loss = at::zeros({}, x.options());
  Outputs out = allocate_outputs(x, weights, max_spikes);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_forward_loss_cpu", [&] {
    using T = scalar_t;
    const auto p = LifParams<T>::make(tau_m, tau_s, threshold, resistance, t_end);
    const LossParams<T> lp{kind, T(alpha), T(eta), T(tau_0), T(tau_1), T(t_end)};
    const T inv_batch = batch ? T(1) / T(batch) : T(0);
    const int64_t workers = worker_count(batch);
    std::vector<std::vector<T>> scratch(workers, std::vector<T>(2 * n_out));
    std::vector<T> sample_losses(batch);
    std::vector<std::vector<const T*>> times(workers, std::vector<const T*>(n_layers));
    std::vector<std::vector<T*>> sample_grads(workers, std::vector<T*>(n_layers));
    forward_network(x, weights, max_spikes, p, workers, out, [&](int64_t b, int64_t w) {
      for (int64_t l = 0; l < n_layers; ++l) {
        times[w][l] = out.times[l].data_ptr<T>() + b * n[l] * k[l];
        sample_grads[w][l] = grads[l].data_ptr<T>() + b * n[l] * k[l];
        std::fill_n(sample_grads[w][l], n[l] * k[l], T(0));
      }
      sample_losses[b] = sample_loss(times[w].data(), sample_grads[w].data(), n.data(), k.data(), n_layers, y[b], lp,
                                     inv_batch, scratch[w].data(), scratch[w].data() + n_out);
    });
    T total = 0;  // summed in sample order: the same loss whatever the thread count
    for (const T value : sample_losses) total += value;
    loss.fill_(total * inv_batch);
  });
  return {loss, out.times, out.currents, out.counts, out.orders, grads, excess_spikes(out.counts, max_spikes)};
}

std::tuple<at::Tensor, TensorVector> network_backward_cpu(at::TensorList grad_times, const at::Tensor& input_times,
                                                          at::TensorList weights, at::TensorList times,
                                                          at::TensorList currents, at::TensorList orders,
                                                          double tau_m, double tau_s,
                                                          double threshold, double resistance, double t_end,
                                                          bool input_grad) {
  const int64_t n_layers = weights.size();
  TORCH_CHECK_VALUE(grad_times.size() == weights.size() && times.size() == weights.size() &&
                        currents.size() == weights.size() && orders.size() == weights.size(),
                    "need one gradient, spike-time, current and event-order tensor per layer");
  const at::Tensor x = input_times.contiguous();
  const TensorVector wt = transposed(weights);
  TensorVector g, st, sc, ord, grad_wt_buffers;
  const int64_t batch = x.size(0), workers = worker_count(batch);
  int64_t widest = x.size(1) * x.size(2);
  for (int64_t l = 0; l < n_layers; ++l) {
    const int64_t inputs = l == 0 ? x.size(1) * x.size(2) : times[l - 1].size(1) * times[l - 1].size(2);
    TORCH_CHECK_VALUE(orders[l].scalar_type() == at::kInt && orders[l].dim() == 2 && orders[l].size(0) == batch &&
                          orders[l].size(1) == inputs + 1,
                      "event_orders[", l, "] must be int32 [", batch, ", ", inputs + 1, "] as network_forward returns it");
    ord.push_back(orders[l].contiguous());
    g.push_back(grad_times[l].contiguous());
    st.push_back(times[l].contiguous());
    sc.push_back(currents[l].contiguous());
    widest = std::max(widest, times[l].size(1) * times[l].size(2));
    grad_wt_buffers.push_back(at::zeros({workers, weights[l].size(1), weights[l].size(0)}, x.options()));
  }
  at::Tensor grad_in = at::zeros_like(x);
  TensorVector grad_weights;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_backward_cpu", [&] {
    using T = scalar_t;
    const auto p = LifParams<T>::make(tau_m, tau_s, threshold, resistance, t_end);
    struct Scratch {
      std::vector<cpu::InputEvent<T>> events;
      std::vector<T> adjoint, grad_out, grad_below;
      std::vector<int64_t> next_spike;
    };
    std::vector<Scratch> scratch(workers);
    // Fixed sample-to-worker assignment (unlike the forward pass): each worker sums its samples' weight
    // gradients, so a fixed assignment makes the gradient bit-for-bit reproducible for a thread count.
    for_each_sample_statically(batch, workers, [&](int64_t b, int64_t w) {
      Scratch& s = scratch[w];
      s.grad_out.resize(widest);
      s.grad_below.resize(widest);
      // dL/d(spike times) of the layer being processed: the loss's own gradient plus, for hidden layers,
      // what the layer above sent down.
      const int64_t last = n_layers - 1, size_last = st[last].size(1) * st[last].size(2);
      std::copy_n(g[last].data_ptr<T>() + b * size_last, size_last, s.grad_out.data());
      for (int64_t l = last; l >= 0; --l) {
        const int64_t n_out = st[l].size(1), k = st[l].size(2), o = b * n_out * k;
        const bool first = l == 0;
        const int64_t n_in = first ? x.size(1) : st[l - 1].size(1), k_in = first ? x.size(2) : st[l - 1].size(2);
        const T* in = (first ? x.data_ptr<T>() : st[l - 1].data_ptr<T>()) + b * n_in * k_in;
        T* below = first ? grad_in.data_ptr<T>() + b * n_in * k_in : s.grad_below.data();
        if (!first) std::fill_n(below, n_in * k_in, T(0));
        cpu::restore_events(in, n_in, k_in, ord[l].data_ptr<int32_t>() + b * ord[l].size(1), s.events);
        cpu::backward_sample(s.events, wt[l].data_ptr<T>(), n_out, k, st[l].data_ptr<T>() + o, sc[l].data_ptr<T>() + o,
                             s.grad_out.data(), p, !first || input_grad, s.adjoint, s.next_spike, below,
                             grad_wt_buffers[l].data_ptr<T>() + w * weights[l].numel());
        if (!first) {
          const T* own = g[l - 1].data_ptr<T>() + b * n_in * k_in;
          for (int64_t i = 0; i < n_in * k_in; ++i) s.grad_out[i] = below[i] + own[i];
        }
      }
    });
    // Per-worker buffers are [n_in, n_out] (contiguous per input neuron, as the adjoint writes them): sum
    // them into the first in worker order (deterministic), then one blocked transpose to [n_out, n_in].
    for (int64_t l = 0; l < n_layers; ++l) {
      T* buf = grad_wt_buffers[l].data_ptr<T>();
      const int64_t size = weights[l].numel();
      for (int64_t w = 1; w < workers; ++w) {
        const T* other = buf + w * size;
        for (int64_t i = 0; i < size; ++i) buf[i] += other[i];
      }
      grad_weights.push_back(grad_wt_buffers[l][0].t().contiguous());
    }
  });
  return {grad_in, grad_weights};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) {
  m.impl("network_forward", &network_forward_cpu);
  m.impl("network_forward_loss", &network_forward_loss_cpu);
  m.impl("network_backward", &network_backward_cpu);
}

}  // namespace snn
