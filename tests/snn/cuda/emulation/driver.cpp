// C entry points around the emulated CUDA kernels (see cuda_shim.h), doing what the ATen binding
// csrc/lif_cuda.cpp does (stable per-sample sort of the input events, transposed weight, output buffers
// pre-filled) on host arrays, for ctypes. `lif_cuda_rewritten.inc` is csrc/lif_cuda.cu with its launches
// rewritten for the shim, written by the test.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "lif_cuda_rewritten.inc"

namespace {

template <typename T>
void sort_events(const T* input_times, int64_t batch, int64_t n_slots, std::vector<T>& times,
                 std::vector<int64_t>& slots) {
  times.resize(batch * n_slots);
  slots.resize(batch * n_slots);
  for (int64_t b = 0; b < batch; ++b) {
    const T* row = input_times + b * n_slots;
    int64_t* s = slots.data() + b * n_slots;
    std::iota(s, s + n_slots, int64_t(0));
    std::stable_sort(s, s + n_slots, [row](int64_t x, int64_t y) { return row[x] < row[y]; });
    for (int64_t k = 0; k < n_slots; ++k) times[b * n_slots + k] = row[s[k]];
  }
}

template <typename T>
std::vector<T> transposed(const T* weight, int64_t n_out, int64_t n_in) {
  std::vector<T> wt(n_in * n_out);
  for (int64_t i = 0; i < n_out; ++i)
    for (int64_t j = 0; j < n_in; ++j) wt[j * n_out + i] = weight[i * n_in + j];
  return wt;
}

template <typename T>
int forward(const T* input_times, int64_t batch, int64_t n_in, int64_t k_in, const T* weight, int64_t n_out,
            int64_t max_spikes, const double* params, T* out_times, T* out_currents, int64_t* counts) {
  std::vector<T> times;
  std::vector<int64_t> slots;
  sort_events(input_times, batch, n_in * k_in, times, slots);
  const std::vector<T> wt = transposed(weight, n_out, n_in);
  std::fill(out_times, out_times + batch * n_out * max_spikes, T(INFINITY));
  std::fill(out_currents, out_currents + batch * n_out * max_spikes, T(0));
  const auto p = snn::LifParams<T>::make(params[0], params[1], params[2], params[3], params[4]);
  return snn::cuda::launch_lif_forward<T>(times.data(), slots.data(), batch, n_in * k_in, k_in, wt.data(), n_out,
                                          max_spikes, p, out_times, out_currents, counts, nullptr);
}

template <typename T>
int backward(const T* input_times, int64_t batch, int64_t n_in, int64_t k_in, const T* weight, int64_t n_out,
             int64_t max_spikes, const T* spike_times, const T* spike_currents, const T* grad_spike_times,
             const double* params, int input_grad, T* grad_input, T* grad_weight) {
  std::vector<T> times;
  std::vector<int64_t> slots;
  sort_events(input_times, batch, n_in * k_in, times, slots);
  const std::vector<T> wt = transposed(weight, n_out, n_in);
  std::vector<T> grad_wt(n_in * n_out, T(0));
  std::fill(grad_input, grad_input + batch * n_in * k_in, T(0));
  const auto p = snn::LifParams<T>::make(params[0], params[1], params[2], params[3], params[4]);
  const int err = snn::cuda::launch_lif_backward<T>(times.data(), slots.data(), batch, n_in * k_in, k_in, wt.data(),
                                                    n_out, max_spikes, spike_times, spike_currents, grad_spike_times,
                                                    p, input_grad != 0, grad_input, grad_wt.data(), nullptr);
  for (int64_t i = 0; i < n_out; ++i)
    for (int64_t j = 0; j < n_in; ++j) grad_weight[i * n_in + j] = grad_wt[j * n_out + i];
  return err;
}

}  // namespace

#define SNN_EXPORT(T, suffix)                                                                                     \
  extern "C" int lif_forward_##suffix(const T* x, int64_t batch, int64_t n_in, int64_t k_in, const T* w,          \
                                      int64_t n_out, int64_t max_spikes, const double* params, T* times,          \
                                      T* currents, int64_t* counts) {                                             \
    return forward<T>(x, batch, n_in, k_in, w, n_out, max_spikes, params, times, currents, counts);               \
  }                                                                                                               \
  extern "C" int lif_backward_##suffix(const T* x, int64_t batch, int64_t n_in, int64_t k_in, const T* w,         \
                                       int64_t n_out, int64_t max_spikes, const T* times, const T* currents,      \
                                       const T* grad, const double* params, int input_grad, T* grad_x, T* grad_w) { \
    return backward<T>(x, batch, n_in, k_in, w, n_out, max_spikes, times, currents, grad, params, input_grad,    \
                       grad_x, grad_w);                                                                           \
  }
SNN_EXPORT(float, f32)
SNN_EXPORT(double, f64)
