// CPU implementation of the whole-network operators: snn::network_forward, snn::network_backward (a stack of
// layers as one autograd node) and snn::network_forward_loss (a training step: forward pass, loss and, on
// request, the EventProp gradients, all in one call). Each task takes a chunk of samples through every layer,
// in groups of up to 8 that walk each layer together (their crossing searches share vectors, forward_walk.h),
// and each sample of a group back (network_sample.h), so a training step is one parallel region and a group's
// spike trains stay in the core's cache from its forward pass to its backward pass. The loss is exactly
// snn::spike_loss's (loss_sample.h), so the operators agree with their compositions to the last bit.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "gradient_chunks.h"
#include "loss_sample.h"
#include "network_sample.h"
#include "workers.h"

namespace snn {
namespace {

using TensorVector = std::vector<at::Tensor>;

void check_network(const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes) {
  TORCH_CHECK_VALUE(!weights.empty() && weights.size() == max_spikes.size(),
                    "need one weight and one max_spikes per layer, got ", weights.size(), " weights and ",
                    max_spikes.size(), " max_spikes");
  TORCH_CHECK_VALUE(input_times.dim() == 3, "input_times must be [batch, n_in, k_in], got ", input_times.sizes());
  cpu::check_input_slots(input_times);
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

cpu::Stack stack_of(const at::Tensor& x, at::TensorList weights, at::IntArrayRef max_spikes) {
  cpu::Stack s{x.size(1), x.size(2), {}, {}, {}};
  for (size_t l = 0; l < weights.size(); ++l) {
    s.n.push_back(weights[l].size(0));
    s.k.push_back(max_spikes[l]);
    s.lanes.push_back(cpu::lanes_for(weights[l].size(0), x.element_size()));
  }
  return s;
}

// Every layer's weights as the event loops read them (padded_transpose), in one buffer.
template <typename T>
struct PaddedWeights {
  std::vector<T> buffer;
  std::vector<const T*> layers;

  PaddedWeights(at::TensorList weights, const cpu::Stack& s) {
    std::vector<int64_t> offsets;
    for (int64_t l = 0; l < s.layers(); ++l) {
      offsets.push_back(buffer.size());
      buffer.resize(buffer.size() + s.inputs(l) * s.lanes[l]);
    }
    for (int64_t l = 0; l < s.layers(); ++l) {
      cpu::padded_transpose(weights[l], s.lanes[l], buffer.data() + offsets[l]);
      layers.push_back(buffer.data() + offsets[l]);
    }
  }
};

int64_t worker_count(int64_t batch) { return std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(batch, 1)); }

struct Outputs {
  TensorVector times, currents, counts;
};

Outputs allocate_outputs(const at::Tensor& x, const cpu::Stack& s, bool with_currents) {
  Outputs out;
  const int64_t batch = x.size(0);
  for (int64_t l = 0; l < s.layers(); ++l) {
    // Uninitialised: each sample's rows are filled by the task that computes them (see forward_stack).
    out.times.push_back(at::empty({batch, s.n[l], s.k[l]}, x.options()));
    if (with_currents) out.currents.push_back(at::empty({batch, s.n[l], s.k[l]}, x.options()));  // see rows_of
    out.counts.push_back(at::empty({batch, s.n[l]}, x.options().dtype(at::kLong)));
  }
  return out;
}

// Sample b's rows of `out`; currents from `out` if it has them, else the worker's scratch.
template <typename T>
cpu::SampleOutputs<T> rows_of(int64_t b, const cpu::Stack& s, const Outputs& out, cpu::SampleScratch<T>& scratch) {
  cpu::SampleOutputs<T> rows;
  for (int64_t l = 0; l < s.layers(); ++l) {
    const int64_t o = b * s.spike_slots(l);
    rows.times.push_back(out.times[l].data_ptr<T>() + o);
    rows.currents.push_back(out.currents.empty() ? scratch.currents[l].data() : out.currents[l].data_ptr<T>() + o);
    rows.counts.push_back(out.counts[l].data_ptr<int64_t>() + b * s.n[l]);
  }
  return rows;
}

// A worker's scratch, kept by its thread from call to call (the worker pool's threads, csrc/workers.h, live
// as long as the process).
template <typename T>
cpu::SampleScratch<T>& thread_scratch(const cpu::Stack& s) {
  thread_local cpu::SampleScratch<T> scratch;
  scratch.fit(s);
  return scratch;
}

using cpu::kGroup;

// A worker's scratch for groups of samples. Reached through a function that is not inlined, so that the loops
// below hold its address instead of asking for the thread's copy (__tls_get_addr) after every call they make.
template <typename T>
struct GroupScratch {
  std::vector<cpu::SampleScratch<T>> members = std::vector<cpu::SampleScratch<T>>(kGroup);
  cpu::WalkGroup<T> group;
};

template <typename T>
[[gnu::noinline]] GroupScratch<T>& group_scratch() {
  thread_local GroupScratch<T> scratch;
  return scratch;
}

// Samples [begin, end) forward through the stack, in groups of up to kGroup (forward_group), each sample's
// rows and scratch handed to `each` (in sample order) right after its group's forward pass.
template <typename T, typename F>
void forward_groups(int64_t begin, int64_t end, const T* x, const cpu::Stack& s, const std::vector<const T*>& w,
                    const LifParams<T>& p, const Outputs& out, F&& each) {
  GroupScratch<T>& worker = group_scratch<T>();
  std::vector<cpu::SampleScratch<T>>& scratch = worker.members;
  cpu::WalkGroup<T>& group = worker.group;
  cpu::SampleScratch<T>* members[kGroup];
  const T* inputs[kGroup];
  std::vector<cpu::SampleOutputs<T>> rows;
  for (int64_t first = begin; first < end; first += kGroup) {
    const int64_t count = std::min(kGroup, end - first);
    rows.clear();
    for (int64_t g = 0; g < count; ++g) {
      scratch[g].fit(s);
      members[g] = &scratch[g];
      inputs[g] = x + (first + g) * s.input_slots(0);
      rows.push_back(rows_of(first + g, s, out, scratch[g]));
    }
    cpu::forward_group(inputs, count, s, w, p, rows.data(), members, group);
    for (int64_t g = 0; g < count; ++g) each(first + g, rows[g], scratch[g]);
  }
}

std::tuple<TensorVector, TensorVector, TensorVector, TensorVector> network_forward_cpu(
    const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes, double tau_m, double tau_s,
    double threshold, double resistance, double t_end) {
  check_network(input_times, weights, max_spikes);
  const at::Tensor x = input_times.contiguous();
  const cpu::Stack s = stack_of(x, weights, max_spikes);
  Outputs out = allocate_outputs(x, s, /*with_currents=*/true);
  TensorVector orders;  // each layer input's events in the order the forward pass took them (save_order)
  for (int64_t l = 0; l < s.layers(); ++l) orders.push_back(at::empty({x.size(0), s.input_slots(l) + 1}, x.options().dtype(at::kInt)));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_forward_cpu", [&] {
    using T = scalar_t;
    const auto p = LifParams<T>::make(tau_m, tau_s, threshold, resistance, t_end);
    const PaddedWeights<T> padded(weights, s);
    const std::vector<const T*>& w = padded.layers;
    const int64_t batch = x.size(0), size = cpu::forward_group_size(batch, worker_count(batch));
    cpu::run_tasks((batch + size - 1) / size, [&](int64_t group) {
      const int64_t begin = group * size, end = std::min(batch, begin + size);
      for (int64_t l = 0; l < s.layers(); ++l) {  // 0 where no spike
        std::fill_n(out.currents[l].data_ptr<T>() + begin * s.spike_slots(l), (end - begin) * s.spike_slots(l), T(0));
      }
      forward_groups(begin, end, x.data_ptr<T>(), s, w, p, out,
                     [&](int64_t b, const cpu::SampleOutputs<T>&, cpu::SampleScratch<T>& scratch) {
        for (int64_t l = 0; l < s.layers(); ++l) {
          int32_t* order = orders[l].data_ptr<int32_t>() + b * orders[l].size(1);
          cpu::save_order(scratch.events[l], order);
          std::fill(order + 1 + scratch.events[l].size(), order + orders[l].size(1), -1);  // defined past the count
        }
      });
    });
  });
  return {out.times, out.currents, out.counts, orders};
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

std::tuple<at::Tensor, at::Tensor, TensorVector, TensorVector, at::Tensor, TensorVector> network_forward_loss_cpu(
    const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes, double tau_m, double tau_s,
    double threshold, double resistance, double t_end, const at::Tensor& labels, int64_t kind, double alpha,
    double eta, double tau_0, double tau_1, bool input_grad, bool weight_grad) {
  check_network(input_times, weights, max_spikes);
  TORCH_CHECK_VALUE(kind >= kLW && kind <= kLA, "kind must be 0 (L_W), 1 (L) or 2 (L_A), got ", kind);
  const at::Tensor x = input_times.contiguous();
  const cpu::Stack s = stack_of(x, weights, max_spikes);
  const int64_t batch = x.size(0), n_layers = s.layers(), n_out = s.n.back();
  const at::Tensor target = checked_labels(labels, batch, n_out);
  const int64_t* y = target.data_ptr<int64_t>();
  Outputs out = allocate_outputs(x, s, /*with_currents=*/false);
  at::Tensor loss = at::empty({}, x.options());
  at::Tensor grad_input = input_grad ? at::zeros_like(x) : at::empty({0}, x.options());
  TensorVector grad_weights;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_forward_loss_cpu", [&] {
    using T = scalar_t;
    const auto p = LifParams<T>::make(tau_m, tau_s, threshold, resistance, t_end);
    const LossParams<T> lp{kind, T(alpha), T(eta), T(tau_0), T(tau_1), T(t_end)};
    const T inv_batch = batch ? T(1) / T(batch) : T(0);
    const PaddedWeights<T> padded(weights, s);
    const std::vector<const T*>& w = padded.layers;
    const int64_t workers = worker_count(batch);
    cpu::GradientChunks<T> chunks(s, batch, workers, weight_grad, kGroup);
    std::vector<T> sample_losses(batch);
    cpu::run_tasks(chunks.chunks(), [&](int64_t c) {
      const std::vector<T*> grad_wt = chunks.begin(c);
      std::vector<T> loss_scratch(2 * n_out);
      forward_groups(chunks.starts[c], chunks.starts[c + 1], x.data_ptr<T>(), s, w, p, out,
                     [&](int64_t b, const cpu::SampleOutputs<T>& rows, cpu::SampleScratch<T>& scratch) {
        std::vector<const T*> times(rows.times.begin(), rows.times.end());
        std::vector<T*> grads;
        for (int64_t l = 0; l < n_layers; ++l) {
          std::fill(scratch.grad_times[l].begin(), scratch.grad_times[l].end(), T(0));
          grads.push_back(scratch.grad_times[l].data());
        }
        sample_losses[b] = sample_loss(times.data(), grads.data(), s.n.data(), s.k.data(), n_layers, y[b], lp, inv_batch,
                                       loss_scratch.data(), loss_scratch.data() + n_out);
        if (weight_grad || input_grad) {
          const std::vector<const T*> currents(rows.currents.begin(), rows.currents.end());
          cpu::backward_stack(s, w, times, currents, p, scratch, grad_wt,
                              input_grad ? grad_input.data_ptr<T>() + b * s.input_slots(0) : nullptr);
        }
      });
    });
    T total = 0;  // summed in sample order: the same loss whatever the thread count
    for (const T value : sample_losses) total += value;
    loss.fill_(total * inv_batch);
    if (weight_grad) grad_weights = chunks.reduce(weights, s);
  });
  return {loss, excess_spikes(out.counts, max_spikes), out.times, out.counts, grad_input, grad_weights};
}

