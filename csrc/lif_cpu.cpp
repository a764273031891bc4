// CPU implementation of snn::lif_forward / snn::lif_backward: a group of samples per forward task and a chunk
// per backward task (workers.h), all neurons of the layer advanced together between consecutive input events,
// so the inner loops run over contiguous neuron arrays; the forward walks of a group search their crossings
// together (forward_walk.h). The per-neuron math lives in lif_math.h (shared with CUDA).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>

#include "forward_walk.h"
#include "lif_cpu_sample.h"
#include "workers.h"

namespace snn {
namespace {

using cpu::InputEvent;
using cpu::backward_sample;
using cpu::collect_events;
using cpu::ForwardWalk;

void check_cpu_inputs(const at::Tensor& input_times, const at::Tensor& weight) {
  TORCH_CHECK_VALUE(input_times.dim() == 3 && weight.dim() == 2 && input_times.size(1) == weight.size(1),
                    "expected input_times [batch, n_in, k_in] and weight [n_out, n_in], got ",
                    input_times.sizes(), " and ", weight.sizes());
  TORCH_CHECK_VALUE(input_times.scalar_type() == weight.scalar_type(), "input_times and weight dtypes differ");
  cpu::check_input_slots(input_times);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lif_forward_cpu(const at::Tensor& input_times,
                                                                const at::Tensor& weight, int64_t max_spikes,
                                                                double tau_m, double tau_s, double threshold,
                                                                double resistance, double t_end) {
  check_cpu_inputs(input_times, weight);
  const at::Tensor x = input_times.contiguous();
  const int64_t batch = x.size(0), n_in = x.size(1), k_in = x.size(2), n_out = weight.size(0);
  const int64_t lanes = cpu::lanes_for(n_out, x.element_size());
  at::Tensor out_times = at::full({batch, n_out, max_spikes}, INFINITY, x.options());
  at::Tensor out_currents = at::zeros({batch, n_out, max_spikes}, x.options());
  at::Tensor counts = at::zeros({batch, n_out}, x.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    std::vector<scalar_t> wt(n_in * lanes);
    cpu::padded_transpose(weight, lanes, wt.data());
    const scalar_t* wp = wt.data();
    scalar_t* tp = out_times.data_ptr<scalar_t>();
    scalar_t* cp = out_currents.data_ptr<scalar_t>();
    int64_t* np = counts.data_ptr<int64_t>();
    // Samples in groups, whose walks search their crossings together (forward_walk.h).
    const int64_t size = cpu::forward_group_size(batch, at::get_num_threads());
    cpu::run_tasks((batch + size - 1) / size, [&](int64_t task) {
      thread_local std::vector<std::vector<InputEvent<scalar_t>>> events(cpu::kGroup);  // scratch, kept across calls
      thread_local std::vector<std::vector<scalar_t>> states(cpu::kGroup), decays(cpu::kGroup);
      thread_local cpu::WalkGroup<scalar_t> group;
      std::vector<ForwardWalk<scalar_t>>& walks = group.walks;
      walks.clear();
      for (int64_t b = task * size, g = 0; b < std::min(batch, (task + 1) * size); ++b, ++g) {
        states[g].resize(cpu::kForwardState * lanes);
        collect_events(xp + b * n_in * k_in, n_in, k_in, p.t_end, events[g]);
        const int64_t o = b * n_out * max_spikes;
        walks.emplace_back(events[g], wp, n_out, lanes, max_spikes, p, states[g].data(), tp + o, cp + o, np + b * n_out,
                           decays[g]);
      }
      group.run();
    });
  });
  return {out_times, out_currents, counts};
}

std::tuple<at::Tensor, at::Tensor> lif_backward_cpu(const at::Tensor& grad_spike_times,
                                                    const at::Tensor& input_times, const at::Tensor& weight,
                                                    const at::Tensor& spike_times, const at::Tensor& spike_currents,
                                                    double tau_m, double tau_s, double threshold,
                                                    double resistance, double t_end, bool input_grad) {
  check_cpu_inputs(input_times, weight);
  const at::Tensor x = input_times.contiguous();
  const int64_t lanes = cpu::lanes_for(weight.size(0), x.element_size());
  const at::Tensor g = grad_spike_times.contiguous();
  const at::Tensor st = spike_times.contiguous();
  const at::Tensor sc = spike_currents.contiguous();
  const int64_t batch = x.size(0), n_in = x.size(1), k_in = x.size(2), n_out = weight.size(0);
  const int64_t max_spikes = st.size(2);
  at::Tensor grad_in = at::zeros_like(x);
  // One private weight-gradient buffer per thread (samples run in parallel), summed at the end.
  const int64_t n_buffers = std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(batch, 1));
  at::Tensor grad_wt_buffers = at::zeros({n_buffers, n_in, lanes}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_backward_cpu", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    std::vector<scalar_t> wt(n_in * lanes);
    cpu::padded_transpose(weight, lanes, wt.data());
    const scalar_t* wp = wt.data();
    const scalar_t* gp = g.data_ptr<scalar_t>();
    const scalar_t* tp = st.data_ptr<scalar_t>();
    const scalar_t* cp = sc.data_ptr<scalar_t>();
    scalar_t* gip = grad_in.data_ptr<scalar_t>();
    scalar_t* gwp = grad_wt_buffers.data_ptr<scalar_t>();
    const int64_t chunk = (batch + n_buffers - 1) / n_buffers;
    cpu::run_tasks(n_buffers, [&](int64_t c) {
      thread_local std::vector<InputEvent<scalar_t>> events;  // scratch, kept by the thread across calls
      thread_local std::vector<scalar_t> scratch;
      thread_local std::vector<int64_t> next_spike;
      for (int64_t b = c * chunk; b < std::min(batch, (c + 1) * chunk); ++b) {
        const int64_t o = b * n_out * max_spikes;
        collect_events(xp + b * n_in * k_in, n_in, k_in, p.t_end, events, /*validate=*/false);
        backward_sample(events, wp, n_out, lanes, max_spikes, tp + o, cp + o, gp + o, p, input_grad, scratch,
                        next_spike, gip + b * n_in * k_in, gwp + c * n_in * lanes);
      }
    });
  });
  at::Tensor grad_weight = grad_wt_buffers.sum(0).narrow(1, 0, n_out).t().contiguous();
  return {grad_in, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CPU, m) {
  m.impl("lif_forward", &lif_forward_cpu);
  m.impl("lif_backward", &lif_backward_cpu);
}

}  // namespace snn
