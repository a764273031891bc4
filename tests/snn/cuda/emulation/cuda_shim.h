// Just enough of CUDA to run csrc/lif_cuda.cu's kernels on the CPU, thread by thread, so that a machine with
// no GPU can check them against the CPU kernel (tests/snn/cuda/test_lif_cuda_emulated.py). Each emulated
// warp is 32 std::threads; __shfl_down_sync meets at a barrier, so warp sums run as on the GPU; atomicAdd
// takes a global lock. The test rewrites the source's `kernel<<<grid, block, 0, stream>>>(args)` into
// `snn_emulation::launch(grid, block, kernel, args)` before compiling it with g++.
#pragma once

#include <barrier>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

using cudaError_t = int;
using cudaStream_t = void*;
constexpr cudaError_t cudaSuccess = 0;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace snn_emulation {

struct Warp {
  std::barrier<> meet{32};
  double lanes[32];
};

inline thread_local dim3 block_idx, thread_idx, block_dim;
inline thread_local Warp* warp = nullptr;
inline std::mutex atomic_lock;

template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
  for (unsigned by = 0; by < grid.y; ++by) {
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      for (unsigned w0 = 0; w0 < block.x; w0 += 32) {
        Warp shared;
        std::vector<std::thread> lanes;
        for (unsigned lane = 0; lane < 32 && w0 + lane < block.x; ++lane) {
          lanes.emplace_back([&, lane] {
            block_idx = dim3(bx, by);
            thread_idx = dim3(w0 + lane);
            block_dim = block;
            warp = &shared;
            kernel(args...);
          });
        }
        for (auto& t : lanes) t.join();
      }
    }
  }
}

}  // namespace snn_emulation

#define blockIdx (::snn_emulation::block_idx)
#define threadIdx (::snn_emulation::thread_idx)
#define blockDim (::snn_emulation::block_dim)

template <typename T>
T atomicAdd(T* address, T value) {
  std::lock_guard<std::mutex> guard(snn_emulation::atomic_lock);
  const T old = *address;
  *address = old + value;
  return old;
}

// All 32 lanes must call it (as on the GPU with a full mask); float values round-trip through double exactly.
template <typename T>
T __shfl_down_sync(unsigned /*mask*/, T value, int offset) {
  snn_emulation::Warp& w = *snn_emulation::warp;
  const unsigned lane = threadIdx.x % 32u;
  w.lanes[lane] = double(value);
  w.meet.arrive_and_wait();
  const T result = lane + offset < 32 ? T(w.lanes[lane + offset]) : value;
  w.meet.arrive_and_wait();
  return result;
}

inline float __int_as_float(int bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline double __longlong_as_double(long long bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
