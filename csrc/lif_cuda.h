// Launchers of the CUDA kernels (csrc/lif_cuda.cu) on plain device pointers, called by the ATen binding in
// csrc/lif_cuda.cpp. Keeping ATen out of the .cu file keeps its compile at ~20 s instead of ~80 s.
//
// Both kernels take each sample's input spikes already sorted by time (the binding sorts with at::sort):
//   sorted_times [batch, n_slots]  the sample's input_times flattened (n_slots = n_in * k_in) and sorted
//                                  ascending, stable (ties in slot order, as the CPU kernel sums them);
//                                  entries >= t_end (+inf padding included) sort last and are skipped;
//   sorted_slots [batch, n_slots]  where each came from: slot = j * k_in + s, source neuron j = slot / k_in.
// weight_t is the weight transposed, [n_in, n_out] contiguous, so neighbouring threads (neurons) read
// neighbouring addresses. Launches go to `stream`; the return value is cudaGetLastError() after them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "lif_math.h"

namespace snn {
namespace cuda {

// out_times / out_currents [batch, n_out, max_spikes] must be pre-filled (+inf / 0): only the spikes that
// fit are written. counts [batch, n_out] receives every neuron's true spike count.
template <typename T>
cudaError_t launch_lif_forward(const T* sorted_times, const int64_t* sorted_slots, int64_t batch, int64_t n_slots,
                               int64_t k_in, const T* weight_t, int64_t n_out, int64_t max_spikes,
                               const LifParams<T>& p, T* out_times, T* out_currents, int64_t* counts,
                               cudaStream_t stream);

// grad_input [batch, n_slots] (input_times' layout, flattened) and grad_weight_t [n_in, n_out] must be
// zero-filled: the kernel accumulates into them with atomicAdd. grad_input is left untouched unless
// input_grad.
template <typename T>
cudaError_t launch_lif_backward(const T* sorted_times, const int64_t* sorted_slots, int64_t batch, int64_t n_slots,
                                int64_t k_in, const T* weight_t, int64_t n_out, int64_t max_spikes,
                                const T* spike_times, const T* spike_currents, const T* grad_spike_times,
                                const LifParams<T>& p, bool input_grad, T* grad_input, T* grad_weight_t,
                                cudaStream_t stream);

}  // namespace cuda
}  // namespace snn
