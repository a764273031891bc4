// CUDA implementation of snn::lif_forward / snn::lif_backward: one thread per (sample, output neuron),
// walking the sample's time-sorted input events exactly like the CPU forward walk / backward_sample in
// forward_walk.h / lif_cpu_sample.h (same event order, same merging of simultaneous inputs, same lif_math.h functions), with
// the neuron's state in registers. Grid: x = sample, y = blocks of up to 128 neurons, so every warp belongs
// to one sample and walks one event sequence: control flow is uniform except inside a neuron's own spikes.
// Plain pointers only (no ATen here): the binding is csrc/lif_cuda.cpp, the launchers are in lif_cuda.h.
//
// Work per sample and layer (what to hold against the H200's peak): with E input spikes before t_end,
// D distinct input times among them (simultaneous inputs merge) and N output neurons,
//   forward:  N * D decay steps (1 exp, x^4 by 4 multiplies, V and I update, "may it fire?" test:
//             ~10 flops + the exp, ~20-30 FP64 instructions) + N * E synaptic updates (1 load + 1 add)
//             + per output spike one crossing search (3-5 Halley steps of ~15 flops + 1 division, 1 log,
//             at most 1 cbrt);
//   backward: N * D adjoint decay steps (1 exp, x^4, 4 flops) + N * E synaptic updates (1 atomicAdd for
//             dL/dW, and with input gradients 1 multiply plus a 5-step warp-shuffle sum and 1 atomicAdd per
//             warp for dL/dt) + per output spike 1 more exp and the jump (1 division).
// Yin-Yang 5-40-25-13-3 at init (SPEC.md spike rates 1.2, 5.7, 14.1 per neuron): E*N = 5*40 + 48*25 +
// 143*13 + 183*3 ~= 3.8e3 synaptic updates per sample, D ~= E. MNIST 784-280-160-70-10 (1.0, 1.85, 4.8 spikes
// per neuron): E*N = 784*280 + 280*160 + 296*70 + 336*10 ~= 2.9e5 per sample, but D ~= 150 in layer 1 (pixel
// intensities are quantised and all dark pixels spike at t_max together), so ~1.1e5 decay steps:
// ~4-5 MFLOP per sample forward, about as much again backward, and 2.9e5 atomics per sample backward.
// At the H200's ~34 TFLOP/s FP64 (no tensor cores here) that bounds MNIST at ~3e6 samples/s; in practice
// the serial event walk (latency), divergence at spikes and the atomics bound it far lower.
#include <cuda_runtime.h>

#include <cstdint>

#include "lif_cuda.h"
#include "lif_math.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 600
#error "the backward kernel needs atomicAdd on double: compile for sm_60 or newer"
#endif