std::tuple<at::Tensor, TensorVector> network_backward_cpu(at::TensorList grad_times, const at::Tensor& input_times,
                                                          at::TensorList weights, at::TensorList times,
                                                          at::TensorList currents, at::TensorList orders,
                                                          double tau_m, double tau_s, double threshold,
                                                          double resistance, double t_end, bool input_grad) {
  const int64_t n_layers = weights.size();
  TORCH_CHECK_VALUE(n_layers > 0 && grad_times.size() == weights.size() && times.size() == weights.size() &&
                        currents.size() == weights.size() && orders.size() == weights.size(),
                    "need one gradient, spike-time, current and event-order tensor per layer");
  const at::Tensor x = input_times.contiguous();
  std::vector<int64_t> max_spikes;
  for (const auto& t : times) max_spikes.push_back(t.size(2));
  check_network(x, weights, max_spikes);
  const cpu::Stack s = stack_of(x, weights, max_spikes);
  const int64_t batch = x.size(0);
  TensorVector g, st, sc, ord;
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto expected = std::vector<int64_t>{batch, s.n[l], s.k[l]};
    TORCH_CHECK_VALUE(times[l].sizes() == expected && currents[l].sizes() == expected && grad_times[l].sizes() == expected,
                      "spike_times, spike_currents and grad_spike_times[", l, "] must be [", batch, ", ", s.n[l], ", ",
                      s.k[l], "]");
    TORCH_CHECK_VALUE(orders[l].scalar_type() == at::kInt && orders[l].dim() == 2 && orders[l].size(0) == batch &&
                          orders[l].size(1) == s.input_slots(l) + 1,
                      "event_orders[", l, "] must be int32 [", batch, ", ", s.input_slots(l) + 1,
                      "] as network_forward returns it");
    ord.push_back(orders[l].contiguous());
    g.push_back(grad_times[l].contiguous());
    st.push_back(times[l].contiguous());
    sc.push_back(currents[l].contiguous());
  }
  at::Tensor grad_in = at::zeros_like(x);
  TensorVector grad_weights;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "network_backward_cpu", [&] {
    using T = scalar_t;
    const auto p = LifParams<T>::make(tau_m, tau_s, threshold, resistance, t_end);
    const PaddedWeights<T> padded(weights, s);
    const std::vector<const T*>& w = padded.layers;
    cpu::GradientChunks<T> chunks(s, batch, worker_count(batch), /*wanted=*/true, kGroup);
    cpu::run_tasks(chunks.chunks(), [&](int64_t c) {
      cpu::SampleScratch<T>& scratch = thread_scratch<T>(s);
      const std::vector<T*> grad_wt = chunks.begin(c);
      for (int64_t b = chunks.starts[c]; b < chunks.starts[c + 1]; ++b) {
        std::vector<const T*> sample_times, sample_currents;
        for (int64_t l = 0; l < n_layers; ++l) {
          const int64_t o = b * s.spike_slots(l);
          const T* in = l == 0 ? x.data_ptr<T>() + b * s.input_slots(0) : sample_times[l - 1];
          cpu::restore_events(in, s.inputs(l), l == 0 ? s.k_in : s.k[l - 1], ord[l].data_ptr<int32_t>() + b * ord[l].size(1),
                              scratch.events[l]);
          sample_times.push_back(st[l].data_ptr<T>() + o);
          sample_currents.push_back(sc[l].data_ptr<T>() + o);
          std::copy_n(g[l].data_ptr<T>() + o, s.spike_slots(l), scratch.grad_times[l].data());
        }
        cpu::backward_stack(s, w, sample_times, sample_currents, p, scratch, grad_wt,
                            input_grad ? grad_in.data_ptr<T>() + b * s.input_slots(0) : nullptr, /*restored=*/true);
      }
    });
    grad_weights = chunks.reduce(weights, s);
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
