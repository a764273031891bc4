// ATen binding of the CUDA kernels (csrc/lif_cuda.cu) to snn::lif_forward / snn::lif_backward: shape and
// dtype checks, the per-sample sort of the input events (at::sort on the device), allocations, and the launch
// on the current stream. No host synchronisation: the value checks (NaN, unsorted rows) that the CPU kernel
// does while reading are done once in Python for CUDA tensors (snn/functional.py, _check_values_on_device).
// Only c10's light CUDA headers: ATen/cuda/CUDAContext.h would pull in cuBLAS/cuSPARSE headers.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "lif_cuda.h"

namespace snn {
namespace {

void check_cuda_inputs(const at::Tensor& input_times, const at::Tensor& weight) {
  TORCH_CHECK_VALUE(input_times.dim() == 3 && weight.dim() == 2 && input_times.size(1) == weight.size(1),
                    "expected input_times [batch, n_in, k_in] and weight [n_out, n_in], got ",
                    input_times.sizes(), " and ", weight.sizes());
  TORCH_CHECK_VALUE(input_times.scalar_type() == weight.scalar_type(), "input_times and weight dtypes differ: ",
                    input_times.scalar_type(), " and ", weight.scalar_type());
  TORCH_CHECK_VALUE(input_times.scalar_type() == at::kFloat || input_times.scalar_type() == at::kDouble,
                    "input_times must be float32 or float64, got ", input_times.scalar_type());
  TORCH_CHECK_VALUE(input_times.is_cuda() && weight.device() == input_times.device(),
                    "input_times and weight must be on one CUDA device, got ", input_times.device(), " and ",
                    weight.device());
}

void check_like_spikes(const at::Tensor& t, const char* name, const at::Tensor& spike_times) {
  TORCH_CHECK_VALUE(t.sizes() == spike_times.sizes() && t.scalar_type() == spike_times.scalar_type() &&
                        t.device() == spike_times.device(),
                    name, " must match spike_times (", spike_times.sizes(), ", ", spike_times.scalar_type(), ", ",
                    spike_times.device(), "), got ", t.sizes(), ", ", t.scalar_type(), ", ", t.device());
}

// Each sample's input spikes in time order, as the CPU kernel's collect_events: flattened slots sorted
// stably (simultaneous spikes stay in slot order, the order the CPU sums them in).
std::tuple<at::Tensor, at::Tensor> sorted_events(const at::Tensor& input_times) {
  const at::Tensor flat = input_times.reshape({input_times.size(0), input_times.size(1) * input_times.size(2)});
  const auto sorted = at::sort(flat, /*stable=*/true, /*dim=*/1, /*descending=*/false);
  return {std::get<0>(sorted).contiguous(), std::get<1>(sorted).contiguous()};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lif_forward_cuda(const at::Tensor& input_times,
                                                                 const at::Tensor& weight, int64_t max_spikes,
                                                                 double tau_m, double tau_s, double threshold,
                                                                 double resistance, double t_end) {
  check_cuda_inputs(input_times, weight);
  TORCH_CHECK_VALUE(max_spikes >= 0, "max_spikes must be >= 0, got ", max_spikes);
  const c10::cuda::CUDAGuard guard(input_times.device());
  const int64_t batch = input_times.size(0), k_in = input_times.size(2), n_out = weight.size(0);
  const at::Tensor wt = weight.t().contiguous();
  at::Tensor times, slots;  // not a structured binding: the lambda below captures them (C++20-only)
  std::tie(times, slots) = sorted_events(input_times);
  at::Tensor out_times = at::full({batch, n_out, max_spikes}, INFINITY, input_times.options());
  at::Tensor out_currents = at::zeros({batch, n_out, max_spikes}, input_times.options());
  at::Tensor counts = at::empty({batch, n_out}, input_times.options().dtype(at::kLong));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(input_times.scalar_type(), "lif_forward_cuda", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    C10_CUDA_CHECK(cuda::launch_lif_forward<scalar_t>(
        times.data_ptr<scalar_t>(), slots.data_ptr<int64_t>(), batch, times.size(1), k_in, wt.data_ptr<scalar_t>(),
        n_out, max_spikes, p, out_times.data_ptr<scalar_t>(), out_currents.data_ptr<scalar_t>(),
        counts.data_ptr<int64_t>(), stream));
  });
  return {out_times, out_currents, counts};
}

std::tuple<at::Tensor, at::Tensor> lif_backward_cuda(const at::Tensor& grad_spike_times,
                                                     const at::Tensor& input_times, const at::Tensor& weight,
                                                     const at::Tensor& spike_times, const at::Tensor& spike_currents,
                                                     double tau_m, double tau_s, double threshold,
                                                     double resistance, double t_end, bool input_grad) {
  check_cuda_inputs(input_times, weight);
  TORCH_CHECK_VALUE(spike_times.dim() == 3 && spike_times.size(0) == input_times.size(0) &&
                        spike_times.size(1) == weight.size(0) && spike_times.scalar_type() == weight.scalar_type() &&
                        spike_times.device() == weight.device(),
                    "spike_times must be [batch, n_out, max_spikes] = [", input_times.size(0), ", ", weight.size(0),
                    ", K] of the weight's dtype and device, got ", spike_times.sizes(), ", ",
                    spike_times.scalar_type(), ", ", spike_times.device());
  check_like_spikes(spike_currents, "spike_currents", spike_times);
  check_like_spikes(grad_spike_times, "grad_spike_times", spike_times);
  const c10::cuda::CUDAGuard guard(input_times.device());
  const int64_t batch = input_times.size(0), k_in = input_times.size(2), n_out = weight.size(0);
  const int64_t max_spikes = spike_times.size(2);
  const at::Tensor wt = weight.t().contiguous();
  const at::Tensor st = spike_times.contiguous(), sc = spike_currents.contiguous(), g = grad_spike_times.contiguous();
  at::Tensor times, slots;  // not a structured binding: the lambda below captures them (C++20-only)
  std::tie(times, slots) = sorted_events(input_times);
  at::Tensor grad_in = at::zeros_like(input_times, at::MemoryFormat::Contiguous);
  at::Tensor grad_wt = at::zeros({weight.size(1), n_out}, weight.options());  // transposed, as wt
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(input_times.scalar_type(), "lif_backward_cuda", [&] {
    const auto p = LifParams<scalar_t>::make(tau_m, tau_s, threshold, resistance, t_end);
    C10_CUDA_CHECK(cuda::launch_lif_backward<scalar_t>(
        times.data_ptr<scalar_t>(), slots.data_ptr<int64_t>(), batch, times.size(1), k_in, wt.data_ptr<scalar_t>(),
        n_out, max_spikes, st.data_ptr<scalar_t>(), sc.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), p, input_grad,
        grad_in.data_ptr<scalar_t>(), grad_wt.data_ptr<scalar_t>(), stream));
  });
  return {grad_in, grad_wt.t().contiguous()};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, CUDA, m) {
  m.impl("lif_forward", &lif_forward_cuda);
  m.impl("lif_backward", &lif_backward_cuda);
}

}  // namespace snn