namespace snn {
namespace cuda {
namespace {

constexpr int kMaxThreads = 128;
constexpr unsigned kFullMask = 0xffffffffu;

template <typename T>
__device__ __forceinline__ T positive_infinity();
template <>
__device__ __forceinline__ float positive_infinity<float>() { return __int_as_float(0x7f800000); }
template <>
__device__ __forceinline__ double positive_infinity<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

// Source neuron j of flat slot j * k_in + s (32-bit division: a sample has far fewer than 2^31 slots).
__device__ __forceinline__ int64_t source_of(int64_t slot, int64_t k_in) {
  return k_in == 1 ? slot : int64_t(int(slot) / int(k_in));
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads) forward_kernel(
    const T* __restrict__ sorted_times, const int64_t* __restrict__ sorted_slots, int64_t n_slots, int64_t k_in,
    const T* __restrict__ weight_t, int64_t n_out, int64_t max_spikes, const LifParams<T> p,
    T* __restrict__ out_times, T* __restrict__ out_currents, int64_t* __restrict__ counts) {
  const int64_t b = blockIdx.x;
  const int64_t i = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  if (i >= n_out) return;  // no warp collectives below
  const T* ev_time = sorted_times + b * n_slots;
  const int64_t* ev_slot = sorted_slots + b * n_slots;
  const int64_t o = (b * n_out + i) * max_spikes;
  T v = T(0), cur = T(0);
  int64_t count = 0, e = 0;
  T t_prev = T(0);
  while (true) {
    const bool last = e == n_slots || !(ev_time[e] < p.t_end);
    const T t_next = last ? p.t_end : ev_time[e];
    const T span = t_next - t_prev;
    if (span > T(0) && e > 0) {  // before the first event the state is zero: nothing can happen
      const T em = std::exp(-span / p.tau_m), es = synaptic_decay(em, p);
      const T ve = membrane(v, p.kappa * cur, em, es), ie = cur * es;
      if (crossing_possible(v, cur, ve, ie, p)) {  // the CPU kernel's candidate test
        advance_neuron(v, cur, t_prev, span, em, es, p, max_spikes, out_times + o, out_currents + o, count);
      } else {
        v = ve;
        cur = ie;
      }
    }
    if (last) break;
    for (; e < n_slots && ev_time[e] == t_next; ++e) {  // simultaneous inputs merge into one event
      cur += weight_t[source_of(ev_slot[e], k_in) * n_out + i];
    }
    t_prev = t_next;
  }
  counts[b * n_out + i] = count;
}

// Number of the sample's events before t_end (its sorted times are ascending, NaN-free).
template <typename T>
__device__ int64_t events_before(const T* ev_time, int64_t n_slots, T t_end) {
  int64_t lo = 0, hi = n_slots;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (ev_time[mid] < t_end) lo = mid + 1; else hi = mid;
  }
  return lo;
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads) backward_kernel(
    const T* __restrict__ sorted_times, const int64_t* __restrict__ sorted_slots, int64_t n_slots, int64_t k_in,
    const T* __restrict__ weight_t, int64_t n_out, int64_t max_spikes, const T* __restrict__ spike_times,
    const T* __restrict__ spike_currents, const T* __restrict__ grad_spike_times, const LifParams<T> p,
    bool input_grad, T* __restrict__ grad_input, T* __restrict__ grad_weight_t) {
  const int64_t b = blockIdx.x;
  const int64_t i = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  // Threads past n_out stay in the loop (contributing zero): the warp sums below need every lane.
  const bool active = i < n_out;
  const unsigned lane = threadIdx.x % 32u;
  const T* ev_time = sorted_times + b * n_slots;
  const int64_t* ev_slot = sorted_slots + b * n_slots;
  const int64_t o = (b * n_out + (active ? i : 0)) * max_spikes;
  const T* times = spike_times + o;
  const T* currents = spike_currents + o;
  const T* grads = grad_spike_times + o;
  T lv = T(0), li = T(0);
  int64_t next_spike = -1;  // latest own spike not yet crossed
  T next_time = -positive_infinity<T>();
  if (active) {
    int64_t k = 0;
    while (k < max_spikes && times[k] < p.t_end) ++k;
    next_spike = k - 1;
    next_time = k > 0 ? times[k - 1] : next_time;
  }
  T t_cur = p.t_end;
  int64_t e = events_before(ev_time, n_slots, p.t_end);
  while (e > 0) {
    const T t_g = ev_time[e - 1];
    if (active) {
      if (next_time > t_g) {  // own spikes in (t_g, t_cur]: inputs at t_g come before spikes at t_g
        adjoint_across_spikes(lv, li, next_spike, t_cur, t_g, times, currents, grads, p);
        next_time = next_spike >= 0 ? times[next_spike] : -positive_infinity<T>();
      } else {
        const T em = std::exp(-(t_cur - t_g) / p.tau_m);
        adjoint_decay(lv, li, em, synaptic_decay(em, p), p);
      }
    }
    const T coupling = p.resistance * lv - li;  // the input-time gradient per unit weight
    const T weight_grad = -p.tau_s * li;        // the weight gradient per input spike
    for (; e > 0 && ev_time[e - 1] == t_g; --e) {
      const int64_t slot = ev_slot[e - 1];
      const int64_t w_index = source_of(slot, k_in) * n_out + i;
      if (active) atomicAdd(grad_weight_t + w_index, weight_grad);
      if (input_grad) {
        T acc = active ? weight_t[w_index] * coupling : T(0);
        for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(kFullMask, acc, offset);
        if (lane == 0) atomicAdd(grad_input + b * n_slots + slot, acc);
      }
    }
    t_cur = t_g;
  }
}

dim3 block_for(int64_t n_out) {
  const int64_t warps = (n_out + 31) / 32;
  return dim3(unsigned(warps * 32 < kMaxThreads ? warps * 32 : kMaxThreads));
}

}  // namespace

template <typename T>
cudaError_t launch_lif_forward(const T* sorted_times, const int64_t* sorted_slots, int64_t batch, int64_t n_slots,
                               int64_t k_in, const T* weight_t, int64_t n_out, int64_t max_spikes,
                               const LifParams<T>& p, T* out_times, T* out_currents, int64_t* counts,
                               cudaStream_t stream) {
  if (batch > 0 && n_out > 0) {
    const dim3 block = block_for(n_out);
    const dim3 grid(unsigned(batch), unsigned((n_out + block.x - 1) / block.x));
    forward_kernel<T><<<grid, block, 0, stream>>>(sorted_times, sorted_slots, n_slots, k_in, weight_t, n_out,
                                                  max_spikes, p, out_times, out_currents, counts);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_lif_backward(const T* sorted_times, const int64_t* sorted_slots, int64_t batch, int64_t n_slots,
                                int64_t k_in, const T* weight_t, int64_t n_out, int64_t max_spikes,
                                const T* spike_times, const T* spike_currents, const T* grad_spike_times,
                                const LifParams<T>& p, bool input_grad, T* grad_input, T* grad_weight_t,
                                cudaStream_t stream) {
  if (batch > 0 && n_out > 0 && n_slots > 0) {  // no input spikes: both gradients stay zero
    const dim3 block = block_for(n_out);
    const dim3 grid(unsigned(batch), unsigned((n_out + block.x - 1) / block.x));
    backward_kernel<T><<<grid, block, 0, stream>>>(sorted_times, sorted_slots, n_slots, k_in, weight_t, n_out,
                                                   max_spikes, spike_times, spike_currents, grad_spike_times, p,
                                                   input_grad, grad_input, grad_weight_t);
  }
  return cudaGetLastError();
}

#define SNN_INSTANTIATE(T)                                                                                        \
  template cudaError_t launch_lif_forward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, const T*,      \
                                             int64_t, int64_t, const LifParams<T>&, T*, T*, int64_t*,             \
                                             cudaStream_t);                                                       \
  template cudaError_t launch_lif_backward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, const T*,     \
                                              int64_t, int64_t, const T*, const T*, const T*, const LifParams<T>&, \
                                              bool, T*, T*, cudaStream_t);
SNN_INSTANTIATE(float)
SNN_INSTANTIATE(double)
#undef SNN_INSTANTIATE

}  // namespace cuda
}  // namespace snn
